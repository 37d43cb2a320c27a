"""The Nelder-Mead driver of NM-PPO (the official trainer's loop, own code): reflect, expand, contract, shrink
on a simplex of thresholds, with function values cached (a point within ``cache_tolerance`` of a scored one
reuses its score) and a stop when the scores' standard deviation falls under ``tol`` or the budget is spent."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paperzoo.shared.validate import check_positive


class CachedFunction:
    """``f(x)`` computed once per point; a point within ``tolerance`` (every coordinate) of a cached one reuses it."""

    def __init__(self, func: Callable[[np.ndarray], float], tolerance: float = 5e-3) -> None:
        self.func, self.tolerance = func, tolerance
        self.points: list[np.ndarray] = []
        self.values: list[float] = []

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        for p, v in zip(self.points, self.values, strict=True):
            if np.all(np.abs(p - x) < self.tolerance):
                return v
        value = float(self.func(x))
        self.points.append(x.copy())
        self.values.append(value)
        return value


def nelder_mead(
    func: Callable[[np.ndarray], float],
    simplex: np.ndarray,
    alpha: float = 1.0,
    gamma: float = 2.0,
    rho: float = 0.5,
    sigma: float = 0.5,
    tol: float = 0.01,
    more: Callable[[], bool] = lambda: True,
    max_iters: int = 1000,
) -> np.ndarray:
    """Minimise ``func`` from ``simplex`` ((d+1, d)); returns the final simplex, best vertex first.

    One iteration: sort; x_o = centroid of all but the worst; x_r = x_o + alpha (x_o - x_worst), accepted if
    f(best) <= f(x_r) < f(second worst); if x_r beats the best, try x_e = x_o + gamma (x_r - x_o); else
    x_c = x_o + rho (x_worst - x_o) if it beats the worst; else shrink towards the best by sigma and stop when
    std(f) < tol. ``more()`` false (the training budget is spent) ends the loop."""
    for name, value in (("alpha", alpha), ("gamma", gamma), ("rho", rho), ("sigma", sigma), ("tol", tol)):
        check_positive(name, value)
    simplex = np.array(simplex, dtype=float)
    if simplex.ndim != 2 or simplex.shape[0] != simplex.shape[1] + 1:
        raise ValueError(f"simplex must have shape (d + 1, d), got {simplex.shape}")
    f = func if isinstance(func, CachedFunction) else CachedFunction(func)
    for _ in range(max_iters):
        if not more():
            break
        simplex = np.array(sorted(simplex, key=f))
        best, worst = f(simplex[0]), simplex[-1]
        centroid = simplex[:-1].mean(0)
        reflected = centroid + alpha * (centroid - worst)
        fr = f(reflected)
        if best <= fr < f(simplex[-2]):
            simplex[-1] = reflected
            continue
        if fr < best:
            expanded = centroid + gamma * (reflected - centroid)
            simplex[-1] = expanded if f(expanded) < best else reflected
            continue
        contracted = centroid + rho * (worst - centroid)
        if f(contracted) < f(worst):
            simplex[-1] = contracted
            continue
        simplex[1:] = simplex[0] + sigma * (simplex[1:] - simplex[0])
        if np.std([f(v) for v in simplex]) < tol:
            break
    return np.array(sorted(simplex, key=f))
