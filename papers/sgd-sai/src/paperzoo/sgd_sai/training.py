"""The compared optimizers, their per-optimizer settings' validation, and the learning-rate schedules of every scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from paperzoo.sgd_sai.optimizer import SGDSaI
from paperzoo.shared.torch import weight_decay_groups
from paperzoo.shared.validate import check_positive_int, check_range

OPTIMIZERS = ("sgd_sai", "adamw", "sgdm")
SGDM_MOMENTUM = 0.9

MakeScheduler = Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler]


def check_per_optimizer(name: str, table: tuple[tuple[str, Any], ...]) -> None:
    """``table`` names each of :data:`OPTIMIZERS` once, in that order (a config's per-optimizer setting)."""
    if tuple(k for k, _ in table) != OPTIMIZERS:
        raise ValueError(f"{name} must give one entry per optimizer in the order {OPTIMIZERS}")


def check_lr_grid(table: tuple[tuple[str, tuple[float, ...]], ...]) -> None:
    """A per-optimizer learning-rate grid: every optimizer, the same number of increasing positive values."""
    check_per_optimizer("lr_grid", table)
    sizes = {len(values) for _, values in table}
    if len(sizes) != 1:
        raise ValueError(f"lr_grid must give every optimizer the same number of learning rates, got {table}")
    for opt, values in table:
        if len(values) < 1 or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
            raise ValueError(f"lr_grid[{opt!r}] must be increasing positive values, got {values}")


def make_optimizer(
    name: str,
    params: list[nn.Parameter] | list[dict[str, Any]],
    lr: float,
    weight_decay: float,
    implementation: str = "compiled",
) -> torch.optim.Optimizer:
    """SGD-SaI (official defaults: momentum 0.9, eps 1e-8), torch's AdamW, or torch's SGD with momentum 0.9.

    AdamW and SGD-SaI decay decoupled (θ·(1 − lr·λ)); ``torch.optim.SGD`` adds λ·θ to the gradient (L2).
    ``params`` is a list of tensors or of parameter groups; a group's own ``weight_decay`` overrides
    ``weight_decay``.
    """
    if name == "sgd_sai":
        return SGDSaI(params, lr=lr, weight_decay=weight_decay, implementation=implementation)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=SGDM_MOMENTUM, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def make_transformer_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float, implementation: str = "compiled"
) -> torch.optim.Optimizer:
    """:func:`make_optimizer` over ``model``'s two decay groups (:func:`paperzoo.shared.torch.weight_decay_groups`):
    tensors with ndim >= 2 decayed, biases and LayerNorm gains not, as nanoGPT, the official GPT-2 script and
    timm do for every optimizer."""
    return make_optimizer(name, weight_decay_groups(model, weight_decay), lr, weight_decay, implementation)


def warmup_cosine(warmup_fraction: float) -> MakeScheduler:
    """``make_scheduler(optimizer, total_steps)``: torch's linear warm-up over a fraction of the steps, then cosine.

    The factor is (i + 1)/w for steps i < w = round(fraction·total_steps), then cosine from 1 to 0 at the end.
    """
    check_range("warmup_fraction", warmup_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)

    def make(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
        warmup = max(1, round(warmup_fraction * total_steps))
        schedulers = torch.optim.lr_scheduler
        return schedulers.SequentialLR(
            optimizer,
            [
                schedulers.LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup - 1 or 1),
                schedulers.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup)),
            ],
            milestones=[warmup],
        )

    return make


def step_decay(epochs: int, every: int, factor: float) -> MakeScheduler:
    """``make_scheduler(optimizer, total_steps)``: the official CIFAR script's ``SWDLambdaLR``, per step.

    The official schedule multiplies the learning rate by ``factor ** (epoch // every)`` (0.1 every 80 epochs),
    stepped once per epoch; stepped per optimizer step over ``epochs`` equal epochs of ``total_steps // epochs``
    steps, this is the same factor at every step.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("every", every)
    check_range("factor", factor, 0.0, 1.0, low_inclusive=False)

    def make(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
        if total_steps % epochs:
            raise ValueError(f"total_steps ({total_steps}) must be a multiple of epochs ({epochs})")
        per_epoch = total_steps // epochs
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor ** (step // per_epoch // every))

    return make
