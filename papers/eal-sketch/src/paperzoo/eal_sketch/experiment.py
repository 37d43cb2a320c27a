"""The scale runners of eal-sketch: every arm on every test problem, one seed.

Arms: ``rk``/``gv`` (AdaSketch-Newton with randomized Kaczmarz / Gaussian sketches, as the paper), ``rk_code``
(RK with ``mimic_code=True``: the official code's form), ``exact`` (direct KKT solve), ``al`` (augmented
Lagrangian + GMRES) and ``l1sqp`` (ℓ1-SQP + GMRES). Only the sketch arms use the seed; the deterministic
arms are solved once per process and reused across seeds. Jobs run on ``config.workers`` processes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from paperzoo.eal_sketch.baselines import L1SQPGMRES, AugmentedLagrangian
from paperzoo.eal_sketch.problems import (
    CutestProblem,
    Problem,
    hs_problem,
    logistic_name,
    logistic_problem,
    pde_problem,
)
from paperzoo.eal_sketch.solver import AdaSketchNewton, SolveResult
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive

SEEDED = ("rk", "gv", "rk_code")
_CACHE: dict[tuple[str, str, int], dict[str, Any]] = {}


def build_problem(spec: str) -> Problem:
    """``hs:NAME``, ``cutest:NAME``, ``logistic:DATA`` or ``pde:N``."""
    kind, _, arg = spec.partition(":")
    if kind == "hs":
        return hs_problem(arg)
    if kind == "cutest":
        return CutestProblem(arg)
    if kind == "logistic":
        return logistic_problem(arg)
    if kind == "pde":
        return pde_problem(int(arg))
    raise ValueError(f"spec must start with hs:, cutest:, logistic: or pde:, got {spec!r}")


def make_solver(arm: str, seed: int, max_iter: int) -> AdaSketchNewton | AugmentedLagrangian | L1SQPGMRES:
    """The solver object of one arm."""
    if arm in ("rk", "gv", "exact"):
        return AdaSketchNewton(solver=arm, seed=seed, max_iter=max_iter)
    if arm == "rk_code":
        return AdaSketchNewton(solver="rk", seed=seed, max_iter=max_iter, mimic_code=True)
    if arm == "al":
        return AugmentedLagrangian(max_iter=max_iter)
    if arm == "l1sqp":
        return L1SQPGMRES(max_iter=max_iter)
    raise ValueError(f"arm must be one of {(*SEEDED, 'exact', 'al', 'l1sqp')}, got {arm!r}")


def solve_one(spec: str, arm: str, seed: int, max_iter: int) -> dict[str, Any]:
    """Solve one problem with one arm; a picklable summary of the :class:`SolveResult`."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    problem = build_problem(spec)
    out: SolveResult = make_solver(arm, derive(seed, "sketch", spec, arm), max_iter).solve(problem)
    tail = out.alpha[-5:]
    return {
        "status": out.status,
        "iterations": len(out.kkt) - 1,
        "kkt": out.kkt,
        "flops": float(sum(out.flops)),
        "cumulative_flops": np.concatenate([[0.0], np.cumsum(out.flops, dtype=np.float64)]).tolist(),
        "inner_steps": float(sum(out.inner_steps)),
        "seconds": out.seconds,
        "unit_last5": float(np.mean(np.asarray(tail) == 1.0)) if tail else math.nan,
        "eta_moved": float(bool(out.eta1) and out.eta1[-1] != 1.0),
        "f_error": abs(problem.values(out.x)[0] - problem.f_star) / max(1.0, abs(problem.f_star))
        if problem.f_star is not None
        else math.nan,
    }


def _cost_rank(job: tuple[str, str, int, int]) -> tuple[int, int]:
    """A sort key: PDE solves first, and among them (and the rest) the baselines and GV before RK."""
    spec, arm, _, _ = job
    return (0 if spec.startswith("pde") else 1, 0 if arm in ("al", "l1sqp", "gv") else 1)


def _solve_all(jobs: list[tuple[str, str, int, int]], workers: int) -> list[dict[str, Any]]:
    """Solve every ``(spec, arm, seed, max_iter)``; deterministic arms once per process."""
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    for i, (spec, arm, _, max_iter) in enumerate(jobs):
        if arm not in SEEDED:
            results[i] = _CACHE.get((spec, arm, max_iter))
    # longest first, so that neither worker is left with a long solve at the end: PDE, then the baselines
    todo = sorted((i for i, res in enumerate(results) if res is None), key=lambda i: _cost_rank(jobs[i]))
    for i, res in zip(todo, run_jobs([(solve_one, jobs[i]) for i in todo], workers, desc="solves"), strict=True):
        results[i] = res
        spec, arm, _, max_iter = jobs[i]
        if arm not in SEEDED:
            _CACHE[(spec, arm, max_iter)] = res
    return [res for res in results if res is not None]


