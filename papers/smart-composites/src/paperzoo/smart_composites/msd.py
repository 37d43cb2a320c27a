"""The mass-spring-damper plant of the paper's simulated benchmark (RK4, linear or hardening spring).

    m ẍ + c ẋ + k x + k₃ x³ = g u,        state y = (x, ẋ),

integrated with classical fourth-order Runge-Kutta, ``substeps`` steps per control period ``dt`` with the input
held (zero-order hold). ``k3 = 0`` is the linear plant. The physical constants are not in the official code: they
are our choice (README), picked so that the paper's references are trackable with ``|u| <= 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int


@dataclass(frozen=True)
class MassSpringDamper:
    """``m ẍ + c ẋ + k x + k3 x³ = gain * u`` with a zero-order-hold input, RK4 with ``substeps`` per ``dt``.

    States are arrays ``(..., 2)`` (position, velocity); every method is vectorised over leading axes.
    ``ValueError`` names the argument for ``m, dt, gain <= 0``, negative ``c, k, k3`` or ``substeps < 1``.
    """

    m: float = 0.01
    c: float = 0.05
    k: float = 0.5
    k3: float = 0.0
    gain: float = 1.0
    dt: float = 1 / 120
    substeps: int = 10

    def __post_init__(self) -> None:
        for name in ("m", "dt", "gain"):
            check_positive(name, getattr(self, name))
        for name in ("c", "k", "k3"):
            check_non_negative(name, getattr(self, name))
        check_positive_int("substeps", self.substeps)

    def derivative(self, y: np.ndarray, u: np.ndarray | float) -> np.ndarray:
        """``d(x, v)/dt = (v, (g u - c v - k x - k3 x³) / m)``."""
        x, v = y[..., 0], y[..., 1]
        a = (self.gain * np.asarray(u) - self.c * v - self.k * x - self.k3 * x**3) / self.m
        return np.stack([v, a], axis=-1)

    def step(self, y: np.ndarray, u: np.ndarray | float) -> np.ndarray:
        """The state one control period later, ``u`` held (RK4, ``substeps`` steps of ``dt / substeps``)."""
        h = self.dt / self.substeps
        y = np.asarray(y, dtype=np.float64)
        for _ in range(self.substeps):
            k1 = self.derivative(y, u)
            k2 = self.derivative(y + 0.5 * h * k1, u)
            k3 = self.derivative(y + 0.5 * h * k2, u)
            k4 = self.derivative(y + h * k3, u)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return y

    def simulate(self, u: np.ndarray, y0: np.ndarray | None = None) -> np.ndarray:
        """States ``y(0..n)`` ``(n + 1, 2)`` under inputs ``u(0..n-1)`` (``u(k)`` acts over ``[k dt, (k+1) dt)``)."""
        u = np.asarray(u, dtype=np.float64)
        ys = np.empty((len(u) + 1, 2))
        ys[0] = np.zeros(2) if y0 is None else y0
        for i, ui in enumerate(u):
            ys[i + 1] = self.step(ys[i], ui)
        return ys

    def linear_map(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, B)`` with ``step(y, u) = A y + B u`` exactly (the RK4 map of the linear plant; ``k3`` must be 0)."""
        if self.k3 != 0:
            raise ValueError(f"k3 must be 0 for a linear map, got {self.k3}")
        a = self.step(np.eye(2), 0.0).T
        b = self.step(np.zeros(2), 1.0)
        return a, b
