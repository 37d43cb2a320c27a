"""The benchmark's configs validate themselves; the paper scale is the paper's MT10 setting; the claims have
non-degeneracy guards."""

import pytest

from paperzoo.metaworld.bench import BENCHMARK, MT10_TASKS, FullConfig, MetaConfig, SmokeConfig


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tasks": ("reach-v3",)}, "at least 2"),
        ({"tasks": ("reach-v3", "reach-v9")}, "task_names"),
        ({"steps_per_task": 0}, "steps_per_task"),
        ({"eval_episodes": 0}, "eval_episodes"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_full_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FullConfig(**kwargs)


def test_bad_smoke_and_meta_configs():
    with pytest.raises(ValueError, match="task"):
        SmokeConfig(task="reach")
    with pytest.raises(ValueError, match="episodes"):
        SmokeConfig(episodes=0)
    with pytest.raises(ValueError, match="iterations"):
        MetaConfig(iterations=-1)
    with pytest.raises(ValueError, match="num_evals"):
        MetaConfig(num_evals=0)


def test_paper_scale_is_the_mt10_setting():
    paper = BENCHMARK.scales["paper"]
    assert paper.tasks == MT10_TASKS and len(set(paper.tasks)) == 10
    assert paper.sac.net_arch == (400, 400, 400) and paper.sac.batch_size == 1280
    assert paper.eval_episodes == 50
    meta = paper.meta
    assert (meta.num_evals, meta.adaptation_episodes, meta.evaluation_episodes) == (10, 10, 3)


def test_comparative_claims_are_guarded():
    for claim in BENCHMARK.claims["full"]:
        if "mt_sac" in str(claim.statement):
            assert claim.guards, claim.text
    # Every arm at 0 -> inconclusive, not "reproduced".
    zeros = {
        "mt_sac/mean_success": 0.0,
        "single/mean_success": 0.0,
        "random/mean_success": 0.0,
        "scripted/mean_success": 1.0,
    }
    verdict = BENCHMARK.claims["full"][0].evaluate(zeros)["verdict"]
    assert verdict == "inconclusive"
