"""The paper scale's Atari games (ale-py's bundled ROMs): the official preprocessing with fresh pixel noise, SB3's
CNN DQN on it, one smoothed-policy step and one attack step on pixels, and the paper configs of Pong and Freeway."""

import gymnasium as gym
import numpy as np
import pytest

from paperzoo.policy_smoothing import AttackConfig, DQNConfig, SmoothedPolicy, make_env, perturb, train_dqn
from paperzoo.policy_smoothing.bench import paper_config
from paperzoo.policy_smoothing.envs import ATARI_IDS, OneRound, area_weights, base_env
from paperzoo.policy_smoothing.policy import vector_env

ale_py = pytest.importorskip("ale_py")


class Rally(gym.Env):
    """Rewards 0, 0, -1, 0, +1, ...: a point is scored at the third step."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), [0.0, 0.0, -1.0, 0.0, 1.0][self.t - 1], False, False, {}


def test_one_round_ends_at_the_first_point():
    env = OneRound(Rally())
    env.reset()
    steps = [env.step(0)[1:3] for _ in range(3)]
    assert steps == [(0.0, False), (0.0, False), (-1.0, True)]


def test_area_resize():
    # rows of the weights sum to 1; halving averages 2x2 blocks; a non-integer ratio keeps a constant image constant
    image = np.random.default_rng(0).random((6, 4))
    half = area_weights(6, 3) @ image @ area_weights(4, 2).T
    assert np.allclose(half, image.reshape(3, 2, 2, 2).mean(axis=(1, 3)))
    w = area_weights(210, 84)
    assert w.shape == (84, 210) and np.allclose(w.sum(axis=1), 1.0) and np.allclose(w.sum(axis=0), 84 / 210)


@pytest.fixture(scope="module")
def pong():
    try:
        base_env("ALE/Pong-v5").close()
    except Exception as error:  # ale-py without its ROMs
        pytest.skip(f"the Pong ROM is not available: {error}")
    return "ALE/Pong-v5"


def test_paper_configs_of_the_atari_games():
    pong, freeway = paper_config("ALE/Pong-v5"), paper_config("ALE/Freeway-v5")
    for config in (pong, freeway):
        assert config.frames == 4 and config.dqn.net_arch == () and config.sigmas[-1] == 0.8
        assert (config.dqn.learning_rate, config.dqn.batch_size, config.dqn.steps) == (1e-4, 32, 10_000_000)
        assert config.certify_episodes == 10_000 and config.alpha == 0.05
    assert (pong.horizon, pong.reward_shift) == (2, 1.0)  # one round: -1 or +1, shifted into {0, 2}
    assert (freeway.horizon, freeway.reward_shift) == (10, 0.0)
    assert set(ATARI_IDS) == {"ALE/Pong-v5", "ALE/Freeway-v5"}
    with pytest.raises(ValueError, match="env_id"):
        paper_config("ALE/Breakout-v5")


def test_noisy_stacked_pixels(pong):
    clean, _ = base_env(pong).reset(seed=0)
    env = make_env(pong, sigma=0.1, frames=4, seed=0)
    obs, _ = env.reset(seed=0)
    assert clean.shape == (84, 84) and 0.0 <= clean.min() and clean.max() <= 1.0  # scaled grayscale pixels
    assert obs.shape == (4, 84, 84) and np.array_equal(obs[0], obs[-1])  # the first noisy frame repeated
    assert np.std(obs[-1] - clean) == pytest.approx(0.1, rel=0.05)  # sigma on the [0, 1] pixel scale
    nxt = env.step(0)[0]
    assert np.array_equal(nxt[:3], obs[1:]) and not np.allclose(nxt[-1], obs[-1])


def test_cnn_dqn_smoothed_step_and_attack_on_pixels(pong):
    config = DQNConfig(
        steps=16,
        net_arch=(),
        buffer_size=64,
        learning_starts=8,
        batch_size=4,
        train_freq=4,
        gradient_steps=1,
        eval_freq=16,
        select_episodes=1,
    )
    model, selector = train_dqn(0.1, config, seed=0, select_seed=1, frames=4, env_id=pong)
    assert type(model.policy.q_net.features_extractor).__name__ == "NatureCNN"
    assert -1.0 <= selector.best_return <= 1.0  # one round of Pong, or the 250-step limit with no point
    env = vector_env(pong, 2)
    obs, _ = env.reset(seed=2)
    policy = SmoothedPolicy(model.q_net, 0.1, frames=4, seed=3)
    first = policy.reset(obs)
    actions = policy.step(env.step(first)[0])
    assert policy.stack.shape == (2, 4, 84, 84) and not np.allclose(policy.stack[:, -1], policy.stack[:, -2])
    assert all(env.single_action_space.contains(int(a)) for a in actions)
    budget = np.array([0.5, 0.0])
    config, rng = AttackConfig(step_size=0.1, samples=2), np.random.default_rng(0)
    eps = perturb(model.q_net, policy.stack[:, 1:], obs, 4, budget, 0.1, 0.0, config, rng)
    assert eps.shape == (2, 84, 84) and np.all(np.linalg.norm(eps.reshape(2, -1), axis=1) <= budget + 1e-6)
    env.close()
