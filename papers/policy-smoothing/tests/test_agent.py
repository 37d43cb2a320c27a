"""The noise wrapper (fresh noise every step), the smoothed policy against SB3's own evaluation, the adaptive
attack (direction, budget) and the separation of certification from model selection."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from paperzoo.policy_smoothing import (
    AttackConfig,
    NoisyObs,
    SmoothedPolicy,
    attack_episodes,
    make_env,
    perturb,
    rollout,
)
from paperzoo.policy_smoothing.experiment import seeds

RNG = np.random.default_rng(0)


class ConstantEnv(gym.Env):
    """Always observes the same vector: any change in the agent's input is the wrapper's noise."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(3), {}

    def step(self, action):
        return np.ones(3), 0.0, False, False, {}


def test_noise_is_fresh_every_step_and_has_scale_sigma():
    env = NoisyObs(ConstantEnv(), sigma=0.3)
    first, _ = env.reset(seed=0)
    obs = np.stack([env.step(0)[0] for _ in range(4000)])
    assert not np.allclose(obs[0], obs[1]) and not np.allclose(first, obs[0])
    assert np.std(obs - 1.0) == pytest.approx(0.3, rel=0.03)
    assert np.abs(np.mean(obs - 1.0)) < 0.01
    # reset(seed) re-seeds the noise; sigma = 0 leaves observations untouched
    again, _ = env.reset(seed=0)
    assert np.array_equal(again, first)
    assert np.array_equal(NoisyObs(ConstantEnv(), 0.0).reset(seed=1)[0], np.ones(3))


def test_stacked_env_stacks_noisy_frames():
    env = make_env("CartPole-v0", sigma=0.2, frames=5)
    obs, _ = env.reset(seed=0)
    frames = obs.reshape(5, 4)
    assert np.array_equal(frames[0], frames[-1])  # the first noisy observation repeated after a reset
    nxt = env.step(0)[0].reshape(5, 4)
    assert np.array_equal(nxt[:4], frames[1:]) and not np.allclose(nxt[-1], frames[-1])


def test_smoothed_policy_draws_fresh_noise():
    policy = SmoothedPolicy(torch.nn.Linear(15, 2), sigma=0.5, frames=5, seed=0)
    obs = np.ones((2, 3))
    policy.reset(obs)
    before = policy.stack.copy()
    policy.step(obs)
    assert not np.allclose(policy.stack[:, -1], before[:, -1])
    assert not np.allclose(policy.stack[0], policy.stack[1])  # independent across episodes too


@pytest.fixture(scope="module")
def dqn():
    env = DummyVecEnv([lambda: Monitor(make_env("CartPole-v0", 0.0, 5))])
    torch.manual_seed(0)
    return DQN("MlpPolicy", env, policy_kwargs={"net_arch": [16]}, seed=0, device="cpu")


def test_batched_rollout_equals_sb3_evaluate_policy_without_noise(dqn):
    # sigma = 0: the vector env's episode from reset(seed=s) is the single env's from reset(seed=s), and the greedy
    # batched actions are SB3's deterministic predictions, so the returns agree exactly.
    batched = [rollout(SmoothedPolicy(dqn.q_net, 0.0, 5), 1, seed=s)[0] for s in range(5)]
    single = []
    for s in range(5):
        dqn.get_env().seed(s)
        single += evaluate_policy(
            dqn, dqn.get_env(), n_eval_episodes=1, deterministic=True, return_episode_rewards=True
        )[0]
    assert batched == single
    assert len(set(batched)) > 1


