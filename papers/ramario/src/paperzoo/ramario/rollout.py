"""Episodes of a policy on a (Mario) Gymnasium environment: the policy runs as a compiled ``tf.function``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium
import numpy as np

Forward = Callable[[np.ndarray], object]  # obs batch (B, ...) uint8 -> logits (B, n_actions)


@dataclass
class Episode:
    """One episode: observations ``s_0..s_{T-1}``, actions, rewards, and the game's distance.

    ``max_x`` is the largest ``info["x_pos"]`` reached (the paper's distance metric).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    max_x: int
    terminated: bool

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())


def sample_action(logits: np.ndarray, rng: np.random.Generator) -> int:
    """``a ~ softmax(logits)`` by the Gumbel-max trick: ``argmax(logits + G)``, ``G = -log(-log U)``."""
    return int(np.argmax(logits - np.log(-np.log(rng.uniform(size=logits.shape)))))


def run_episode(
    env: gymnasium.Env,
    forward: Forward,
    rng: np.random.Generator,
    *,
    greedy: bool = False,
    epsilon: float = 0.0,
) -> Episode:
    """Play one episode: ``a_t ~ softmax(forward(s_t))`` (``greedy``: argmax; ``epsilon``: random with that
    probability, for epsilon-greedy Q-policies)."""
    obs, info = env.reset()
    observations, actions, rewards = [], [], []
    max_x = int(info.get("x_pos", 0))
    terminated = truncated = False
    n = env.action_space.n
    while not (terminated or truncated):
        logits = np.asarray(forward(obs[None]))[0]
        if epsilon and rng.uniform() < epsilon:
            action = int(rng.integers(n))
        elif greedy:
            action = int(np.argmax(logits))
        else:
            action = sample_action(logits, rng)
        next_obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        max_x = max(max_x, int(info["x_pos"]))
        obs = next_obs
    return Episode(
        np.stack(observations), np.asarray(actions, np.int32), np.asarray(rewards, np.float32), max_x, terminated
    )
