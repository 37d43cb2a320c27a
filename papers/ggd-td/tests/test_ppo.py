"""The SB3 subclass: M = 1 with MSE is SB3's PPO; per-head GAE; the ensemble head; every loss trains."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.env_util import make_vec_env

from paperzoo.ggd_td.losses import LOSSES
from paperzoo.ggd_td.ppo import EnsemblePPO, EnsembleRolloutBuffer, EnsembleValueHead

SMALL = {"n_steps": 32, "batch_size": 16, "n_epochs": 2, "device": "cpu", "seed": 0}


def _env(n=2):
    # a 20-step limit: the rollout holds time-limit truncations, which bootstrap from the value
    return make_vec_env(lambda: gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, 20), n_envs=n, seed=0)


def test_one_head_mse_is_sb3_ppo():
    ref = PPO("MlpPolicy", _env(), **SMALL)
    ours = EnsemblePPO("MlpPolicy", _env(), loss="mse", ensemble_size=1, **SMALL)
    ours.policy.load_state_dict(ref.policy.state_dict())
    for model in (ref, ours):
        model.set_random_seed(0)
        model.learn(2 * 32 * 2)  # two rollouts, two updates
    for key in ("train/value_loss", "train/policy_gradient_loss", "train/entropy_loss", "train/approx_kl"):
        assert ours.logger.name_to_value[key] == pytest.approx(ref.logger.name_to_value[key], rel=1e-6), key
    np.testing.assert_allclose(ours.rollout_buffer.returns.ravel(), ref.rollout_buffer.returns.ravel(), rtol=1e-6)
    for (name, a), b in zip(ref.policy.state_dict().items(), ours.policy.state_dict().values(), strict=True):
        th.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_per_head_gae_is_sb3_gae_run_per_head():
    rng = np.random.default_rng(0)
    space = gym.spaces.Box(-1, 1, (3,))
    kw = {"gamma": 0.9, "gae_lambda": 0.8, "n_envs": 2}
    ours = EnsembleRolloutBuffer(8, space, gym.spaces.Discrete(2), ensemble_size=3, value_dims=2, **kw)
    refs = [RolloutBuffer(8, space, gym.spaces.Discrete(2), **kw) for _ in range(3)]
    for _ in range(8):
        step = (rng.normal(size=(2, 3)), rng.integers(0, 2, (2, 1)), rng.normal(size=2), rng.random(2) < 0.2)
        values = th.tensor(rng.normal(size=(2, 3, 2)), dtype=th.float32)
        ours.add(*step, values, th.zeros(2))
        for k, ref in enumerate(refs):
            ref.add(*step, values[:, k, :1], th.zeros(2))
    last, dones = th.tensor(rng.normal(size=(2, 3, 2)), dtype=th.float32), np.array([False, True])
    ours.compute_returns_and_advantage(last, dones)
    for k, ref in enumerate(refs):
        ref.compute_returns_and_advantage(last[:, k, :1], dones)
        np.testing.assert_allclose(ours.advantages[..., k], ref.advantages, rtol=1e-6)
        np.testing.assert_allclose(ours.returns[..., k], ref.returns, rtol=1e-6)
    batch = next(ours.get(16))
    assert batch.returns.shape == (16, 3) and batch.old_values.shape == (16, 3, 2)


def test_value_head_is_m_separate_linears():
    head = EnsembleValueHead(8, 4, 2)
    head.orthogonal_init(1.0)
    x = th.randn(5, 8)
    out = head(x)
    assert out.shape == (5, 4, 2)
    for k in range(4):
        block = head.weight[2 * k : 2 * k + 2]
        th.testing.assert_close(out[:, k], x @ block.T + head.bias[2 * k : 2 * k + 2])
        th.testing.assert_close(block @ block.T, th.eye(2), atol=1e-5, rtol=0)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_updates_finitely(loss):
    model = EnsemblePPO("MlpPolicy", _env(), loss=loss, **SMALL)
    before = [p.detach().clone() for p in model.policy.value_net.parameters()]
    model.learn(64)
    assert np.isfinite(model.logger.name_to_value["train/value_loss"])
    after = list(model.policy.value_net.parameters())
    assert all(th.isfinite(p).all() and not th.equal(p, q) for p, q in zip(after, before, strict=True))
    assert model.policy.value_net.out_features == 5 * model.value_loss.value_dims


def test_same_seed_same_training():
    runs = []
    for _ in range(2):
        model = EnsemblePPO("MlpPolicy", _env(), loss="iev_ggd", **SMALL)
        model.learn(64)
        runs.append(th.cat([p.detach().ravel() for p in model.policy.parameters()]))
    assert th.equal(*runs)


def test_bad_ensemble_sizes():
    with pytest.raises(ValueError, match="ensemble_size"):
        EnsemblePPO("MlpPolicy", _env(), loss="iev_ggd", ensemble_size=3, **SMALL)
    with pytest.raises(ValueError, match="ensemble_size"):
        EnsemblePPO("MlpPolicy", _env(), loss="iv_gd", ensemble_size=1, **SMALL)
    with pytest.raises(ValueError, match="loss"):
        EnsemblePPO("MlpPolicy", _env(), loss="l2", **SMALL)
    assert dataclasses.is_dataclass(EnsemblePPO("MlpPolicy", _env(), loss="gd", **SMALL).value_loss)
