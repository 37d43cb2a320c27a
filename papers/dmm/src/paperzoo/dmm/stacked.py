"""Losses, gradients and outputs of many small models at once, on ``paperzoo.shared.torch.many``'s stacked
parameters (the unlearning loops; training from scratch is ``paperzoo.shared.torch.many.train_many``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from paperzoo.shared.torch.many import Params, forward_many, per_model_losses
from paperzoo.shared.validate import check_positive_int


def per_model_loss(outputs: Tensor, targets: Tensor, kind: str = "ce") -> Tensor:
    """Each model's mean loss over its batch, ``[M]``: ``outputs`` ``[M, B, C]``; ``kind`` "ce" (targets ``[M, B]``
    class indices, or ``[M, B, C]`` probabilities) or "mse" (targets ``[M, B, C]``, mean over batch and classes)."""
    if kind == "mse":
        return (outputs - targets).pow(2).mean(dim=(1, 2))
    if kind != "ce":
        raise ValueError(f"kind must be 'ce' or 'mse', got {kind!r}")
    return per_model_losses(outputs, targets)


def stacked_grads(template: nn.Module, params: Params, loss: Callable[[Params], Tensor]) -> Params:
    """Every model's gradient of its own loss: ``loss(params)`` returns ``[M]`` per-model losses; their sum is
    differentiated once (model m's parameters reach only its own loss)."""
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(loss(leaves).sum(), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


@torch.no_grad()
def outputs_stacked(template: nn.Module, params: Params, x: Tensor, chunk: int = 256) -> Tensor:
    """Every model's outputs on the shared inputs ``x`` (``[n, ...]``) -> ``[M, n, C]``, ``chunk`` models at a time."""
    check_positive_int("chunk", chunk)
    m = next(iter(params.values())).shape[0]
    parts = [
        forward_many(template, {k: v[i : i + chunk] for k, v in params.items()}, x, shared_input=True)
        for i in range(0, m, chunk)
    ]
    return torch.cat(parts)


def repeat_models(params: Params, times: int) -> Params:
    """Each model's parameters repeated ``times`` times on the model axis (model-major: m0, m0, ..., m1, ...)."""
    check_positive_int("times", times)
    return {k: v.repeat_interleave(times, dim=0) for k, v in params.items()}