def test_attack_follows_the_negative_margin_gradient():
    # Q(x) = W x, two actions: the cross-entropy gradient towards the other action w.r.t. the newest frame is
    # proportional to (w_a* - w_other) restricted to it, so the attack moves straight down the margin.
    torch.manual_seed(0)
    q_net = torch.nn.Linear(6, 2, bias=False)
    stacks = 0.1 * np.random.default_rng(0).normal(size=(4, 2, 3))
    past, obs = stacks[:, :1], stacks[:, 1]
    w = q_net.weight.detach().numpy()
    chosen = (stacks.reshape(4, 6) @ w.T).argmax(axis=1)
    direction = np.where(chosen[:, None] == 0, w[0] - w[1], w[1] - w[0])[:, 3:]
    margins = np.abs(stacks.reshape(4, 6) @ (w[0] - w[1]))
    config = AttackConfig(step_size=1e-3)
    eps = perturb(q_net, past, obs, 2, np.full(4, 10.0), 0.0, 0.0, config, RNG)
    cos = (eps * direction).sum(1) / (np.linalg.norm(eps, axis=1) * np.linalg.norm(direction, axis=1))
    assert np.allclose(cos, -1.0, atol=1e-5)
    # it stops as soon as the action flips: ||eps|| = margin / ||w_0 - w_1 (newest frame)|| to one step
    needed = margins / np.linalg.norm(direction, axis=1)
    assert np.all(np.linalg.norm(eps, axis=1) >= needed - 1e-6)
    assert np.all(np.linalg.norm(eps, axis=1) <= needed + 1.01e-3)
    flipped = ((stacks.reshape(4, 6) + np.pad(eps, ((0, 0), (3, 0)))) @ w.T).argmax(axis=1)
    assert np.all(flipped != chosen)
    # a budget too small to flip spends nothing (the official attack keeps the clean observation)
    assert np.all(perturb(q_net, past, obs, 2, needed / 2, 0.0, 0.0, config, RNG) == 0)
    # the threshold lambda: only steps whose Q-gap is >= lambda are attacked
    lam = np.median(margins)
    gated = perturb(q_net, past, obs, 2, np.full(4, 10.0), 0.0, lam, config, RNG)
    assert np.array_equal(np.linalg.norm(gated, axis=1) > 0, margins >= lam)
    assert np.allclose(gated[margins >= lam], eps[margins >= lam])
    # after a reset the stack is the first input repeated: eps moves both frames
    first = perturb(q_net, None, obs, 2, np.full(4, 10.0), 0.0, 0.0, config, RNG)
    both = (obs @ (w[:, :3] + w[:, 3:]).T).argmax(axis=1)
    diff = np.where(both[:, None] == 0, w[0] - w[1], w[1] - w[0])
    cos = (first * (diff[:, :3] + diff[:, 3:])).sum(1) / np.linalg.norm(first, axis=1)
    assert np.allclose(cos, -np.linalg.norm(diff[:, :3] + diff[:, 3:], axis=1), rtol=1e-5)
    # targeted: forcing the other action is the untargeted flip (two actions); forcing the agent's own action is free
    forced = [
        perturb(q_net, past[i : i + 1], obs[i : i + 1], 2, np.full(1, 10.0), 0.0, 0.0, config, RNG, int(1 - t))[0]
        for i, t in enumerate(chosen)
    ]
    assert np.allclose(forced, eps, atol=1e-6)
    kept = [
        perturb(q_net, past[i : i + 1], obs[i : i + 1], 2, np.full(1, 10.0), 0.0, 0.0, config, RNG, int(t))
        for i, t in enumerate(chosen)
    ]
    assert np.all(np.asarray(kept) == 0)


def test_attack_respects_the_total_budget(dqn):
    budgets = np.repeat([0.0, 0.05, 0.3], 6)
    config = AttackConfig(step_size=0.02, samples=4)
    returns, spent = attack_episodes(dqn.q_net, 0.1, budgets, 0.0, config, seed=0)
    assert np.all(spent <= budgets * (1 + 1e-6))
    assert np.all(spent[budgets == 0] == 0) and np.any(spent[budgets == 0.3] > 0)
    # B = 0 episodes are the clean episodes: the same initial states and agent noise with or without the attacker
    clean, _ = attack_episodes(dqn.q_net, 0.1, np.zeros_like(budgets), 0.0, config, seed=0)
    assert np.array_equal(clean[:6], returns[:6])


def test_certification_episodes_are_not_model_selection_episodes(dqn):
    s = seeds(0)
    assert len(set(s.values())) == len(s)
    states = {}
    for purpose in ("model selection", "certification", "attack"):
        env = gym.make_vec("CartPole-v0", num_envs=50, vectorization_mode="vector_entry_point")
        states[purpose] = {tuple(row) for row in env.reset(seed=s[purpose])[0].round(6)}
    assert not states["model selection"] & states["certification"]
    assert not states["model selection"] & states["attack"]


def test_bad_agent_input():
    with pytest.raises(ValueError, match="sigma"):
        NoisyObs(ConstantEnv(), -0.1)
    with pytest.raises(ValueError, match="sigma"):
        SmoothedPolicy(torch.nn.Linear(4, 2), -1.0)
    with pytest.raises(ValueError, match="episodes"):
        rollout(SmoothedPolicy(torch.nn.Linear(20, 2), 0.1), 0, seed=0)
    with pytest.raises(ValueError, match="B"):
        attack_episodes(torch.nn.Linear(20, 2), 0.1, np.array([-0.5]), 0.0, AttackConfig(), seed=0)
    with pytest.raises(ValueError, match="threshold"):
        attack_episodes(torch.nn.Linear(20, 2), 0.1, np.array([0.5]), -1.0, AttackConfig(), seed=0)
    with pytest.raises(ValueError, match="step_size"):
        AttackConfig(step_size=0.0)
    with pytest.raises(ValueError, match="thresholds"):
        AttackConfig(thresholds=(-0.1,))
    with pytest.raises(ValueError, match="step_count_multiplier"):
        AttackConfig(step_count_multiplier=0.0)
    with pytest.raises(ValueError, match="targets"):
        AttackConfig(targets=(-1,))
