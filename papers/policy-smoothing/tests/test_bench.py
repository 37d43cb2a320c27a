"""The benchmark's configs validate themselves, the paper scale is the official setting, the full runner runs end
to end on a tiny stand-in config with every claim's metrics present, and runs are deterministic."""

import dataclasses

import numpy as np
import pytest
import torch

from paperzoo.policy_smoothing import AttackConfig, DQNConfig, SmoothedPolicy, plots, rollout, train_dqn
from paperzoo.policy_smoothing.bench import BENCHMARK, FullConfig, SmokeConfig, full_claims
from paperzoo.shared.claims import MISSING


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigmas": (0.0, -0.2)}, "sigma"),
        ({"reference_sigma": 0.3}, "reference_sigma"),
        ({"attack_sigmas": (0.6,)}, "attack_sigmas"),
        ({"budgets": (0.5, 1.0)}, "budgets"),
        ({"attack_budgets": (0.05,)}, "attack_budgets"),
        ({"alpha": 1.0}, "alpha"),
        ({"certify_episodes": 0}, "certify_episodes"),
        ({"env_id": "Pong-v5"}, "env_id"),
    ],
)
def test_bad_full_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FullConfig(**kwargs)


def test_bad_smoke_and_dqn_configs():
    with pytest.raises(ValueError, match="sigma"):
        SmokeConfig(sigma=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        DQNConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="n_envs"):
        DQNConfig(n_envs=3, train_freq=256)


def test_paper_scale_is_the_official_setting():
    paper = BENCHMARK.scales["paper"]
    assert paper.dqn == DQNConfig()
    assert (paper.dqn.net_arch, paper.dqn.learning_rate, paper.dqn.batch_size) == ((256, 256), 1e-4, 1024)
    assert (paper.dqn.train_freq, paper.dqn.gradient_steps, paper.dqn.steps) == (256, 128, 500_000)
    assert paper.sigmas[-1] == 0.8 and paper.certify_episodes == 10_000 and paper.alpha == 0.05
    assert (paper.attack.step_size, paper.attack.samples) == (0.01, 128)
    assert paper.frames == 5 and paper.env_id == "CartPole-v0"


def test_full_runner_on_a_tiny_stand_in(tmp_path):
    tiny = FullConfig(
        dqn=DQNConfig(
            steps=400,
            net_arch=(8,),
            learning_starts=100,
            batch_size=16,
            train_freq=64,
            gradient_steps=4,
            eval_freq=200,
            select_episodes=3,
        ),
        certify_episodes=20,
        attack_episodes=2,
        attack_budgets=(0.0, 1.0),
        attack=AttackConfig(step_size=0.1, samples=2, thresholds=(0.0, 1.0)),
        workers=1,
    )
    result = BENCHMARK.run["full"](tiny, 0)
    m = result.metrics
    for claim in full_claims(tiny):
        assert claim.evaluate([m])["verdict"] != MISSING
    assert m["sigma0.2/cert_B0"] <= m["sigma0.2/clean_reward"]
    assert m["sigma0.2/cert_B1"] <= m["sigma0.2/cert_B0"]
    assert len(result.series["sigma0.4/cert"]) == len(tiny.budgets)
    records = [{"metrics": m, "series": result.series}] * 2
    assert all(p.exists() for p in plots.plot_full(tiny, records, tmp_path))


def test_training_and_certification_are_deterministic():
    config = DQNConfig(
        steps=300,
        net_arch=(8,),
        learning_starts=100,
        batch_size=16,
        train_freq=64,
        gradient_steps=4,
        eval_freq=100,
        select_episodes=3,
    )

    def once():
        model, _ = train_dqn(0.2, config, seed=3, select_seed=4)
        return model.q_net, rollout(SmoothedPolicy(model.q_net, 0.2, seed=5), 30, seed=6)

    (q1, r1), (q2, r2) = once(), once()
    assert all(torch.equal(a, b) for a, b in zip(q1.state_dict().values(), q2.state_dict().values(), strict=True))
    assert np.array_equal(r1, r2)
    other = rollout(SmoothedPolicy(q1, 0.2, seed=7), 30, seed=6)
    assert not np.array_equal(other, r1) or np.all(r1 == r1[0])
    assert dataclasses.is_dataclass(config)
