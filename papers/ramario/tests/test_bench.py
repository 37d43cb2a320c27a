"""The benchmark declaration: configs validate, claims are guarded (some arm learned, Reptile's sine check) and
built from the config that was run, the paper scale starts, the committed full-scale verdicts follow from the
records, the full-scale figures draw."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from paperzoo.ramario.bench import BENCHMARK, FullConfig, SmokeConfig
from paperzoo.ramario.config import DQNConfig, InnerConfig, PPOConfig

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
    with pytest.raises(ValueError, match=r"inner\.episodes"):
        FullConfig(mini_levels=2, inner=InnerConfig(episodes=3))
    with pytest.raises(ValueError, match=r"inner\.episodes"):
        FullConfig(mini_levels=None, inner=InnerConfig(episodes=2))  # a whole level is one environment
    with pytest.raises(ValueError, match="mini_levels"):
        FullConfig(mini_levels=0)
    full = BENCHMARK.scales["full"]
    assert len(BENCHMARK.seeds["full"]) >= 3
    assert full.eval_episodes >= 30 and 5 <= full.inner.k <= 10 and 32 <= full.max_episode_steps <= 64
    assert BENCHMARK.scales["paper"].mini_levels is None  # the paper's setting: whole levels


def _full_metrics(reptile_k, random_k, ppo, dqn, untrained=60.0, ratio=0.4):
    return {
        "reptile/progress_0": untrained,
        "reptile/progress_k": reptile_k,
        "random_init/progress_0": untrained,
        "random_init/progress_k": random_k,
        "ppo/progress": ppo,
        "dqn/progress": dqn,
        "reptile/theta_distance": 1.0,
        "sine/mse_ratio": ratio,
    }


def test_full_claims_are_guarded_by_learning_and_the_sine_check():
    claims = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    learned = [c.evaluate([_full_metrics(150, 100, 120, 90)])["verdict"] for c in claims]
    assert learned == ["reproduced"] * 3
    behind = [c.evaluate([_full_metrics(100, 150, 160, 90)])["verdict"] for c in claims]
    assert behind == ["not reproduced", "not reproduced", "reproduced"]
    # No arm a tile (16 px) past the untrained policy: nothing learned, so nothing to compare.
    flat = [c.evaluate([_full_metrics(70, 62, 75, 55)])["verdict"] for c in claims]
    assert flat == ["inconclusive"] * 3
    # Reptile fails its textbook check: the Mario comparisons do not test Reptile.
    broken = [c.evaluate([_full_metrics(150, 100, 120, 90, ratio=0.8)])["verdict"] for c in claims]
    assert broken == ["inconclusive"] * 3
    # Reptile's theta never moved in meta-training: the few-shot claim is inconclusive.
    idle = {**_full_metrics(150, 100, 120, 90), "reptile/theta_distance": 0.0}
    assert claims[0].evaluate([idle])["verdict"] == "inconclusive"


def test_full_claims_follow_the_interval_rule():
    """Three seeds, some arm learned: a consistent few-shot gain is reproduced, one below the resolution (one pixel
    in one of the evaluation episodes) or one the seeds disagree on is inconclusive."""
    config = BENCHMARK.scales["full"]
    fewshot, ppo, _ = BENCHMARK.claims_for("full", config)
    assert fewshot.statement.resolution == pytest.approx(1 / config.eval_episodes)

    def verdict(claim, reptile, other):
        seeds = [_full_metrics(r, k, k, k) for r, k in zip(reptile, other, strict=True)]
        return claim.evaluate(seeds)["verdict"]

    reptile = (150.0, 170.0, 130.0)
    assert verdict(fewshot, reptile, (140.0, 158.0, 119.0)) == "reproduced"  # +10, +12, +11 px
    assert verdict(fewshot, reptile, (149.99, 169.99, 129.99)) == "inconclusive"  # +0.01 px < 1/32 px
    assert verdict(fewshot, reptile, (210.0, 50.0, 130.0)) == "inconclusive"  # the seeds disagree
    assert verdict(ppo, reptile, (160.0, 185.0, 140.0)) == "not reproduced"  # PPO ahead in every seed


def test_full_claims_name_the_held_out_level_of_the_config():
    default = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    assert all("mini-levels of 1-2" in c.text for c in default)
    other = dataclasses.replace(BENCHMARK.scales["full"], held_out=(2, 2))
    assert all("2-2" in c.text and "1-2" not in c.text for c in BENCHMARK.claims_for("full", other))
    assert all("held-out 1-2 " in c.text for c in BENCHMARK.claims_for("full", BENCHMARK.scales["paper"]))


def test_paper_scale_starts_on_whole_levels():
    """The paper scale's runner on a stand-in of its config (whole levels, tiny budgets): every arm runs."""
    from paperzoo.ramario.experiment import run_full

    config = dataclasses.replace(
        BENCHMARK.scales["paper"],
        train_levels=((1, 1),),
        max_episode_steps=6,
        outer_steps=1,
        inner=InnerConfig(k=1),
        eval_rounds=1,
        ppo=PPOConfig(rollout=8, minibatch=4, epochs=1),
        dqn=DQNConfig(learning_starts=4, batch_size=4, target_update=4),
        sine_outer_steps=1,
        device="cpu",
    )
    m = run_full(config, 0).metrics
    assert m["reptile/meta_env_steps"] == 6 and m["budget/env_steps"] == 12  # k = 1 episode of 6 steps, twice
    assert m["ppo/train_episodes"] == m["dqn/train_episodes"] == 2
    assert all(np.isfinite(v) for v in m.values())


def test_meta_training_never_sees_a_held_out_start_state(monkeypatch):
    """The smoke run, with every mini-level reset recorded: meta-training resets only training-level start states;
    the held-out ones are first reset by the few-shot evaluation, after meta-training."""
    from paperzoo.ramario.envs.minilevels import MiniLevel
    from paperzoo.ramario.experiment import run_smoke

    resets = []
    reset = MiniLevel.reset

    def recording_reset(self, **kwargs):
        resets.append(self.start)
        return reset(self, **kwargs)

    monkeypatch.setattr(MiniLevel, "reset", recording_reset)
    config = BENCHMARK.scales["smoke"]
    metrics = run_smoke(config, 0).metrics
    levels = [s.level for s in resets]
    first_held = levels.index(config.held_out)
    assert set(levels[:first_held]) == set(config.train_levels)
    assert set(levels[first_held:]) == {config.held_out}
    # every step of meta-training (2 outer steps + the k = 0 step's none) was played on a training state
    assert first_held == config.outer_steps * config.inner.k * config.inner.episodes
    assert metrics["reptile/meta_env_steps"] > 0 and metrics["reptile/outer_step_error"] <= 1e-6


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


@committed
def test_full_plots_draw_from_the_committed_records(tmp_path):
    summary, records = _committed()
    paths = BENCHMARK.plot["full"](BENCHMARK.config_from_dict("full", summary["config"]), records, tmp_path)
    assert [p.name for p in paths] == summary["plots"]
    assert all(p.stat().st_size > 0 for p in paths)
