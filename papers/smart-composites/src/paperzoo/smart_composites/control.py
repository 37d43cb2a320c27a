"""References (square, sine, ramp), the closed loop, and the tracking metrics.

A reference is a state trajectory ``(n, 2)``: position and velocity. Controllers act through a callable
``act(k, ys, us) -> u(k)`` that sees the measured states ``y(0..k)`` and the applied inputs ``u(0..k-1)``; the
adapters :func:`mpc_act`, :func:`pid_act` and :func:`zero_act` give the NR-MPC (with a preview of the reference
over its horizon), the PID (current position error) and u = 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paperzoo.shared.validate import check_positive, check_positive_int
from paperzoo.smart_composites.msd import MassSpringDamper
from paperzoo.smart_composites.ngpc import NewtonRaphsonMPC
from paperzoo.smart_composites.pid import PID

Act = Callable[[int, np.ndarray, np.ndarray], float]


def square(n: int, dt: float, amplitude: float = 0.5, period: float = 4.0) -> np.ndarray:
    """``+A`` for the first half of each period, ``-A`` for the second; velocity 0."""
    check_positive_int("n", n)
    check_positive("period", period)
    t = np.arange(n) * check_positive("dt", dt)
    x = np.where((t % period) < period / 2, amplitude, -amplitude)
    return np.stack([x, np.zeros(n)], axis=1)


def sine(n: int, dt: float, amplitude: float = 0.5, freq: float = 0.5) -> np.ndarray:
    """``A sin(2π f t)`` and its derivative."""
    check_positive_int("n", n)
    w = 2 * np.pi * check_positive("freq", freq)
    t = np.arange(n) * check_positive("dt", dt)
    return np.stack([amplitude * np.sin(w * t), amplitude * w * np.cos(w * t)], axis=1)


def ramp(n: int, dt: float, amplitude: float = 0.4, period: float = 3.0) -> np.ndarray:
    """A triangle wave between ``±A`` (ramps up then down) and its piecewise-constant slope."""
    check_positive_int("n", n)
    check_positive("period", period)
    t = np.arange(n) * check_positive("dt", dt)
    phase = (t / period) % 1.0
    x = amplitude * (4 * np.abs(phase - 0.5) - 1) * -1
    v = np.where(phase < 0.5, 4 * amplitude / period, -4 * amplitude / period)
    return np.stack([x, v], axis=1)


def tuning_reference(n: int, dt: float) -> np.ndarray:
    """The reference gains and weights are tuned on: a ramp (±0.45 m, 2.5 s) then a square (±0.4 m, 2.5 s).

    It spans the evaluation amplitudes, but its shapes, amplitudes and periods differ from the evaluation
    references (square ±0.5 m / 4 s, sine 0.5 Hz)."""
    half = n // 2
    return np.concatenate([ramp(half, dt, 0.45, 2.5), square(n - half, dt, 0.4, 2.5)])


def closed_loop(
    plant: MassSpringDamper, act: Act, n: int, batch: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """States ``y(0..n)`` ``(n + 1, *batch, 2)`` and inputs ``(n, *batch)`` of ``n`` steps from rest under ``act``.

    ``batch`` runs independent copies of the plant at once (a tuning grid, several references).
    """
    check_positive_int("n", n)
    ys, us = np.zeros((n + 1, *batch, 2)), np.zeros((n, *batch))
    for k in range(n):
        us[k] = act(k, ys[: k + 1], us[:k])
        ys[k + 1] = plant.step(ys[k], us[k])
    return ys, us


def mpc_act(mpc: NewtonRaphsonMPC, ref: np.ndarray) -> Act:
    """The NR-MPC: ``u(k-d_u+1..k-1)``, ``y(k-d_y+1..k)`` (zeros before the start) and ``y_r(k+1..k+N2)``.

    ``ref`` is ``(n, 2)`` or ``(n, *batch, 2)``; rows past its end repeat its last row.
    """
    mpc.reset()
    last = len(ref) - 1

    def act(k: int, ys: np.ndarray, us: np.ndarray) -> float | np.ndarray:
        ys = np.concatenate([np.zeros((mpc.d_y, *ys.shape[1:])), ys])[-mpc.d_y :]
        us = np.concatenate([np.zeros((mpc.d_u, *us.shape[1:])), us])[len(us) + 1 :]
        rows = ref[np.minimum(np.arange(k + 1, k + 1 + mpc.N2), last)]
        return mpc.step(np.moveaxis(us, 0, -1), np.moveaxis(ys, 0, -2), np.moveaxis(rows, 0, -2))

    return act


def pid_act(pid: PID, ref: np.ndarray) -> Act:
    """The PID on the position error ``x_r(k) - x(k)``."""
    pid.reset()
    return lambda k, ys, us: pid.step(ref[k, ..., 0] - ys[-1, ..., 0])


def zero_act(k: int, ys: np.ndarray, us: np.ndarray) -> float:
    """u = 0 (the trivial baseline every controller must beat)."""
    return 0.0


def tracking_metrics(ys: np.ndarray, us: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Position RMSE over ``y(1..n)``, overshoot ``max(0, max|x| - max|x_r|) / max|x_r|`` and effort ``mean u²``.

    Reduced over time (axis 0): one value per system of a batch.
    """
    x, xr = ys[1:, ..., 0], ref[1 : len(ys), ..., 0]
    peak = np.abs(xr).max(axis=0)
    return {
        "rmse": np.sqrt(np.mean((x - xr) ** 2, axis=0)),
        "overshoot": np.maximum(0.0, np.abs(x).max(axis=0) - peak) / peak,
        "effort": np.mean(us**2, axis=0),
    }
