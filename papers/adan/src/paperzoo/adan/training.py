"""The compared optimizers, the warm-up + cosine schedule, the digits models and the names of the grid runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from paperzoo.adan.optimizer import Adan
from paperzoo.shared import lr_grid
from paperzoo.shared.testbeds.classify import SmallCNN, TinyViT, random_shift
from paperzoo.shared.torch import warmup_cosine_schedule, weight_decay_groups
from paperzoo.shared.validate import check_one_of

OPTIMIZERS = ("adan", "adamw")
MODELS = ("vit", "cnn")
# (optimizer, budget): Adan at half and at the full epochs, AdamW at the full epochs.
ARMS = (("adan", "half"), ("adan", "full"), ("adamw", "full"))


def make_optimizer(
    name: str,
    params: list[nn.Parameter] | list[dict[str, Any]],
    lr: float,
    weight_decay: float,
    implementation: str = "compiled",
) -> torch.optim.Optimizer:
    """Adan (official defaults: betas (0.98, 0.92, 0.99), eps 1e-8, proximal decay) or torch's AdamW.

    ``params`` is a list of tensors or of parameter groups; a group's own ``weight_decay`` overrides
    ``weight_decay`` (e.g. :func:`paperzoo.shared.torch.weight_decay_groups`).
    """
    if name == "adan":
        return Adan(params, lr=lr, weight_decay=weight_decay, implementation=implementation)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def warmup_cosine(warmup_fraction: float) -> Any:
    """``make_scheduler(optimizer, total_steps)``: linear warm-up over a fraction of the steps, then cosine to 0."""

    def make(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
        return warmup_cosine_schedule(optimizer, total_steps, max(1, round(warmup_fraction * total_steps)))

    return make


def make_recipe_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float, implementation: str = "compiled"
) -> torch.optim.Optimizer:
    """:func:`make_optimizer` over ``model``'s two decay groups: tensors with ndim >= 2 decayed, the rest (biases,
    LayerNorm gains) not, as Adan's ViT recipe (timm, ``bias_decay: false``) does for every optimizer."""
    return make_optimizer(name, weight_decay_groups(model, weight_decay), lr, weight_decay, implementation)


def shift_augmentation(max_shift: int) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """``augment(x, generator)`` for ``train_classifier``: random shifts of up to ``max_shift`` pixels (None at 0)."""
    if max_shift == 0:
        return None
    return lambda x, generator: random_shift(x, max_shift, generator)


def make_model(name: str) -> nn.Module:
    """The digits-scale models: the tiny ViT (69k parameters) and the shared small CNN (21.6k)."""
    check_one_of("model", name, MODELS)
    return TinyViT() if name == "vit" else SmallCNN()


def grid_key(model: str, opt: str, budget: str, lr: float) -> str:
    """The arm name of one run, e.g. ``vit_adan_half@0.005``."""
    return lr_grid.grid_key(f"{model}_{opt}_{budget}", lr)