def _hs_metrics(arm: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    """Success rate over non-singular runs, median iterations and flops, unit steps near the end."""
    regular = [r for r in runs if r["status"] != "singular"]
    solved = [r for r in regular if r["status"] == "converged"]
    nan = math.nan
    return {
        f"{arm}/hs_success_rate": len(solved) / len(regular) if regular else nan,
        f"{arm}/hs_singular": float(len(runs) - len(regular)),
        f"{arm}/hs_median_iterations": float(np.median([r["iterations"] for r in solved])) if solved else nan,
        f"{arm}/hs_log10_flops": float(np.median([math.log10(1 + r["flops"]) for r in solved])) if solved else nan,
        f"{arm}/hs_unit_step_last5": float(np.nanmean([r["unit_last5"] for r in solved])) if solved else nan,
        f"{arm}/hs_f_match": float(np.mean([r["f_error"] <= 1e-3 for r in solved])) if solved else nan,
        f"{arm}/hs_eta_moved": float(np.mean([r["eta_moved"] for r in solved])) if solved else nan,
    }


def _instance_metrics(arm: str, name: str, run: dict[str, Any]) -> dict[str, float]:
    return {
        f"{arm}/{name}_converged": float(run["status"] == "converged"),
        f"{arm}/{name}_log10_kkt": math.log10(max(run["kkt"][-1], 1e-300)),
        f"{arm}/{name}_log10_flops": math.log10(1 + run["flops"]),
        f"{arm}/{name}_iterations": float(run["iterations"]),
        f"{arm}/{name}_seconds": run["seconds"],
    }


def kkt_at_flops(kkt: list[float], cumulative_flops: list[float], budget: float) -> tuple[float, int]:
    """The KKT residual of the last iterate reached within ``budget`` flops, and its outer iteration."""
    k = int(np.searchsorted(cumulative_flops, budget, side="right")) - 1
    return kkt[k], k


def _equal_flops_metrics(name: str, runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """RK and l1-SQP-GMRES at the same flops budget, the smaller of their two totals (the KKT-vs-flops plot)."""
    budget = min(runs[arm]["flops"] for arm in ("rk", "l1sqp"))
    metrics = {}
    for arm in ("rk", "l1sqp"):
        kkt, k = kkt_at_flops(runs[arm]["kkt"], runs[arm]["cumulative_flops"], budget)
        metrics[f"{arm}/{name}_log10_kkt_at_equal_flops"] = math.log10(max(kkt, 1e-300))
        metrics[f"{arm}/{name}_iterations_at_equal_flops"] = float(k)
    return metrics


def run(config: Any, seed: int) -> Result:
    """All arms on the HS/BT set, the logistic data sets and the PDE grids of ``config``."""
    jobs: list[tuple[str, str, int, int]] = []
    for n in config.pde_sizes:
        jobs += [(f"pde:{n}", arm, seed, config.pde_iterations(arm)) for arm in config.pde_arms_at(n)]
    for data in config.logistic:
        jobs += [(f"logistic:{data}", arm, seed, config.max_iter) for arm in config.logistic_arms]
    jobs += [(f"hs:{name}", arm, seed, config.max_iter) for name in config.hs for arm in config.hs_arms]
    jobs += [(f"cutest:{name}", arm, seed, config.max_iter) for name in config.cutest for arm in config.hs_arms]
    results = _solve_all(jobs, config.workers)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    by_arm: dict[str, list[dict[str, Any]]] = {}
    by_instance: dict[str, dict[str, dict[str, Any]]] = {}
    for (spec, arm, _, _), res in zip(jobs, results, strict=True):
        kind, _, arg = spec.partition(":")
        if kind in ("hs", "cutest"):  # the hs_* metrics aggregate the HS/BT set and the CUTEst list
            by_arm.setdefault(arm, []).append(res)
            series[f"{arm}/kkt_{arg}"] = res["kkt"]
        else:
            name = f"pde{arg}" if kind == "pde" else f"logistic_{logistic_name(arg)}"
            metrics.update(_instance_metrics(arm, name, res))
            series[f"{arm}/kkt_{name}"] = res["kkt"]
            series[f"{arm}/flops_{name}"] = res["cumulative_flops"]
            by_instance.setdefault(name, {})[arm] = res
    for name, runs in by_instance.items():
        if "rk" in runs and "l1sqp" in runs:
            metrics.update(_equal_flops_metrics(name, runs))
    for arm, runs in by_arm.items():
        metrics.update(_hs_metrics(arm, runs))
    return Result(metrics=metrics, series=series)
