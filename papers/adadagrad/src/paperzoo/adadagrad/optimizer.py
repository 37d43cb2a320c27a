"""AdaGrad-Norm: AdaGrad with one scalar step size for the whole parameter vector.

Ward, Wu, Bottou, "AdaGrad stepsizes: sharp convergence over nonconvex landscapes" (2019), the optimizer that
AdAdaGrad-Norm (Lau, Liu, Kolar, 2024, https://arxiv.org/abs/2402.11215) drives with adaptive batch sizes.
With the batch-mean gradient g_k of all parameters of a group (one vector),

    s_{k+1}² = s_k² + ‖g_k‖²,      θ_{k+1} = θ_k − α·g_k / s_{k+1},       s_0 > 0.

The accumulator s² is one float64 number per parameter group (``group["sum_sq"]``, a 0-dim tensor on the
parameters' device, saved in the ``state_dict`` with the group); it is created at the group's first step as
s_0². A parameter without a gradient contributes nothing and is not moved. A step reads each gradient twice
(once for ‖g‖², once for the update) and reads and writes each parameter once: 4 floats per parameter, no
per-parameter state (AdamW moves 7).

The official repository's ``Adagradnorm`` (timlautk/AdAdaGrad ``adagradnorm.py``) is a different, row-wise
variant (one accumulator per output row of a matrix or kernel, initial accumulator 1e-2); its MNIST and
CIFAR runs use ``torch.optim.Adagrad``. This file implements the paper's scalar AdaGrad-Norm (README,
deviations).

Three implementations of the update, chosen with ``implementation``: ``"single_tensor"`` (a loop over
parameters), ``"foreach"`` (``torch._foreach_*``) and ``"compiled"`` (default: one ``torch.compile``-d pass
θ ← θ − c·g with c = α/s_{k+1} a tensor input, so a new α or s never recompiles). ‖g‖² is a foreach norm in
every implementation. Bucketing, float32 state of half-precision parameters, compilation and its fallback
are :mod:`paperzoo.shared.torch.optim`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from paperzoo.shared.torch.optim import (
    IMPLEMENTATIONS,
    Bucket,
    BucketedOptimizer,
    CompiledStep,
    implementations,
    state_dtype,
)
from paperzoo.shared.validate import check_range

__all__ = ["IMPLEMENTATIONS", "AdaGradNorm"]


@dataclass(frozen=True)
class _StepScalars:
    """The step size c = α/s_{k+1} of one group's step, kept on the device (no host synchronisation)."""

    step_size: Tensor  # 0-dim float64

    def as_tensor(self, device: torch.device) -> Tensor:
        """c as a 1-element float64 tensor on ``device`` (the compiled function's input)."""
        return self.step_size.to(device).reshape(1)


class AdaGradNorm(BucketedOptimizer):
    r"""AdaGrad-Norm (Ward et al., 2019): s_{k+1}² = s_k² + ‖g_k‖², θ_{k+1} = θ_k − α·g_k/s_{k+1}.

    ‖g_k‖ is the norm of the whole gradient of a parameter group (every parameter with a gradient); with one
    group (the usual case) it is the paper's scalar over all of θ.

    Args:
        params: parameters or parameter groups (dicts) to optimize.
        lr: α > 0.
        s0: s_0 > 0, the initial accumulator's square root (the paper's b_0; ``s0=1e-2`` here, so s_0² = 1e-4).
        implementation: ``"compiled"`` (fused, default), ``"foreach"`` or ``"single_tensor"``.

    Group state: ``sum_sq`` (s², a float64 0-dim tensor). Per-parameter state: ``step`` (int) only.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, s0: float = 1e-2, implementation: str = "compiled") -> None:
        defaults = {"lr": lr, "s0": s0, "implementation": implementation}
        _validate_settings(defaults)
        super().__init__(params, defaults)

    def _validate(self, settings: dict[str, Any]) -> None:
        _validate_settings(settings)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ()

    def _update(self) -> None:
        """Per group: s² += Σ‖g‖² over every bucket, then θ ← θ − (α/s)·g in each bucket."""
        for group in self.param_groups:
            buckets = list(self._buckets(group).values())
            if not buckets:
                continue
            device = buckets[0].params[0].device
            if "sum_sq" not in group:
                group["sum_sq"] = torch.tensor(group["s0"] ** 2, dtype=torch.float64, device=device)
            squared = [_squared_norm(bucket.grads).to(device) for bucket in buckets]
            group["sum_sq"] = group["sum_sq"].to(device) + torch.stack(squared).sum()
            scalars = _StepScalars(group["lr"] / group["sum_sq"].sqrt())
            for bucket in buckets:
                _IMPLEMENTATIONS[group["implementation"]](bucket, scalars)

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:  # pragma: no cover
        raise NotImplementedError("AdaGradNorm updates whole groups (_update): s couples every bucket")


def _validate_settings(settings: dict[str, Any]) -> None:
    check_range("lr", settings["lr"], 0.0, math.inf, low_inclusive=False, high_inclusive=False)
    check_range("s0", settings["s0"], 0.0, math.inf, low_inclusive=False, high_inclusive=False)


def _squared_norm(grads: list[Tensor]) -> Tensor:
    """Σ‖g‖² of a bucket's gradients in float64 (each norm in the state dtype: float32 for half precision)."""
    norms = torch._foreach_norm([g.to(state_dtype(g)) for g in grads])
    return torch.stack(norms).double().square().sum()


def _single_tensor_update(bucket: Bucket, c: _StepScalars) -> None:
    """θ ← θ − c·g, one parameter at a time (half-precision parameters updated in float32, then rounded)."""
    for param, grad in zip(bucket.params, bucket.grads, strict=True):
        dtype = state_dtype(param)
        step = c.step_size.to(param.device, dtype)
        param.copy_(param.to(dtype) - step * grad.to(dtype))


def _foreach_update(bucket: Bucket, c: _StepScalars) -> None:
    """θ ← θ − c·g with ``torch._foreach_*`` ops over the bucket."""
    thetas = [p.to(state_dtype(p)) for p in bucket.params]
    grads = [g.to(state_dtype(p)) for g, p in zip(bucket.grads, bucket.params, strict=True)]
    # θ += g·(−c) in place (no temporary: allocating one per step cost more than the update itself); a float64
    # 0-dim factor, so each product is computed in its tensor's dtype (0-dim tensors do not promote)
    step = -c.step_size.to(bucket.params[0].device)
    torch._foreach_addcmul_(thetas, grads, [step] * len(grads))
    for param, theta in zip(bucket.params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _fused_update(params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]], scalars: Tensor) -> None:
    """θ ← θ − c·g as one traceable function; ``scalars`` = [c] (a graph input: no recompilation)."""
    for param, grad in zip(params, grads, strict=True):
        dtype = state_dtype(param)
        param.copy_(param.to(dtype) - scalars[0].to(dtype) * grad.to(dtype))


_COMPILED = CompiledStep("AdaGradNorm", _fused_update, fallback=_foreach_update)


def _compiled_update(bucket: Bucket, c: _StepScalars) -> None:
    """The fused compiled step (one graph per bucket signature)."""
    _COMPILED(bucket, c)


_IMPLEMENTATIONS = implementations(
    compiled=_compiled_update, foreach=_foreach_update, single_tensor=_single_tensor_update
)
