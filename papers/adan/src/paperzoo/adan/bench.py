"""The paperzoo benchmark of Adan.

- smoke (seconds): 300 steps on a random least-squares problem and on a digits MLP; Adan with b2 = 0
  against ``torch.optim.Adam`` step for step (float64); the global norm after clipping.
- full (minutes, 2 CPU cores): the paper's headline at digits scale — Adan at half the epochs against
  AdamW at the full epochs (and Adan at the full epochs), on a tiny ViT and the digits CNN, warm-up +
  cosine schedule, each arm's learning rate chosen from a 3-point grid by mean validation accuracy over
  3 seeds.
- paper: the paper's ImageNet ViT-S/16 setting (Adan 150 epochs vs AdamW 300 epochs), for GPUs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.adan.optimizer import IMPLEMENTATIONS, Adan
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result, lr_grid
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.lr_grid import tuned_arm_guards
from paperzoo.shared.plotting import plot_curves
from paperzoo.shared.progress import progress
from paperzoo.shared.torch import configure
from paperzoo.shared.torch.classify import (
    MLP,
    SmallCNN,
    TinyViT,
    as_tensors,
    imagenet_loaders,
    train_classifier,
    train_on_gpu,
)
from paperzoo.shared.torch.optim import FUSED_ADAMW, ratio_figures, time_optimizers
from paperzoo.shared.validate import (
    check_non_negative,
    check_one_of,
    check_positive,
    check_positive_int,
    check_range,
)

# Inductor warns "No CUDA runtime is found" whenever it compiles on a CPU-only machine: not our news.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

OPTIMIZERS = ("adan", "adamw")
MODELS = ("vit", "cnn")
# (optimizer, budget): Adan at half and at the full epochs, AdamW at the full epochs.
ARMS = (("adan", "half"), ("adan", "full"), ("adamw", "full"))


def make_optimizer(
    name: str, params: list[nn.Parameter], lr: float, weight_decay: float, implementation: str = "compiled"
) -> torch.optim.Optimizer:
    """Adan (official defaults: betas (0.98, 0.92, 0.99), eps 1e-8, proximal decay) or torch's AdamW."""
    if name == "adan":
        return Adan(params, lr=lr, weight_decay=weight_decay, implementation=implementation)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def warmup_cosine(warmup_fraction: float) -> Any:
    """``make_scheduler(optimizer, total_steps)``: linear warm-up over a fraction of the steps, then cosine to 0."""

    def make(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
        warmup = max(1, round(warmup_fraction * total_steps))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    return make


def make_model(name: str) -> nn.Module:
    """The digits-scale models: the tiny ViT (69k parameters) and the shared small CNN (21.6k)."""
    check_one_of("model", name, MODELS)
    return TinyViT() if name == "vit" else SmallCNN()


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: least squares, a digits MLP, the b2 = 0 limit against Adam, clipping."""

    steps: int = 300
    lsq_samples: int = 200
    lsq_dim: int = 20
    lsq_lr: float = 0.02
    mlp_lr: float = 5e-3
    mlp_batch_size: int = 64
    equivalence_steps: int = 50
    clip_fraction: float = 0.1  # max_grad_norm as a fraction of the MLP's initial gradient norm
    # The compiled default costs seconds of compilation per model; smoke runs the same arithmetic with
    # foreach (the tests hold the paths equal).
    implementation: str = "foreach"
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_one_of("implementation", self.implementation, IMPLEMENTATIONS)
        for name in ("steps", "lsq_samples", "lsq_dim", "mlp_batch_size", "equivalence_steps"):
            check_positive_int(name, getattr(self, name))
        for name in ("lsq_lr", "mlp_lr"):
            check_positive(name, getattr(self, name))
        check_range("clip_fraction", self.clip_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)


@dataclass(frozen=True)
class DigitsConfig:
    """The CPU-scale reproduction: Adan(E/2) and Adan(E) vs AdamW(E) on digits, tiny ViT and CNN."""

    # E (the brief: E ~ 40); 30 so that 5-point grids fit 15 minutes. Adan's half-budget arm trains E/2 with
    # its schedule compressed to E/2.
    epochs: int = 30
    batch_size: int = 64
    warmup_fraction: float = 0.1
    models: tuple[str, ...] = MODELS
    # The brief's settings: Adan wd 0.02 (the authors' everywhere), AdamW wd 0.05 (DeiT's).
    weight_decay: tuple[tuple[str, float], ...] = (("adan", 0.02), ("adamw", 0.05))
    # 5-point factor-2 grids, the same effort for both, around and above the brief's 3-point grids (at which 5 of
    # 6 arms chose an edge point); Adan's 5x AdamW's, as the authors advise.
    lr_grid: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("adan", (2.5e-3, 5e-3, 1e-2, 2e-2, 4e-2)),
        ("adamw", (5e-4, 1e-3, 2e-3, 4e-3, 8e-3)),
    )
    implementation: str = "foreach"
    # One intra-op thread: these models are too small to gain from two, and on a shared 2-core machine a
    # second OpenMP thread that gets descheduled stalls every op (measured: 20-50x slower steps).
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_one_of("implementation", self.implementation, IMPLEMENTATIONS)
        check_positive_int("threads", self.threads)
        check_positive_int("epochs", self.epochs)
        if self.epochs < 2:
            raise ValueError(f"epochs must be >= 2 (the half-budget arm trains epochs // 2), got {self.epochs}")
        check_positive_int("batch_size", self.batch_size)
        check_range("warmup_fraction", self.warmup_fraction, 0.0, 1.0, high_inclusive=False)
        if not self.models or any(m not in MODELS for m in self.models):
            raise ValueError(f"models must be a non-empty subset of {MODELS}, got {self.models}")
        for name, table in (("weight_decay", self.weight_decay), ("lr_grid", self.lr_grid)):
            if tuple(k for k, _ in table) != OPTIMIZERS:
                raise ValueError(f"{name} must give one entry per optimizer in the order {OPTIMIZERS}")
        for opt, wd in self.weight_decay:
            check_non_negative(f"weight_decay[{opt!r}]", wd)
        for opt, values in self.lr_grid:
            if len(values) < 1 or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
                raise ValueError(f"lr_grid[{opt!r}] must be increasing positive values, got {values}")


@dataclass(frozen=True)
class ImageNetConfig:
    """The paper's headline (Table 2 / official README): ViT-S/16 on ImageNet-1k, Adan 150 epochs vs AdamW 300.

    Adan: lr 1.5e-2, wd 0.02, betas (0.98, 0.92, 0.99), batch 2048, 60 warm-up epochs, no clipping.
    AdamW (DeiT): lr 5e-4·batch/512 = 2e-3, wd 0.05, 5 warm-up epochs. Cosine schedules; DeiT's
    augmentation (RandAugment, mixup, cutmix, random erasing) is not reproduced here: random resized crop
    and flip only.
    """

    data_dir: str = "~/.cache/paperzoo/imagenet"  # ImageFolder layout: train/<class>/*.JPEG, val/<class>/*.JPEG
    # (optimizer, epochs, lr, weight decay, warm-up epochs)
    arms: tuple[tuple[str, int, float, float, int], ...] = (
        ("adan", 150, 1.5e-2, 0.02, 60),
        ("adamw", 300, 2e-3, 0.05, 5),
    )
    batch_size: int = 2048
    image_size: int = 224
    num_workers: int = 16
    device: str = "cuda"

    def __post_init__(self) -> None:
        for opt, epochs, lr, wd, warmup in self.arms:
            check_one_of("optimizer", opt, OPTIMIZERS)
            check_positive_int(f"epochs of {opt}", epochs)
            check_positive(f"lr of {opt}", lr)
            check_non_negative(f"weight decay of {opt}", wd)
            if not 0 <= warmup < epochs:
                raise ValueError(f"warm-up epochs of {opt} must be in [0, {epochs}), got {warmup}")
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("image_size", self.image_size)


# ---------------------------------------------------------------------------------------------- smoke
def adam_equivalence(steps: int, seed: int) -> float:
    """Max |θ_Adan − θ_Adam| over ``steps`` float64 steps with b2 = 0, wd = 0, no clipping.

    b2 = 0 makes the v-term's step lr·b2/(1 − b2^k) zero and n the EMA of g², so Adan is Adam with
    betas (b1, b3) and the same ε.
    """
    gen = torch.Generator().manual_seed(seed)
    start = torch.randn(30, generator=gen, dtype=torch.float64)
    ours, theirs = nn.Parameter(start.clone()), nn.Parameter(start.clone())
    adan = Adan([ours], lr=1e-2, betas=(0.9, 0.0, 0.999), eps=1e-8, implementation="single_tensor")
    adam = torch.optim.Adam([theirs], lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    worst = 0.0
    for _ in range(steps):
        grad = torch.randn(30, generator=gen, dtype=torch.float64)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        adan.step()
        adam.step()
        worst = max(worst, (ours - theirs).abs().max().item())
    return worst


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    gen = torch.Generator().manual_seed(seed)
    # Least squares ½‖Aθ − b‖²/n with a random A (condition number of A^T A in the tens).
    a = torch.randn(config.lsq_samples, config.lsq_dim, generator=gen, dtype=torch.float64)
    b = torch.randn(config.lsq_samples, generator=gen, dtype=torch.float64)
    optimum = torch.linalg.lstsq(a, b).solution
    floor = 0.5 * ((a @ optimum - b) ** 2).mean().item()
    theta = torch.zeros(config.lsq_dim, dtype=torch.float64, requires_grad=True)
    optimizer = Adan([theta], lr=config.lsq_lr, implementation=config.implementation)
    excess = []
    for _ in range(config.steps):
        loss = 0.5 * ((a @ theta - b) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        excess.append(loss.item() - floor)
    metrics = {"adan/lsq_excess_loss_ratio": excess[-1] / excess[0]}
    series = {"adan/lsq_excess_loss": excess}

    data = as_tensors(load_digits_split(), config.device)
    torch.manual_seed(seed)
    model = MLP().to(config.device)
    opt = make_optimizer("adan", list(model.parameters()), config.mlp_lr, 0.02, config.implementation)
    order = torch.randint(len(data["y_train"]), (config.steps, config.mlp_batch_size), generator=gen)
    losses = []
    for batch in order.to(config.device):
        loss = F.cross_entropy(model(data["x_train"][batch]), data["y_train"][batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(data["x_test"]).argmax(1) == data["y_test"]).float().mean().item()
    metrics |= {
        "adan/mlp_test_accuracy": acc,
        "adan/mlp_loss_ratio": float(np.mean(losses[-20:]) / np.mean(losses[:20])),
    }
    series["adan/mlp_loss"] = losses

    # Clipping: one step on the MLP's gradient of the full training set, max_grad_norm a fraction of its norm.
    torch.manual_seed(seed)
    model = MLP().to(config.device)
    F.cross_entropy(model(data["x_train"]), data["y_train"]).backward()
    params = list(model.parameters())
    norm = math.sqrt(sum(p.grad.double().square().sum().item() for p in params))
    max_norm = config.clip_fraction * norm
    Adan(params, lr=1e-3, max_grad_norm=max_norm, implementation=config.implementation).step()
    clipped = math.sqrt(sum(p.grad.double().square().sum().item() for p in params))
    metrics |= {
        "adan/unclipped_norm_over_max": norm / max_norm,
        "adan/clipped_norm_over_max": clipped / max_norm,
        "adan/adam_equivalence_max_abs_diff": adam_equivalence(config.equivalence_steps, seed),
    }
    return Result(metrics, series)


# ----------------------------------------------------------------------------------------------- full
def grid_key(model: str, opt: str, budget: str, lr: float) -> str:
    """The arm name of one run, e.g. ``vit_adan_half@0.005``."""
    return lr_grid.grid_key(f"{model}_{opt}_{budget}", lr)


def run_digits(config: DigitsConfig, seed: int) -> Result:
    configure(threads=config.threads)
    data = as_tensors(load_digits_split(), config.device)
    wd, grids = dict(config.weight_decay), dict(config.lr_grid)
    epochs = {"half": config.epochs // 2, "full": config.epochs}
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    runs = [(m, o, b, lr) for m in config.models for o, b in ARMS for lr in grids[o]]
    for model_name, opt, budget, lr in progress(runs, desc=f"digits, seed {seed}"):
        torch.manual_seed(seed)  # the same initial weights for every optimizer, budget and learning rate
        model = make_model(model_name).to(config.device)
        history = train_classifier(
            model,
            lambda ps, o=opt, r=lr: make_optimizer(o, ps, r, wd[o], config.implementation),
            data,
            epochs[budget],
            config.batch_size,
            seed,
            make_scheduler=warmup_cosine(config.warmup_fraction),
        )
        arm = grid_key(model_name, opt, budget, lr)
        metrics |= {
            f"{arm}/val_accuracy": history.val_accuracy[-1],
            f"{arm}/val_loss": history.val_loss[-1],
            f"{arm}/test_accuracy": history.test_accuracy[-1],
            f"{arm}/train_loss": history.train_loss[-1],
        }
        series |= {f"{arm}/val_accuracy": history.val_accuracy, f"{arm}/train_loss": history.train_loss}
    return Result(metrics, series)


def select_learning_rates(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per arm (model, optimizer, budget), the learning rate with the best mean validation accuracy over seeds.

    :func:`paperzoo.shared.lr_grid.select_learning_rates`: adds ``<arm>/lr``, ``<arm>/lr_at_edge`` and the
    chosen run's ``<arm>/val_accuracy``, ``/test_accuracy`` and ``/train_loss``.
    """
    return lr_grid.select_learning_rates(per_seed, ("val_accuracy", "test_accuracy", "train_loss"))


def aggregate(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    return select_learning_rates(per_seed) if any("@" in k for k in per_seed[0]) else per_seed


def plot_digits(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Per model: validation accuracy and train loss per epoch of each arm at its chosen learning rate."""
    if records[0]["scale"] != "full":
        return []
    chosen = select_learning_rates([r["metrics"] for r in records])[0]
    paths = []
    models = sorted({k.split("_")[0] for k in chosen if k.endswith("/lr")}, key=MODELS.index)
    for model in models:
        for metric, label, logy in (("val_accuracy", "validation accuracy", False), ("train_loss", "train loss", True)):
            curves = {}
            for opt, budget in ARMS:
                arm = f"{model}_{opt}_{budget}"
                lr = chosen[f"{arm}/lr"]
                curves[f"{opt} {budget} budget (lr {lr:g})"] = [r["series"][f"{arm}@{lr:g}/{metric}"] for r in records]
            paths.append(
                plot_curves(
                    folder / f"{model}_{metric}.png",
                    curves,
                    title=f"Digits {model.upper()}: {label}",
                    xlabel="epoch",
                    ylabel=label,
                    logy=logy,
                )
            )
    return paths


# ---------------------------------------------------------------------------------------------- paper
def run_imagenet(config: ImageNetConfig, seed: int) -> Result:  # pragma: no cover - needs GPUs and ImageNet
    """The paper's headline: ViT-S/16 trained by Adan (150 epochs) and by AdamW (300 epochs), top-1."""
    data = imagenet_loaders(config.data_dir, config.image_size, config.batch_size, config.num_workers, seed)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for opt, epochs, lr, wd, warmup in config.arms:
        torch.manual_seed(seed)
        model = TinyViT(config.image_size, 16, 3, 384, 12, 6, 4, data.n_classes).to(config.device)
        optimizer = make_optimizer(opt, list(model.parameters()), lr, wd)
        schedule = warmup_cosine(warmup / epochs)(optimizer, epochs * len(data.train))
        accs = train_on_gpu(model, optimizer, schedule, data, epochs, config.device, desc=opt, label_smoothing=0.1)
        metrics[f"{opt}/test_accuracy"] = accs[-1]
        series[f"{opt}/test_accuracy"] = accs
    return Result(metrics, series)


def run(config: SmokeConfig | DigitsConfig | ImageNetConfig, seed: int) -> Result:
    """Dispatch on the scale's config type."""
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    if isinstance(config, DigitsConfig):
        return run_digits(config, seed)
    return run_imagenet(config, seed)


# ----------------------------------------------------------------------------------------------- perf
def perf(device: str) -> dict[str, float]:
    """Median ``step()`` time on the standard 4.5M-parameter set, as ratios to fused AdamW (1 thread).

    ``single_tensor`` is the official per-parameter form (the official code's ``foreach=False`` loop).
    ``warmup_s`` of the compiled default includes a cold compile (the inductor cache is disabled).
    """
    timings = time_optimizers(
        {f"adan_{i}": lambda ps, i=i: Adan(ps, lr=1e-3, weight_decay=0.02, implementation=i) for i in IMPLEMENTATIONS},
        device,
    )
    figures = ratio_figures(timings, ("step_ms", "step_over_adamw_fused", "warmup_s"))
    compiled, official_form = timings["adan_compiled"], timings["adan_single_tensor"]
    figures["adan_compiled/speedup_over_official_form"] = official_form.median_step_s / compiled.median_step_s
    figures["adan/state_bytes_per_param"] = compiled.state_bytes_per_param  # 4 float32 tensors: 16
    figures["adamw_fused/state_bytes_per_param"] = timings[FUSED_ADAMW].state_bytes_per_param  # 8
    return figures


SMOKE_CLAIMS = (
    Claim(
        "Adan minimises least squares (excess loss falls 100x in 300 steps)",
        Compare("adan/lsq_excess_loss_ratio", "<", 0.01),
    ),
    Claim(
        "Adan trains a digits MLP (late loss below half the early loss; test accuracy > 80%)",
        Compare("adan/mlp_loss_ratio", "<", 0.5),
        guards=(Compare("adan/mlp_test_accuracy", ">", 0.8),),
    ),
    Claim(
        "With b2 = 0 Adan is Adam(betas=(b1, b3)) step for step (float64, <= 1e-12)",
        Compare("adan/adam_equivalence_max_abs_diff", "<=", 1e-12),
    ),
    Claim(
        "The clipped global gradient norm is <= max_grad_norm",
        Compare("adan/clipped_norm_over_max", "<=", 1.0 + 1e-9),
        guards=(Compare("adan/unclipped_norm_over_max", ">", 1.0),),
    ),
)


def _half_budget_claim(model: str, label: str) -> Claim:
    return Claim(
        f"Adan at half the epochs >= AdamW at the full epochs ({label}, test accuracy)",
        Compare(f"{model}_adan_half/test_accuracy", ">=", f"{model}_adamw_full/test_accuracy"),
        guards=tuned_arm_guards(f"{model}_adan_half", f"{model}_adamw_full", min_test_accuracy=0.5),
    )


def _equal_budget_claim(model: str, label: str) -> Claim:
    return Claim(
        f"Adan >= AdamW at the same epochs ({label}, test accuracy)",
        Compare(f"{model}_adan_full/test_accuracy", ">=", f"{model}_adamw_full/test_accuracy"),
        guards=tuned_arm_guards(f"{model}_adan_full", f"{model}_adamw_full", min_test_accuracy=0.5),
    )


FULL_CLAIMS = (
    _half_budget_claim("vit", "tiny ViT"),
    _half_budget_claim("cnn", "CNN"),
    _equal_budget_claim("vit", "tiny ViT"),
    _equal_budget_claim("cnn", "CNN"),
)

BENCHMARK = Benchmark(
    slug="adan",
    title="Adan: Adaptive Nesterov Momentum (Xie et al., TPAMI 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": DigitsConfig(), "paper": ImageNetConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": FULL_CLAIMS},
    metrics=(
        MetricSpec("*accuracy*", better="higher", tolerance=0.03),
        MetricSpec("*loss_ratio", better="lower", tolerance=0.5, relative=True),
        MetricSpec("adan/adam_equivalence_max_abs_diff", better="lower", tolerance=1e-12),
        MetricSpec("adan/clipped_norm_over_max", better="lower", tolerance=1e-9),
    ),
    aggregate=aggregate,
    plot=plot_digits,
    perf=perf,
    paper_needs="CUDA GPUs, torchvision (pip install torchvision) and ImageNet-1k in ImageFolder layout",
)
