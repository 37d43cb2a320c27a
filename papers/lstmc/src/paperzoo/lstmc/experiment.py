"""The scale runners of lstmc: ``run_smoke`` and ``run_full`` (``(config, seed) -> Result``; the paper scale runs
``run_full`` on its own config).

Full (one seed): open-loop batches on the moment model (generated once per process and shared by the seeds);
LSTMc and the MPC's LSTM surrogate trained on them; held-out initial conditions with set-points at quantiles of
their own reachable final size; PI gains and the MPC's move penalty tuned on a separate tuning family (other
initial conditions, other quantiles) on the moment model; then every controller, and the set-point-blind reference
profile, on the population-balance plant, clean and with multiplicative noise on the measured size.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from paperzoo.lstmc.dataset import OpenLoopData, generate_open_loop, reachable_set_points
from paperzoo.lstmc.dextrose import (
    KV,
    RHO_C,
    Grid,
    InitialConditions,
    Solver,
    sample_initial_conditions,
    simulate_moments,
    simulate_pbe,
)
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int

log = logging.getLogger("paperzoo.lstmc")
CONTROLLERS = ("lstmc", "pi", "mpc")


def setup_process() -> None:
    """One torch thread and deterministic kernels (workers and the main process alike)."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def noise_key(level: float) -> str:
    """Metric suffix of a noise level: ``""`` when clean, ``"_noise10"`` at 10 %."""
    return "" if level == 0 else f"_noise{round(100 * level)}"


@dataclass(frozen=True)
class SmokeConfig:
    """One 24 h batch (the brief's reference run) on the moment model and on a ``n_cells`` PBE."""

    n_cells: int = 100
    device: str = "cpu"

    def __post_init__(self) -> None:
        Grid(self.n_cells)


