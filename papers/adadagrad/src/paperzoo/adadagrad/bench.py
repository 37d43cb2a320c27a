"""The paperzoo benchmark of AdAdaGrad: a declaration (the runners are in :mod:`paperzoo.adadagrad.experiment`).

- smoke (seconds): the norm test's b̃ against its analytic value (logistic regression, known gradient
  covariance); η = 10⁹ equals constant-batch AdaGrad step for step; a short digits CNN run
  with the augmented inner-product test.
- full (minutes, 2 CPU cores): digits CNN (no BatchNorm) and a synthetic teacher task; AdaGrad and AdaGrad-Norm
  with constant b = 16, constant b = 512, the norm test (η = 0.1, 0.5) and the augmented inner-product test
  (ϑ = 0.5, ν = 1) from b_0 = 16, one equal sample budget per task, 3 seeds.
- paper: the official MNIST CNN (AdaGrad, norm test η = 0.1) and CIFAR-10 settings, for a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.adadagrad import experiment, perf, plots
from paperzoo.adadagrad.batch_tests import TEST_NAMES
from paperzoo.adadagrad.experiment import OPTIMIZERS, TASKS, arm_name, schedules
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.data import digits_split_sizes
from paperzoo.shared.lr_grid import tuned_arm_guards
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: the analytic norm test, η = 10⁹ against constant AdaGrad, a short digits run."""

    logistic_dim: int = 20
    logistic_batch: int = 16384
    eta: float = 0.1
    theta: float = 0.5
    nu: float = 1.0
    b0: int = 16
    lr: float = 0.05  # the official MNIST AdaGrad rate, min(0.5, max_lr 0.05)
    equal_samples: int = 480
    digits_epochs: int = 6
    checkpoints: int = 6
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("logistic_dim", "logistic_batch", "b0", "equal_samples", "digits_epochs", "checkpoints"):
            check_positive_int(name, getattr(self, name))
        for name in ("eta", "theta", "nu", "lr"):
            check_positive(name, getattr(self, name))


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction: every (task, optimizer, schedule) arm for one equal sample budget per task."""

    tasks: tuple[str, ...] = TASKS
    digits_epochs: int = 60  # the brief's budget: 60 epochs of the 1149 training digits
    teacher_train: int = 20_000
    teacher_test: int = 5_000  # also the validation size
    teacher_dim: int = 20
    teacher_hidden: int = 64
    student_hidden: int = 64
    teacher_epochs: int = 10
    b_small: int = 16
    b_large: int = 512
    etas: tuple[float, ...] = (0.1, 0.5)
    theta: float = 0.5
    nu: float = 1.0
    blockwise: bool = False
    # The learning-rate grid of each optimizer, the same size and spacing (5 points, x3) for both, searched at
    # constant b_small on the validation split, per task and seed; AdaGrad's centre is the official MNIST rate.
    lr_grids: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("adagrad", (0.05 / 9, 0.05 / 3, 0.05, 0.15, 0.45)),
        ("adagradnorm", (1 / 9, 1 / 3, 1.0, 3.0, 9.0)),
    )
    s0: float = 1e-2
    test_interval: int = 1
    chunk_size: int = 256
    checkpoints: int = 20
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for task in self.tasks:
            check_one_of("tasks", task, TASKS)
        names = (
            "digits_epochs",
            "teacher_train",
            "teacher_test",
            "teacher_dim",
            "teacher_hidden",
            "student_hidden",
            "teacher_epochs",
            "b_small",
            "b_large",
            "test_interval",
            "chunk_size",
            "checkpoints",
            "workers",
        )
        for name in names:
            check_positive_int(name, getattr(self, name))
        if not 2 <= self.b_small < self.b_large <= min(digits_split_sizes()[0], self.teacher_train):
            raise ValueError(f"b_small must be in [2, b_large) and b_large at most the training sets, got {self}")
        for name in ("theta", "nu", "s0"):
            check_positive(name, getattr(self, name))
        for eta in self.etas:
            check_positive("etas", eta)
        grids = dict(self.lr_grids)
        if set(grids) != set(OPTIMIZERS) or len({len(g) for g in grids.values()}) != 1:
            raise ValueError(f"lr_grids must give every optimizer of {OPTIMIZERS} a grid of the same size, got {grids}")
        for optimizer, grid in grids.items():
            for lr in grid:
                check_positive(f"lr_grids[{optimizer!r}]", lr)


@dataclass(frozen=True)
class PaperConfig:
    """The official settings (README of timlautk/AdAdaGrad): MNIST CNN, AdaGrad, b_0 = 16, b_max = 60000, η = 0.1,
    lr min(0.5, max_lr 0.05), 6·10⁶ samples. CIFAR-10: ``dataset="cifar10"``, b_0 = 8, η = 0.5, lr 0.05 with
    10⁶ warm-up samples and cosine to 0.005 at 9·10⁶, 10⁷ samples (the official 3-layer CNN, not ResNet-18)."""

    dataset: str = "mnist"
    data: str = "download"
    data_dir: str = "~/.cache/paperzoo/adadagrad"
    optimizer: str = "adagrad"
    test: str = "norm"
    eta: float = 0.1
    theta: float = 0.5
    nu: float = 1.0
    blockwise: bool = False
    b0: int = 16
    b_max: int = 60_000
    lr: float = 0.5
    max_lr: float = 0.05
    warmup_samples: int | None = None
    decay_samples: int = 9_000_000
    min_lr: float = 5e-3
    samples: int = 6_000_000
    test_interval: int = 1
    chunk_size: int = 1024
    checkpoints: int = 50
    device: str = "cuda"

    def __post_init__(self) -> None:
        check_one_of("dataset", self.dataset, ("mnist", "cifar10"))
        check_one_of("optimizer", self.optimizer, OPTIMIZERS)
        check_one_of("test", self.test, TEST_NAMES)
        if self.data != "download" and not self.data.endswith(".npz"):
            raise ValueError(f"data must be 'download' or the path of a .npz file, got {self.data!r}")
        for name in ("b0", "b_max", "samples", "test_interval", "chunk_size", "checkpoints"):
            check_positive_int(name, getattr(self, name))
        if not 2 <= self.b0 <= self.b_max:
            raise ValueError(f"b0 must be in [2, b_max={self.b_max}], got {self.b0}")
        for name in ("eta", "theta", "nu", "lr", "max_lr", "min_lr"):
            check_positive(name, getattr(self, name))


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The smoke checks (one seed: regression checks, not evidence)."""
    return (
        Claim(
            "The norm test's b̃ matches tr(Σ)/(η²‖∇F‖²) within 10% (logistic regression, known covariance)",
            Compare("analytic/norm_test_over_analytic", "<=", 1.1),
            guards=(Compare("analytic/norm_test_over_analytic", ">=", 0.9),),
        ),
        Claim(
            "With η = 1e9 the batch never changes and the run equals constant-batch AdaGrad step for step",
            Compare("eta1e9/max_parameter_difference", "<=", 0.0),
            guards=(Compare("eta1e9/batch_changes", "<=", 0.0),),
        ),
        Claim(
            "The augmented IP test grows the digits batch monotonically and the CNN learns (test accuracy > 80%)",
            Compare("digits_aug_ip/final_batch_size", ">", config.b0),
            guards=(Compare("digits_aug_ip/monotone", ">=", 1.0), Compare("digits_aug_ip/test_accuracy", ">", 0.8)),
        ),
    )


