"""The paperzoo benchmark of SGD-SaI: a declaration (runners in ``experiment.py``, figures in ``plots.py``).

- smoke (seconds): 200 steps of a digits MLP; the first step against its closed form, the g-SNR unchanged
  after 200 steps, the optimizer state against AdamW's, and equivalence with per-tensor ``torch.optim.SGD``.
- full (minutes, 2 CPU cores): the paper's headline on two transformers at CPU scale — a tiny ViT on digits
  and a 2-block character transformer on a synthetic language — SGD-SaI against AdamW and SGD with momentum,
  each arm's learning rate chosen from a 3-point grid by mean validation accuracy over 3 seeds, warm-up +
  cosine schedule; plus the optimizer-state bytes of each.
- paper (a GPU): the paper's robustness grid (Fig. 2, the official script): ResNet-18 on CIFAR-10, 200 epochs
  at every lr × weight decay of SGD-SaI and AdamW.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.sgd_sai import experiment, perf, plots
from paperzoo.sgd_sai.cifar import MODELS
from paperzoo.sgd_sai.optimizer import IMPLEMENTATIONS
from paperzoo.sgd_sai.training import OPTIMIZERS, check_lr_grid, check_per_optimizer
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.data import digits_split_sizes
from paperzoo.shared.lr_grid import tuned_arm_guards
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range

TASKS = ("vit", "lm")


# ------------------------------------------------------------------------------------------------ configs
@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: a digits MLP, the first step's closed form, the fixed g-SNR, state bytes, the SGD limit."""

    steps: int = 200
    lr: float = 3e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    equivalence_steps: int = 30
    # The compiled default costs seconds of compilation per model; smoke runs the same arithmetic with
    # foreach (the tests hold the implementations equal).
    implementation: str = "foreach"
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_one_of("implementation", self.implementation, IMPLEMENTATIONS)
        for name in ("steps", "batch_size", "equivalence_steps"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)


