"""Episodes of a policy on (Mario) Gymnasium environments, several in lockstep with one batched forward pass per
step (the policy runs as a compiled ``tf.function``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium
import numpy as np

Forward = Callable[[np.ndarray], object]  # obs batch (B, ...) uint8 -> logits (B, n_actions)


@dataclass
class Episode:
    """One episode: observations ``s_0..s_{T-1}``, actions, rewards, and the game's distance.

    ``max_x`` is the largest ``info["x_pos"]`` reached (the paper's distance metric), ``start_x`` the one at reset;
    ``progress = max_x - start_x``.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    max_x: int
    terminated: bool
    start_x: int = 0

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())

    @property
    def progress(self) -> int:
        return self.max_x - self.start_x


def sample_action(logits: np.ndarray, rng: np.random.Generator) -> int:
    """``a ~ softmax(logits)`` by the Gumbel-max trick: ``argmax(logits + G)``, ``G = -log(-log U)``."""
    return int(np.argmax(logits - np.log(-np.log(rng.uniform(size=logits.shape)))))


def run_episodes(
    envs: Sequence[gymnasium.Env],
    forward: Forward,
    rng: np.random.Generator,
    *,
    greedy: bool = False,
    epsilon: float = 0.0,
) -> list[Episode]:
    """One episode on each environment, played in lockstep with one batched forward pass per step:
    ``a_t ~ softmax(forward(s_t))`` (``greedy``: argmax; ``epsilon``: a uniform action with that probability,
    for epsilon-greedy Q-policies). Environment ``i`` draws its random numbers before ``i + 1`` at every step."""
    if not envs:
        raise ValueError("envs must hold at least one environment")
    obs, start = [], []
    for env in envs:
        o, info = env.reset()
        obs.append(o)
        start.append(int(info.get("x_pos", 0)))
    traj: list[tuple[list, list, list]] = [([], [], []) for _ in envs]
    max_x, terminated = list(start), [False] * len(envs)
    active = list(range(len(envs)))
    while active:
        logits = np.asarray(forward(np.stack([obs[i] for i in active])))
        still = []
        for row, i in enumerate(active):
            n = envs[i].action_space.n
            if epsilon and rng.uniform() < epsilon:
                action = int(rng.integers(n))
            elif greedy:
                action = int(np.argmax(logits[row]))
            else:
                action = sample_action(logits[row], rng)
            next_obs, reward, term, trunc, info = envs[i].step(action)
            for buf, value in zip(traj[i], (obs[i], action, reward), strict=True):
                buf.append(value)
            max_x[i] = max(max_x[i], int(info["x_pos"]))
            obs[i], terminated[i] = next_obs, bool(term)
            if not (term or trunc):
                still.append(i)
        active = still
    return [
        Episode(np.stack(o), np.asarray(a, np.int32), np.asarray(r, np.float32), max_x[i], terminated[i], start[i])
        for i, (o, a, r) in enumerate(traj)
    ]


def run_episode(
    env: gymnasium.Env,
    forward: Forward,
    rng: np.random.Generator,
    *,
    greedy: bool = False,
    epsilon: float = 0.0,
) -> Episode:
    """One episode on one environment (:func:`run_episodes` of ``[env]``)."""
    return run_episodes([env], forward, rng, greedy=greedy, epsilon=epsilon)[0]
