"""Per-sample gradients with ``torch.func``: ``vmap(grad(loss of one sample))``, chunked to bound memory."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from paperzoo.shared.validate import check_positive_int


def check_no_train_batchnorm(model: nn.Module) -> None:
    """``ValueError`` naming ``model`` if it holds a BatchNorm layer in train mode.

    Batch statistics couple the samples of a batch: the per-sample gradients would not be those of the
    samples' own losses. Use a model without BatchNorm, or put the BatchNorm layers in eval mode.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
            raise ValueError(
                f"model: BatchNorm layer {name!r} is in train mode; per-sample gradients need a model without "
                "train-mode BatchNorm (batch statistics couple the samples)"
            )


def per_sample_grads(model: nn.Module, x: Tensor, y: Tensor, chunk_size: int | None = 256) -> dict[str, Tensor]:
    """∇_θ ℓ(f_θ(x_i), y_i) for every sample i, as ``{name: (b, *param.shape)}`` (cross-entropy loss).

    Computed at the model's current parameters by ``vmap(grad)`` over samples, ``chunk_size`` samples at a
    time (None: all at once); the parameters and buffers are detached, so nothing reaches ``.grad``. Their
    mean over i is the gradient of the batch's mean loss. Deterministic layers only (no dropout in train
    mode); ``ValueError`` for a model with train-mode BatchNorm or a bad ``chunk_size``.
    """
    check_no_train_batchnorm(model)
    if chunk_size is not None:
        check_positive_int("chunk_size", chunk_size)
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        logits = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0))

    return vmap(grad(loss), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, x, y)


def per_sample_grads_loop(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """The same gradients by one autograd backward per sample (the reference and the speed baseline)."""
    names = [k for k, v in model.named_parameters() if v.requires_grad]
    params = [v for v in model.parameters() if v.requires_grad]
    rows = []
    for xi, yi in zip(x, y, strict=True):
        loss = F.cross_entropy(model(xi.unsqueeze(0)), yi.unsqueeze(0))
        rows.append(torch.autograd.grad(loss, params))
    return {name: torch.stack([row[j] for row in rows]) for j, name in enumerate(names)}
