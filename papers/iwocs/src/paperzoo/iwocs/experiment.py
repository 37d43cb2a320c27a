"""The scale runners of IWOCS: ``run_smoke`` / ``run_full`` ``(config, seed) -> Result``.

(a) tabular windy walk, exact: IWOCS vs robust value iteration vs nominal value iteration, each policy's worst
case over the per-cell (sa-rectangular) wind set and over the global-wind (non-rectangular) set;
(b) Pendulum-v1: deep IWOCS vs TD3 on the nominal model vs TD3 with domain randomisation, equal env steps,
every policy evaluated on an eval_points x eval_points grid of Ω (static episodes) and at the nominal model;
the paper scale also runs (b) on MuJoCo tasks with M2TD3's uncertainty sets (metrics ``<set>/<arm>/<metric>``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from paperzoo.iwocs.deep import DeepConfig, evaluate, on_m2td3_set, random_policy, train_iwocs, train_td3
from paperzoo.iwocs.iwocs import iwocs
from paperzoo.iwocs.pendulum import box_grid, uniform_sampler
from paperzoo.iwocs.tabular import WindyWalk, robust_value_iteration, value_iteration
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive

ARMS = ("iwocs", "td3", "dr")


def tabular(rows: int, cols: int, nominal: float, low: float, high: float, points: int) -> dict[str, float]:
    """(a): the exact worst cases of IWOCS's, robust VI's and nominal VI's policies on both wind sets."""
    walk = WindyWalk(rows, cols)
    R, gamma, s0 = walk.rewards(), 0.95, walk.start
    P0 = walk.transitions(nominal)
    rect, glob = walk.interval_set(low, high), walk.global_set(low, high)
    nominal_policy = value_iteration(P0, R, gamma).argmax(-1)
    rvi_value, rvi_policy = robust_value_iteration(rect, R, gamma)
    on_rect = iwocs(rect, P0, R, gamma, s0, search="exact")
    on_glob = iwocs(glob, P0, R, gamma, s0, search="grid", points=points)
    best_static = value_iteration(glob.build(glob.grid(points)), R, gamma).max(-1)[:, s0]
    return {
        "rect/iwocs_worst": on_rect.value,
        "rect/rvi_worst": float(rvi_value[s0]),
        "rect/iwocs_rvi_gap": abs(on_rect.value - float(rvi_value[s0])),
        "rect/nominal_worst": rect.worst_case(nominal_policy, R, gamma, s0)[1],
        "rect/iwocs_iterations": float(on_rect.iterations),
        "global/iwocs_worst": on_glob.value,
        "global/rvi_worst": glob.worst_case(rvi_policy, R, gamma, s0, points=points)[1],
        "global/nominal_worst": glob.worst_case(nominal_policy, R, gamma, s0, points=points)[1],
        "global/upper_bound": float(best_static.min()),  # min_ω max_π V: no static-robust value exceeds it
        "global/iwocs_iterations": float(on_glob.iterations),
        "nominal/optimal_value": float(value_iteration(P0, R, gamma).max(-1)[s0]),
    }


def deep_arm(config: DeepConfig, seed: int, arm: str) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Train one arm of (b) and evaluate it on the Ω grid and at the nominal model (one process, 1 thread)."""
    import torch

    torch.set_num_threads(1)
    metrics: dict[str, float] = {}
    if arm == "iwocs":
        run = train_iwocs(config, seed)
        act = run.act
        first = np.asarray(run.omegas[1:] or [config.nominal])
        metrics["iwocs/models_found"] = float(len({*run.omegas}))
        metrics["iwocs/search_moved"] = float(np.abs(first - np.asarray(config.nominal)).max())
        series = {"iwocs/worst_return_by_iteration": run.worst_returns}
    elif arm == "td3":
        act, series = train_td3(config, seed), {}
    elif arm == "dr":
        act, series = train_td3(config, seed, uniform_sampler(config.low, config.high)), {}
    else:
        act, series = random_policy(config, derive(seed, "random")), {}
    omegas = box_grid(config.low, config.high, config.eval_points)
    grid = evaluate(config, act, omegas, config.eval_episodes, derive(seed, "eval"))
    nominal = evaluate(config, act, np.asarray([config.nominal]), config.nominal_episodes, derive(seed, "eval_nominal"))
    metrics |= {
        f"{arm}/worst_return": float(grid.min()),
        f"{arm}/mean_return": float(grid.mean()),
        f"{arm}/nominal_return": float(nominal[0]),
        f"{arm}/env_steps": float(config.total_steps if arm != "random" else 0),
    }
    series[f"{arm}/grid_returns"] = grid.tolist()
    return metrics, series


def deep(config: DeepConfig, seed: int, workers: int) -> Result:
    """(b): every arm (and the random policy) on its own worker, results merged."""
    jobs = [(deep_arm, (config, seed, arm)) for arm in (*ARMS, "random")]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for m, s in run_jobs(jobs, workers, desc=f"pendulum seed {seed}"):
        metrics |= m
        series |= s
    return Result(metrics=metrics, series=series)


def run(config: Any, seed: int) -> Result:
    """One seed of a scale: (a) the tabular experiment (exact, seed-independent), (b) Pendulum, then (b) on each
    MuJoCo uncertainty set of ``config.mujoco`` (the paper scale), its metrics prefixed by the set's name."""
    table = tabular(*config.grid, config.wind_nominal, *config.wind_box, config.wind_points)
    result = deep(config.deep, seed, config.workers)
    metrics, series = {**table, **result.metrics}, dict(result.series)
    for name in config.mujoco:
        task = deep(on_m2td3_set(config.mujoco_deep, name), seed, config.workers)
        metrics |= {f"{name}/{k}": v for k, v in task.metrics.items()}
        series |= {f"{name}/{k}": v for k, v in task.series.items()}
    return Result(metrics=metrics, series=series)
