"""The benchmark declaration: configs validate, claims are guarded by the untrained policy and built from the
config that was run, the committed full-scale verdicts follow from the records, the full-scale figures draw."""

import dataclasses
import json
from pathlib import Path

import pytest

from paperzoo.ramario.bench import BENCHMARK, FullConfig, SmokeConfig

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "ramario" / "full"
committed = pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no committed full-scale records")


def _committed():
    summary = json.loads((RESULTS / "summary.json").read_text())
    return summary, [json.loads((RESULTS / f"seed-{s}.json").read_text()) for s in summary["seeds"]]


def test_benchmark_configs_validate():
    with pytest.raises(ValueError, match="held_out"):
        FullConfig(train_levels=((1, 1), (1, 2)))
    with pytest.raises(ValueError, match="train_levels"):
        SmokeConfig(train_levels=())
    with pytest.raises(ValueError, match="outer_steps"):
        FullConfig(outer_steps=0)
    assert len(BENCHMARK.seeds["full"]) >= 3


def _full_metrics(reptile_k: float, random_k: float, ppo: float, dqn: float, untrained: float = 300.0) -> dict:
    return {
        "reptile/max_x_k": reptile_k,
        "random_init/max_x_k": random_k,
        "random_init/max_x_0": untrained,
        "ppo/max_x": ppo,
        "dqn/max_x": dqn,
        "sine/mse_ratio": 0.4,
        "sine/random_init_mse": 3.0,
    }


def test_full_claims_are_guarded_by_the_untrained_policy():
    claims = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    learned = [c.evaluate([_full_metrics(500, 400, 350, 320)])["verdict"] for c in claims]
    assert learned == ["reproduced"] * 4
    behind = [c.evaluate([_full_metrics(500, 600, 650, 320)])["verdict"] for c in claims]
    assert behind == ["not reproduced", "not reproduced", "reproduced", "reproduced"]
    # Every RL arm below the untrained policy: the comparisons say nothing about learning.
    degraded = [c.evaluate([_full_metrics(290, 250, 200, 150)])["verdict"] for c in claims]
    assert degraded == ["inconclusive"] * 3 + ["reproduced"]


def test_full_claims_follow_the_interval_rule():
    """Three seeds, every arm above the untrained policy: a consistent few-shot gain is reproduced, one below the
    resolution (one pixel in one of the n_eval episodes) or one the seeds disagree on is inconclusive; the sine
    check is a one-sample interval against 0.5."""
    config = BENCHMARK.scales["full"]
    fewshot, _, dqn, sine = BENCHMARK.claims_for("full", config)
    assert fewshot.statement.resolution == pytest.approx(1 / config.n_eval)

    def verdict(claim, reptile, random_k, ratios=(0.4, 0.4, 0.4)):
        seeds = [
            {**_full_metrics(r, k, 350, 320), "sine/mse_ratio": q}
            for r, k, q in zip(reptile, random_k, ratios, strict=True)
        ]
        return claim.evaluate(seeds)["verdict"]

    reptile = (500.0, 520.0, 480.0)
    assert verdict(fewshot, reptile, (490.0, 508.0, 469.0)) == "reproduced"  # +10, +12, +11 px
    assert verdict(fewshot, reptile, (499.9, 519.9, 479.9)) == "inconclusive"  # +0.1 px < 1/6 px
    assert verdict(fewshot, reptile, (560.0, 400.0, 480.0)) == "inconclusive"  # the seeds disagree
    assert verdict(dqn, reptile, reptile) == "reproduced"  # 500-ish vs DQN's 320 in every seed
    assert verdict(sine, reptile, reptile, ratios=(0.45, 0.46, 0.44)) == "reproduced"
    assert verdict(sine, reptile, reptile, ratios=(0.3, 0.7, 0.45)) == "inconclusive"
    assert verdict(sine, reptile, reptile, ratios=(0.6, 0.62, 0.61)) == "not reproduced"


def test_full_claims_name_the_held_out_level_of_the_config():
    default = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    assert all("1-2" in c.text for c in default[:3])
    other = dataclasses.replace(BENCHMARK.scales["full"], held_out=(2, 2))
    assert all("2-2" in c.text and "1-2" not in c.text for c in BENCHMARK.claims_for("full", other)[:3])


def test_smoke_claims_check_the_update_rule():
    claims = BENCHMARK.claims_for("smoke", BENCHMARK.scales["smoke"])
    ok = {"reptile/outer_step_error": 4e-9, "reptile/theta_change": 3e-3, "reptile/k0_theta_change": 0.0}
    assert [c.evaluate([ok])["verdict"] for c in claims] == ["reproduced"] * 2
    off = {**ok, "reptile/outer_step_error": 1e-3, "reptile/k0_theta_change": 1e-7}
    assert [c.evaluate([off])["verdict"] for c in claims] == ["not reproduced"] * 2
    still = {**ok, "reptile/theta_change": 0.0}  # theta never moved: the exactness check proves nothing
    assert claims[0].evaluate([still])["verdict"] == "inconclusive"


@committed
def test_committed_verdicts_follow_from_the_records():
    summary, records = _committed()
    config = BENCHMARK.config_from_dict("full", summary["config"])
    assert config == BENCHMARK.scales["full"]
    verdicts = BENCHMARK.summarize("full", [r["metrics"] for r in records], config)["claims"]
    assert [c["verdict"] for c in verdicts] == [c["verdict"] for c in summary["claims"]]
    assert [c["verdict"] for c in verdicts] == ["inconclusive"] * 3 + ["reproduced"]


@committed
def test_full_plots_draw_from_the_committed_records(tmp_path):
    summary, records = _committed()
    paths = BENCHMARK.plot["full"](BENCHMARK.config_from_dict("full", summary["config"]), records, tmp_path)
    assert [p.name for p in paths] == summary["plots"]
    assert all(p.stat().st_size > 0 for p in paths)
