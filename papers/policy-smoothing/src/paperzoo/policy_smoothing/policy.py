"""The smoothed policy, batched certification episodes, and the base policy: stable-baselines3's DQN.

Smoothed policy (Kumar et al. 2022, Sec. 3): a_t = argmax_a Q(stack_t)_a, where stack_t holds the last ``frames``
noisy observations o_s + eps_s + eta_s (eta_s ~ N(0, sigma^2 I) drawn once when o_s arrives, fresh every step,
eps_s the attack, 0 when clean). :class:`SmoothedPolicy` runs a whole batch of episodes with one Q-network call per
step; :func:`rollout` plays N episodes of gymnasium's ``CartPoleVectorEnv`` with it.

Base policy: SB3 ``DQN`` on :func:`paperzoo.policy_smoothing.envs.make_env` (noise of the same sigma in training),
the checkpoint with the best mean return on its own model-selection episodes kept (official: best-eval checkpoint).
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from paperzoo.policy_smoothing.envs import ATARI_IDS, base_env, make_env
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range

with contextlib.redirect_stderr(io.StringIO()):  # SB3 imports the legacy `gym` if present, which prints a banner
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

__all__ = ["DQNConfig", "SmoothedPolicy", "network_input", "rollout", "train_dqn"]


def network_input(stacks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Stacks (m, frames, *obs_shape) as the Q-network takes them: flattened (m, frames * obs_dim) for vector
    observations (``FlattenObservation``), channel-first (m, frames, H, W) for images (SB3's ``CnnPolicy``)."""
    x = torch.as_tensor(stacks, dtype=torch.float32)
    return x.reshape(len(x), -1) if x.ndim == 3 else x


class SmoothedPolicy:
    """Greedy actions of ``q_net`` on stacks of noisy observations, for a batch of episodes at once.

    Args:
        q_net: maps :func:`network_input` of (n, frames, *obs_shape) stacks to (n, n_actions) Q-values (SB3's
            ``model.q_net``).
        sigma: the smoothing noise's standard deviation (0: the undefended base policy).
        frames: observations per stack (oldest first; after a reset the first one is repeated).
        seed: seeds the noise generator.
    """

    def __init__(self, q_net: nn.Module, sigma: float, frames: int = 5, seed: int = 0) -> None:
        self.q_net = q_net
        self.sigma = float(check_non_negative("sigma", sigma))
        self.frames = check_positive_int("frames", frames)
        self.rng = np.random.default_rng(seed)
        self.stack: np.ndarray | None = None  # (n, frames, *obs_shape): the noisy (and attacked) frames

    def _noisy(self, obs: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64) + (0.0 if delta is None else delta)
        return x + self.sigma * self.rng.standard_normal(x.shape)

    def reset(self, obs: np.ndarray, delta: np.ndarray | None = None) -> np.ndarray:
        """Start n episodes at observations ``obs`` (n, *obs_shape); returns their first actions."""
        noisy = self._noisy(obs, delta)
        self.stack = np.repeat(noisy[:, None], self.frames, axis=1)
        return self.predict(self.stack)

    def step(self, obs: np.ndarray, delta: np.ndarray | None = None) -> np.ndarray:
        """Push o_t + delta_t + eta_t (fresh eta_t) onto every stack; returns the n greedy actions."""
        if self.stack is None:
            raise ValueError("call reset before step")
        self.stack = np.concatenate([self.stack[:, 1:], self._noisy(obs, delta)[:, None]], axis=1)
        return self.predict(self.stack)

    @torch.no_grad()
    def predict(self, stacks: np.ndarray) -> np.ndarray:
        """argmax_a Q(stack)_a for a batch of stacks (n, frames, *obs_shape): one Q-network call."""
        return self.q_net(network_input(stacks)).argmax(dim=1).numpy()


def vector_env(env_id: str, episodes: int) -> gym.vector.VectorEnv:
    """``episodes`` noiseless copies of ``env_id`` in one vector env: gymnasium's numpy-vectorised
    ``CartPoleVectorEnv`` for CartPole, a synchronous vector of the preprocessed games for Atari."""
    if env_id in ATARI_IDS:
        return gym.vector.SyncVectorEnv([lambda: base_env(env_id) for _ in range(episodes)])
    return gym.make_vec(env_id, num_envs=episodes, vectorization_mode="vector_entry_point")


def rollout(policy: SmoothedPolicy, episodes: int, seed: int, env_id: str = "CartPole-v0") -> np.ndarray:
    """The returns of ``episodes`` clean episodes of the smoothed policy, played side by side.

    Initial states come from ``reset(seed=seed)`` of the vector env; an episode counts its rewards until it first
    terminates or is truncated (the vector env's auto-resets afterwards are ignored).
    """
    check_positive_int("episodes", episodes)
    env = vector_env(env_id, episodes)
    obs, _ = env.reset(seed=seed)
    actions = policy.reset(obs)
    returns, alive = np.zeros(episodes), np.ones(episodes, dtype=bool)
    while alive.any():
        obs, reward, terminated, truncated, _ = env.step(actions)
        returns += reward * alive
        alive &= ~(terminated | truncated)
        actions = policy.step(obs)
    env.close()
    return returns


