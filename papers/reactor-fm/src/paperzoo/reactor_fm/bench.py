"""The paperzoo benchmark of reactor-fm: a declaration (the runners are in :mod:`paperzoo.reactor_fm.experiment`).

- smoke (seconds): 20 Reptile iterations on 128-trajectory tasks, one unseen CSTR task, k = 1, 30 adaptation
  epochs; the physics residual of exact simulator outputs (own kinetics) is far below that of time-shuffled ones.
- full (minutes, 2 CPU cores): 150 Reptile iterations (official 1,500) on 2,000 trajectories per task (official:
  the task's ~6k), the transfer baseline on the same tasks; 3 unseen CSTR tasks, k ∈ {1, 5, 10, 20, 50},
  500 adaptation epochs (official); 3 seeds.
- paper: the official setting (1,500 iterations on whole tasks, k = 1..50, 500 epochs) on a GPU.
"""

from __future__ import annotations

from paperzoo.reactor_fm import experiment, perf, plots
from paperzoo.reactor_fm.experiment import ExperimentConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, Within

SMOKE = ExperimentConfig(
    iterations=20, n_traj=128, n_unseen=1, shots=(1,), claim_shots=(1,), epochs=30, sanity_check=True, workers=1
)
FULL = ExperimentConfig(iterations=150, n_traj=2000, n_unseen=3, shots=(1, 5, 10, 20, 50), epochs=500)
PAPER = ExperimentConfig(
    iterations=1500,
    n_traj=None,
    meta_spacing=True,  # the meta-training notebook records CSTR/batch states after steps 1, 6, ... (i % 5 == 0)
    n_unseen=5,
    shots=tuple(range(1, 51)),
    epochs=500,
    workers=1,
    device="cuda",
)


def smoke_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """The physics residual vanishes on exact trajectories; predicting the mean scores MSE 1 on the test set."""
    claims = [
        Claim(
            f"{reactor}: RMS residual of exact trajectories < 5% of time-shuffled ones (own kinetics)",
            Compare(f"physics/{reactor}_true_over_shuffled", "<", 0.05),
        )
        for reactor in ("cstr", "batch", "pfr")
    ]
    claims.append(
        Claim(
            "The standardised test set's mean predictor scores MSE 1",
            Within("mean_predictor/test_mse", 1.0, 1e-6),
        )
    )
    return tuple(claims)


META_ACTED = Compare("reptile/inner_loss_last", "<", "reptile/inner_loss_first")


def _physics_acted(k: int, arm: str, base: str) -> Compare:
    """The physics term visibly acted: the PI arm's collocation residual is below its data-only counterpart's."""
    return Compare(f"{arm}/residual_c_k{k}", "<", f"{base}/residual_c_k{k}")


def full_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """At each claimed k (mean test MSE over the unseen tasks, paired by seed): PI-Reptile < PI from scratch,
    PI-Reptile < Reptile, Reptile < data-only from scratch, and PI-Reptile and Reptile < the mean predictor."""
    claims = []
    for k in config.claim_shots:
        mse = {m: f"{m}/test_mse_k{k}" for m in ("pi_reptile", "reptile", "pi", "data")}
        phys = (_physics_acted(k, "pi_reptile", "reptile"), _physics_acted(k, "pi", "data"))
        data_fits = Compare(f"data/shot_mse_k{k}", "<", 0.1)  # the from-scratch budget fits its shots
        claims += [
            Claim(
                f"k={k}: PI-Reptile < physics-informed training from scratch",
                Better(mse["pi_reptile"], mse["pi"], better="lower"),
                guards=(META_ACTED, *phys),
            ),
            Claim(
                f"k={k}: PI-Reptile < Reptile with data-only adaptation",
                Better(mse["pi_reptile"], mse["reptile"], better="lower"),
                guards=(phys[0],),
            ),
            Claim(
                f"k={k}: Reptile < data-only training from scratch",
                Better(mse["reptile"], mse["data"], better="lower"),
                guards=(META_ACTED, data_fits),
            ),
            Claim(
                f"k={k}: PI-Reptile below the mean predictor (MSE 1)",
                Better(mse["pi_reptile"], 1.0, better="lower"),
                guards=(phys[0],),
            ),
            Claim(
                f"k={k}: Reptile below the mean predictor (MSE 1)",
                Better(mse["reptile"], 1.0, better="lower"),
                guards=(META_ACTED,),
            ),
        ]
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="reactor-fm",
    title="Towards Foundation Model for Chemical Reactor Modeling: Meta-Learning with Physics-Informed Adaptation",
    framework="torch",
    scales={"smoke": SMOKE, "full": FULL, "paper": PAPER},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": experiment.run},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("physics/*", better="lower", tolerance=0.01),
        MetricSpec("mean_predictor/*", better="lower", tolerance=1e-6),
        MetricSpec("task/*", better="higher", tolerance=0.0),
        MetricSpec("*mse*", better="lower", tolerance=0.5, relative=True),
        MetricSpec("*/inner_loss_*", better="lower", tolerance=0.25, relative=True),
    ),
    plot={"full": plots.plot},
    perf=perf.perf,
    paper_needs="a CUDA GPU (1,500 Reptile iterations on whole tasks, k = 1..50 on 5 unseen tasks)",
)
