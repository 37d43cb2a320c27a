"""The benchmark declaration: configs validate, the runners produce the claimed metrics, the paper scale starts."""

import dataclasses

import pytest

from paperzoo.ggd_td.bench import BENCHMARK, FullConfig, PPOConfig, SACConfig, SmokeConfig, full_claims, paper_config
from paperzoo.ggd_td.experiment import arm_loss, fit_toy, run_full


def _tiny(config: FullConfig, arms: tuple[str, ...]) -> FullConfig:
    ppo = dataclasses.replace(config.ppo, n_envs=1, n_steps=16, batch_size=8, n_epochs=1, device="cpu")
    sac = dataclasses.replace(
        config.sac, n_envs=1, batch_size=8, learning_starts=8, buffer_size=64, net_arch=(16,), device="cpu"
    )
    return dataclasses.replace(
        config, ppo=ppo, sac=sac, total_steps=32, arms=arms, random_episodes=2, workers=1, device="cpu"
    )


def test_full_runner_metrics_and_determinism():
    config = _tiny(FullConfig(), ("mse", "iev_ggd", "ggd_paper"))
    first, second = run_full(config, 0), run_full(config, 0)
    assert first.metrics == second.metrics and first.series == second.series
    for arm in config.arms:
        assert {f"{arm}/final_return", f"{arm}/auc"} <= set(first.metrics)
        assert len(first.series[f"{arm}/return"]) == 2  # one point per rollout
    assert {"iev_ggd/xi_fraction", "iev_ggd/ebs_fraction", "iev_ggd/shape_shift"} <= set(first.metrics)
    assert "mse/shape" not in first.metrics and first.metrics["random/return"] > 0


def test_paper_scale_starts_on_mujoco():
    assert len(paper_config().arms) == 12 and paper_config().sac.batch_size == 256
    config = _tiny(paper_config(), ("iev_ggd", "sac_iev_ggd"))
    assert config.ppo.env_id.startswith("Hopper") and config.sac.env_id.startswith("Hopper")
    result = run_full(config, 0)
    for arm in config.arms:
        assert result.metrics[f"{arm}/final_return"] != 0.0 and len(result.series[f"{arm}/return"]) == 2
    assert 0 < result.metrics["sac_iev_ggd/ebs_fraction"] <= 1  # the SAC critic's BIEV weights were computed


def test_toy_recovers_the_noise_shape():
    assert fit_toy("laplace", 1000, 150, 0) < 1.4 < 1.6 < fit_toy("gaussian", 1000, 150, 0) < 2.6


def _seed(ggd: float, mse: float, shift: float = 0.5) -> dict[str, float]:
    metrics = {"random/return": 20.0, "ggd/shape_shift": shift}
    for arm, value in (("ggd", ggd), ("mse", mse), ("gd", mse)):
        metrics |= {f"{arm}/final_return": value, f"{arm}/auc": value / 2}
    return metrics


def test_full_claims_verdicts():
    config = dataclasses.replace(FullConfig(), arms=("mse", "gd", "ggd"))
    claims = {c.text: c for c in full_claims(config)}
    key = "GGD final return >= MSE's (PPO, NoisyCartPole)"
    better = [_seed(300 + s, 100 + s) for s in range(3)]
    assert claims[key].evaluate(better)["verdict"] == "reproduced"
    worse = [_seed(100 + s, 300 + 2 * s) for s in range(3)]
    assert claims[key].evaluate(worse)["verdict"] == "not reproduced"
    idle = [_seed(300 + s, 100 + s, shift=0.0) for s in range(3)]
    assert claims[key].evaluate(idle)["verdict"] == "inconclusive"  # β never moved
    unlearned = [_seed(30 + s, 25 + s) for s in range(3)]
    assert claims[key].evaluate(unlearned)["verdict"] == "inconclusive"  # neither arm beat random by 20
    assert len(full_claims(BENCHMARK.scales["full"])) == 5 + 8


def test_arms_and_bad_configs():
    assert arm_loss("ggd_paper") == ("ggd", "paper") and arm_loss("iev_ggd") == ("iev_ggd", "official")
    assert arm_loss("sac_ggd_paper") == ("ggd", "paper")
    with pytest.raises(ValueError, match="max_noise"):
        PPOConfig(max_noise=1.0)
    with pytest.raises(ValueError, match="noise"):
        PPOConfig(noise="additive")
    with pytest.raises(ValueError, match="min_batch_size"):
        PPOConfig(min_batch_size=1)
    with pytest.raises(ValueError, match="lambda"):
        PPOConfig(uncertainty_temperature=-1.0)
    with pytest.raises(ValueError, match="arms"):
        FullConfig(arms=("huber",))
    with pytest.raises(ValueError, match="toy_steps"):
        SmokeConfig(toy_steps=0)
    with pytest.raises(ValueError, match="tau"):
        SACConfig(tau=1.5)
    with pytest.raises(ValueError, match="learning_starts"):
        SACConfig(learning_starts=-1)
    with pytest.raises(ValueError, match="arms"):
        FullConfig(arms=("sac_huber",))
