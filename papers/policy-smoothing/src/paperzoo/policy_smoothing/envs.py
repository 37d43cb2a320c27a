"""The observation-noise wrapper and the frame-stacked environment the base policy is trained and tested on.

``make_env``: ``gymnasium.make(env_id)`` -> :class:`NoisyObs` (o_t + eta_t, eta_t ~ N(0, sigma^2 I) fresh every step)
-> ``FrameStackObservation(frames)`` -> ``FlattenObservation``: the agent sees the last ``frames`` noisy observations
(the first one repeated after a reset, as gymnasium's default "reset" padding does), oldest first.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from paperzoo.shared.validate import check_non_negative, check_positive_int

__all__ = ["NoisyObs", "make_env"]


class NoisyObs(gym.ObservationWrapper):
    """o_t -> o_t + eta_t with eta_t ~ N(0, sigma^2 I) drawn afresh at every step and reset.

    The noise has its own generator (never the environment's), seeded from ``seed`` and re-seeded by
    ``reset(seed=s)`` with an entropy distinct from the environment's (so noise and initial states are independent).
    """

    def __init__(self, env: gym.Env, sigma: float, seed: int | None = None) -> None:
        super().__init__(env)
        self.sigma = float(check_non_negative("sigma", sigma))
        self._rng = np.random.default_rng(None if seed is None else [seed, 1])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = np.random.default_rng([seed, 1])
        return super().reset(seed=seed, options=options)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        noise = self.sigma * self._rng.standard_normal(np.shape(observation))
        return (observation + noise).astype(self.observation_space.dtype)


def make_env(env_id: str = "CartPole-v0", sigma: float = 0.0, frames: int = 5, seed: int | None = None) -> gym.Env:
    """``env_id`` with fresh Gaussian observation noise, ``frames`` stacked and flattened (official: 5 frames)."""
    check_positive_int("frames", frames)
    env = NoisyObs(gym.make(env_id, disable_env_checker=True), sigma, seed)
    env = gym.wrappers.FrameStackObservation(env, frames)
    return gym.wrappers.FlattenObservation(env)
