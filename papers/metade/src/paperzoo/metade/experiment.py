"""The scale runners of metade: every arm on the CEC2022 functions of the config at the same total FEs per function.

All functions of a scale advance together (a leading task axis; :func:`paperzoo.metade.cec2022.suite`), and each
arm is one job (:func:`paperzoo.shared.parallel.run_jobs`, one arm per worker). The budget per function is MetaDE's
``B = P_o NP (S + 1) G``; every other arm spends exactly B:

- ``metade``: MetaDE (DE/rand/1/bin evolver, no power-up: what the official example runs);
- ``metade_powerup``: G - 5 normal generations, then one whose executors run five times as long (B again);
- ``random_search``: P_o G uniform configurations, each run as one executor (same S, NP);
- ``random_theta``: P_o uniform configurations, each given B / P_o FEs (NP), the mean error over the draws;
- ``pde_default``: ParamDE's default configuration, one run of B FEs (``baseline_np``);
- ``de``: DE/rand/1/bin (F 0.5, CR 0.9), ``jade``, ``shade``: one run of B FEs each (``baseline_np``).

Error = f - F*, values below 1e-8 count as 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from paperzoo.metade.baselines import AdaptiveDE
from paperzoo.metade.cec2022 import BIAS, LOWER, UPPER, suite
from paperzoo.metade.metade import MetaDE
from paperzoo.metade.pde import DE_RAND_1_BIN, DEFAULT_THETA, PDE, THETA_LB, THETA_UB, decode
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive

ARMS = ("metade", "metade_powerup", "random_search", "random_theta", "pde_default", "de", "jade", "shade")
ZERO = 1e-8
CURVE_POINTS = 12  # best-so-far recorded at B/12, 2B/12, ... (and after the initial evaluation)


def budget(config: Any) -> int:
    """MetaDE's FEs per function, ``P_o NP (S + 1) G``: every arm's budget."""
    return config.P_o * config.NP * (config.S + 1) * config.G


def errors(values: torch.Tensor, fns: tuple[int, ...]) -> np.ndarray:
    """``f - F*`` per function, with values below 1e-8 set to 0."""
    err = values.double().numpy() - np.array([BIAS[f] for f in fns])
    return np.where(err < ZERO, 0.0, err)


def run_arm(config: Any, seed: int, arm: str) -> dict[str, Any]:
    """One arm on every function of the config: final errors, best-so-far curves and FEs per function."""
    torch.set_num_threads(1)
    fns, T = tuple(config.functions), len(config.functions)
    objective = suite(fns, config.D)
    gen = torch.Generator().manual_seed(derive(seed, arm))
    B = budget(config)
    out: dict[str, Any] = {}
    if arm in ("metade", "metade_powerup", "random_search"):
        meta = MetaDE(
            objective,
            config.D,
            LOWER,
            UPPER,
            P_o=config.P_o,
            NP=config.NP,
            S=config.S,
            G=config.G - 5 if arm == "metade_powerup" else config.G,
            power_up=arm == "metade_powerup",
            search="random" if arm == "random_search" else "de",
        )
        result = meta.run(T, gen)
        final, curve, fes = result.best, result.curve, meta.fes
        out["expected_fes"] = meta.expected_fes()
        out["theta"] = result.theta.tolist()
        gen1 = result.generations[0].min(1).values
        out["gen1_best"] = errors(gen1, fns).tolist()
        out["evolver_gain"] = float((result.best < gen1).double().mean())
    elif arm == "random_theta":
        steps = B // (config.P_o * config.NP) - 1
        executor = PDE(objective, config.D, LOWER, UPPER, NP=config.NP)
        theta = THETA_LB + (THETA_UB - THETA_LB) * torch.rand((T, config.P_o, 6), generator=gen, dtype=torch.float64)
        state, curve = executor.run(theta, T, config.P_o, steps, gen, record_every=max(1, (steps + 1) // CURVE_POINTS))
        final = state.best.mean(1)
        curve = [c.mean(1) for c in curve]
        fes = executor.fes // config.P_o  # per draw
    else:
        steps = B // config.baseline_np - 1
        every = max(1, (steps + 1) // CURVE_POINTS)
        if arm in ("jade", "shade"):
            algo = AdaptiveDE(objective, config.D, LOWER, UPPER, NP=config.baseline_np, variant=arm)
            final, curve = algo.run(T, steps, gen, record_every=every)
            fes = algo.fes
        else:
            theta = DEFAULT_THETA if arm == "pde_default" else DE_RAND_1_BIN
            executor = PDE(objective, config.D, LOWER, UPPER, NP=config.baseline_np)
            state, curve = executor.run(theta, T, 1, steps, gen, record_every=every)
            final, curve, fes = state.best[:, 0], [c[:, 0] for c in curve], executor.fes
    if arm == "random_theta":
        # The mean of the draws' errors (each floored at 1e-8 first).
        out["error"] = errors(state.best.T, fns).mean(0).tolist()
    else:
        out["error"] = errors(final, fns).tolist()
    out["curve"] = [errors(c, fns).tolist() for c in curve]
    out["fes"] = fes
    return out


def initial_error(config: Any, seed: int) -> np.ndarray:
    """The reference for "cut the error": the best of ``baseline_np`` uniform random points, per function."""
    gen = torch.Generator().manual_seed(derive(seed, "initial"))
    x = LOWER + (UPPER - LOWER) * torch.rand(
        (len(config.functions), config.baseline_np, config.D), generator=gen, dtype=torch.float64
    )
    return errors(suite(tuple(config.functions), config.D)(x).min(1).values, tuple(config.functions))


def mean_ranks(table: np.ndarray) -> np.ndarray:
    """Average rank (1 = best, ties averaged) of each arm (rows) over functions (columns)."""
    from scipy.stats import rankdata

    return rankdata(table, axis=0, method="average").mean(1)


def wins(a: np.ndarray, b: np.ndarray) -> float:
    """Functions where ``a``'s error is below ``b``'s; both 0 (< 1e-8) is a tie, worth half."""
    return float(np.sum(a < b) + 0.5 * np.sum((a == 0) & (b == 0)))


def run(config: Any, seed: int) -> Result:
    """Every arm of the config on its functions, seed ``seed``: errors, ranks, wins and MetaDE's checks."""
    arms = tuple(config.arms)
    jobs = [(run_arm, (config, seed, arm)) for arm in arms]
    results = dict(
        zip(arms, run_jobs(jobs, workers=min(config.workers, len(arms)), desc=f"metade seed {seed}"), strict=True)
    )
    fns, B = tuple(config.functions), budget(config)
    init = initial_error(config, seed)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    table = np.array([results[a]["error"] for a in arms])
    for arm, rank in zip(arms, mean_ranks(table), strict=True):
        r = results[arm]
        metrics[f"{arm}/mean_rank"] = float(rank)
        per_draw = B // config.P_o if arm == "random_theta" else B
        metrics[f"{arm}/fe_error"] = float(r["fes"] - per_draw)
        for f, e, e0 in zip(fns, r["error"], init, strict=True):
            metrics[f"{arm}/F{f}_error"] = float(e)
            metrics[f"{arm}/F{f}_log10_cut"] = float(math.log10(max(e0, ZERO) / max(e, ZERO)))
        for k, f in enumerate(fns):
            series[f"{arm}/F{f}_curve"] = [float(c[k]) for c in r["curve"]]
    for arm in ("metade", "metade_powerup", "random_search"):
        if arm not in results:
            continue
        r = results[arm]
        metrics[f"{arm}/fe_count_error"] = float(r["fes"] - r["expected_fes"])
        metrics[f"{arm}/evolver_gain"] = r["evolver_gain"]
        # The returned best against the best of its own generation-1 executors (<= 0 always).
        metrics[f"{arm}/best_minus_gen1"] = float(max(np.array(r["error"]) - np.array(r["gen1_best"])))
        for f, theta in zip(fns, r["theta"], strict=True):
            d = decode(torch.tensor(theta))
            for name, value in zip(d._fields, d, strict=True):
                metrics[f"{arm}/F{f}_theta_{name}"] = float(value)
    for arm in ("metade", "metade_powerup"):
        for other in ("de", "random_theta", "random_search", "pde_default", "jade", "shade"):
            if {arm, other} <= results.keys():
                mine, theirs = np.array(results[arm]["error"]), np.array(results[other]["error"])
                metrics[f"{arm}/wins_vs_{other}"] = wins(mine, theirs)
    if config.default_check_steps:
        metrics["default_check/F1_log10_cut"] = default_check(config.default_check_steps, config.D, seed)
    return Result(metrics=metrics, series=series)


def default_check(steps: int, D: int, seed: int) -> float:
    """log10 of (initial best / final best) error of the default PDE (NP = 50) on F1 after ``steps`` generations."""
    gen = torch.Generator().manual_seed(derive(seed, "default_check"))
    executor = PDE(suite((1,), D), D, LOWER, UPPER, NP=50)
    _, curve = executor.run(DEFAULT_THETA, 1, 1, steps, gen, record_every=steps)
    first, last = errors(curve[0][:, 0], (1,))[0], errors(curve[-1][:, 0], (1,))[0]
    return float(math.log10(max(first, ZERO) / max(last, ZERO)))
