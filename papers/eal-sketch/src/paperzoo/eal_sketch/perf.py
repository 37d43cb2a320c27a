"""eal-sketch's speed figures (``make perf-eal-sketch``), one run each, measured in this process.

- ``rk_blocked_over_per_step``: RK inner steps per second of :class:`SketchSolver` (residual updated from the
  precomputed row products ``K Kᵀ``, indices drawn in blocks) over the official per-step form (residual
  ``K z − b`` recomputed after every step), on the PDE N = 16 KKT matrix at the starting point.
- ``<arm>/pde<N>_seconds_to_kkt_1e-4``: wall time of RK, GV and l1-SQP-GMRES to reach KKT <= 1e-4 on the PDE
  with N = 16 (the issue's grid) and N = 3 (the official code's), NaN when the arm does not get there within its
  outer-iteration budget (:data:`BUDGETS`); ``<arm>/pde<N>_seconds`` and ``<arm>/pde<N>_log10_kkt`` say how
  long it ran and where it stopped.
"""

from __future__ import annotations

import math
import time

import numpy as np

from paperzoo.eal_sketch.baselines import L1SQPGMRES
from paperzoo.eal_sketch.problems import pde_problem
from paperzoo.eal_sketch.sketch import SketchSolver, rk_per_step
from paperzoo.eal_sketch.solver import AdaSketchNewton

# outer iterations per arm and grid: N = 16 gets about a minute per arm (a GV step there costs 2(n+m)² flops)
BUDGETS = {3: {"rk": 200, "gv": 200, "l1sqp": 200}, 16: {"rk": 20, "gv": 2, "l1sqp": 100}}


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
    for N, budget in BUDGETS.items():
        problem = pde_problem(N)
        for arm, solver in (
            ("rk", AdaSketchNewton("rk", max_iter=budget["rk"])),
            ("gv", AdaSketchNewton("gv", max_iter=budget["gv"])),
            ("l1sqp", L1SQPGMRES(max_iter=budget["l1sqp"])),
        ):
            out = solver.solve(problem)
            figures[f"{arm}/pde{N}_seconds_to_kkt_1e-4"] = out.seconds if out.converged else math.nan
            figures[f"{arm}/pde{N}_seconds"] = out.seconds
            figures[f"{arm}/pde{N}_log10_kkt"] = math.log10(out.kkt[-1])
    return figures
