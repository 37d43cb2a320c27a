"""The PID baseline on position error, with output clipping and conditional-integration anti-windup.

    u(k) = clip(K_p e(k) + K_i I(k) + K_d (e(k) - e(k-1)) / Δt, u_min, u_max),    I(k) = I(k-1) + e(k) Δt

where the integral is frozen for a step when the unclipped output is saturated and ``e`` pushes it further out
(anti-windup), so I stays bounded under persistent saturation. The derivative is zero on the first step.
"""

from __future__ import annotations

import numpy as np

from paperzoo.shared.validate import check_positive


class PID:
    """Discrete PID with clipping and anti-windup (module docstring). ``ValueError`` names a bad argument.

    Gains may be arrays (one controller per entry of a batch, e.g. a tuning grid); errors then have their shape.
    """

    def __init__(
        self,
        kp: float | np.ndarray,
        ki: float | np.ndarray,
        kd: float | np.ndarray,
        dt: float,
        u_min: float = -1.0,
        u_max: float = 1.0,
    ) -> None:
        gains = {"kp": kp, "ki": ki, "kd": kd}
        for name, value in gains.items():
            arr = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        self.kp, self.ki, self.kd = (np.asarray(v, dtype=np.float64) for v in gains.values())
        self.dt = check_positive("dt", dt)
        if not u_min < u_max:
            raise ValueError(f"u_min must be < u_max, got {u_min} and {u_max}")
        self.u_min, self.u_max = u_min, u_max
        self.reset()

    def reset(self) -> None:
        """Zero integral, no previous error."""
        self.integral: np.ndarray | float = 0.0
        self.prev_error: np.ndarray | None = None

    def step(self, error: float | np.ndarray) -> float | np.ndarray:
        """The clipped control for the current position error ``e = x_r - x``."""
        error = np.asarray(error, dtype=np.float64)
        de = np.zeros_like(error) if self.prev_error is None else (error - self.prev_error) / self.dt
        self.prev_error = error
        integral = self.integral + error * self.dt
        raw = self.kp * error + self.ki * integral + self.kd * de
        winding = ((raw > self.u_max) & (error > 0)) | ((raw < self.u_min) & (error < 0))
        self.integral = np.where(winding, self.integral, integral)
        u = np.clip(self.kp * error + self.ki * self.integral + self.kd * de, self.u_min, self.u_max)
        return float(u) if u.ndim == 0 else u
