"""The four compared optimizers, each with its own weight-decay convention, and the learning-rate schedule."""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.adamp.optimizer import SGDP, AdamP

OPTIMIZERS = ("sgd", "sgdp", "adamw", "adamp")
# Each projected optimizer and its baseline.
PAIRS = (("sgdp", "sgd"), ("adamp", "adamw"))


def make_optimizer(
    name: str,
    params: list[nn.Parameter],
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    implementation: str = "compiled",
    delta: float = 0.1,
) -> torch.optim.Optimizer:
    """One of the four compared optimizers, each with its own weight-decay convention.

    SGD: ``torch.optim.SGD`` with Nesterov momentum and L2 decay (added to the gradient). SGDP: Nesterov
    momentum, decoupled decay λ/(1 − μ) (r = 0.1 on projected weights), the official defaults otherwise.
    AdamW: ``torch.optim.AdamW`` (decoupled). AdamP: decoupled decay (r = 0.1 on projected weights).
    """
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "sgdp":
        return SGDP(
            params,
            lr=lr,
            momentum=momentum,
            nesterov=True,
            weight_decay=weight_decay,
            delta=delta,
            implementation=implementation,
        )
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adamp":
        return AdamP(params, lr=lr, weight_decay=weight_decay, delta=delta, implementation=implementation)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate annealed from its initial value to 0 along a half cosine over ``total_steps``."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