@dataclass(frozen=True)
class DQNConfig:
    """SB3 DQN's settings. Defaults: the official CartPole run (ReCePS: MLP [256, 256], lr 1e-4, gamma 0.99,
    buffer 1e5, learning_starts 1000, batch 1024, train_freq 256, gradient_steps 128, target update every 10
    steps, exploration fraction 0.16 to a final epsilon 0, 5e5 steps, best-eval checkpoint)."""

    steps: int = 500_000
    net_arch: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-4
    gamma: float = 0.99
    buffer_size: int = 100_000
    learning_starts: int = 1000
    batch_size: int = 1024
    train_freq: int = 256
    gradient_steps: int = 128
    target_update_interval: int = 10
    exploration_fraction: float = 0.16
    exploration_final_eps: float = 0.0
    n_envs: int = 1  # parallel training envs (train_freq counts transitions of all of them)
    eval_freq: int = 10_000  # model selection: every eval_freq steps on select_episodes episodes of its own
    select_episodes: int = 50

    def __post_init__(self) -> None:
        for name in ("steps", "buffer_size", "batch_size", "train_freq", "gradient_steps", "target_update_interval"):
            check_positive_int(name, getattr(self, name))
        for name in ("n_envs", "eval_freq", "select_episodes"):
            check_positive_int(name, getattr(self, name))
        for width in self.net_arch:
            check_positive_int("net_arch", width)
        check_non_negative("learning_starts", self.learning_starts)
        check_positive("learning_rate", self.learning_rate)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("exploration_fraction", self.exploration_fraction, 0.0, 1.0)
        check_range("exploration_final_eps", self.exploration_final_eps, 0.0, 1.0)
        if self.train_freq % self.n_envs or self.eval_freq % self.n_envs:
            raise ValueError(f"train_freq and eval_freq must be multiples of n_envs={self.n_envs}")


class BestCheckpoint(BaseCallback):
    """Every ``eval_freq`` steps, the mean return of the current greedy smoothed policy on ``select_episodes``
    model-selection episodes (initial states and noise from ``seed``, never the certification episodes'); keeps the
    Q-network weights of the best (the latest among ties)."""

    def __init__(self, sigma: float, frames: int, config: DQNConfig, seed: int, env_id: str) -> None:
        super().__init__()
        self.sigma, self.frames, self.config, self.seed, self.env_id = sigma, frames, config, seed, env_id
        self.best_return, self.best_state, self.history = -np.inf, None, []

    def evaluate(self) -> None:
        q_net = self.model.q_net
        q_net.set_training_mode(False)
        policy = SmoothedPolicy(q_net, self.sigma, self.frames, seed=derive(self.seed, "noise"))
        mean = float(rollout(policy, self.config.select_episodes, self.seed, self.env_id).mean())
        self.history.append((self.num_timesteps, mean))
        if mean >= self.best_return:
            self.best_return, self.best_state = mean, copy.deepcopy(q_net.state_dict())

    def _on_step(self) -> bool:
        if self.num_timesteps % self.config.eval_freq == 0:
            self.evaluate()
        return True


def train_dqn(
    sigma: float, config: DQNConfig, seed: int, select_seed: int, frames: int = 5, env_id: str = "CartPole-v0"
) -> tuple[DQN, BestCheckpoint]:
    """Train SB3 DQN on the noisy frame-stacked env (noise sigma, also in training) and load the best checkpoint.

    ``seed`` seeds DQN, its envs (SB3: sub-env i reset with ``seed + i``) and their noise (re-seeded at that
    reset); ``select_seed`` the model-selection episodes.
    """
    env = DummyVecEnv([lambda: make_env(env_id, sigma, frames) for _ in range(config.n_envs)])
    images = len(env.observation_space.shape) == 3  # (frames, 84, 84): SB3's NatureCNN on pixels already in [0, 1]
    model = DQN(
        "CnnPolicy" if images else "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        buffer_size=config.buffer_size,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        gamma=config.gamma,
        train_freq=config.train_freq // config.n_envs,
        gradient_steps=config.gradient_steps,
        target_update_interval=config.target_update_interval,
        exploration_fraction=config.exploration_fraction,
        exploration_final_eps=config.exploration_final_eps,
        policy_kwargs={"net_arch": list(config.net_arch)} | ({"normalize_images": False} if images else {}),
        seed=seed,
        device="cpu",
    )
    selector = BestCheckpoint(sigma, frames, config, select_seed, env_id)
    model.learn(config.steps, callback=selector)
    if selector.best_state is None or config.steps % config.eval_freq:
        selector.evaluate()  # the final weights are a candidate too
    model.q_net.load_state_dict(selector.best_state)
    model.q_net.set_training_mode(False)
    return model, selector
