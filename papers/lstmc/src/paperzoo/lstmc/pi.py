"""The PI baseline: ``T_j = T_nom - K_p e - K_i sum(e dt)`` with ``e = L_sp - L`` (um), cool to grow.

``T_nom`` is the batch's initial jacket temperature; the output is clipped to [5, 40] degC, and the integral grows
only until the output reaches the bound the error drives it to (clamping anti-windup).
``K_i = 0`` is P control. The gains are tuned on a family of set-points by :func:`tune_pi`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from paperzoo.lstmc.closed_loop import closed_loop
from paperzoo.lstmc.dextrose import T_MAX, T_MIN, InitialConditions
from paperzoo.shared.validate import check_positive


class PIController:
    """Discrete PI with ``dt = 1 h``: gains ``kp`` in degC/um, ``ki`` in degC/(um h), scalars or one per episode."""

    def __init__(self, kp: float | np.ndarray, ki: float | np.ndarray, dt_h: float = 1.0) -> None:
        for name, gain in (("kp", kp), ("ki", ki)):
            g = np.asarray(gain, dtype=np.float64)
            if not np.all(np.isfinite(g)) or np.any(g < 0):
                raise ValueError(f"{name} must be >= 0 and finite, got {gain!r}")
        self.kp, self.ki = np.asarray(kp, dtype=np.float64), np.asarray(ki, dtype=np.float64)
        self.dt = check_positive("dt_h", dt_h)

    def reset(self, set_points: np.ndarray) -> None:
        self.sp = np.asarray(set_points, dtype=np.float64)
        self.integral = np.zeros_like(self.sp)
        self.nominal: np.ndarray | None = None

    def act(self, history: np.ndarray, hours_left: int) -> np.ndarray:
        """The next jacket temperature from the latest measured size (``history[:, -1, 0]``)."""
        if self.nominal is None:
            self.nominal = history[:, 0, 3].copy()  # T_j(0) = T0
        e = self.sp - history[:, -1, 0]
        trial = self.integral + e * self.dt
        # anti-windup: the integral grows only up to the value that puts the output on the bound it is driven to
        p = self.nominal - self.kp * e
        ki = np.where(self.ki > 0, self.ki, 1.0)
        cold, hot = (p - T_MIN) / ki, (p - T_MAX) / ki  # integrals that give T_MIN and T_MAX
        limited = np.where(e > 0, np.maximum(self.integral, np.minimum(trial, cold)), trial)
        limited = np.where(e < 0, np.minimum(self.integral, np.maximum(trial, hot)), limited)
        self.integral = np.where(self.ki > 0, limited, trial)
        return np.clip(p - self.ki * self.integral, T_MIN, T_MAX)


def tune_pi(
    ic: InitialConditions,
    set_points: np.ndarray,
    kps: Sequence[float],
    kis: Sequence[float],
    **loop: Any,
) -> tuple[tuple[float, float], np.ndarray]:
    """Grid search on a tuning family: every ``(kp, ki)`` runs on every (initial condition, set-point) episode in
    one batched closed loop (``loop``: :func:`closed_loop` options); returns the gains with the lowest mean
    deviation and the grid of mean deviations (len(kps), len(kis))."""
    if not len(kps) or not len(kis):
        raise ValueError("kps and kis must be non-empty")
    n = len(ic)
    KP, KI = np.meshgrid(np.asarray(kps, dtype=np.float64), np.asarray(kis, dtype=np.float64), indexing="ij")
    g = KP.size
    tiled = ic.take(np.tile(np.arange(n), g))
    controller = PIController(np.repeat(KP.ravel(), n), np.repeat(KI.ravel(), n))
    result = closed_loop(controller, tiled, np.tile(np.asarray(set_points), g), **loop)
    grid = result.deviation.reshape((*KP.shape, n)).mean(axis=-1)
    i, j = np.unravel_index(np.argmin(grid), grid.shape)
    return (float(kps[i]), float(kis[j])), grid
