"""SGD-SaI: SGD with momentum whose per-tensor learning rates are scaled once, at the first step, by the g-SNR.

Xu, Xiang, Cai, Wen, "No More Adam: Learning Rate Scaling at Initialization is All You Need", 2024,
https://arxiv.org/abs/2412.11768. Official code: AnonymousAlethiometer/SGD_SaI, pip package ``sgd-sai``
v1.0.3 (class ``SGD_sai``), whose arguments, defaults and arithmetic the default mode follows.

Each parameter tensor p is one block. At its first step, from its first gradient g, the optimizer measures
the gradient signal-to-noise ratio (v1.0.3)

    gsnr_p = ‖g‖₂ / (σ(g) + ε),   σ = the unbiased standard deviation (N − 1) of g's entries,

with σ := 0 for a 1-element tensor (the official ``nan_to_num`` of the NaN std). The value is kept and
never updated. Every step t = 1, 2, … (the first included) is then momentum SGD at the fixed
per-tensor learning rate lr·gsnr_p with decoupled weight decay:

    buf_1 = g_1,   buf_t = μ·buf_{t−1} + (1 − μ)·g_t              (an EMA without bias correction)
    p ← p·(1 − lr·λ) − (lr·gsnr_p)·buf_t                          (the decay is not scaled by gsnr)

``gsnr_mode`` selects the official versions' definition of the scale (pin one; they are not equivalent):

- ``"std"`` (default, v1.0.3 on PyPI): the step size is lr·gsnr_p;
- ``"std_maxnorm"`` (v1.0.4, repository only): lr·gsnr_p / max_q gsnr_q, the maximum over every tensor
  of every group that has a gradient at the first ``step()``;
- ``"sqrt_numel"`` (v1.1.0, repository only): gsnr_p = sqrt(numel(p)), no gradient statistics (for a
  near-zero-mean gradient ‖g‖/σ ≈ sqrt(n)).

Edge cases (documented in the README, tested):

- 1-element tensors: σ = 0, so gsnr = |g|/ε, an enormous learning rate (official behaviour, the default).
  ``scalar_gsnr=c`` gives every 1-element tensor the g-SNR c instead (e.g. 1.0).
- A tensor whose first gradient is exactly zero gets gsnr = 0: it never moves again except by the decay
  (the official value 0/(0 + ε); here 0 also for ε = 0, where the official code gives NaN).

Where this code differs from the official v1.0.3 code (deliberately):

- The g-SNR is measured per tensor at that tensor's first gradient (the official code measures every
  tensor at the first ``step()`` only, and a tensor without a gradient then raises ``KeyError`` later).
  In ``"std_maxnorm"`` mode such a late tensor is divided by the first step's maximum.
- The scales are in the ``state_dict`` and survive a save/load (the official ``has_warmup`` flag is not
  saved, so a resumed official optimizer re-measures the g-SNR on its next gradient).
- ``momentum=0`` is plain SGD at lr·gsnr (buf = g, no buffer kept); the official code fails there.
- The closure is evaluated once per ``step()`` (the official first step evaluates it twice: once in
  ``warmup_step``, once in ``step``); nothing is printed.
- The g-SNR of float16/bfloat16 gradients is computed in float32; their state is float32 (shared machinery).
  It is kept as a Python float (float64): in float32 the official step size lr·gsnr is a float32 product.
- Complex parameters, an unknown ``gsnr_mode`` or a per-group ``gsnr_mode`` raise ``ValueError``.

Three implementations of one step, chosen with ``implementation``:

- ``"single_tensor"``: the official per-parameter form (in-place ops in the official order): bit-for-bit
  equal to the official package in float64 (tested).
- ``"foreach"``: ``torch._foreach_*`` ops over the bucket. The per-tensor step sizes need a list multiply
  and an add instead of one fused ``add_(alpha=…)``: within an ulp per step of the reference.
- ``"compiled"`` (default): one ``torch.compile``-d function fuses a group's step into one pass over memory
  (reads θ, g, buf; writes θ, buf). The step sizes enter as one float64 tensor, so a new learning rate never
  recompiles. Where compilation is impossible it warns and uses ``"foreach"``.

The bucketing by (device, step count), float32 state, compilation and fallback are
:mod:`paperzoo.shared.torch.optim`'s; this file holds SGD-SaI's arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
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
    float64_tensor,
    implementations,
    state_dtype,
)
from paperzoo.shared.validate import check_non_negative, check_one_of, check_range

__all__ = ["GSNR_MODES", "IMPLEMENTATIONS", "SGDSaI", "gradient_snr"]

GSNR_MODES: tuple[str, ...] = ("std", "std_maxnorm", "sqrt_numel")


def gradient_snr(grad: Tensor, eps: float = 1e-8) -> Tensor:
    """The official v1.0.3 g-SNR of one gradient tensor, ‖g‖₂ / (σ(g) + ε), as a 0-dim tensor.

    σ is the unbiased standard deviation (N − 1); for a 1-element tensor σ = 0 (the official code's
    ``nan_to_num`` of the NaN std), so the g-SNR is |g|/ε. A zero gradient (or an empty tensor) gives 0.
    Computed in the gradient's dtype (float32 for float16/bfloat16), as the official code does.
    """
    g = grad.detach()
    g = g.to(state_dtype(g))
    if g.numel() == 0:
        return g.new_zeros(())
    norm = torch.linalg.vector_norm(g)
    # σ = sqrt(Σ(g − ḡ)²/(N − 1)); NaN for N = 1, which the official code turns into 0
    sigma = g.std().nan_to_num() if g.numel() > 1 else g.new_zeros(())
    # ‖g‖/(σ + ε), and 0 for a zero gradient whatever ε (0/0 with ε = 0)
    return torch.where(norm == 0, g.new_zeros(()), norm / (sigma + eps))


@dataclass(frozen=True)
class _StepScalars:
    """The scalars of one step of one bucket: buf ← keep·buf + take·g; θ ← decay·θ − step_sizes[i]·buf."""

    keep: float  # 0 at the first step (buf = g), else μ
    take: float  # 1 at the first step, else 1 − μ
    decay: float  # 1 − lr·λ
    step_sizes: tuple[float, ...]  # lr·scale of each tensor of the bucket
    first: bool  # the bucket's first step: buf_1 = g_1
    has_buffer: bool  # μ > 0 (else buf_t = g_t and no state is kept)

    def as_tensor(self, device: torch.device) -> Tensor:
        """The changing scalars as one float64 tensor on ``device`` (the compiled function's input)."""
        return float64_tensor([self.keep, self.take, self.decay, *self.step_sizes], device)


class SGDSaI(BucketedOptimizer):
    r"""SGD-SaI (Xu et al., 2024), with the arguments, defaults and arithmetic of the official ``sgd-sai`` v1.0.3.

    Per parameter tensor p with gradient g_t at its step t = 1, 2, …:

    - t = 1 only: gsnr_p = ‖g_1‖₂/(σ(g_1) + ε) (σ unbiased; see ``gsnr_mode`` for the other versions), fixed;
    - buf_1 = g_1, buf_t = μ·buf_{t−1} + (1 − μ)·g_t;
    - p ← p·(1 − lr·λ) − lr·gsnr_p·buf_t  (``"std_maxnorm"``: lr·gsnr_p/max_q gsnr_q).

    Args:
        params: parameters or parameter groups (dicts) to optimize.
        lr: base learning rate, ≥ 0; the effective rate of tensor p is lr·gsnr_p (gsnr_p is of the order of
            sqrt(numel(p)), so lr is much smaller than SGD's).
        momentum: μ in [0, 1) (0: no buffer, plain SGD at lr·gsnr_p).
        eps: ε ≥ 0 added to σ in the g-SNR.
        weight_decay: λ ≥ 0, decoupled: p ← p·(1 − lr·λ), not scaled by the g-SNR.
        gsnr_mode: ``"std"`` (v1.0.3, default), ``"std_maxnorm"`` (v1.0.4) or ``"sqrt_numel"`` (v1.1.0); one
            mode for the whole optimizer.
        scalar_gsnr: the g-SNR given to 1-element tensors (a guard against their |g|/ε); None (default)
            keeps the official |g|/ε.
        implementation: ``"compiled"`` (fused, default), ``"foreach"`` or ``"single_tensor"``.

    Per-parameter state: ``step`` (int), ``gsnr`` (float, fixed after the first step), in
    ``"std_maxnorm"`` mode ``gsnr_max`` (float, the normaliser), and ``momentum_buffer`` (a tensor like p,
    float32 for float16/bfloat16 parameters; absent for μ = 0): 4 bytes per float32 parameter, half of AdamW's.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        momentum: float = 0.9,
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        gsnr_mode: str = "std",
        scalar_gsnr: float | None = None,
        implementation: str = "compiled",
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "eps": eps,
            "weight_decay": weight_decay,
            "gsnr_mode": gsnr_mode,
            "scalar_gsnr": scalar_gsnr,
            "implementation": implementation,
        }
        _validate_settings(defaults)
        super().__init__(params, defaults)

    def _validate(self, settings: dict[str, Any]) -> None:
        _validate_settings(settings)
        if settings["gsnr_mode"] != self.defaults["gsnr_mode"]:
            raise ValueError(
                f"gsnr_mode is one for the whole optimizer ({self.defaults['gsnr_mode']!r}): set it on the "
                f"optimizer, not per group, got {settings['gsnr_mode']!r}"
            )

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] > 0 else ()

    @torch.no_grad()
    def warmup_step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Measure the g-SNR of every parameter that has a gradient and none yet, without updating anything.

        ``step()`` does this itself at each parameter's first gradient (official v1.0.3); calling it
        explicitly after the first ``backward()`` (official v1.0.2's API) fixes the scales before the first
        update, e.g. to inspect them with :meth:`lr_scale`. Returns the closure's loss (None without one).
        """
        loss = self._evaluate(closure)
        self._measure_new_params()
        return loss

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Evaluate the closure, measure the g-SNR of parameters at their first gradient, then update.

        ``closure`` re-evaluates the model and returns the loss (it runs with gradients enabled); that loss is
        returned (None without a closure). Parameters without a gradient are left alone.
        """
        loss = self._evaluate(closure)
        self._measure_new_params()
        self._update()
        return loss

    def lr_scale(self, param: Tensor) -> float:
        """The fixed factor of ``param``'s learning rate: gsnr, or gsnr/gsnr_max in ``"std_maxnorm"`` mode.

        Raises ``KeyError`` if the parameter has not had its first gradient yet.
        """
        state = self.state[param]
        if "gsnr" not in state:
            raise KeyError("this parameter has no g-SNR yet: it has not had a gradient in step()/warmup_step()")
        return _scale(state)

    def _measure_new_params(self) -> None:
        """Fix the g-SNR (and the initial state) of every parameter with a gradient and no g-SNR yet."""
        mode = self.defaults["gsnr_mode"]
        new: list[tuple[Tensor, dict[str, Any]]] = []
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None and "gsnr" not in self.state[param]:
                    if param.grad.is_sparse:
                        raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                    new.append((param, group))
        if not new:
            return
        values = _measure(new, mode)
        if mode == "std_maxnorm":
            previous = next((s["gsnr_max"] for s in self.state.values() if "gsnr_max" in s), None)
            # the first step's maximum over every tensor of every group (official v1.0.4); later tensors use it
            normaliser = max(values) if previous is None else previous
        for (param, group), value in zip(new, values, strict=True):
            state = self.state[param]
            if not state:
                state.update(self._initial_state(param, group))
            state["gsnr"] = value
            if mode == "std_maxnorm":
                state["gsnr_max"] = normaliser

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:
        lr, momentum = group["lr"], group["momentum"]
        first = step == 1
        scalars = _StepScalars(
            keep=0.0 if first else momentum,
            take=1.0 if first else 1.0 - momentum,
            decay=1.0 - group["weight_decay"] * lr,
            # lr·gsnr_p (official: lr * state['gsnr']), or lr·gsnr_p/gsnr_max (v1.0.4)
            step_sizes=tuple(_step_size(lr, self.state[p]) for p in bucket.params),
            first=first,
            has_buffer=momentum > 0,
        )
        _IMPLEMENTATIONS[group["implementation"]](bucket, scalars)


def _scale(state: dict[str, Any]) -> float:
    """The learning-rate factor of one tensor from its state."""
    return state["gsnr"] / state["gsnr_max"] if "gsnr_max" in state else state["gsnr"]


def _step_size(lr: float, state: dict[str, Any]) -> float:
    """lr·gsnr, or (lr·gsnr)/gsnr_max: the official operation order (a float64 product, then the division)."""
    step = lr * state["gsnr"]
    return step / state["gsnr_max"] if "gsnr_max" in state else step


def _measure(new: Iterable[tuple[Tensor, dict[str, Any]]], mode: str) -> list[float]:
    """The g-SNR of each (parameter, group) from its current gradient, as Python floats."""
    values: list[Tensor | float] = []
    for param, group in new:
        if group["scalar_gsnr"] is not None and param.numel() == 1:
            values.append(float(group["scalar_gsnr"]))
        elif mode == "sqrt_numel":
            values.append(math.sqrt(param.numel()))
        else:
            values.append(gradient_snr(param.grad, group["eps"]))
    tensors = [v.to("cpu", torch.float64) for v in values if isinstance(v, Tensor)]  # once per tensor, ever
    measured = iter(torch.stack(tensors).tolist() if tensors else [])
    return [next(measured) if isinstance(v, Tensor) else v for v in values]


def _validate_settings(settings: dict[str, Any]) -> None:
    check_non_negative("lr", settings["lr"])
    check_range("momentum", settings["momentum"], 0.0, 1.0, low_inclusive=True, high_inclusive=False)
    check_non_negative("eps", settings["eps"])
    check_non_negative("weight_decay", settings["weight_decay"])
    check_one_of("gsnr_mode", settings["gsnr_mode"], GSNR_MODES)
    if settings["scalar_gsnr"] is not None:
        check_range("scalar_gsnr", settings["scalar_gsnr"], 0.0, math.inf, high_inclusive=False)


def _single_tensor_update(bucket: Bucket, c: _StepScalars) -> None:
    """The official per-parameter form: in-place torch ops, one parameter at a time, in the official order."""
    bufs = bucket.state["momentum_buffer"] if c.has_buffer else bucket.grads
    for param, grad, buf, step_size in zip(bucket.params, bucket.grads, bufs, c.step_sizes, strict=True):
        dtype = state_dtype(param)
        # float16/bfloat16 parameters are updated in a float32 copy (same tensor otherwise)
        theta = param.to(dtype)
        grad = grad.to(dtype)
        if not c.has_buffer:
            # μ = 0: buf_t = g_t
            buf = grad
        elif c.first:
            # buf_1 = g_1 (official: a clone of the first gradient)
            buf.copy_(grad)
        else:
            # buf_t = μ·buf_{t−1} + (1 − μ)·g_t
            buf.mul_(c.keep).add_(grad, alpha=c.take)
        # θ ← θ·(1 − lr·λ) − lr·gsnr·buf_t
        theta.mul_(c.decay).add_(buf, alpha=-step_size)
        if theta is not param:
            param.copy_(theta)


def _foreach_update(bucket: Bucket, c: _StepScalars) -> None:
    """The same step with ``torch._foreach_*`` ops over the bucket."""
    params = bucket.params
    thetas = [p.to(state_dtype(p)) for p in params]
    grads = [g.to(state_dtype(p)) for g, p in zip(bucket.grads, params, strict=True)]
    if not c.has_buffer:
        # μ = 0: buf_t = g_t
        bufs = grads
    elif c.first:
        # buf_1 = g_1
        bufs = bucket.state["momentum_buffer"]
        torch._foreach_copy_(bufs, grads)
    else:
        # buf_t = μ·buf_{t−1} + (1 − μ)·g_t
        bufs = bucket.state["momentum_buffer"]
        torch._foreach_mul_(bufs, c.keep)
        torch._foreach_add_(bufs, grads, alpha=c.take)
    # θ ← θ·(1 − lr·λ) − lr·gsnr·buf_t, one step size per tensor
    torch._foreach_mul_(thetas, c.decay)
    torch._foreach_add_(thetas, torch._foreach_mul(bufs, [-s for s in c.step_sizes]))
    for param, theta in zip(params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _fused_update(
    params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]], scalars: Tensor, has_buffer: bool
) -> None:
    """One step as one traceable function (compiled by :data:`_COMPILED`).

    ``scalars`` = [keep, take, decay, step size of each tensor]: graph inputs, not constants, so one graph
    serves every step and learning rate (the first step's buf_1 = g_1 is keep = 0, take = 1).
    """
    keep, take, decay = scalars[0], scalars[1], scalars[2]
    for index, (param, grad) in enumerate(zip(params, grads, strict=True)):
        dtype = state_dtype(param)
        grad = grad.to(dtype)
        if has_buffer:
            # buf_t = keep·buf_{t−1} + take·g_t
            buf = state["momentum_buffer"][index]
            new_buf = buf * keep + take * grad
            buf.copy_(new_buf)
        else:
            # μ = 0: buf_t = g_t
            new_buf = grad
        # θ ← θ·(1 − lr·λ) − lr·gsnr·buf_t
        param.copy_(param.to(dtype) * decay - scalars[3 + index] * new_buf)


_COMPILED = CompiledStep("SGDSaI", _fused_update, fallback=_foreach_update)


def _compiled_update(bucket: Bucket, c: _StepScalars) -> None:
    """The fused compiled step (one graph per bucket signature; μ = 0 is a second graph)."""
    _COMPILED(bucket, c, c.has_buffer)


_IMPLEMENTATIONS = implementations(
    compiled=_compiled_update, foreach=_foreach_update, single_tensor=_single_tensor_update
)
