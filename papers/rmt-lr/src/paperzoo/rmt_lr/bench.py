"""The paperzoo benchmark of rmt-lr: a declaration (the runners are in :mod:`paperzoo.rmt_lr.experiment`).

- smoke (seconds): the tiny MLP's Lanczos λ_max against the exact Hessian's, the Jensen property over a
  partition into batches, and a short run of the learner as ``train_classifier``'s scheduler.
- full (minutes, 2 cores): on digits, (a) E[λ_1(H_B)] over B of the 26k-parameter MLP at init and after 5
  epochs, fitted by a + c(1/B − 1/N); (b) its max stable lr vs B for SGD and Adam; (c) the SLQ learner vs
  best-of-grid SGD-momentum and Adam on a GroupNorm pre-activation ResNet, 30 epochs; 3 seeds.
- paper: the same on CIFAR-100 (GPU): spectra and stability on a wide MLP, (c) on a wider GroupNorm ResNet.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.rmt_lr import experiment, perf, plots
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.data import digits_split_sizes
from paperzoo.shared.lr_grid import tuned_arm_guards
from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range

Grid = tuple[tuple[str, tuple[float, ...]], ...]


def _check_common(config: object) -> None:
    for name in ("m", "n_v", "epochs", "batch_size", "learner_batch", "learner_every_epochs", "cnn_width", "workers"):
        check_positive_int(name, getattr(config, name))
    if config.m < 2:
        raise ValueError(f"m must be >= 2, got {config.m}")
    check_range("rho_cap", config.rho_cap, 0.0, 1.0, high_inclusive=False)
    check_range("w_min", config.w_min, 0.0, 1.0)
    check_non_negative("weight_decay", config.weight_decay)
    for arm, lrs in config.lr_grid:
        if not lrs or any(not lr > 0 for lr in lrs) or list(lrs) != sorted(lrs):
            raise ValueError(f"lr_grid[{arm!r}] must be increasing positive learning rates, got {lrs}")


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: the tiny MLP (64-16-10, 1.2k parameters) and a 3-epoch learner run on a narrow CNN."""

    mlp_sizes: tuple[int, ...] = (64, 16, 10)
    m: int = 60
    n_v: int = 1
    partition_batch: int = 128
    epochs: int = 3
    batch_size: int = 32
    learner_batch: int = 64
    learner_every_epochs: int = 1
    w_min: float = 0.01
    rho_cap: float = 0.9
    lr_cap: float | None = None
    weight_decay: float = 0.0
    cnn_width: int = 8
    cnn_groups: int = 2
    lr_grid: Grid = ()
    workers: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_common(self)


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction on scikit-learn digits (N = 1149 training images)."""

    # (a) and (b): the brief's MLP and batch sizes (plus B = N, added by the runner).
    mlp_sizes: tuple[int, ...] = (64, 128, 128, 10)
    batch_sizes: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    n_batches: int = 20
    m: int = 30
    train_epochs: int = 5
    pretrain_lr: float = 0.05
    pretrain_batch: int = 32
    spectra: bool = True
    # (b): lr grids ×√2 per optimizer (low, high), 100 steps, diverged = a loss non-finite or > 2x the first.
    stability_grid: tuple[tuple[str, tuple[float, float]], ...] = (("sgd", (2**-6, 2**10)), ("adam", (2**-14, 2**2)))
    stability_steps: int = 100
    small_batch_max: int = 32
    large_batch_min: int = 256
    expected_slope: tuple[tuple[str, float], ...] = (("sgd", 1.0), ("adam", 0.5))
    # (c): 30 epochs of the GroupNorm ResNet; the learner (our operationalisation) vs the tuned grids.
    epochs: int = 30
    batch_size: int = 64
    cnn_width: int = 16
    cnn_groups: int = 4
    weight_decay: float = 5e-4
    n_v: int = 3
    learner_batch: int = 64
    learner_every_epochs: int = 2
    w_min: float = 0.01
    rho_cap: float = 0.9
    lr_cap: float | None = None
    lr_grid: Grid = (("adam", (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)), ("sgd", (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)))
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_common(self)
        for name in ("n_batches", "train_epochs", "pretrain_batch", "stability_steps"):
            check_positive_int(name, getattr(self, name))
        if any(b < 1 for b in self.batch_sizes) or list(self.batch_sizes) != sorted(set(self.batch_sizes)):
            raise ValueError(f"batch_sizes must be increasing and >= 1, got {self.batch_sizes}")


@dataclass(frozen=True)
class PaperConfig(FullConfig):
    """The paper's CIFAR-100 setting (GPU): a wide MLP for the spectra, a wider GroupNorm ResNet for (c)."""

    data: str = "cifar100"
    data_dir: str = "~/.cache/paperzoo/cifar100"
    mlp_sizes: tuple[int, ...] = (3072, 512, 512, 100)
    batch_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)
    epochs: int = 200
    batch_size: int = 128
    cnn_width: int = 64
    cnn_groups: int = 8
    learner_every_epochs: int = 1
    workers: int = 1
    device: str = "cuda"


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    return (
        Claim(
            "Lanczos λ_max equals eigvalsh of the tiny MLP's exact Hessian (1e-3 relative)",
            Compare("lanczos/lambda_max_rel_error", "<", 1e-3),
        ),
        Claim(
            "The mean batch λ_max over a partition is >= the full-data λ_max (Jensen)",
            Compare("jensen/mean_batch_over_full", ">=", 1.0),
        ),
        Claim(
            "The learner, as train_classifier's scheduler, trains the CNN above chance",
            Compare("learner/test_accuracy", ">", 0.2),
        ),
    )


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Paired by seed: every B shares the seed's initial MLP; every (c) arm its initial CNN and batch order."""
    spectra = []
    for stage in ("init", "trained"):
        spectra += [
            Claim(
                f"E[λ_1(H_B)] falls with B ({stage}; Spearman correlation with B < -0.9)",
                Better(f"{stage}/spearman", -0.9, better="lower"),
            ),
            Claim(f"a + c(1/B − 1/N) fits E[λ_1(H_B)] ({stage}; R² >= 0.9)", NoWorse(f"{stage}/fit_r2", 0.9)),
            Claim(f"The noise term grows as B shrinks ({stage}; c > 0)", Better(f"{stage}/fit_c", 0.0)),
        ]
    slopes = []
    for opt, low, high in (("sgd", 0.7, 1.3), ("adam", 0.3, 0.7)):
        slopes.append(
            Claim(
                f"{opt.upper()}'s max stable lr grows as B^s at small B "
                f"(B <= {config.small_batch_max}), s in [{low}, {high}]",
                Better(round((high - low) / 2, 6), f"{opt}/slope_deviation"),
                guards=(Compare(f"{opt}/stable_at_edge", "<", 0.5), Compare(f"{opt}/floor_diverged", "<", 0.5)),
            )
        )
    learner = Claim(
        "The SLQ learner (no lr sweep) is within 1 point of best-of-grid SGD-momentum",
        NoWorse("learner/test_accuracy", "sgd/test_accuracy", delta=0.01),
        guards=(*tuned_arm_guards("sgd", "adam", min_test_accuracy=0.5), Compare("learner/test_accuracy", ">", 0.5)),
        mechanism=(Compare("learner/momentum_range", ">", 0.05),),
    )
    return (*spectra, *slopes, learner)


_TEST_IMAGE = 1 / digits_split_sizes()[2]

BENCHMARK = Benchmark(
    slug="rmt-lr",
    title="Learning Rates as a Function of Batch Size: A Random Matrix Theory Approach (Granziol et al., JMLR 2022)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("lanczos/lambda_max_rel_error", better="lower", tolerance=1e-3),
        MetricSpec("jensen/mean_batch_over_full", better="higher", tolerance=0.05, relative=True),
        MetricSpec("*accuracy*", better="higher", tolerance=0.05, resolution=_TEST_IMAGE),
        MetricSpec("*/fit_r2", better="higher", tolerance=0.05),
        MetricSpec("*/slope_deviation", better="lower", tolerance=0.2),
    ),
    aggregate={"full": experiment.select_learning_rates},
    plot={"full": plots.plot},
    perf=perf.perf,
    paper_needs="a CUDA GPU, torchvision (the `paper` extra) and CIFAR-100 (downloaded)",
)
