"""PPO (Schulman et al. 2017), clipped surrogate, single environment, in tf.keras.

    r_t(w) = pi_w(a_t|s_t) / pi_old(a_t|s_t)
    L_clip = -E_t[min(r_t A_t, clip(r_t, 1 - c, 1 + c) A_t)]
    L = L_clip + v_coef E_t[(V_w(s_t) - R_t)^2] - ent_coef E_t[H(pi_w(.|s_t))]
    A_t = GAE(gamma, lambda) (Schulman et al. 2016), R_t = A_t + V_old(s_t); advantages normalised per minibatch.

Defaults are the Atari settings of the PPO paper / stable-baselines3's ``CnnPolicy`` (the paper's PPO notebook):
rollout 128 steps, 4 epochs, minibatch 32 (SB3 Atari: 256 over 8 envs), gamma 0.99, lambda 0.95, clip 0.1,
vf 0.5, entropy 0.01, Adam 2.5e-4, gradient norm 0.5. Same conv torso as the Reptile policy, with a value head.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium
import numpy as np

from paperzoo.ramario.config import PPOConfig
from paperzoo.ramario.model import conv_policy
from paperzoo.ramario.rollout import sample_action
from paperzoo.ramario.tf_runtime import tensorflow
from paperzoo.shared.validate import check_positive_int

tf = tensorflow()
keras = tf.keras


def gae(
    rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_value: float, gamma: float, lam: float
) -> np.ndarray:
    """Generalised advantage estimation over one rollout.

    ``delta_t = r_t + gamma V(s_{t+1}) (1 - d_t) - V(s_t)``, ``A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}``;
    ``d_t = 1`` when the episode terminated at step t (then nothing is bootstrapped), ``V(s_T) = last_value``.
    A truncated episode (time limit) is bootstrapped by the caller through ``rewards``.
    """
    n = len(rewards)
    adv = np.zeros(n, np.float32)
    running = 0.0
    for t in range(n - 1, -1, -1):
        next_value = last_value if t == n - 1 else values[t + 1]
        nonterminal = 1.0 - float(dones[t])
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        running = delta + gamma * lam * nonterminal * running
        adv[t] = running
    return adv


def ppo_clip_loss(logp: tf.Tensor, old_logp: tf.Tensor, advantages: tf.Tensor, clip: float) -> tf.Tensor:
    """``-mean_t min(r_t A_t, clip(r_t, 1 - c, 1 + c) A_t)``, ``r_t = exp(logp - old_logp)``."""
    ratio = tf.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = tf.clip_by_value(ratio, 1.0 - clip, 1.0 + clip) * advantages
    return -tf.reduce_mean(tf.minimum(unclipped, clipped))


class PPO:
    """A PPO learner: the conv actor-critic, its compiled forward and train step."""

    def __init__(self, n_actions: int, obs_shape: tuple[int, int, int], config: PPOConfig, seed: int) -> None:
        self.config = config
        self.model = conv_policy(n_actions, obs_shape, value_head=True, seed=seed)
        self.optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=1e-5, clipnorm=config.max_grad_norm)
        model, optimizer, variables = self.model, self.optimizer, self.model.trainable_variables
        obs_spec = tf.TensorSpec((None, *obs_shape), tf.uint8)
        f32 = tf.TensorSpec((None,), tf.float32)

        @tf.function(input_signature=[obs_spec])
        def forward(obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return model(obs, training=False)

        @tf.function(input_signature=[obs_spec, tf.TensorSpec((None,), tf.int32), f32, f32, f32])
        def train_step(obs, actions, old_logp, advantages, returns):
            adv = (advantages - tf.reduce_mean(advantages)) / (tf.math.reduce_std(advantages) + 1e-8)
            with tf.GradientTape() as tape:
                logits, value = model(obs, training=True)
                logp_all = tf.nn.log_softmax(logits)
                logp = tf.gather(logp_all, actions, batch_dims=1)
                entropy = -tf.reduce_mean(tf.reduce_sum(tf.exp(logp_all) * logp_all, axis=-1))
                v_loss = tf.reduce_mean(tf.square(value - returns))
                loss = ppo_clip_loss(logp, old_logp, adv, config.clip) + config.vf_coef * v_loss
                loss -= config.ent_coef * entropy
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        self.forward, self.train_step = forward, train_step

    def policy_logits(self, obs: np.ndarray) -> tf.Tensor:
        return self.forward(obs)[0]


def train_ppo(
    env: gymnasium.Env,
    total_steps: int,
    config: PPOConfig,
    seed: int,
    on_episode: Callable[[int, float, int], None] | None = None,
) -> PPO:
    """Train PPO from scratch for ``total_steps`` environment steps; ``on_episode(steps, return, progress)`` at the
    end of each episode (progress = max x - start x)."""
    check_positive_int("total_steps", total_steps)
    rng = np.random.default_rng(seed)
    agent = PPO(int(env.action_space.n), env.observation_space.shape, config, seed)
    obs, info = env.reset(seed=seed)
    ep_return, ep_start_x, steps = 0.0, int(info.get("x_pos", 0)), 0
    ep_max_x = ep_start_x
    n = config.rollout
    while steps < total_steps:
        length = min(n, total_steps - steps)
        buf_obs = np.zeros((length, *obs.shape), np.uint8)
        buf_act = np.zeros(length, np.int32)
        buf_logp, buf_val, buf_rew, buf_done = (np.zeros(length, np.float32) for _ in range(4))
        for t in range(length):
            logits, value = agent.forward(obs[None])
            logits, value = np.asarray(logits)[0], float(np.asarray(value)[0])
            action = sample_action(logits, rng)
            logp = logits - np.logaddexp.reduce(logits)
            next_obs, reward, terminated, truncated, info = env.step(action)
            steps += 1
            ep_return += reward
            ep_max_x = max(ep_max_x, int(info["x_pos"]))
            if truncated and not terminated:  # time limit: bootstrap V(s_T) into the last reward
                reward += config.gamma * float(np.asarray(agent.forward(next_obs[None])[1])[0])
            buf_obs[t], buf_act[t], buf_logp[t], buf_val[t] = obs, action, logp[action], value
            buf_rew[t], buf_done[t] = reward, float(terminated or truncated)
            obs = next_obs
            if terminated or truncated:
                if on_episode is not None:
                    on_episode(steps, ep_return, ep_max_x - ep_start_x)
                obs, info = env.reset()
                ep_return, ep_start_x = 0.0, int(info.get("x_pos", 0))
                ep_max_x = ep_start_x
        last_value = float(np.asarray(agent.forward(obs[None])[1])[0])
        adv = gae(buf_rew, buf_val, buf_done, last_value, config.gamma, config.lam)
        returns = adv + buf_val
        for _ in range(config.epochs):
            order = rng.permutation(length)
            for start in range(0, length, config.minibatch):
                idx = order[start : start + config.minibatch]
                if len(idx) < 2:
                    continue
                agent.train_step(buf_obs[idx], buf_act[idx], buf_logp[idx], adv[idx], returns[idx])
    return agent
