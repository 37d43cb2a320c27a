"""The scale runners of Adan's benchmark (declared in :mod:`paperzoo.adan.bench`).

- :func:`run_smoke`: least squares and a digits MLP trained by Adan, the b2 = 0 limit against
  ``torch.optim.Adam``, and the global-norm clipping.
- :func:`run_full`: every (model, optimizer, budget) arm at every point of its learning-rate grid on digits;
  :func:`select_learning_rates` (the full scale's aggregate step) picks each arm's lr over the seeds.
- :func:`run_paper`: ViT-S/16 on ImageNet, Adan at 150 epochs against AdamW at 300 (GPUs).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.adan.optimizer import Adan
from paperzoo.adan.training import (
    ARMS,
    grid_key,
    make_model,
    make_optimizer,
    make_recipe_optimizer,
    shift_augmentation,
    warmup_cosine,
)
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.data import digits_val_example, load_digits_split
from paperzoo.shared.progress import progress
from paperzoo.shared.testbeds.classify import (
    MLP,
    TinyViT,
    as_tensors,
    evaluate,
    imagenet_loaders,
    train_classifier,
    train_on_gpu,
    train_steps,
)
from paperzoo.shared.torch import configure

if TYPE_CHECKING:
    from paperzoo.adan.bench import DigitsConfig, ImageNetConfig, SmokeConfig

# Inductor warns "No CUDA runtime is found" whenever it compiles on a CPU-only machine: not our news.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


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
    """The smoke scale: least squares, the digits MLP, clipping and the b2 = 0 equivalence figures."""
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
    losses = train_steps(model, opt, data["x_train"], data["y_train"], order)
    acc = evaluate(model, data["x_test"], data["y_test"])[0]
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
def run_full(config: DigitsConfig, seed: int) -> Result:
    """The full scale: every model, arm and grid learning rate (``<model>_<opt>_<budget>@<lr>/<metric>``).

    The ViT's runs follow Adan's ViT recipe for both optimizers (shifted batches, label smoothing, no decay on
    1-D tensors, the recipe's warm-up); the CNN's the plain protocol (all tensors decayed, no augmentation).
    """
    configure(threads=config.threads)
    data = as_tensors(load_digits_split(), config.device)
    wd = dict(config.weight_decay)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    runs = [(m, o, b, lr) for m in config.models for o, b in ARMS for lr in config.lr_grid(m)[o]]
    for model_name, opt, budget, lr in progress(runs, desc=f"digits, seed {seed}"):
        torch.manual_seed(seed)  # the same initial weights for every optimizer, budget and learning rate
        model = make_model(model_name).to(config.device)
        vit = model_name == "vit"
        if vit:
            factory = lambda _, o=opt, r=lr, m=model: make_recipe_optimizer(o, m, r, wd[o], config.implementation)  # noqa: E731
        else:
            factory = lambda ps, o=opt, r=lr: make_optimizer(o, ps, r, wd[o], config.implementation)  # noqa: E731
        history = train_classifier(
            model,
            factory,
            data,
            config.budget_epochs(budget),
            config.batch_size,
            seed,
            make_scheduler=warmup_cosine(config.warmup_fraction_of(model_name, budget)),
            label_smoothing=config.vit_label_smoothing if vit else 0.0,
            augment=shift_augmentation(config.vit_max_shift) if vit else None,
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

    :func:`paperzoo.shared.lr_grid.select_learning_rates` (within one validation example, the lower mean
    validation loss): adds ``<arm>/lr``, ``<arm>/lr_at_edge`` and the chosen run's ``<arm>/val_accuracy``,
    ``/test_accuracy`` and ``/train_loss``.
    """
    return lr_grid.select_learning_rates(
        per_seed, ("val_accuracy", "test_accuracy", "train_loss"), digits_val_example()
    )


# ---------------------------------------------------------------------------------------------- paper
def run_paper(config: ImageNetConfig, seed: int) -> Result:
    """The paper's headline: ViT-S/16 trained by Adan (150 epochs) and by AdamW (300 epochs); ``<opt>/test_accuracy``
    is the final validation top-1 (its per-epoch curve a series)."""
    data = imagenet_loaders(config.data_dir, config.image_size, config.batch_size, config.num_workers, seed)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for opt, epochs, lr, wd, warmup in config.arms:
        torch.manual_seed(seed)
        model = TinyViT(
            config.image_size,
            config.patch_size,
            3,
            config.dim,
            config.depth,
            config.heads,
            config.mlp_ratio,
            data.n_classes,
        ).to(config.device)
        optimizer = make_recipe_optimizer(opt, model, lr, wd, config.implementation)  # no decay on 1-D tensors
        schedule = warmup_cosine(warmup / epochs)(optimizer, epochs * len(data.train))
        accs = train_on_gpu(model, optimizer, schedule, data, epochs, config.device, desc=opt, label_smoothing=0.1)
        metrics[f"{opt}/test_accuracy"] = accs[-1]
        series[f"{opt}/test_accuracy"] = accs
    return Result(metrics, series)
