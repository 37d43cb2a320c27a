"""System-identification data: random-step and chirp excitation of the plant, and NARX regressors.

The NARX regressor for predicting ``y(k)`` is, most recent first,
``[u(k-1), ..., u(k-d_u), y(k-1), ..., y(k-d_y)]`` (``y`` of ``n_y`` entries each): ``d_u + n_y d_y`` numbers.
"""

from __future__ import annotations

import numpy as np

from paperzoo.shared.validate import check_positive, check_positive_int
from paperzoo.smart_composites.msd import MassSpringDamper


def excitation(n: int, dt: float, rng: np.random.Generator, max_segment_s: float = 2.0) -> np.ndarray:
    """``n`` inputs in [-1, 1]: alternating segments of random steps (held 0.05-0.8 s) and linear chirps.

    Each chirp sweeps 0.1 Hz to a random end frequency in [1, 6] Hz at a random amplitude in [0.1, 1] and offset;
    segments last up to ``max_segment_s``. ``ValueError`` for ``n < 1`` or ``dt <= 0``.
    """
    check_positive_int("n", n)
    check_positive("dt", dt)
    parts: list[np.ndarray] = []
    total, chirp = 0, False
    while total < n:
        length = int(rng.integers(int(0.5 / dt), int(max_segment_s / dt) + 1))
        if chirp:
            t = np.arange(length) * dt
            f1 = rng.uniform(1.0, 6.0)
            amp, offset = rng.uniform(0.1, 1.0), rng.uniform(-0.5, 0.5)
            phase = 2 * np.pi * (0.1 * t + (f1 - 0.1) * t**2 / (2 * t[-1] + dt))
            seg = np.clip(offset + amp * np.sin(phase), -1.0, 1.0)
        else:
            holds = rng.integers(int(0.05 / dt), int(0.8 / dt) + 1, size=length)
            levels = rng.uniform(-1.0, 1.0, size=length)
            seg = np.repeat(levels, holds)[:length]
        parts.append(seg)
        total += length
        chirp = not chirp
    return np.concatenate(parts)[:n]


def regressors(u: np.ndarray, ys: np.ndarray, d_u: int = 2, d_y: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """NARX pairs from a trajectory ``ys[k] = y(k)`` ``(n + 1, n_y)`` under ``u[k] = u(k)`` ``(n,)``.

    Returns ``(X, Y)``: ``X[i]`` the regressor (most recent first) that predicts ``Y[i] = y(k)``, for every ``k``
    with a full history. ``ValueError`` if the lengths disagree or ``d_u, d_y < 1``.
    """
    check_positive_int("d_u", d_u)
    check_positive_int("d_y", d_y)
    if len(ys) != len(u) + 1:
        raise ValueError(f"ys must have len(u) + 1 = {len(u) + 1} rows, got {len(ys)}")
    start = max(d_u, d_y)
    ks = np.arange(start, len(ys))
    us = np.stack([u[ks - j] for j in range(1, d_u + 1)], axis=1)
    yh = np.concatenate([ys[ks - j] for j in range(1, d_y + 1)], axis=1)
    return np.concatenate([us, yh], axis=1), ys[ks]


def identification_data(
    plant: MassSpringDamper, n: int, seed: int, d_u: int = 2, d_y: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` steps of :func:`excitation` (seeded) through ``plant`` from rest, as NARX pairs (:func:`regressors`)."""
    u = excitation(n, plant.dt, np.random.default_rng(seed))
    return regressors(u, plant.simulate(u), d_u, d_y)
