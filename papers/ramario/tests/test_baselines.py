"""PPO and DQN targets against hand-worked numbers."""

import numpy as np
import pytest

from paperzoo.ramario.baselines.dqn import DQNConfig, ReplayBuffer, dqn_targets, linear_schedule
from paperzoo.ramario.baselines.ppo import PPOConfig, gae, ppo_clip_loss
from paperzoo.ramario.tf_runtime import tensorflow

tf = tensorflow()


def test_ppo_clipped_loss_by_hand():
    # ratios 1.5, 0.5, 1.05 (clip 0.2): terms min(r A, clip(r) A)
    old = np.log([0.2, 0.4, 0.5]).astype(np.float32)
    new = np.log([0.3, 0.2, 0.525]).astype(np.float32)
    adv = np.array([1.0, -2.0, 3.0], np.float32)
    # A=1, r=1.5: min(1.5, 1.2) = 1.2;  A=-2, r=0.5: min(-1.0, -1.6) = -1.6;  A=3, r=1.05: min(3.15, 3.15)
    expected = -(1.2 - 1.6 + 3.15) / 3
    assert float(ppo_clip_loss(tf.constant(new), tf.constant(old), tf.constant(adv), 0.2)) == pytest.approx(
        expected, rel=1e-5
    )


def test_gae_by_hand():
    r = np.array([1.0, 0.0, 2.0], np.float32)
    v = np.array([0.5, 1.0, 1.5], np.float32)
    d = np.array([0.0, 1.0, 0.0], np.float32)  # the episode terminates at t = 1
    adv = gae(r, v, d, last_value=2.0, gamma=0.9, lam=0.5)
    d2 = 2.0 + 0.9 * 2.0 - 1.5  # 2.3
    d1 = 0.0 - 1.0  # terminal: no bootstrap
    d0 = 1.0 + 0.9 * 1.0 - 0.5  # 1.4
    np.testing.assert_allclose(adv, [d0 + 0.9 * 0.5 * d1, d1, d2], rtol=1e-6)
    # lambda = 1, no terminal: A_t = discounted return (bootstrapped) - V(s_t)
    adv1 = gae(r, v, np.zeros(3), last_value=2.0, gamma=0.9, lam=1.0)
    ret0 = 1.0 + 0.9 * 0.0 + 0.81 * 2.0 + 0.729 * 2.0
    assert adv1[0] == pytest.approx(ret0 - 0.5, rel=1e-6)


def test_dqn_targets_by_hand():
    next_q = np.array([[1.0, 3.0], [2.0, -1.0], [5.0, 4.0]], np.float32)
    y = dqn_targets([1.0, 0.5, -1.0], next_q, [0.0, 0.0, 1.0], gamma=0.9)
    np.testing.assert_allclose(y.numpy(), [1.0 + 0.9 * 3.0, 0.5 + 0.9 * 2.0, -1.0])


def test_exploration_schedule_and_replay():
    assert linear_schedule(0, 1000, 0.1, 0.01) == 1.0
    assert linear_schedule(50, 1000, 0.1, 0.01) == pytest.approx(0.505)
    assert linear_schedule(900, 1000, 0.1, 0.01) == 0.01
    buf = ReplayBuffer(2, (1,))
    for i in range(3):
        buf.add(np.array([i]), i, float(i), np.array([i + 1]), i == 2)
    assert buf.size == 2 and sorted(buf.actions.tolist()) == [1, 2]  # the oldest was overwritten


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: PPOConfig(clip=0.0), "clip"),
        (lambda: PPOConfig(rollout=0), "rollout"),
        (lambda: DQNConfig(gamma=2.0), "gamma"),
        (lambda: DQNConfig(exploration_fraction=0.0), "exploration_fraction"),
    ],
)
def test_bad_configs(make, name):
    with pytest.raises(ValueError, match=name):
        make()


class OneGoodAction:
    """A tiny Gymnasium env: random (12, 12, 4) frames, reward 1 for action 0, else 0; 8-step episodes."""

    def __init__(self):
        import gymnasium

        self.observation_space = gymnasium.spaces.Box(0, 255, (12, 12, 4), np.uint8)
        self.action_space = gymnasium.spaces.Discrete(3)
        self.rng = np.random.default_rng(0)
        self.t = 0

    def _obs(self):
        return self.rng.integers(0, 256, size=(12, 12, 4), dtype=np.uint8)

    def reset(self, seed=None):
        self.t = 0
        return self._obs(), {"x_pos": 0}

    def step(self, action):
        self.t += 1
        reward = 1.0 if action == 0 else 0.0
        return self._obs(), reward, False, self.t >= 8, {"x_pos": int(reward)}


def test_ppo_and_dqn_learn_the_good_action():
    from paperzoo.ramario.baselines import train_dqn, train_ppo

    env = OneGoodAction()
    episodes = []
    ppo = train_ppo(env, 384, PPOConfig(rollout=64, minibatch=16, learning_rate=3e-3), 0, lambda *a: episodes.append(a))
    obs = np.stack([env._obs() for _ in range(16)])
    probs = tf.nn.softmax(ppo.policy_logits(obs)).numpy()
    assert probs[:, 0].mean() > 0.42  # from 1/3
    assert len(episodes) == 384 // 8 and episodes[-1][0] == 384
    dqn = train_dqn(env, 300, DQNConfig(learning_starts=100, target_update=50, learning_rate=1e-3), 0)
    assert (np.argmax(dqn.forward(obs).numpy(), axis=1) == 0).mean() > 0.9
