"""DQN (Mnih et al. 2015), single environment, in tf.keras.

    y = r + gamma (1 - terminated) max_a' Q_target(s', a')
    L = E[Huber(Q(s, a) - y)]                      (Huber with delta = 1, as the Nature DQN and SB3)

Replay buffer, epsilon-greedy exploration annealed linearly from 1 to ``final_epsilon`` over
``exploration_fraction`` of training, a target network copied every ``target_update`` steps, one gradient
step every ``train_freq`` steps after ``learning_starts``. Defaults: SB3's DQN Atari settings (the paper's
baselines come from SB3) with the step counts scaled to our budget (SB3: buffer 1e5, learning_starts 1e5,
target 1000, exploration 0.1 of 1e7 steps): buffer 5000, learning_starts 500, target 500, exploration 0.3.
Same conv torso as the Reptile policy, with a linear Q head.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium
import numpy as np

from paperzoo.ramario.config import DQNConfig
from paperzoo.ramario.model import conv_policy
from paperzoo.ramario.tf_runtime import tensorflow
from paperzoo.shared.validate import check_positive_int

tf = tensorflow()
keras = tf.keras


def dqn_targets(
    rewards: np.ndarray | tf.Tensor, next_q: np.ndarray | tf.Tensor, terminated: np.ndarray | tf.Tensor, gamma: float
) -> tf.Tensor:
    """``y = r + gamma (1 - terminated) max_a' Q_target(s', a')`` (next_q: ``(B, n_actions)`` target values)."""
    rewards = tf.convert_to_tensor(rewards, tf.float32)
    terminated = tf.convert_to_tensor(terminated, tf.float32)
    return rewards + gamma * (1.0 - terminated) * tf.reduce_max(tf.convert_to_tensor(next_q, tf.float32), axis=-1)


def linear_schedule(step: int, total: int, fraction: float, final: float) -> float:
    """epsilon: 1 at step 0, linearly to ``final`` at ``fraction * total``, then constant."""
    return max(final, 1.0 - (1.0 - final) * step / max(1.0, fraction * total))


class ReplayBuffer:
    """A ring buffer of transitions ``(s, a, r, s', terminated)`` (uint8 frames)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...]) -> None:
        check_positive_int("capacity", capacity)
        self.obs = np.zeros((capacity, *obs_shape), np.uint8)
        self.next_obs = np.zeros((capacity, *obs_shape), np.uint8)
        self.actions = np.zeros(capacity, np.int32)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.capacity, self.size, self.pos = capacity, 0, 0

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i] = obs, action, reward, next_obs
        self.terminated[i] = float(terminated)
        self.pos, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        idx = rng.integers(0, self.size, size=batch)
        return self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx]


class DQN:
    """A DQN learner: online and target Q networks, compiled forward and train step."""

    def __init__(self, n_actions: int, obs_shape: tuple[int, int, int], config: DQNConfig, seed: int) -> None:
        self.config = config
        self.q = conv_policy(n_actions, obs_shape, head="q", seed=seed)
        self.q_target = conv_policy(n_actions, obs_shape, head="q", seed=seed)
        self.q_target.set_weights(self.q.get_weights())
        self.optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.max_grad_norm)
        q, q_target, optimizer, variables = self.q, self.q_target, self.optimizer, self.q.trainable_variables
        obs_spec = tf.TensorSpec((None, *obs_shape), tf.uint8)
        f32 = tf.TensorSpec((None,), tf.float32)
        huber = keras.losses.Huber(delta=1.0)

        @tf.function(input_signature=[obs_spec])
        def forward(obs: tf.Tensor) -> tf.Tensor:
            return q(obs, training=False)

        @tf.function(input_signature=[obs_spec, tf.TensorSpec((None,), tf.int32), f32, obs_spec, f32])
        def train_step(obs, actions, rewards, next_obs, terminated):
            y = dqn_targets(rewards, q_target(next_obs, training=False), terminated, config.gamma)
            with tf.GradientTape() as tape:
                q_sa = tf.gather(q(obs, training=True), actions, batch_dims=1)
                loss = huber(y, q_sa)
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        self.forward, self.train_step = forward, train_step

    def sync_target(self) -> None:
        for t, v in zip(self.q_target.trainable_variables, self.q.trainable_variables, strict=True):
            t.assign(v)


def train_dqn(
    env: gymnasium.Env,
    total_steps: int,
    config: DQNConfig,
    seed: int,
    on_episode: Callable[[int, float, int], None] | None = None,
) -> DQN:
    """Train DQN from scratch for ``total_steps`` environment steps; ``on_episode(steps, return, progress)`` at the
    end of each episode (progress = max x - start x)."""
    check_positive_int("total_steps", total_steps)
    rng = np.random.default_rng(seed)
    agent = DQN(int(env.action_space.n), env.observation_space.shape, config, seed)
    buffer = ReplayBuffer(min(config.buffer_size, total_steps), env.observation_space.shape)
    obs, info = env.reset(seed=seed)
    ep_return, ep_start_x = 0.0, int(info.get("x_pos", 0))
    ep_max_x = ep_start_x
    for step in range(1, total_steps + 1):
        eps = linear_schedule(step - 1, total_steps, config.exploration_fraction, config.final_epsilon)
        if rng.uniform() < eps:
            action = int(rng.integers(env.action_space.n))
        else:
            action = int(np.argmax(np.asarray(agent.forward(obs[None]))[0]))
        next_obs, reward, terminated, truncated, info = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)  # a time limit is not a terminal state
        ep_return += reward
        ep_max_x = max(ep_max_x, int(info["x_pos"]))
        obs = next_obs
        if terminated or truncated:
            if on_episode is not None:
                on_episode(step, ep_return, ep_max_x - ep_start_x)
            obs, info = env.reset()
            ep_return, ep_start_x = 0.0, int(info.get("x_pos", 0))
            ep_max_x = ep_start_x
        if step >= config.learning_starts and step % config.train_freq == 0:
            agent.train_step(*buffer.sample(config.batch_size, rng))
        if step % config.target_update == 0:
            agent.sync_target()
    return agent
