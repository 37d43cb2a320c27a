"""The scale runners of smart-composites: identify NARX models, tune and run NR-MPC and PID, export the models to C.

One seed (:func:`run_full`), for each plant (linear, cubic spring): ``ident_steps`` of random-step/chirp excitation
(seeded by plant and seed) train each NARX model; its generated C is compiled and compared with torch on the
validation regressors; NR-MPC (the official settings, with the velocity weight of Q and Λ chosen on the tuning
reference from a grid holding the official point) and PID (gains from a grid of the same size on the same tuning
reference) track the evaluation references, never seen in identification or tuning. u = 0 is the trivial baseline.
Each (plant, model) and each plant's PID is one job on a worker process (:func:`paperzoo.shared.parallel.run_jobs`).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import configure
from paperzoo.smart_composites import control
from paperzoo.smart_composites.codegen_c import CModel, object_size
from paperzoo.smart_composites.data import identification_data
from paperzoo.smart_composites.msd import MassSpringDamper
from paperzoo.smart_composites.narx import NARX, n_parameters, train_narx
from paperzoo.smart_composites.ngpc import NewtonRaphsonMPC
from paperzoo.smart_composites.pid import PID


def make_plant(config: Any, plant: str) -> MassSpringDamper:
    """The ``linear`` (k3 = 0) or ``cubic`` (hardening spring k3) plant of ``config``."""
    k3 = config.k3 if plant == "cubic" else 0.0
    return MassSpringDamper(config.m, config.c, config.k, k3, config.gain, config.dt, config.substeps)


def make_model(config: Any, kind: str) -> NARX:
    """The MLP (``mlp_hidden``, tanh) or GRU (``gru_hidden`` units) NARX of ``config``."""
    hidden = config.mlp_hidden if kind == "mlp" else (config.gru_hidden,)
    return NARX(kind, hidden, config.d_u, config.d_y)


def references(config: Any, n: int) -> dict[str, np.ndarray]:
    """The evaluation references, ``n`` rows each (square ±A / period P; sine A at f Hz)."""
    return {
        "square": control.square(n, config.dt, config.square_amplitude, config.square_period),
        "sine": control.sine(n, config.dt, config.sine_amplitude, config.sine_freq),
    }


def identify(config: Any, plant: MassSpringDamper, kind: str, seed: int, name: str) -> tuple[NARX, dict[str, float]]:
    """Train a NARX on ``plant``'s excitation data; its one-step validation NRMSE vs persistence ``ŷ = y(k-1)``."""
    x, y = identification_data(plant, config.ident_steps, derive(seed, "ident", name), config.d_u, config.d_y)
    xv, yv = identification_data(plant, config.val_steps, derive(seed, "validation", name), config.d_u, config.d_y)
    model = make_model(config, kind)
    train_narx(model, x, y, config.epochs, derive(seed, "train", name, kind), config.lr, config.batch_size)
    with torch.no_grad():
        pred = model(torch.as_tensor(xv, dtype=torch.float32)).double().numpy()
    prev = xv[:, config.d_u : config.d_u + 2]
    nrmse = float(np.sqrt(((pred - yv) ** 2).mean()) / np.sqrt(((prev - yv) ** 2).mean()))
    c_model = CModel(model)
    c_err = float(np.abs(c_model(xv) - pred).max())
    mcu = object_size(c_model.source, config.mcu_cc)
    extra = {} if mcu is None else {f"{kind}/mcu_flash_bytes": float(mcu)}
    return model, extra | {
        f"{name}/{kind}_val_nrmse_vs_persistence": nrmse,
        f"{name}/{kind}_c_max_abs_err": c_err,
        f"{kind}/n_params": float(n_parameters(model)),
        f"{kind}/weight_bytes": float(4 * n_parameters(model)),
        f"{kind}/flash_bytes": float(c_model.size_bytes),
    }


