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


def _seeds(**per_seed: tuple[float, ...]) -> list[dict[str, float]]:
    """Hand-made per-seed metrics: one tuple of values per metric, one value per seed."""
    n = len(next(iter(per_seed.values())))
    base = {"random/mean_success": 0.1, "scripted/mean_success": 1.0}
    return [{**base, **{k.replace("__", "/"): v[i] for k, v in per_seed.items()}} for i in range(n)]


def test_full_claims_follow_the_interval_rule():
    """Paired per-seed differences: a consistent gap is reproduced, one within the resolution (one episode of one
    task, 1/(50 x 2)) or one the seeds disagree on is inconclusive, a consistent reversal is not reproduced."""
    config = BENCHMARK.scales["full"]
    mt, _, _, ml1 = BENCHMARK.claims_for("full", config)
    assert mt.statement.resolution == pytest.approx(1 / (config.eval_episodes * len(config.tasks))) == 0.01

    def verdict(claim, **per_seed):
        return claim.evaluate(_seeds(**per_seed))["verdict"]

    single = (0.60, 0.70, 0.65)
    assert verdict(mt, single__mean_success=single, mt_sac__mean_success=(0.50, 0.59, 0.55)) == "reproduced"
    # MT-SAC ahead by half an episode in every seed: below the resolution of the threshold 0.
    assert verdict(mt, single__mean_success=single, mt_sac__mean_success=(0.605, 0.705, 0.655)) == "inconclusive"
    assert verdict(mt, single__mean_success=single, mt_sac__mean_success=(0.70, 0.50, 0.60)) == "inconclusive"
    assert verdict(mt, single__mean_success=single, mt_sac__mean_success=(0.70, 0.81, 0.74)) == "not reproduced"
    # ML1 resolves to 1/(3 evaluation episodes x 2 repeats): one seed's extra success is within it.
    assert ml1.statement.resolution == pytest.approx(1 / 6)
    noadapt = (0.5, 0.5, 0.5)
    assert (
        verdict(ml1, maml__meta_test_success=(0.5, 2 / 3, 0.5), maml_noadapt__meta_test_success=noadapt)
        == "inconclusive"
    )
    # Equal arms sit on the threshold: no evidence of "at least as good" at this grain.
    assert (
        verdict(ml1, maml__meta_test_success=(0.5, 0.5, 0.5), maml_noadapt__meta_test_success=noadapt) == "inconclusive"
    )
    assert (
        verdict(ml1, maml__meta_test_success=(5 / 6, 5 / 6, 5 / 6), maml_noadapt__meta_test_success=noadapt)
        == "reproduced"
    )
    assert (
        verdict(ml1, maml__meta_test_success=(0.0, 1 / 6, 0.0), maml_noadapt__meta_test_success=noadapt)
        == "not reproduced"
    )


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
def test_committed_verdicts_follow_from_the_records():
    summary = json.loads((RESULTS / "summary.json").read_text())
    records = [json.loads((RESULTS / f"seed-{s}.json").read_text()) for s in summary["seeds"]]
    config = BENCHMARK.config_from_dict("full", summary["config"])
    verdicts = [c["verdict"] for c in BENCHMARK.summarize("full", [r["metrics"] for r in records], config)["claims"]]
    assert verdicts == [c["verdict"] for c in summary["claims"]]
    assert verdicts == ["inconclusive", "reproduced", "reproduced", "inconclusive"]


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no committed full-scale records")
def test_full_plots_draw_from_the_committed_records(tmp_path):
    summary = json.loads((RESULTS / "summary.json").read_text())
    records = [json.loads((RESULTS / f"seed-{s}.json").read_text()) for s in summary["seeds"]]
    config = BENCHMARK.config_from_dict("full", summary["config"])
    paths = BENCHMARK.plot["full"](config, records, tmp_path)
    assert [p.name for p in paths] == summary["plots"]
    assert all(p.stat().st_size > 0 for p in paths)