@dataclass(frozen=True)
class FullConfig:
    """The closed-loop experiment (defaults: the full CPU scale)."""

    n_batches: int = 1500  # open-loop batches on the moment model
    data_seed: int = 0  # the open-loop data are shared by every run seed
    hours: int = 24
    window: int = 3  # W
    hidden: int = 64
    layers: int = 2
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    n_eval_ic: int = 8  # 3 left the paired differences inside the initial-condition noise (README)
    eval_quantiles: tuple[float, ...] = (0.10, 0.26, 0.42, 0.58, 0.74, 0.90)
    n_tune_ic: int = 3
    tune_quantiles: tuple[float, ...] = (0.18, 0.50, 0.82)
    reach_profiles: int = 64  # open-loop walks per initial condition that define its reachable set-points
    noise_levels: tuple[float, ...] = (0.0, 0.10)
    pi_kps: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
    pi_kis: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
    mpc_horizon: int = 4
    mpc_lams: tuple[float, ...] = (0.0, 0.01, 0.1, 1.0, 10.0)
    plant: str = "pbe"
    n_cells: int = 250
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("n_batches", "hours", "hidden", "layers", "epochs", "batch_size", "n_eval_ic", "n_tune_ic"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("reach_profiles", self.reach_profiles)
        check_positive_int("workers", self.workers)
        check_positive_int("horizon", self.mpc_horizon)
        if not isinstance(self.window, int) or self.window < 1:
            raise ValueError(f"W must be an integer >= 1, got {self.window!r}")
        check_positive("lr", self.lr)
        for q in (*self.eval_quantiles, *self.tune_quantiles):
            if not 0 < q < 1:
                raise ValueError(f"quantiles must lie in (0, 1), got {q!r}")
        if set(self.eval_quantiles) & set(self.tune_quantiles):
            raise ValueError("eval_quantiles and tune_quantiles must be disjoint (unseen set-points)")
        if not self.noise_levels or self.noise_levels[0] != 0.0:
            raise ValueError(f"noise_levels must start with 0.0 (the clean run), got {self.noise_levels!r}")
        for level in self.noise_levels:
            check_non_negative("noise", level)
        for gain in (*self.pi_kps, *self.pi_kis):
            check_non_negative("gains", gain)
        for lam in self.mpc_lams:
            check_non_negative("lam", lam)
        if self.plant not in ("moment", "pbe"):
            raise ValueError(f"plant must be 'moment' or 'pbe', got {self.plant!r}")
        Grid(self.n_cells)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """The reference run (seed 100 +- 10 um, 15 wt %, c0 = 0.70, T0 = 38 degC, T_j = 38 - floor(t / 1 h)) on the
    moment model and the PBE: mass conservation, mu_0 non-decreasing, growth under cooling, PBE vs moment moments."""
    ic = InitialConditions(c0=0.70, seed_fraction=0.15, seed_mean_um=100.0, seed_sd_um=10.0, T0=38.0)
    profile = (38.0 - np.arange(24.0))[None]
    grid = Grid(config.n_cells)
    moments = simulate_moments(ic, profile, Solver(rtol=1e-8), grid)
    pbe = simulate_pbe(ic, profile, Solver(), grid)
    mass = moments.c[0] + KV * RHO_C * moments.moments[0, :, 3]
    L = moments.hourly()[0, :, 0]
    gap = np.abs(pbe.moments[0, -1, :4] / moments.moments[0, -1, :4] - 1.0)
    return Result(
        metrics={
            "plant/mass_drift": float(np.ptp(mass) / mass[0]),
            "plant/mu0_min_step": float(np.diff(moments.moments[0, :, 0]).min() / moments.moments[0, 0, 0]),
            "plant/L_initial_um": float(L[0]),
            "plant/L_final_um": float(L[-1]),
            "plant/pbe_L_final_um": float(pbe.hourly()[0, -1, 0]),
            "plant/pbe_moment_gap": float(gap.max()),
        },
        series={"plant/L_um": L.tolist(), "plant/pbe_L_um": pbe.hourly()[0, :, 0].tolist()},
    )


@functools.cache
def open_loop_data(n: int, seed: int, hours: int, workers: int) -> OpenLoopData:
    """The open-loop batches of a run (cached: the seeds of one process share them)."""
    return generate_open_loop(n, seed, hours, workers=workers)


def _episodes(config: FullConfig, seed: int, name: str, n_ic: int, quantiles: tuple[float, ...]) -> tuple:
    """``n_ic`` initial conditions x their set-points at ``quantiles`` of their reachable final size (flattened)."""
    ic = sample_initial_conditions(n_ic, np.random.default_rng(derive(seed, name, "ic")))
    sp = reachable_set_points(ic, np.array(quantiles), config.reach_profiles, derive(seed, name, "reach"), config.hours)
    return ic.take(np.repeat(np.arange(n_ic), len(quantiles))), sp.ravel()


def _evaluate(
    controller: Any, ic: InitialConditions, sp: np.ndarray, loop: dict[str, Any], profile: np.ndarray | None = None
) -> dict[str, Any]:
    """One closed-loop job (run on a worker): deviations, hourly true L and CPU seconds per control action."""
    from paperzoo.lstmc.closed_loop import closed_loop

    setup_process()
    start = time.process_time()
    result = closed_loop(controller, ic, sp, profile=profile, **loop)
    return {"deviation": result.deviation, "L": result.L, "T_j": result.T_j, "cpu_s": time.process_time() - start}


def _control_cost(controller: Any, ic: InitialConditions, sp: np.ndarray, loop: dict[str, Any]) -> float:
    """CPU seconds per control action of ``controller`` alone: its actions replayed on a recorded closed loop."""
    from paperzoo.lstmc.closed_loop import closed_loop

    history = closed_loop(controller, ic, sp, **loop).history
    controller.reset(sp)
    hours = history.shape[1] - 1
    start = time.process_time()
    for k in range(1, hours):
        controller.act(history[:, : k + 1], hours - k)
    return (time.process_time() - start) / (len(ic) * (hours - 1))


def tracking_slope(final: np.ndarray, set_points: np.ndarray, n_ic: int) -> float:
    """Mean over initial conditions of the least-squares slope of the final size on the set-point (1: every
    set-point met; 0: the controller ignores the set-point)."""
    f, sp = final.reshape(n_ic, -1), set_points.reshape(n_ic, -1)
    if sp.shape[1] < 2:
        return float("nan")
    dsp = sp - sp.mean(axis=1, keepdims=True)
    return float(np.mean((dsp * (f - f.mean(axis=1, keepdims=True))).sum(axis=1) / (dsp**2).sum(axis=1)))


def run_full(config: FullConfig, seed: int) -> Result:
    """Train LSTMc and the surrogate, tune PI and the MPC penalty, evaluate everything on the plant (see module)."""
    setup_process()
    import torch

    from paperzoo.lstmc.closed_loop import reference_profile
    from paperzoo.lstmc.lstm_mpc import LSTMMPC, Surrogate, train_surrogate
    from paperzoo.lstmc.lstmc import LSTMController, train_lstmc
    from paperzoo.lstmc.pi import PIController, tune_pi

    times: dict[str, float] = {}
    t0 = time.process_time()
    data = open_loop_data(config.n_batches, config.data_seed, config.hours, config.workers)
    times["data"] = time.process_time() - t0
    finals = data.states[:, -1, 0]
    log.info(
        "seed %d: %d open-loop batches, final L 10-90th pct %.0f-%.0f um",
        seed,
        len(data),
        *np.percentile(finals, [10, 90]),
    )

    t0 = time.process_time()
    torch.manual_seed(derive(seed, "lstmc", "init"))
    lstmc = LSTMController(config.window, config.hidden, config.layers).to(config.device)
    lstmc_loss = train_lstmc(lstmc, data, config.epochs, derive(seed, "lstmc", "batches"), config.batch_size, config.lr)
    times["train_lstmc"] = time.process_time() - t0
    t0 = time.process_time()
    torch.manual_seed(derive(seed, "surrogate", "init"))
    surrogate = Surrogate(config.window, config.hidden, config.layers).to(config.device)
    sur_loss = train_surrogate(
        surrogate, data, config.epochs, derive(seed, "surrogate", "batches"), config.batch_size, config.lr
    )
    times["train_surrogate"] = time.process_time() - t0
    lstmc, surrogate = lstmc.cpu().eval(), surrogate.cpu().eval()
    log.info("seed %d: trained (loss lstmc %.4f, surrogate %.4f)", seed, lstmc_loss[-1], sur_loss[-1])

    tune_ic, tune_sp = _episodes(config, seed, "tune", config.n_tune_ic, config.tune_quantiles)
    eval_ic, eval_sp = _episodes(config, seed, "eval", config.n_eval_ic, config.eval_quantiles)
    # the same initial conditions at the tuning family's quantiles: PI on its own set-points
    on_ic, on_sp = _episodes(config, seed, "eval", config.n_eval_ic, config.tune_quantiles)
    tuning_loop = {"model": "moment", "hours": config.hours}
    t0 = time.process_time()
    (kp, ki), pi_grid = tune_pi(tune_ic, tune_sp, config.pi_kps, config.pi_kis, **tuning_loop)
    times["tune_pi"] = time.process_time() - t0
    t0 = time.process_time()
    n_tune = len(tune_ic)
    lam_grid = np.repeat(np.asarray(config.mpc_lams), n_tune)
    tiled = tune_ic.take(np.tile(np.arange(n_tune), len(config.mpc_lams)))
    mpc_tuning = _evaluate(
        LSTMMPC(surrogate, config.mpc_horizon, lam_grid), tiled, np.tile(tune_sp, len(config.mpc_lams)), tuning_loop
    )
    lam_scores = mpc_tuning["deviation"].reshape(len(config.mpc_lams), n_tune).mean(axis=1)
    lam = float(config.mpc_lams[int(np.argmin(lam_scores))])
    times["tune_mpc"] = time.process_time() - t0
    log.info("seed %d: PI gains kp=%g ki=%g; MPC lambda=%g", seed, kp, ki, lam)

    controllers = {"lstmc": lstmc, "pi": PIController(kp, ki), "mpc": LSTMMPC(surrogate, config.mpc_horizon, lam)}
    grid = Grid(config.n_cells)
    jobs, names = [], []
    for level in config.noise_levels:
        loop = {
            "model": config.plant,
            "noise": level,
            "seed": derive(seed, "noise", noise_key(level)),
            "hours": config.hours,
            "grid": grid,
        }
        for arm, controller in controllers.items():
            jobs.append((_evaluate, (controller, eval_ic, eval_sp, loop)))
            names.append(f"{arm}{noise_key(level)}")
    clean = {"model": config.plant, "hours": config.hours, "grid": grid}
    jobs.append((_evaluate, (controllers["pi"], on_ic, on_sp, clean)))
    names.append("pi_tuning")
    jobs.append((_evaluate, (None, eval_ic, eval_sp, clean, reference_profile(eval_ic.T0, config.hours))))
    names.append("open_loop")
    t0 = time.perf_counter()
    outcomes = dict(zip(names, run_jobs(jobs, config.workers, desc=f"seed {seed} closed loops"), strict=True))
    times["evaluate_wall"] = time.perf_counter() - t0

    metrics: dict[str, float] = {}
    for name, out in outcomes.items():
        arm, _, suffix = name.partition("_noise")
        suffix = f"_noise{suffix}" if suffix else ""
        if name == "pi_tuning":
            arm, suffix = "pi", "_tuning"
        metrics[f"{arm}/deviation{suffix}"] = float(out["deviation"].mean())
        if name in CONTROLLERS:
            metrics[f"{arm}/tracking_slope"] = tracking_slope(out["L"][:, -1], eval_sp, config.n_eval_ic)
        times[f"evaluate_{name}"] = out["cpu_s"]
    if len(config.noise_levels) > 1:
        noisy = metrics[f"lstmc/deviation{noise_key(config.noise_levels[1])}"]
        metrics["lstmc/noise_ratio"] = noisy / max(metrics["lstmc/deviation"], 1e-12)
    one_ic = slice(0, len(config.eval_quantiles))
    control = {"model": "moment", "hours": config.hours}
    for arm in ("lstmc", "mpc"):
        ctrl = controllers[arm]
        times[f"{arm}_per_action"] = _control_cost(ctrl, eval_ic.take(one_ic), eval_sp[one_ic], control)
    metrics |= {
        "pi/kp": kp,
        "pi/ki": ki,
        "mpc/lambda": lam,
        "lstmc/train_loss": lstmc_loss[-1],
        "surrogate/train_loss": sur_loss[-1],
        "data/final_L_p10_um": float(np.percentile(finals, 10)),
        "data/final_L_p90_um": float(np.percentile(finals, 90)),
        "eval/set_point_spread": float(
            np.mean(
                np.ptp(eval_sp.reshape(config.n_eval_ic, -1), axis=1)
                / eval_sp.reshape(config.n_eval_ic, -1).mean(axis=1)
            )
        ),
    }
    metrics |= {f"cpu_s/{k}": v for k, v in times.items()}
    series: dict[str, list[float]] = {
        "lstmc/train_loss": list(lstmc_loss),
        "surrogate/train_loss": list(sur_loss),
        "pi/tuning_grid": pi_grid.ravel().tolist(),
        "mpc/tuning_scores": lam_scores.tolist(),
    }
    n_q = len(config.eval_quantiles)
    for name in (
        *CONTROLLERS,
        "open_loop",
        *(f"{a}_noise{round(100 * lv)}" for a in CONTROLLERS for lv in config.noise_levels[1:]),
    ):
        ratio = outcomes[name]["L"] / eval_sp[:, None]
        for q in range(n_q):
            series[f"L_over_sp/{name}/q{q}"] = ratio[q::n_q].mean(axis=0).tolist()
    return Result(metrics=metrics, series=series)
