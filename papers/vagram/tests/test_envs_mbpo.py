"""The distractor wrapper, the MBPO loop around SB3's SAC, and the benchmark's scales."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from paperzoo.vagram import DistractorWrapper, MBPOConfig, ModelTrainConfig, SACConfig, make_env, make_sac, run_mbpo
from paperzoo.vagram.bench import BENCHMARK, FitConfig, paper_config
from paperzoo.vagram.experiment import run_paper
from paperzoo.vagram.mbpo import MixedReplayBuffer, _extend, _RealBuffer, rollout_length, truncated_linear

TINY_SAC = SACConfig(net_arch=(16, 16), batch_size=16)


def _tiny_mbpo(**kw) -> MBPOConfig:
    base = dict(
        steps=20,
        initial_steps=20,
        epoch_length=10,
        freq_train_model=10,
        rollouts_per_step=2,
        sac_updates_per_step=1,
        hidden=(8,),
        model=ModelTrainConfig(epochs=1, batch_size=16),
        sac=TINY_SAC,
        final_eval_episodes=1,
    )
    return MBPOConfig(**{**base, **kw})


def test_distractors_extend_the_observation_and_never_touch_the_reward():
    base = gym.make("Pendulum-v1")
    env = DistractorWrapper(gym.make("Pendulum-v1"), dims=5, seed=3)
    assert env.observation_space.shape == (8,)
    o_base, _ = base.reset(seed=7)
    o, _ = env.reset(seed=7)
    np.testing.assert_allclose(o[:3], o_base, rtol=1e-6)
    rng = np.random.default_rng(0)
    distractors = []
    for _ in range(300):
        a = rng.uniform(-2, 2, 1).astype(np.float32)
        ob, rb, *_ = base.step(a)
        o, r, *_ = env.step(a)
        assert r == rb
        np.testing.assert_allclose(o[:3], ob, rtol=1e-6)
        distractors.append(o[3:])
    d = np.array(distractors)
    assert np.all(np.abs(d) <= 20.0)  # the switching reset
    assert np.any(np.all(np.isclose(d, env.reset_state.astype(np.float32)), axis=1) | (np.abs(d) > 1).any(1))
    assert d.std(0).min() > 0.1  # they move


def test_distractor_dynamics_follow_the_official_update():
    env = DistractorWrapper(gym.make("Pendulum-v1"), dims=3, seed=1)
    env.reset(seed=0)
    d = env.state.copy()
    o2, *_ = env.step(np.zeros(1, np.float32))
    expected = env.linear_map[:, 3:] @ d
    expected = expected + 0.1 * np.sin(env.sin_map @ expected)
    expected = np.where(np.abs(expected) > 20, env.reset_state, expected)
    np.testing.assert_allclose(o2[3:], expected, rtol=1e-5, atol=1e-6)
    assert np.all(env.linear_map[:, :3] == 0)  # uncorrelated: d never reads the observation


def test_distractor_seeds_are_reproducible_and_bad_dims_fail():
    a = make_env("Pendulum-v1", 4, seed=5)
    b = make_env("Pendulum-v1", 4, seed=5)
    np.testing.assert_array_equal(a.reset(seed=1)[0], b.reset(seed=1)[0])
    with pytest.raises(ValueError, match="dims"):
        DistractorWrapper(gym.make("Pendulum-v1"), dims=0)


def test_per_network_learning_rates_survive_training():
    sac = make_sac(make_env("Pendulum-v1"), SACConfig(net_arch=(8,), actor_lr=1e-4, critic_lr=2e-4, alpha_lr=3e-4), 0)
    sac.learn(120)
    sac.train(gradient_steps=2, batch_size=16)
    assert sac.actor.optimizer.param_groups[0]["lr"] == 1e-4
    assert sac.critic.optimizer.param_groups[0]["lr"] == 2e-4
    assert sac.ent_coef_optimizer.param_groups[0]["lr"] == 3e-4


def test_model_buffer_extend_wraps_around():
    from stable_baselines3.common.buffers import ReplayBuffer

    env = make_env("Pendulum-v1")
    buf = ReplayBuffer(5, env.observation_space, env.action_space, device="cpu", handle_timeout_termination=False)
    for start in (0, 3):
        obs = np.arange(start, start + 3, dtype=np.float32)[:, None].repeat(3, 1)
        _extend(buf, obs, obs + 1, np.zeros((3, 1)), np.ones(3), np.zeros(3))
    assert buf.full and buf.pos == 1 and buf.size() == 5
    assert buf.observations[:, 0, 0].tolist() == [5, 1, 2, 3, 4]


def test_rollout_schedule_is_truncated_linear():
    assert [rollout_length((20, 150, 1, 5), e) for e in (0, 20, 85, 150, 400)] == [1, 1, 3, 5, 5]
    schedule = (0, 50, 0.0, 0.95)  # the Hopper-distraction model_data_likelihood
    assert [truncated_linear(schedule, x) for x in (-1, 0, 50, 80)] == [0.0, 0.0, 0.95, 0.95]
    assert truncated_linear(schedule, 1) == pytest.approx(0.019) and truncated_linear((3, 3, 0.2, 0.7), 0) == 0.7


def _marked_buffers(n=20):
    """A real buffer whose rows read obs_0 = 100 + i, and a model buffer whose rows read obs_0 = -1 - i."""
    from stable_baselines3.common.buffers import ReplayBuffer

    env = make_env("Pendulum-v1")
    real = _RealBuffer(n, 3, 1)
    for i in range(n):
        real.add(np.full(3, 100.0 + i), np.full(1, 0.5), float(i), np.full(3, 200.0 + i), terminated=i % 3 == 0)
    model = ReplayBuffer(n, env.observation_space, env.action_space, device="cpu", handle_timeout_termination=False)
    obs = -1.0 - np.arange(n, dtype=np.float32)[:, None].repeat(3, 1)
    _extend(model, obs, obs, np.zeros((n, 1)), np.zeros(n), np.zeros(n))
    return real, model


def test_mixed_buffer_draws_each_batch_from_one_buffer():
    real, model = _marked_buffers()
    mixed = MixedReplayBuffer(model, real, np.random.default_rng(0))
    for fraction, expected in ((0.0, 0.0), (1.0, 1.0), (0.3, 0.3)):
        mixed.model_fraction = fraction
        from_model = []
        for _ in range(400):
            batch = mixed.sample(16)
            first = batch.observations[:, 0]
            assert bool((first < 0).all()) or bool((first >= 100).all())  # the whole batch from one buffer
            from_model.append(bool(first[0] < 0))
            if first[0] >= 100:  # real rows keep their transition together; done = terminated
                i = (first - 100).long()
                assert torch.equal(batch.next_observations[:, 0], first + 100)
                assert torch.equal(batch.rewards[:, 0], i.float())
                assert torch.equal(batch.dones[:, 0], (i % 3 == 0).float())
        assert np.mean(from_model) == pytest.approx(expected, abs=0.06)


def test_mbpo_trains_sac_on_model_data_deterministically():
    config = _tiny_mbpo(distractors=2, model=ModelTrainConfig(loss="vagram", epochs=1, batch_size=16))
    out = run_mbpo(config, 0)
    assert out["grads_computed"] == 30 + 40  # every real transition's gradient, once per round (2 rounds)
    assert len(out["return_curve"]) == 2 and np.isfinite(out["final_return"])
    assert run_mbpo(config, 0) == out
    mse = run_mbpo(dataclasses.replace(config, model=ModelTrainConfig(loss="mse", epochs=1, batch_size=16)), 0)
    assert mse["grads_computed"] == 0


def test_paper_scale_starts_on_a_stand_in():
    config = paper_config()
    assert config.mbpo.env_id == "Hopper-v5" and config.mbpo.distractors == 20 and config.mbpo.members == 7
    assert config.mbpo.model_data_likelihood == (0, 50, 0.0, 0.95)  # real data mixed into SAC's batches
    stand_in = _tiny_mbpo(
        env_id="Hopper-v5", distractors=20, initial_steps=30, steps=10, model_data_likelihood=(0, 2, 0.2, 0.9)
    )
    tiny = dataclasses.replace(config, device="cpu", mbpo=stand_in)
    result = run_paper(tiny, 0)
    assert set(result.metrics) == {"mbpo/mse/return", "mbpo/vagram/return"}


def test_configs_validate():
    with pytest.raises(ValueError, match="elites"):
        MBPOConfig(members=3, elites=5)
    with pytest.raises(ValueError, match="env_id"):
        MBPOConfig(env_id="CartPole-v1")
    with pytest.raises(ValueError, match="model_data_likelihood"):
        MBPOConfig(model_data_likelihood=(0, 50, 0.0, 1.5))
    with pytest.raises(ValueError, match="widths"):
        FitConfig(widths=(64,))
    with pytest.raises(ValueError, match="actor_lr"):
        SACConfig(actor_lr=0.0)
    assert BENCHMARK.scales["full"].mbpo.hidden == (16,)


def test_smoke_claims_hold_and_runs_repeat():
    config = BENCHMARK.scales["smoke"]
    first = BENCHMARK.run["smoke"](config, 0)
    summary = BENCHMARK.summarize("smoke", [first.metrics])
    assert all(c["verdict"] == "reproduced" for c in summary["claims"]), summary["claims"]
    torch.manual_seed(123)  # global state must not leak into the run
    assert BENCHMARK.run["smoke"](config, 0).metrics == first.metrics
