"""The compared optimizers, the warm-up + cosine schedule, the digits models and the names of the grid runs."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from paperzoo.adan.optimizer import Adan
from paperzoo.shared import lr_grid
from paperzoo.shared.testbeds.classify import SmallCNN, TinyViT
from paperzoo.shared.validate import check_one_of

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


def grid_key(model: str, opt: str, budget: str, lr: float) -> str:
    """The arm name of one run, e.g. ``vit_adan_half@0.005``."""
    return lr_grid.grid_key(f"{model}_{opt}_{budget}", lr)