ADAPTIVE_MIN_STEP_REDUCTION = 3.0  # the issue: ">= 3x fewer steps" than b = 16
# An adaptive arm that drew more than this share of its budget at a saturated batch (half the training set or more,
# experiment.SATURATED_BATCH) was run by the data set size, not by its test: (nearly) full-batch AdaGrad for most
# of the budget. Its claims are inconclusive: the CPU scale cannot answer them (README).
MAX_SATURATED_FRACTION = 0.5


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Per task, optimizer and adaptive schedule: accuracy >= b_large's; within 1 point of b_small's; >= 3x fewer
    steps than b_small. Paired by seed. Guards: every compared arm above 50%, b_small's tuned rate inside its grid,
    and the adaptive arm at a saturated batch for at most half its budget; mechanism: the batch grew."""
    claims = []
    for task in config.tasks:
        for opt in OPTIMIZERS:
            small, large = (arm_name(task, opt, f"const{b}") for b in (config.b_small, config.b_large))
            for schedule in schedules(config):
                if schedule.startswith("const"):
                    continue
                arm = arm_name(task, opt, schedule)
                guards = (
                    *tuned_arm_guards(small, min_test_accuracy=0.5),
                    *(Compare(f"{a}/test_accuracy", ">", 0.5) for a in (arm, large)),
                    Compare(f"{arm}/saturated_fraction", "<=", MAX_SATURATED_FRACTION),
                )
                grew = (Compare(f"{arm}/batch_growth", ">", 1.0),)
                claims += [
                    Claim(
                        f"{task}, {opt}, {schedule}: test accuracy >= constant b={config.b_large}'s",
                        NoWorse(f"{arm}/test_accuracy", f"{large}/test_accuracy"),
                        guards=guards,
                        mechanism=grew,
                    ),
                    Claim(
                        f"{task}, {opt}, {schedule}: test accuracy within 1 point of constant b={config.b_small}'s",
                        NoWorse(f"{arm}/test_accuracy", f"{small}/test_accuracy", delta=0.01),
                        guards=guards,
                        mechanism=grew,
                    ),
                    Claim(
                        f"{task}, {opt}, {schedule}: >= 3x fewer optimizer steps than constant b={config.b_small}",
                        Compare(f"{arm}/step_reduction", ">=", ADAPTIVE_MIN_STEP_REDUCTION),
                        guards=guards,
                        mechanism=grew,
                    ),
                ]
    return tuple(claims)


_DIGITS_TEST = 1 / digits_split_sizes()[2]
_TEACHER_TEST = 1 / FullConfig().teacher_test

BENCHMARK = Benchmark(
    slug="adadagrad",
    title="AdAdaGrad: Adaptive Batch Size Schemes for Adaptive Gradient Methods (Lau, Liu, Kolar, 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("digits*accuracy", better="higher", tolerance=0.03, resolution=_DIGITS_TEST),
        MetricSpec("teacher*accuracy", better="higher", tolerance=0.03, resolution=_TEACHER_TEST),
        MetricSpec("analytic/norm_test_over_analytic", better="lower", tolerance=0.05),
        MetricSpec("eta1e9/max_parameter_difference", better="lower", tolerance=0.0),
        MetricSpec("*/step_reduction", better="higher", tolerance=0.3, relative=True),
        MetricSpec("*/final_batch_size", better="higher", tolerance=0.5, relative=True),
        MetricSpec("*/batch_growth", better="higher", tolerance=0.5, relative=True),
        MetricSpec("*/saturated_fraction", better="lower", tolerance=0.3),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="a CUDA GPU, torchvision (pip install 'paperzoo-adadagrad[paper]') and MNIST or CIFAR-10 (downloaded)",
)
