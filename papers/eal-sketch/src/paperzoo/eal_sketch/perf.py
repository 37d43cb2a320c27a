"""eal-sketch's speed figures (``make perf-eal-sketch``), one run each, measured in this process.

- ``rk_blocked_over_per_step``: RK inner steps per second of :class:`SketchSolver` (residual updated from the
  precomputed row products ``K Kᵀ``, indices drawn in blocks) over the official per-step form (residual
  ``K z − b`` recomputed after every step), on the PDE N = 16 KKT matrix at the starting point.
- ``<arm>/seconds_to_kkt_1e-4``: wall time of RK, GV and l1-SQP-GMRES to reach KKT <= 1e-4 on the PDE with
  N = 3 (the official code's grid; NaN when the arm does not get there within 200 iterations).
"""

from __future__ import annotations

import math
import time

import numpy as np

from paperzoo.eal_sketch.baselines import L1SQPGMRES
from paperzoo.eal_sketch.problems import pde_problem
from paperzoo.eal_sketch.sketch import SketchSolver, rk_per_step
from paperzoo.eal_sketch.solver import AdaSketchNewton


def _kkt_system(N: int) -> tuple[np.ndarray, np.ndarray]:
    problem = pde_problem(N)
    p = problem.first_order(problem.x0)
    B = problem.hessians(problem.x0, problem.lam0)[1]
    K = np.block([[B, p.jac.T], [p.jac, np.zeros((problem.m, problem.m))]])
    return K, -np.concatenate([p.grad + p.jac.T @ problem.lam0, p.c])


def perf(device: str) -> dict[str, float]:
    """Steps/s ratio of the blocked RK over the per-step form, and seconds to KKT <= 1e-4 per arm."""
    K, b = _kkt_system(16)
    z0 = np.zeros_like(b)
    start = time.perf_counter()
    _, steps = rk_per_step(K, b, z0, 0.0, 2_000, np.random.default_rng(0))
    per_step = steps / (time.perf_counter() - start)
    start = time.perf_counter()
    _, _, steps, _ = SketchSolver(K, "rk", np.random.default_rng(0)).run(z0, b, 0.0, 100_000)
    blocked = steps / (time.perf_counter() - start)
    figures = {
        "rk_per_step/steps_per_s": per_step,
        "rk_blocked/steps_per_s": blocked,
        "rk_blocked_over_per_step": blocked / per_step,
    }
    problem = pde_problem(3)
    for arm, solver in (
        ("rk", AdaSketchNewton("rk", max_iter=200)),
        ("gv", AdaSketchNewton("gv", max_iter=200)),
        ("l1sqp", L1SQPGMRES(max_iter=200)),
    ):
        out = solver.solve(problem)
        figures[f"{arm}/seconds_to_kkt_1e-4"] = out.seconds if out.converged else math.nan
    return figures
