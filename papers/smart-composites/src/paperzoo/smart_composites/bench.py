"""The paperzoo benchmark of smart-composites: a declaration (the runners are in :mod:`.experiment`).

- smoke (seconds): 2k steps of excitation of the linear plant, a NARX MLP 6→16→16→2 trained 200 epochs; its C
  export matches torch; one NR-MPC step lowers the NGPC cost; one PID step.
- full (minutes, 2 CPU cores): 20k identification steps per plant (linear and cubic spring); NARX MLP and GRU(8);
  NR-MPC (official settings; velocity weight and Λ chosen on a tuning reference) vs PID (gains from a grid of the
  same size on the same reference) on a square wave (±0.5 m, 4 s) and a 0.5 Hz sine, 1000 steps each; 3 seeds.
- paper: the official MSD run (GRU, official Q and Λ untuned, 1000 steps) and a Cortex-M4F build of the C.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, NoWorse
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int
from paperzoo.smart_composites import experiment, perf, plots


@dataclass(frozen=True)
class Config:
    """One scale: the plant, identification, the models, the controllers (official defaults) and their grids.

    Plant constants are our choice (the official code does not give them; README). ``q`` is the official
    ``diag(Q)``; the NR-MPC grid scales Q's velocity entry by ``q_ratio_grid`` and takes Λ from
    ``lambda_grid`` (both hold the official 1); the PID grid has as many points (``kp x ki x kd``).
    """

    ident_steps: int = 20_000
    val_steps: int = 3_000
    models: tuple[str, ...] = ("mlp", "gru")
    plants: tuple[str, ...] = ("linear", "cubic")
    mlp_hidden: tuple[int, ...] = (16, 16)
    gru_hidden: int = 8
    d_u: int = 2
    d_y: int = 2
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 256
    m: float = 0.01
    c: float = 0.05
    k: float = 0.5
    k3: float = 2.0
    gain: float = 1.0
    dt: float = 1 / 120
    substeps: int = 10
    eval_steps: int = 1000
    tune_steps: int = 600
    square_amplitude: float = 0.5
    square_period: float = 4.0
    sine_amplitude: float = 0.5
    sine_freq: float = 0.5
    N1: int = 0
    N2: int = 3
    N_u: int = 1
    q: tuple[float, float] = (1e6, 1e6)
    lam: float = 1.0
    s: float = 1e-20
    b: float = 1e-5
    r: float = 4e2
    maxit: int = 1
    rtol: float = 1e-8
    q_ratio_grid: tuple[float, ...] = (1.0, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
    lambda_grid: tuple[float, ...] = (1.0, 1e2, 1e3, 1e4, 3e4, 1e5)
    kp_grid: tuple[float, ...] = (2.0, 5.0, 15.0, 45.0)
    ki_grid: tuple[float, ...] = (0.0, 0.1, 1.0)  # 0 (PD) included: the first grid's 0.1 was its lowest point
    kd_grid: tuple[float, ...] = (0.1, 0.3, 1.0)
    linear_ratio: float = 1.2
    mcu_cc: str = "arm-none-eabi-gcc"
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("ident_steps", "val_steps", "epochs", "batch_size", "eval_steps", "tune_steps", "workers"):
            check_positive_int(name, getattr(self, name))
        for name in ("lr", "m", "gain", "dt", "r", "linear_ratio", "square_period", "sine_freq"):
            check_positive(name, getattr(self, name))
        for name in ("c", "k", "k3", "s", "lam", "rtol"):
            check_non_negative(name, getattr(self, name))
        if not self.models or not self.plants:
            raise ValueError("models and plants must be non-empty")
        for kind in self.models:
            check_one_of("models", kind, ("mlp", "gru"))
        for plant in self.plants:
            check_one_of("plants", plant, ("linear", "cubic"))
        for name in ("q_ratio_grid", "lambda_grid", "kp_grid", "ki_grid", "kd_grid"):
            if not getattr(self, name) or any(v < 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must be a non-empty tuple of values >= 0, got {getattr(self, name)}")
        n_mpc = len(self.q_ratio_grid) * len(self.lambda_grid)
        n_pid = len(self.kp_grid) * len(self.ki_grid) * len(self.kd_grid)
        if n_mpc != n_pid:
            raise ValueError(f"the NR-MPC and PID grids must have the same size (budget), got {n_mpc} and {n_pid}")
        # the controller's own checks (horizons, Q, Λ, barrier) run when it is built; check the cheap ones here
        from paperzoo.smart_composites.ngpc import check_horizons

        check_horizons(self.N1, self.N2, self.N_u)
        check_positive_int("maxit", self.maxit)


SMOKE = Config(
    ident_steps=2000, val_steps=500, models=("mlp",), plants=("linear",), epochs=200, batch_size=1000, workers=1
)
PAPER = Config(
    models=("gru",),
    plants=("linear",),
    q_ratio_grid=(1.0,),
    lambda_grid=(1.0,),
    kp_grid=(15.0,),
    ki_grid=(1.0,),
    kd_grid=(0.3,),
)

RMSE_RESOLUTION = 1e-4  # 0.1 mm: below any tracking difference that matters (the paper reports mm)


def smoke_claims(config: Config) -> tuple[Claim, ...]:
    """The generated C equals torch; the model beats persistence; one Newton step lowers the NGPC cost."""
    return (
        Claim(
            "Generated C forward == torch forward (max abs error < 1e-5)",
            Compare("linear/mlp_c_max_abs_err", "<", 1e-5),
        ),
        Claim(
            "The NARX MLP predicts better than persistence", Compare("linear/mlp_val_nrmse_vs_persistence", "<", 0.5)
        ),
        Claim("One NR step lowers the NGPC cost", Compare("nr/cost_after", "<", "nr/cost_before")),
        Claim("The model has < 2k parameters", Compare("mlp/n_params", "<", 2000)),
    )


def _guards(config: Config, plant: str, ref: str, kind: str) -> tuple[Compare, ...]:
    """The protocol can answer: the PID tracks (half of u = 0's RMSE or less: the reference is feasible and the
    baseline is not degenerate) and the NR-MPC does better than u = 0 (it controls at all)."""
    key = f"{plant}_{ref}"
    return (Compare(f"{key}/pid_over_zero", "<", 0.5), Compare(f"{key}/mpc_{kind}_over_zero", "<", 1.0))


def full_claims(config: Config) -> tuple[Claim, ...]:
    """NR-MPC vs PID per model and reference (cubic: no worse; linear: within 20 %), size, non-degeneracy."""
    claims: list[Claim] = []
    refs = ("square", "sine")
    for kind in config.models:
        arm = f"mpc_{kind}"
        moved = (Compare(f"{p}/{arm}_mean_newton_move", ">", 1e-6) for p in config.plants)
        mechanism = tuple(moved)
        for ref in refs:
            if "cubic" in config.plants:
                claims.append(
                    Claim(
                        f"Cubic plant, {ref}: NR-MPC ({kind.upper()} model) RMSE <= PID's",
                        NoWorse(
                            f"cubic_{ref}/{arm}_rmse",
                            f"cubic_{ref}/pid_rmse",
                            better="lower",
                            resolution=RMSE_RESOLUTION,
                        ),
                        guards=_guards(config, "cubic", ref, kind),
                        mechanism=mechanism,
                    )
                )
            if "linear" in config.plants:
                claims.append(
                    Claim(
                        f"Linear plant, {ref}: NR-MPC ({kind.upper()} model) RMSE within "
                        f"{config.linear_ratio - 1:.0%} of PID's",
                        NoWorse(f"linear_{ref}/{arm}_over_pid", config.linear_ratio, better="lower"),
                        guards=_guards(config, "linear", ref, kind),
                        mechanism=mechanism,
                    )
                )
        claims.append(
            Claim(
                f"Non-degeneracy: NR-MPC ({kind.upper()}) halves the RMSE of u = 0 on every plant and reference",
                Better(Max(f"*/{arm}_over_zero"), 0.5, better="lower"),
            )
        )
    claims += [
        Claim(
            "Non-degeneracy: PID halves the RMSE of u = 0 on every plant and reference",
            Better(Max("*/pid_over_zero"), 0.5, better="lower"),
        ),
        Claim("Every model has < 2k parameters", Compare(Max("*/n_params"), "<", 2000)),
        Claim("Every model's float32 weights take < 8 kB", Compare(Max("*/weight_bytes"), "<", 8000)),
    ]
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="smart-composites",
    title="Toward smart composites: small-scale, untethered prediction and control for soft sensor/actuator systems",
    framework="torch",
    scales={"smoke": SMOKE, "full": Config(), "paper": PAPER},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("*rmse*", better="lower", tolerance=0.1, relative=True, resolution=RMSE_RESOLUTION),
        MetricSpec("*_over_*", better="lower", tolerance=0.1, relative=True),
        MetricSpec("*c_max_abs_err", better="lower", tolerance=1e-5),
        MetricSpec("*/n_params", better="lower", tolerance=0.0),
    ),
    plot={"full": plots.plot},
    perf=perf.perf,
    paper_needs="nothing beyond a CPU; it is the official MSD run (GRU, untuned official weights) and, when "
    "arm-none-eabi-gcc is installed, a Cortex-M4F build of the generated C",
)
