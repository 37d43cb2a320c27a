"""Constrained Optimization via Exact Augmented Lagrangian and Randomized Iterative Sketching
(Ilgee Hong, Sen Na, Michael W. Mahoney, Mladen Kolar; ICML 2023): AdaSketch-Newton.

``AdaSketchNewton(solver="rk"|"gv"|"exact").solve(Problem(f, c, x0))`` minimises ``f(x)`` subject to
``c(x) = 0`` with inexact Newton–KKT steps from randomized sketching solvers, adaptive accuracy and penalty
parameters, and an Armijo search on the exact augmented Lagrangian.
"""

from paperzoo.eal_sketch.problems import (
    CUTEST_PROBLEMS,
    HS_PROBLEMS,
    CutestProblem,
    Problem,
    hs_problem,
    logistic_problem,
    pde_problem,
)
from paperzoo.eal_sketch.sketch import SketchSolver
from paperzoo.eal_sketch.solver import AdaSketchNewton, SolveResult, merit, merit_gradient

__all__ = [
    "CUTEST_PROBLEMS",
    "HS_PROBLEMS",
    "AdaSketchNewton",
    "CutestProblem",
    "Problem",
    "SketchSolver",
    "SolveResult",
    "hs_problem",
    "logistic_problem",
    "merit",
    "merit_gradient",
    "pde_problem",
]
