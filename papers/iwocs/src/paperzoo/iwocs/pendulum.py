"""Pendulum-v1 with the mass m and length l fixed per episode: a gymnasium wrapper and a numpy-batched VectorEnv.

Pendulum-v1's dynamics (gymnasium ``PendulumEnv.step``), with g = 10, dt = 0.05, |u| <= 2, |θ̇| <= 8:

    θ̇' = clip(θ̇ + (3 g / (2 l) sin θ + 3 / (m l²) u) dt, -8, 8),   θ' = θ + θ̇' dt,
    r  = -(norm(θ)² + 0.1 θ̇² + 0.001 u²),   observation (cos θ, sin θ, θ̇),   200 steps per episode.

The uncertainty set Ω is a box of (m, l); a *static* model fixes ω = (m, l) for a whole episode.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from paperzoo.shared.validate import check_positive, check_positive_int

Array = npt.NDArray[np.float64]
Sampler = Callable[[np.random.Generator], tuple[float, ...]]

G, DT, MAX_SPEED, MAX_TORQUE, HORIZON = 10.0, 0.05, 8.0, 2.0, 200


def check_params(m: float, l: float) -> tuple[float, float]:  # noqa: E741 (the paper's symbol)
    """``ValueError`` unless the mass and length are positive."""
    return check_positive("m", m), check_positive("l", l)


class ParametricPendulum(gym.Wrapper):
    """``Pendulum-v1`` whose (m, l) is ``params`` for every episode, or drawn by ``sampler(rng)`` at each reset
    (domain randomisation). :meth:`set_params` changes it at once and for the following episodes."""

    def __init__(self, params: tuple[float, float] = (1.0, 1.0), sampler: Sampler | None = None) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        self.sampler = sampler
        self.set_params(*params)

    def set_params(self, m: float, l: float) -> None:  # noqa: E741
        """Fix (m, l) now (also mid-episode) and for later episodes (until a sampler draws new ones)."""
        self.params = check_params(float(m), float(l))
        self.env.unwrapped.m, self.env.unwrapped.l = self.params

    def reset(self, **kwargs):  # type: ignore[no-untyped-def]
        obs, info = self.env.reset(**kwargs)
        if self.sampler is not None:
            self.set_params(*self.sampler(self.env.unwrapped.np_random))
        return obs, {**info, "m": self.params[0], "l": self.params[1]}


def uniform_sampler(low: tuple[float, ...], high: tuple[float, ...]) -> Sampler:
    """ω ~ U([low, high]) per episode (domain randomisation over the box Ω, any dimension)."""
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if lo.shape != hi.shape or np.any(lo > hi):
        raise ValueError(f"low must be <= high elementwise (lower bound above upper bound), got {lo} > {hi}")

    def sample(rng: np.random.Generator) -> tuple[float, ...]:
        return tuple(float(x) for x in rng.uniform(lo, hi))

    return sample


class BatchedPendulum(gym.vector.VectorEnv):
    """n Pendulum-v1 copies stepped at once in numpy, sub-env i with its own (m_i, l_i); equal to Pendulum-v1.

    Every sub-env starts with θ ~ U(-π, π), θ̇ ~ U(-1, 1) and truncates after 200 steps together; call
    :meth:`reset` after that (no autoreset).
    """

    def __init__(self, m: npt.ArrayLike, l: npt.ArrayLike) -> None:  # noqa: E741
        m, l = np.broadcast_arrays(np.asarray(m, dtype=np.float64), np.asarray(l, dtype=np.float64))  # noqa: E741
        if m.ndim != 1:
            raise ValueError(f"m and l must be 1-d (one value per sub-env), got shape {m.shape}")
        if np.any(~(m > 0)):
            raise ValueError("m must be positive")
        if np.any(~(l > 0)):
            raise ValueError("l must be positive")
        self.m, self.l, self.num_envs = m, l, len(m)
        high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Box(-MAX_TORQUE, MAX_TORQUE, (1,), dtype=np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.state = np.zeros((self.num_envs, 2))
        self._steps = 0
        self._rng = np.random.default_rng()

    def _obs(self) -> npt.NDArray[np.float32]:
        th, thdot = self.state.T
        return np.stack([np.cos(th), np.sin(th), thdot], -1).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):  # type: ignore[no-untyped-def]
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = self._rng.uniform(-np.array([np.pi, 1.0]), np.array([np.pi, 1.0]), (self.num_envs, 2))
        self._steps = 0
        return self._obs(), {}

    def step(self, actions: npt.ArrayLike):  # type: ignore[no-untyped-def]
        if self._steps >= HORIZON:
            raise RuntimeError("the episodes ended (200 steps): call reset()")
        u = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs), -MAX_TORQUE, MAX_TORQUE)
        th, thdot = self.state.T
        norm = ((th + np.pi) % (2 * np.pi)) - np.pi
        cost = norm**2 + 0.1 * thdot**2 + 0.001 * u**2
        thdot = np.clip(thdot + (3 * G / (2 * self.l) * np.sin(th) + 3.0 / (self.m * self.l**2) * u) * DT, -8, 8)
        self.state = np.stack([th + thdot * DT, thdot], -1)
        self._steps += 1
        truncated = np.full(self.num_envs, self._steps >= HORIZON)
        return self._obs(), -cost, np.zeros(self.num_envs, dtype=bool), truncated, {}


def grid_returns(
    act: Callable[[npt.NDArray[np.float32]], Array], omegas: Array, episodes: int, seed: int
) -> npt.NDArray[np.float64]:
    """Mean undiscounted return of ``act`` (batched observations -> actions) for each ω = (m, l) row of
    ``omegas``, ``episodes`` static episodes each, all at once (one batched ``act`` call per step)."""
    check_positive_int("episodes", episodes)
    omegas = np.asarray(omegas, dtype=np.float64).reshape(-1, 2)
    env = BatchedPendulum(np.repeat(omegas[:, 0], episodes), np.repeat(omegas[:, 1], episodes))
    obs, _ = env.reset(seed=seed)
    total = np.zeros(env.num_envs)
    for _ in range(HORIZON):
        obs, reward, _, _, _ = env.step(act(obs))
        total += reward
    return total.reshape(len(omegas), episodes).mean(1)


def box_grid(low: tuple[float, ...], high: tuple[float, ...], points: int) -> Array:
    """The points^k grid of ω over the k-dimensional box [low, high] (first parameter major), shape (points^k, k)."""
    check_positive_int("points", points)
    axes = [np.linspace(lo, hi, points) for lo, hi in zip(low, high, strict=True)]
    return np.stack([x.ravel() for x in np.meshgrid(*axes, indexing="ij")], -1)
