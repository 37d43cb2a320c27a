"""Noisy classic-control tasks: the applied force is multiplied by a random factor at every step.

The official environments (``envs/base.py``) draw the factor as ``1 + U(1 - a, 1 + a)`` (× 1.7–2.3 for a = 0.3),
which is probably meant to be ``U(1 - a, 1 + a)``; both are kept: ``noise="official"`` (the default, the one the
published curves used) and ``noise="centred"``. The factor comes from the env's own ``np_random``, so
``reset(seed=...)`` fixes it. Dynamics, rewards and termination are gymnasium's, unchanged.

Registered ids: ``paperzoo/NoisyCartPole-v0`` (500-step limit) and ``paperzoo/NoisyMountainCar-v0`` (200).
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv

from paperzoo.shared.validate import check_one_of, check_range

__all__ = ["NOISE_FORMS", "NoisyCartPole", "NoisyMountainCar", "noise_factor"]

NOISE_FORMS = ("official", "centred")
NoiseForm = Literal["official", "centred"]


def _check_noise(max_noise: float, noise: str) -> None:
    check_range("max_noise", max_noise, 0.0, 1.0, high_inclusive=False)
    check_one_of("noise", noise, NOISE_FORMS)


def noise_factor(env: gym.Env, max_noise: float, noise: NoiseForm) -> float:
    """One draw of the force factor: ``1 + U(1 - a, 1 + a)`` (official) or ``U(1 - a, 1 + a)`` (centred)."""
    factor = float(env.np_random.uniform(1.0 - max_noise, 1.0 + max_noise))
    return 1.0 + factor if noise == "official" else factor


class NoisyCartPole(CartPoleEnv):
    """CartPole whose push force ``force_mag`` is scaled by :func:`noise_factor` at each step.

    Args:
        max_noise: a in [0, 1), the half-width of the uniform factor (official 0.3).
        noise: ``"official"`` or ``"centred"`` (module docstring).
    """

    def __init__(self, max_noise: float = 0.3, noise: NoiseForm = "official", **kwargs: Any) -> None:
        _check_noise(max_noise, noise)
        super().__init__(**kwargs)
        self.max_noise, self.noise = max_noise, noise

    def step(self, action: Any):
        base = self.force_mag
        self.force_mag = base * noise_factor(self, self.max_noise, self.noise)
        try:
            return super().step(action)
        finally:
            self.force_mag = base


class NoisyMountainCar(MountainCarEnv):
    """MountainCar whose engine ``force`` is scaled by :func:`noise_factor` at each step (arguments as above)."""

    def __init__(self, max_noise: float = 0.3, noise: NoiseForm = "official", **kwargs: Any) -> None:
        _check_noise(max_noise, noise)
        super().__init__(**kwargs)
        self.max_noise, self.noise = max_noise, noise

    def step(self, action: Any):
        base = self.force
        self.force = base * noise_factor(self, self.max_noise, self.noise)
        try:
            return super().step(action)
        finally:
            self.force = base


for _id, _cls, _steps in (
    ("paperzoo/NoisyCartPole-v0", NoisyCartPole, 500),
    ("paperzoo/NoisyMountainCar-v0", NoisyMountainCar, 200),
):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_cls, max_episode_steps=_steps)