@dataclass(frozen=True)
class TransformerConfig:
    """The CPU-scale reproduction: SGD-SaI vs AdamW vs SGD-momentum on a tiny ViT (digits) and a char transformer.

    Learning rates: one 3-point grid per optimizer and task (the same effort for all); weight decay: the
    conventions of each optimizer (SGD-SaI and AdamW decoupled, DeiT's 0.05 on the ViT and nanoGPT's 0.1 on
    the language model, which the official GPT-2 script gives every optimizer; SGD L2 5e-4), on tensors with
    ndim >= 2 only for every optimizer (``weight_decay_groups``: nanoGPT, the official GPT-2 script, timm).
    """

    tasks: tuple[str, ...] = TASKS
    # 60 epochs for every ViT arm (issue 21): at 20, SGD-SaI stayed on the chance plateau in some seeds (the paper's
    # own figure has it converge more slowly on ViT); 60 fits the 15-minute budget with every arm and grid point.
    vit_epochs: int = 60
    vit_batch_size: int = 64
    lm_steps: int = 300
    lm_batch_size: int = 32
    lm_context: int = 32
    lm_dim: int = 64
    lm_depth: int = 2
    lm_eval_every: int = 50
    # the official GPT-2 script clips the global gradient norm at 1.0 for every optimizer; 0 disables
    lm_grad_clip: float = 1.0
    lm_train_chars: int = 200_000
    lm_eval_chars: int = 16_384
    language_seed: int = 0
    warmup_fraction: float = 0.1
    # 3-point grids spaced x3, the same size for every optimizer, each centred on the best learning rate of a
    # one-seed pilot over a wider grid, re-run for issue 21's protocol (decay groups, 60 ViT epochs): every
    # optimum stayed at its grid's centre (the brief's SGD-SaI grid was 3-300x too low here).
    vit_lr_grid: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("sgd_sai", (1e-3, 3e-3, 1e-2)),
        ("adamw", (1e-3, 3e-3, 1e-2)),
        ("sgdm", (0.01, 0.03, 0.1)),
    )
    lm_lr_grid: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("sgd_sai", (0.03, 0.1, 0.3)),
        ("adamw", (6e-3, 2e-2, 6e-2)),
        ("sgdm", (0.3, 1.0, 3.0)),
    )
    vit_weight_decay: tuple[tuple[str, float], ...] = (("sgd_sai", 0.05), ("adamw", 0.05), ("sgdm", 5e-4))
    lm_weight_decay: tuple[tuple[str, float], ...] = (("sgd_sai", 0.1), ("adamw", 0.1), ("sgdm", 5e-4))
    # The model's tensors are a few thousand elements: the step is per-op overhead, and compiling each
    # model's graph costs more than it saves. The tests hold the implementations equal.
    implementation: str = "foreach"
    # One intra-op thread: these models are too small to gain from two, and on a shared 2-core machine a
    # descheduled second OpenMP thread stalls every op.
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.tasks or any(t not in TASKS for t in self.tasks) or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        for name in ("vit_epochs", "vit_batch_size", "lm_steps", "lm_batch_size", "lm_context", "lm_dim"):
            check_positive_int(name, getattr(self, name))
        for name in ("lm_depth", "lm_eval_every", "lm_train_chars", "lm_eval_chars", "threads"):
            check_positive_int(name, getattr(self, name))
        if self.lm_eval_chars < self.lm_context + 1 or self.lm_train_chars < self.lm_context + 1:
            raise ValueError(f"lm_train_chars and lm_eval_chars must exceed lm_context ({self.lm_context})")
        check_range("warmup_fraction", self.warmup_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        check_non_negative("lm_grad_clip", self.lm_grad_clip)
        check_one_of("implementation", self.implementation, IMPLEMENTATIONS)
        for grid in (self.vit_lr_grid, self.lm_lr_grid):
            check_lr_grid(grid)
        for table in (self.vit_weight_decay, self.lm_weight_decay):
            check_per_optimizer("weight_decay", table)
            for opt, wd in table:
                check_non_negative(f"weight_decay[{opt!r}]", wd)


@dataclass(frozen=True)
class CifarGridConfig:
    """The paper's robustness grid (Fig. 2, official ``examples/cnns/start_grid_search_base.sh``).

    ResNet-18 (CIFAR stem) on CIFAR-10, 200 epochs, batch 128, random crop + flip, lr ×0.1 every 80 epochs
    (the script's ``SWDLambdaLR``), each optimizer over lr {1e-4, 1e-3, 1e-2, 1e-1} × weight decay {5e-5,
    5e-4, 5e-3, 5e-2, 5e-1}, seed 42: 40 runs of 200 epochs. ``data`` is ``"cifar10"`` (downloaded into
    ``data_dir``) or a local ``.npz`` of uint8 images; ``model`` is ``"resnet18"`` or the ``"tiny_vit"`` stand-in.
    """

    optimizers: tuple[str, ...] = ("sgd_sai", "adamw")
    lrs: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    weight_decays: tuple[float, ...] = (5e-5, 5e-4, 5e-3, 5e-2, 5e-1)
    epochs: int = 200
    batch_size: int = 128
    lr_decay_every: int = 80
    lr_decay: float = 0.1
    model: str = "resnet18"
    data: str = "cifar10"
    data_dir: str = "~/.cache/paperzoo/cifar10"
    implementation: str = "compiled"
    device: str = "cuda"

    def __post_init__(self) -> None:
        if not self.optimizers or any(o not in OPTIMIZERS for o in self.optimizers):
            raise ValueError(f"optimizers must be a non-empty subset of {OPTIMIZERS}, got {self.optimizers}")
        for name in ("lrs", "weight_decays"):
            values = getattr(self, name)
            if not values or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be increasing positive values, got {values}")
        for name in ("epochs", "batch_size", "lr_decay_every"):
            check_positive_int(name, getattr(self, name))
        check_range("lr_decay", self.lr_decay, 0.0, 1.0, low_inclusive=False)
        check_one_of("model", self.model, MODELS)
        check_one_of("implementation", self.implementation, IMPLEMENTATIONS)


# --------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The method's mechanics on the digits MLP (the thresholds are exact: they do not depend on the config)."""
    return (
        Claim(
            "SGD-SaI trains a digits MLP (late loss below half the early loss; test accuracy > 80%)",
            Compare("sgd_sai/mlp_loss_ratio", "<", 0.5),
            guards=(Compare("sgd_sai/mlp_test_accuracy", ">", 0.8),),
        ),
        Claim(
            "The first step is θ(1 − lr·λ) − lr·gsnr·g with gsnr = ‖g‖/(std(g) + ε) (float64, <= 1e-12)",
            Compare("sgd_sai/first_step_max_abs_diff", "<=", 1e-12),
        ),
        Claim(
            f"The g-SNR is computed once: unchanged after {config.steps} steps",
            Compare("sgd_sai/gsnr_max_change", "<=", 0.0),
            guards=(Compare("sgd_sai/min_gsnr", ">", 0.0),),
        ),
        Claim(
            "Optimizer state is half of AdamW's (one tensor per parameter instead of two)",
            Compare("sgd_sai/state_over_adamw", "<=", 0.5),
            guards=(Compare("sgd_sai/state_bytes_per_param", ">", 0.0),),
        ),
        Claim(
            "With the scales fixed, SGD-SaI is per-tensor torch SGD(lr·gsnr, dampening=μ) step for step (<= 1e-12)",
            Compare("sgd_sai/sgd_equivalence_max_abs_diff", "<=", 1e-12),
        ),
    )


TASK_LABELS = {"vit": "the tiny ViT (digits, test accuracy)", "lm": "the char transformer (held-out loss)"}
RIVAL_LABELS = {"adamw": "AdamW", "sgdm": "SGD with momentum"}
VIT_MIN_TEST_ACCURACY = 0.5  # digits: well above chance (10%)
LM_MARGIN_OVER_MAJORITY = 0.1  # the language: 10 points above always predicting the most frequent character


def _guards(task: str, *arms: str) -> tuple[Compare, ...]:
    """Each arm above a trivial level and its chosen learning rate inside its grid."""
    if task == "vit":
        return tuned_arm_guards(*arms, min_test_accuracy=VIT_MIN_TEST_ACCURACY)
    return tuple(
        guard
        for arm in arms
        for guard in (
            Compare(f"{arm}/test_accuracy", ">", "lm/majority_accuracy", margin=LM_MARGIN_OVER_MAJORITY),
            Compare(f"{arm}/lr_at_edge", "<", 0.5),
        )
    )


def _comparison(task: str, rival: str) -> Claim:
    """SGD-SaI at least as good as ``rival`` on ``task``: test accuracy on the ViT, test loss on the language.

    Paired by seed: every arm of a seed starts from the same initial weights (``torch.manual_seed(seed)``)
    and sees the same data and batch order.
    """
    ours, theirs = f"{task}_sgd_sai", f"{task}_{rival}"
    statement = (
        NoWorse(f"{ours}/test_accuracy", f"{theirs}/test_accuracy")
        if task == "vit"
        else NoWorse(f"{ours}/test_loss", f"{theirs}/test_loss", better="lower")
    )
    return Claim(
        f"SGD-SaI >= {RIVAL_LABELS[rival]} on {TASK_LABELS[task]}", statement, guards=_guards(task, ours, theirs)
    )


def _half_state(task: str) -> Claim:
    return Claim(
        f"Optimizer state is half of AdamW's ({TASK_LABELS[task].split(' (')[0]})",
        NoWorse(f"{task}/state_sgd_sai_over_adamw", 0.5, better="lower"),
        guards=(Compare(f"{task}_sgd_sai/state_bytes_per_param", ">", 0.0),),
    )


def full_claims(config: TransformerConfig) -> tuple[Claim, ...]:
    """SGD-SaI >= AdamW and >= SGD-momentum on each task the config runs, and half of AdamW's state.

    On the interval rule: a paired 95% interval of the per-seed differences (the state ratio against the
    constant 0.5: one-sample). The ViT's test accuracy resolves to one test image (``MetricSpec`` below);
    the language's held-out loss has no grain.
    """
    return (
        *(_comparison(task, rival) for rival in ("adamw", "sgdm") for task in config.tasks),
        *(_half_state(task) for task in config.tasks),
    )


def paper_claims(config: CifarGridConfig) -> tuple[Claim, ...]:
    """Fig. 2 on the grid that was run: SGD-SaI's best point no worse than AdamW's (0.5 points), and a higher
    mean over the grid (robustness to lr and weight decay). Needs both optimizers; each best point 10 points
    above chance. The official grid has one seed (42): a zero-width interval, i.e. a check of the point."""
    if not {"sgd_sai", "adamw"} <= set(config.optimizers):
        return ()
    guards = tuple(
        Compare(f"{opt}/grid_best_test_accuracy", ">", "data/chance_accuracy", margin=0.1)
        for opt in ("sgd_sai", "adamw")
    )
    best, mean = "grid_best_test_accuracy", "grid_mean_test_accuracy"
    return (
        Claim(
            "SGD-SaI's best grid point >= AdamW's (within 0.5 points)",
            NoWorse(f"sgd_sai/{best}", f"adamw/{best}", delta=0.005),
            guards,
        ),
        Claim(
            "SGD-SaI is more robust over lr × weight decay: higher mean accuracy than AdamW",
            Better(f"sgd_sai/{mean}", f"adamw/{mean}"),
            guards,
        ),
    )


BENCHMARK = Benchmark(
    slug="sgd-sai",
    title="No More Adam: Learning Rate Scaling at Initialization is All You Need (SGD-SaI, Xu et al., 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": TransformerConfig(), "paper": CifarGridConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (42,)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims, "paper": paper_claims},
    metrics=(
        # the ViT's test accuracy is over the digits test set: one image is its resolution
        MetricSpec("vit_*/test_accuracy", better="higher", tolerance=0.03, resolution=1 / digits_split_sizes()[2]),
        MetricSpec("*accuracy*", better="higher", tolerance=0.03),
        MetricSpec("*loss_ratio", better="lower", tolerance=0.5, relative=True),
        MetricSpec("*max_abs_diff", better="lower", tolerance=1e-12),
        MetricSpec("sgd_sai/gsnr_max_change", better="lower", tolerance=0.0),
        MetricSpec("*state*", better="lower", tolerance=0.0),
    ),
    aggregate={"full": experiment.select_learning_rates},
    plot={"full": plots.plot_full, "paper": plots.plot_paper},
    perf=perf.perf,
    paper_needs="a CUDA GPU, torchvision (pip install 'paperzoo-sgd-sai[paper]') and the CIFAR-10 download",
)
