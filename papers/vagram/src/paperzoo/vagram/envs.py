"""Distracting state dimensions (the paper's Hopper-with-distractors experiment) and the environments used.

:class:`DistractorWrapper` (official ``mbrl/env/distractor_dimensions.py``, run with switching, uncorrelated,
nonlinear dynamics) appends k dimensions d to the observation that never influence the reward:

    d₀ ~ N(0, 0.1² I)                                             (at every reset)
    d ← W [o; d]   (+ 0.1 sin(P d) when nonlinear)                (every observation, the reset one included)
    d_j ← c_j  where |d_j| > 20                                   (switching)

with W_jl ~ N(0, 1) (its columns on the observation o zeroed unless correlated), P_jl = (N(0, 10))² and the reset
vector c ~ N(0, 1) drawn once at construction from ``seed``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from paperzoo.shared.validate import check_positive_int

__all__ = ["DistractorWrapper", "make_env", "termination_fn"]

RESET_BOUND = 20.0


class DistractorWrapper(gym.ObservationWrapper):
    """Append ``dims`` distractor dimensions with their own (chaotic, switching) dynamics to the observation.

    Args:
        env: a Box-observation environment.
        dims: k, the number of distractor dimensions.
        seed: draws W, P, c (fixed for the wrapper's life) and, until ``reset(seed=...)`` re-seeds, the d₀'s.
        linear: leave out the 0.1 sin(P d) term.
        switching: reset |d_j| > 20 to c_j.
        correlated: let W read the observation too.
    """

    def __init__(
        self,
        env: gym.Env,
        dims: int = 5,
        seed: int = 0,
        linear: bool = False,
        switching: bool = True,
        correlated: bool = False,
    ) -> None:
        super().__init__(env)
        self.dims = check_positive_int("dims", dims)
        base = env.observation_space
        if not isinstance(base, gym.spaces.Box) or len(base.shape) != 1:
            raise ValueError(f"env must have a flat Box observation space, got {base}")
        n = base.shape[0]
        rng = np.random.default_rng(seed)
        self.linear_map = rng.normal(0.0, 1.0, size=(dims, n + dims))
        if not correlated:
            self.linear_map[:, :n] = 0.0
        self.sin_map = rng.normal(0.0, 10.0, size=(dims, dims)) ** 2
        self.reset_state = rng.normal(size=dims)
        self.linear, self.switching = linear, switching
        self._rng = np.random.default_rng(rng.integers(2**63))
        self.state = self._rng.normal(0.0, 0.1, size=dims)
        inf = np.full(dims, np.inf, dtype=np.float32)
        self.observation_space = gym.spaces.Box(
            np.concatenate([base.low.astype(np.float32), -inf]), np.concatenate([base.high.astype(np.float32), inf])
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        # d₀ ~ N(0, 0.1²), then one step of its dynamics on the reset observation (as the official wrapper)
        self.state = self._rng.normal(0.0, 0.1, size=self.dims)
        return super().reset(seed=seed, options=options)

    def observation(self, observation: npt.NDArray) -> npt.NDArray[np.float32]:
        # d ← W [o; d]
        d = self.linear_map @ np.concatenate([observation, self.state])
        if not self.linear:
            # d ← d + 0.1 sin(P d)
            d = d + 0.1 * np.sin(self.sin_map @ d)
        if self.switching:
            d = np.where(np.abs(d) > RESET_BOUND, self.reset_state, d)
        self.state = d
        return np.concatenate([observation, d]).astype(np.float32)


def make_env(env_id: str, distractors: int = 0, seed: int = 0) -> gym.Env:
    """``gym.make(env_id)``, wrapped with ``distractors`` distractor dimensions (W, P, c from ``seed``) if > 0."""
    env = gym.make(env_id)
    return DistractorWrapper(env, distractors, seed) if distractors > 0 else env


def _no_termination(next_obs: npt.NDArray) -> npt.NDArray[np.bool_]:
    return np.zeros(len(next_obs), dtype=bool)


def _hopper_termination(next_obs: npt.NDArray) -> npt.NDArray[np.bool_]:
    """Hopper's unhealthy test on the base observation (height > 0.7, |angle| < 0.2, |s[1:11]| < 100)."""
    height, angle = next_obs[:, 0], next_obs[:, 1]
    healthy = (np.abs(next_obs[:, 1:11]) < 100).all(1) & (height > 0.7) & (np.abs(angle) < 0.2)
    return ~healthy


def termination_fn(env_id: str):
    """The termination function of model rollouts (mbrl-lib's ``term_fn``) for ``env_id``."""
    if env_id.startswith("Pendulum"):
        return _no_termination
    if env_id.startswith("Hopper"):
        return _hopper_termination
    raise ValueError(f"env_id must be a Pendulum or Hopper id, got {env_id!r}")
