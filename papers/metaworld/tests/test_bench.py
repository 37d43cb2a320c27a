"""The benchmark's configs validate themselves; the paper scale is the paper's MT10 setting; the claims have
non-degeneracy guards and are built from the config that was run; the smoke runner and the full-scale plots."""

import dataclasses
import json
from pathlib import Path

import pytest

from paperzoo.metaworld.bench import BENCHMARK, MT10_TASKS, FullConfig, MetaConfig, SmokeConfig

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "metaworld" / "full"


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
    claims = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    for claim in claims:
        if "mt_sac" in str(claim.statement):
            assert claim.guards, claim.text
    # Every arm at 0 -> inconclusive, not "reproduced".
    zeros = {
        "mt_sac/mean_success": 0.0,
        "single/mean_success": 0.0,
        "random/mean_success": 0.0,
        "scripted/mean_success": 1.0,
    }
    assert claims[0].evaluate([zeros])["verdict"] == "inconclusive"
    learned = {**zeros, "mt_sac/mean_success": 0.4, "single/mean_success": 0.6}
    assert claims[0].evaluate([learned])["verdict"] == "reproduced"
    assert claims[0].evaluate([{**learned, "mt_sac/mean_success": 0.7}])["verdict"] == "not reproduced"


def test_full_claims_follow_the_config():
    """The ML1 claim exists only when the ML1 arm runs (``meta.iterations > 0``)."""
    default = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    assert any("maml/meta_test_success" in str(c.statement) for c in default)
    no_meta = dataclasses.replace(BENCHMARK.scales["full"], meta=MetaConfig(iterations=0))
    claims = BENCHMARK.claims_for("full", no_meta)
    assert len(claims) == len(default) - 1
    assert not any("maml" in str(c.statement) for c in claims)


def test_smoke_claims_follow_the_config():
    """The episode-count guard uses the configured number of episodes, and the task is named in the claim."""
    metrics = {
        "scripted/success": 1.0,
        "random/success": 0.0,
        "scripted/keys_match_tasks": 1.0,
        "random/keys_match_tasks": 1.0,
        "scripted/episodes_counted": 10.0,
        "random/episodes_counted": 10.0,
    }
    default = BENCHMARK.claims_for("smoke", SmokeConfig())
    assert [c.evaluate([metrics])["verdict"] for c in default] == ["reproduced"] * 3
    other = BENCHMARK.claims_for("smoke", SmokeConfig(task="drawer-close-v3", episodes=4))
    assert "drawer-close-v3" in other[0].text
    assert other[2].evaluate([metrics])["verdict"] == "inconclusive"  # 10 episodes counted, 4 configured
    four = {**metrics, "scripted/episodes_counted": 4.0, "random/episodes_counted": 4.0}
    assert other[2].evaluate([four])["verdict"] == "reproduced"


def test_smoke_runner_is_deterministic_and_holds_its_claims():
    config = SmokeConfig(episodes=2)
    a = BENCHMARK.run["smoke"](config, 0).metrics
    assert a == BENCHMARK.run["smoke"](config, 0).metrics
    assert a["scripted/episodes_counted"] == a["random/episodes_counted"] == 2.0
    verdicts = [v["verdict"] for v in BENCHMARK.summarize("smoke", [a], config)["claims"]]
    assert verdicts == ["reproduced"] * 3


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no committed full-scale records")
def test_full_plots_draw_from_the_committed_records(tmp_path):
    summary = json.loads((RESULTS / "summary.json").read_text())
    records = [json.loads((RESULTS / f"seed-{s}.json").read_text()) for s in summary["seeds"]]
    config = BENCHMARK.config_from_dict("full", summary["config"])
    paths = BENCHMARK.plot["full"](config, records, tmp_path)
    assert [p.name for p in paths] == summary["plots"]
    assert all(p.stat().st_size > 0 for p in paths)
