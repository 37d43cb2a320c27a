"""The observation-noise wrapper and the environments the base policy is trained and tested on.

``make_env``: ``base_env(env_id)`` -> :class:`NoisyObs` (o_t + eta_t, eta_t ~ N(0, sigma^2 I) fresh every step) ->
``FrameStackObservation(frames)`` (-> ``FlattenObservation`` for vector observations): the agent sees the last
``frames`` noisy observations (the first one repeated after a reset, as gymnasium's default "reset" padding does),
oldest first.

Atari (``ALE/Pong-v5``, ``ALE/Freeway-v5``, ale-py's bundled ROMs): the official pipeline (ReCePS' Freeway script)
is the raw game at frameskip 1 with sticky actions 0.25, gymnasium's ``AtariPreprocessing`` (30 no-op starts, frame
skip 4, 84x84 grayscale; here :class:`AtariFrames`, the same steps in numpy), the noise, 4 stacked frames and a
250-step limit; pixels are scaled to [0, 1] so that sigma
is on the official scale (noise sigma * 255 on 0..255 pixels). Pong is played for one round (the episode ends at the
first point, return -1 or +1), as in the paper.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from paperzoo.shared.validate import check_non_negative, check_positive_int

__all__ = ["ATARI_IDS", "AtariFrames", "NoisyObs", "OneRound", "area_weights", "base_env", "make_env"]

ATARI_IDS = ("ALE/Pong-v5", "ALE/Freeway-v5")
ATARI_STEPS = 250  # agent steps per Atari episode (official TimeLimit)


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


class OneRound(gym.Wrapper):
    """Ends the episode at the first non-zero reward (Pong: one point, return -1 or +1)."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or reward != 0, truncated, info


def area_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights of an area resize: output pixel i averages the input interval
    [i size_in / size_out, (i + 1) size_in / size_out), partly covered pixels by their covered fraction."""
    edges = np.arange(size_out + 1) * size_in / size_out
    left, right = np.arange(size_in), np.arange(1, size_in + 1)
    overlap = np.minimum(edges[1:, None], right[None]) - np.maximum(edges[:-1, None], left[None])
    return np.clip(overlap, 0.0, None) * size_out / size_in


class AtariFrames(gym.Wrapper):
    """gymnasium's ``AtariPreprocessing`` steps in numpy (it needs OpenCV, which the workspace does not ship): up to
    ``noop_max`` no-op actions after a reset, each action repeated ``frame_skip`` times with the rewards summed and the
    pixel-wise max of the last two frames, ALE's grayscale screen area-resized to ``size`` x ``size``, scaled to
    [0, 1]. Wraps a raw ALE env made with ``obs_type="grayscale"`` and ``frameskip=1``."""

    def __init__(self, env: gym.Env, noop_max: int = 30, frame_skip: int = 4, size: int = 84) -> None:
        super().__init__(env)
        self.noop_max, self.frame_skip = noop_max, check_positive_int("frame_skip", frame_skip)
        height, width = env.observation_space.shape
        self._rows, self._cols = area_weights(height, size) / 255.0, area_weights(width, size)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (size, size), np.float32)

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        return (self._rows @ frame @ self._cols.T).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        for _ in range(self.env.unwrapped.np_random.integers(1, self.noop_max + 1) if self.noop_max else 0):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset()
        return self._resize(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        total, last = 0.0, []
        for t in range(self.frame_skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if t >= self.frame_skip - 2:
                last.append(obs)
            if terminated or truncated:
                last.append(obs)
                break
        return (
            self._resize(np.maximum(last[-2], last[-1]) if len(last) > 1 else last[-1]),
            total,
            terminated,
            truncated,
            info,
        )


def atari_wrappers(env: gym.Env, one_round: bool) -> gym.Env:
    """The official preprocessing of a raw (frameskip 1, grayscale) ALE env: no-op starts, skip 4, 84x84 pixels in
    [0, 1], ``ATARI_STEPS`` agent steps; one round if ``one_round`` (Pong)."""
    env = gym.wrappers.TimeLimit(AtariFrames(env), ATARI_STEPS)
    return OneRound(env) if one_round else env


def atari_kwargs() -> dict[str, Any]:
    """``gymnasium.make`` arguments of the raw ALE env (ale-py registered; frameskip done by the preprocessing)."""
    import ale_py

    gym.register_envs(ale_py)
    return {"frameskip": 1, "repeat_action_probability": 0.25, "obs_type": "grayscale"}


def base_env(env_id: str) -> gym.Env:
    """The noiseless env: ``gymnasium.make(env_id)``, with the official preprocessing for Atari ids."""
    if env_id in ATARI_IDS:
        return atari_wrappers(gym.make(env_id, disable_env_checker=True, **atari_kwargs()), env_id == "ALE/Pong-v5")
    return gym.make(env_id, disable_env_checker=True)


def make_env(env_id: str = "CartPole-v0", sigma: float = 0.0, frames: int = 5, seed: int | None = None) -> gym.Env:
    """``env_id`` with fresh Gaussian observation noise and ``frames`` stacked (official: 5 for CartPole, flattened;
    4 for Atari, channel-first (frames, 84, 84))."""
    check_positive_int("frames", frames)
    env = gym.wrappers.FrameStackObservation(NoisyObs(base_env(env_id), sigma, seed), frames)
    return gym.wrappers.FlattenObservation(env) if len(env.observation_space.shape) == 2 else env