def _grid_pick(scores: np.ndarray, grid: list[tuple[float, ...]], axes: tuple[tuple[float, ...], ...]) -> tuple:
    """The grid point with the lowest tuning RMSE, and whether it sits on an edge of an axis with > 2 values (a gain
    of 0 is the natural bound of a non-negative axis, not an edge)."""
    best = grid[int(np.nanargmin(np.where(np.isfinite(scores), scores, np.nan)))]
    edge = any(len(a) > 2 and v in (min(a), max(a)) and v != 0 for v, a in zip(best, axes, strict=True))
    return best, float(edge)


def _evaluate(
    config: Any, plant: MassSpringDamper, make_act: Any, arm: str, name: str
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Both evaluation references at once (a batch of two plants); metrics and position trajectories."""
    refs = references(config, config.eval_steps + config.N2 + 1)
    stacked = np.stack(list(refs.values()), axis=1)
    ys, us = control.closed_loop(plant, make_act(stacked), config.eval_steps, (len(refs),))
    scores = control.tracking_metrics(ys, us, stacked)
    metrics, series = {}, {}
    for i, ref_name in enumerate(refs):
        key = f"{name}_{ref_name}"
        metrics |= {f"{key}/{arm}_{m}": float(v[i]) for m, v in scores.items()}
        series[f"{key}/{arm}_x"] = ys[:, i, 0].tolist()
    return metrics, series


def mpc_job(config: Any, plant_name: str, kind: str, seed: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Identify one model on one plant, tune the NR-MPC weights on the tuning reference (the grid as one batch of
    closed loops), evaluate the chosen controller."""
    configure(threads=1)
    plant = make_plant(config, plant_name)
    model, metrics = identify(config, plant, kind, seed, plant_name)
    tune_ref = control.tuning_reference(config.tune_steps + config.N2 + 1, config.dt)
    axes = (config.q_ratio_grid, config.lambda_grid)
    grid = list(itertools.product(*axes))

    def mpc(q_ratios: np.ndarray, lams: np.ndarray) -> NewtonRaphsonMPC:
        q = np.zeros((*np.shape(q_ratios), 2, 2))
        q[..., 0, 0], q[..., 1, 1] = config.q[0], config.q[1] * np.asarray(q_ratios)
        return NewtonRaphsonMPC(
            model, config.N1, config.N2, config.N_u, q, lams, config.s, config.b, config.r, config.maxit, config.rtol
        )

    q_col, lam_col = (np.array(c) for c in zip(*grid, strict=True))
    refs = np.repeat(tune_ref[:, None], len(grid), axis=1)
    act = control.mpc_act(mpc(q_col, lam_col), refs)
    ys, us = control.closed_loop(plant, act, config.tune_steps, (len(grid),))
    (q_ratio, lam), edge = _grid_pick(control.tracking_metrics(ys, us, refs)["rmse"], grid, axes)
    arm = f"mpc_{kind}"
    metrics |= {f"{plant_name}/{arm}_q_ratio": q_ratio, f"{plant_name}/{arm}_lambda": lam}
    metrics[f"{plant_name}/{arm}_at_grid_edge"] = edge
    controller = mpc(np.array([q_ratio, q_ratio]), np.array([lam, lam]))
    moves: list[float] = []

    def make_act(ref: np.ndarray) -> control.Act:
        inner = control.mpc_act(controller, ref)

        def logged(k: int, ys: np.ndarray, us: np.ndarray) -> np.ndarray:
            u = inner(k, ys, us)
            moves.append(float(np.mean(controller.last_move)))
            return u

        return logged

    evaluated, series = _evaluate(config, plant, make_act, arm, plant_name)
    metrics |= evaluated
    metrics[f"{plant_name}/{arm}_mean_newton_move"] = float(np.mean(moves))
    return metrics, series


def pid_job(config: Any, plant_name: str) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Tune the PID on the tuning reference (the grid as one batch), evaluate it and u = 0."""
    plant = make_plant(config, plant_name)
    tune_ref = control.tuning_reference(config.tune_steps + 1, config.dt)
    axes = (config.kp_grid, config.ki_grid, config.kd_grid)
    grid = list(itertools.product(*axes))
    refs = np.repeat(tune_ref[:, None], len(grid), axis=1)
    pid = PID(*(np.array(c) for c in zip(*grid, strict=True)), config.dt)
    ys, us = control.closed_loop(plant, control.pid_act(pid, refs), config.tune_steps, (len(grid),))
    gains, edge = _grid_pick(control.tracking_metrics(ys, us, refs)["rmse"], grid, axes)
    metrics = {f"{plant_name}/pid_{g}": v for g, v in zip(("kp", "ki", "kd"), gains, strict=True)}
    metrics[f"{plant_name}/pid_at_grid_edge"] = edge
    series: dict[str, list[float]] = {}
    for arm, make_act in (
        ("pid", lambda ref: control.pid_act(PID(*gains, config.dt), ref)),
        ("zero", lambda ref: control.zero_act),
    ):
        m, s = _evaluate(config, plant, make_act, arm, plant_name)
        metrics |= m
        series |= s
    for ref_name, ref in references(config, config.eval_steps + 1).items():
        series[f"{plant_name}_{ref_name}/reference_x"] = ref[:, 0].tolist()
    return metrics, series


def ratios(metrics: dict[str, float], config: Any) -> dict[str, float]:
    """RMSE ratios: each arm over u = 0 (``*_over_zero``) and each NR-MPC over the PID (``*_over_pid``)."""
    out = {}
    for plant, ref in itertools.product(config.plants, references(config, 1)):
        key = f"{plant}_{ref}"
        for arm in ("pid", *(f"mpc_{kind}" for kind in config.models)):
            out[f"{key}/{arm}_over_zero"] = metrics[f"{key}/{arm}_rmse"] / metrics[f"{key}/zero_rmse"]
            if arm != "pid":
                out[f"{key}/{arm}_over_pid"] = metrics[f"{key}/{arm}_rmse"] / metrics[f"{key}/pid_rmse"]
    return out


def run_full(config: Any, seed: int) -> Result:
    """Every (plant, model) NR-MPC job and every plant's PID job of one seed; metrics and trajectories."""
    jobs = [(mpc_job, (config, p, kind, seed)) for p in config.plants for kind in config.models]
    jobs += [(pid_job, (config, p)) for p in config.plants]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for m, s in run_jobs(jobs, config.workers, desc=f"seed {seed}"):
        metrics |= m
        series |= s
    metrics |= ratios(metrics, config)
    return Result(metrics=dict(sorted(metrics.items())), series=series)


def run_smoke(config: Any, seed: int) -> Result:
    """Identify an MLP on the linear plant; its C export vs torch; one NR-MPC step and one PID step."""
    configure(threads=1)
    plant = make_plant(config, "linear")
    model, metrics = identify(config, plant, "mlp", seed, "linear")
    mpc = NewtonRaphsonMPC(
        model, config.N1, config.N2, config.N_u, np.diag(config.q), config.lam, config.s, config.b, config.r
    )
    u_past, y_past = np.zeros(config.d_u - 1), np.zeros((config.d_y, 2))
    ref = control.square(config.N2 + 1, config.dt, config.square_amplitude)[1:]
    history = (torch.as_tensor(u_past), torch.as_tensor(y_past), torch.as_tensor(ref))
    before = float(mpc.cost(torch.zeros(config.N_u, dtype=torch.float64), *history))
    u = mpc.step(u_past, y_past, ref)
    after = float(mpc.cost(mpc.U, *history))
    pid_u = PID(config.kp_grid[0], config.ki_grid[0], config.kd_grid[0], config.dt).step(config.square_amplitude)
    metrics |= {"nr/cost_before": before, "nr/cost_after": after, "nr/u": u, "pid/u": pid_u}
    return Result(metrics=dict(sorted(metrics.items())))
