"""AdaBelief: Adam with the second moment replaced by the belief in the observed gradient.

Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients",
NeurIPS 2020, https://arxiv.org/abs/2010.07468. Official code: juntang-zhuang/Adabelief-Optimizer,
pip package ``adabelief-pytorch`` v0.2.1, whose arguments, defaults and arithmetic this module follows.

Adam divides the momentum ``m_t`` by ``sqrt(v_t)``, the root of an EMA of ``g_t²``. AdaBelief divides
by ``sqrt(s_t)``, the root of an EMA of ``(g_t − m_t)²``: how far the gradient lands from where the
momentum predicted it (the "belief"). A gradient that agrees with its prediction gets a large step;
a surprising one a small step.

Where this code differs from the paper:

- The paper projects the update onto a feasible set (``Π_{F, sqrt(s_t)}``); for unconstrained
  networks that is the identity, and neither the official code nor this one has a projection.
- The default update is rectified as in RAdam (``rectify=True``, the official v0.2.1 default); the
  paper's algorithm is ``rectify=False``. ε is added to ``s_t`` every step, as in the paper's
  Algorithm (v2) and the official code, *and* once more outside the square root.

Where this code differs from the official code (deliberately):

- L2 weight decay (``weight_decouple=False``) is added to a copy of the gradient; the official code
  adds it to ``p.grad`` in place, so the caller's gradient changes.
- ``1/sqrt(1−β2^t)`` multiplies instead of dividing by ``sqrt(1−β2^t)``, and the momentum step is
  ``lr/(1−β1^t)`` instead of ``lr·(1/(1−β1^t))``: at most one rounding apart (checked to 1e-12
  against the official package). Multiplying keeps all three implementations the same arithmetic
  on every device (a CUDA division by a scalar is done as a multiplication by its reciprocal).
- float16 *and* bfloat16 parameters keep float32 state and are updated in float32, then rounded
  back (the official code does this for float16 only). ε = 1e-16 underflows to 0 in float16, and in
  bfloat16 ``β2·s`` with β2 = 0.999 rounds back to ``s``, so the EMAs would not move.
- Validation: a negative weight decay, a complex parameter or an unknown implementation is an error.

Three implementations of one step, chosen with ``implementation``:

- ``"single_tensor"``: the readable reference, a loop over parameters with in-place torch ops.
- ``"foreach"``: the same ops in the same order with ``torch._foreach_*`` over a group's
  parameters; bit-for-bit equal to ``"single_tensor"`` on CPU (and on CUDA, as checked on an H200).
- ``"compiled"`` (default): one ``torch.compile``-d function fuses the whole step of a group into
  one pass over memory. The per-step scalars enter as one float64 tensor, so that a change of
  learning rate or step count never recompiles. The rectified mode's momentum-SGD steps (t ≤ 5 for
  β2 ≥ 0.9) run the foreach ops. Where compilation is impossible it warns and uses ``"foreach"``.

The bucketing by (device, step count), float32 state, compilation and fallback are
:mod:`paperzoo.shared.torch.optim`'s; this file holds AdaBelief's arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

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
)
from paperzoo.shared.validate import check_betas, check_non_negative, check_one_of

__all__ = ["IMPLEMENTATIONS", "AdaBelief"]

UpdateMode = Literal["adaptive", "momentum", "frozen"]


@dataclass(frozen=True)
class _StepScalars:
    """The scalars of one step of one parameter group at one step count ``t`` (Python float64).

    The parameter update of every mode is written with them as
    ``θ ← θ − step_size·m_t / (denom_scale·sqrt(s_t) + ε)`` (``"adaptive"``),
    ``θ ← θ − step_size·m_t`` (``"momentum"``) or no parameter update (``"frozen"``).
    """

    decay: float  # θ ← decay·θ before the moments: 1 − lr·λ, 1 − λ (fixed_decay) or 1 (L2 / no decay)
    l2: float  # g ← g + l2·θ (0 unless weight_decouple=False)
    beta1: float
    one_minus_beta1: float
    beta2: float
    one_minus_beta2: float
    eps: float
    mode: UpdateMode
    step_size: float
    denom_scale: float
    amsgrad: bool  # keep s_max = max(s_max, s_t)
    denom_from_max: bool  # use s_max instead of s_t in the denominator (AMSGrad, non-rectified)

    @classmethod
    def of(cls, group: dict[str, Any], step: int) -> _StepScalars:
        lr, weight_decay, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if not group["weight_decouple"]:
            decay, l2 = 1.0, weight_decay
        elif group["fixed_decay"]:
            decay, l2 = 1.0 - weight_decay, 0.0
        else:
            decay, l2 = 1.0 - lr * weight_decay, 0.0
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        mode: UpdateMode = "adaptive"
        denom_scale = 1.0
        if not group["rectify"]:
            step_size = lr / bias_correction1
            denom_scale = 1.0 / math.sqrt(bias_correction2)
        else:
            # ρ∞ = 2/(1−β2) − 1,  ρ_t = ρ∞ − 2t·β2^t/(1−β2^t)
            rho_inf = 2.0 / (1.0 - beta2) - 1.0
            rho_t = rho_inf - 2.0 * step * beta2**step / bias_correction2
            if rho_t >= 5.0:
                # r = sqrt((1−β2^t)·(ρ_t−4)/(ρ∞−4)·(ρ_t−2)/ρ_t·ρ∞/(ρ∞−2)) / (1−β1^t)
                rectifier = (
                    math.sqrt(
                        bias_correction2
                        * (rho_t - 4.0)
                        / (rho_inf - 4.0)
                        * (rho_t - 2.0)
                        / rho_t
                        * rho_inf
                        / (rho_inf - 2.0)
                    )
                    / bias_correction1
                )
                step_size = lr * rectifier
            elif group["degenerated_to_sgd"]:
                mode, step_size = "momentum", lr / bias_correction1
            else:
                mode, step_size = "frozen", 0.0
        return cls(
            decay=decay,
            l2=l2,
            beta1=beta1,
            one_minus_beta1=1.0 - beta1,
            beta2=beta2,
            one_minus_beta2=1.0 - beta2,
            eps=eps,
            mode=mode,
            step_size=step_size,
            denom_scale=denom_scale,
            amsgrad=group["amsgrad"],
            denom_from_max=group["amsgrad"] and not group["rectify"],
        )

    def as_tensor(self, device: torch.device) -> Tensor:
        """The changing scalars as one float64 tensor on ``device`` (the compiled function's input)."""
        values = [self.decay, self.l2, self.beta1, self.one_minus_beta1, self.beta2, self.one_minus_beta2]
        values += [self.eps, self.step_size, self.denom_scale]
        return float64_tensor(values, device)


class AdaBelief(BucketedOptimizer):
    r"""AdaBelief (Zhuang et al., 2020), with the options and defaults of the official code v0.2.1.

    For each parameter θ with gradient g_t at step t = 1, 2, … (all operations elementwise):

    1. weight decay, before the moments: θ ← θ·(1 − lr·λ) (``weight_decouple=True``, default),
       θ ← θ·(1 − λ) (``fixed_decay=True``), or g_t ← g_t + λ·θ (``weight_decouple=False``, L2);
    2. m_t = β1·m_{t−1} + (1 − β1)·g_t;
    3. s_t = β2·s_{t−1} + (1 − β2)·(g_t − m_t)² + ε  (ε enters the state every step);
    4. ``amsgrad=True``: s_max = max(s_max, s_t);
    5. ``rectify=False``: θ ← θ − lr/(1 − β1^t) · m_t / (sqrt(s_t)/sqrt(1 − β2^t) + ε), with s_max in
       place of s_t under AMSGrad;
    6. ``rectify=True`` (default), as RAdam: ρ∞ = 2/(1 − β2) − 1, ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t).
       If ρ_t ≥ 5: θ ← θ − lr·r_t · m_t / (sqrt(s_t) + ε) with
       r_t = sqrt((1 − β2^t)·(ρ_t − 4)/(ρ∞ − 4)·(ρ_t − 2)/ρ_t·ρ∞/(ρ∞ − 2)) / (1 − β1^t)
       (no separate 1/sqrt(1 − β2^t): it is inside r_t; s_max is not used). Otherwise
       θ ← θ − lr/(1 − β1^t) · m_t (``degenerated_to_sgd=True``, default) or no update.

    The paper's projection onto a feasible set is the identity here (unconstrained parameters).

    Args:
        params: parameters or parameter groups (dicts) to optimize.
        lr: learning rate, ≥ 0.
        betas: (β1, β2), each in [0, 1).
        eps: ε ≥ 0, added to s_t and to the denominator.
        weight_decay: λ ≥ 0.
        amsgrad: keep the running maximum of s_t for the denominator.
        weight_decouple: decoupled weight decay (AdamW style) instead of an L2 term in the gradient.
        fixed_decay: with ``weight_decouple``, decay by λ instead of lr·λ.
        rectify: RAdam-style rectification of the adaptive step.
        degenerated_to_sgd: with ``rectify``, take momentum-SGD steps while ρ_t < 5 (else no step).
        implementation: ``"compiled"`` (fused, default), ``"foreach"`` or ``"single_tensor"``.

    Per-parameter state: ``step`` (int), ``exp_avg`` (m), ``exp_avg_var`` (s) and, with AMSGrad,
    ``max_exp_avg_var`` (s_max); float32 for float16/bfloat16 parameters, else the parameter dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        weight_decouple: bool = True,
        fixed_decay: bool = False,
        rectify: bool = True,
        degenerated_to_sgd: bool = True,
        implementation: str = "compiled",
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "weight_decouple": weight_decouple,
            "fixed_decay": fixed_decay,
            "rectify": rectify,
            "degenerated_to_sgd": degenerated_to_sgd,
            "implementation": implementation,
        }
        super().__init__(params, defaults)  # validates through add_param_group

    def _validate(self, settings: dict[str, Any]) -> None:
        check_non_negative("lr", settings["lr"])
        check_betas(settings["betas"], 2)
        check_non_negative("eps", settings["eps"])
        check_non_negative("weight_decay", settings["weight_decay"])
        for flag in ("amsgrad", "weight_decouple", "fixed_decay", "rectify", "degenerated_to_sgd"):
            check_one_of(flag, settings[flag], (False, True))

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_var", "max_exp_avg_var") if group["amsgrad"] else ("exp_avg", "exp_avg_var")

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:
        _IMPLEMENTATIONS[group["implementation"]](bucket, _StepScalars.of(group, step))


def _single_tensor_update(bucket: Bucket, c: _StepScalars) -> None:
    """The reference step: one parameter at a time, in-place torch ops."""
    for index, (param, grad, exp_avg, exp_avg_var) in enumerate(
        zip(bucket.params, bucket.grads, bucket.state["exp_avg"], bucket.state["exp_avg_var"], strict=True)
    ):
        # float16/bfloat16 parameters are updated in a float32 copy (same tensor otherwise)
        theta = param.to(exp_avg.dtype)
        grad = grad.to(exp_avg.dtype)
        # θ ← θ·(1 − lr·λ)  or  θ·(1 − λ)  (decoupled decay, before the moments)
        if c.decay != 1.0:
            theta.mul_(c.decay)
        # g ← g + λ·θ  (L2 decay, on a copy: p.grad is left untouched)
        if c.l2 != 0.0:
            grad = grad.add(theta, alpha=c.l2)
        # m_t = β1·m_{t−1} + (1 − β1)·g_t
        exp_avg.mul_(c.beta1).add_(grad, alpha=c.one_minus_beta1)
        # s_t = β2·s_{t−1} + (1 − β2)·(g_t − m_t)² + ε
        residual = grad - exp_avg
        exp_avg_var.mul_(c.beta2).addcmul_(residual, residual, value=c.one_minus_beta2).add_(c.eps)
        denominator_source = exp_avg_var
        if c.amsgrad:
            # s_max = max(s_max, s_t)
            max_exp_avg_var = bucket.state["max_exp_avg_var"][index]
            torch.maximum(max_exp_avg_var, exp_avg_var, out=max_exp_avg_var)
            if c.denom_from_max:
                denominator_source = max_exp_avg_var
        if c.mode == "adaptive":
            # denom = sqrt(s)/sqrt(1 − β2^t) + ε  (rectified: sqrt(s_t) + ε)
            denom = denominator_source.sqrt().mul_(c.denom_scale).add_(c.eps)
            # θ ← θ − lr/(1 − β1^t) · m_t/denom  (rectified: θ ← θ − lr·r_t · m_t/denom)
            theta.addcdiv_(exp_avg, denom, value=-c.step_size)
        elif c.mode == "momentum":
            # θ ← θ − lr/(1 − β1^t) · m_t  (rectified, ρ_t < 5, degenerated_to_sgd)
            theta.add_(exp_avg, alpha=-c.step_size)
        if theta is not param:
            param.copy_(theta)


def _foreach_update(bucket: Bucket, c: _StepScalars) -> None:
    """The reference step with ``torch._foreach_*`` ops over the bucket, in the same order."""
    params, exp_avgs, exp_avg_vars = bucket.params, bucket.state["exp_avg"], bucket.state["exp_avg_var"]
    # float16/bfloat16 parameters are updated in float32 copies (same tensors otherwise)
    thetas = [param.to(exp_avg.dtype) for param, exp_avg in zip(params, exp_avgs, strict=True)]
    grads = [grad.to(exp_avg.dtype) for grad, exp_avg in zip(bucket.grads, exp_avgs, strict=True)]
    # θ ← θ·(1 − lr·λ)  or  θ·(1 − λ)  (decoupled decay, before the moments)
    if c.decay != 1.0:
        torch._foreach_mul_(thetas, c.decay)
    # g ← g + λ·θ  (L2 decay, on copies: p.grad is left untouched)
    if c.l2 != 0.0:
        grads = torch._foreach_add(grads, thetas, alpha=c.l2)
    # m_t = β1·m_{t−1} + (1 − β1)·g_t
    torch._foreach_mul_(exp_avgs, c.beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=c.one_minus_beta1)
    # s_t = β2·s_{t−1} + (1 − β2)·(g_t − m_t)² + ε
    residuals = torch._foreach_sub(grads, exp_avgs)
    torch._foreach_mul_(exp_avg_vars, c.beta2)
    torch._foreach_addcmul_(exp_avg_vars, residuals, residuals, value=c.one_minus_beta2)
    torch._foreach_add_(exp_avg_vars, c.eps)
    denominator_sources = exp_avg_vars
    if c.amsgrad:
        # s_max = max(s_max, s_t)
        torch._foreach_maximum_(bucket.state["max_exp_avg_var"], exp_avg_vars)
        if c.denom_from_max:
            denominator_sources = bucket.state["max_exp_avg_var"]
    if c.mode == "adaptive":
        # denom = sqrt(s)/sqrt(1 − β2^t) + ε  (rectified: sqrt(s_t) + ε)
        denoms = torch._foreach_sqrt(denominator_sources)
        torch._foreach_mul_(denoms, c.denom_scale)
        torch._foreach_add_(denoms, c.eps)
        # θ ← θ − lr/(1 − β1^t) · m_t/denom  (rectified: θ ← θ − lr·r_t · m_t/denom)
        torch._foreach_addcdiv_(thetas, exp_avgs, denoms, value=-c.step_size)
    elif c.mode == "momentum":
        # θ ← θ − lr/(1 − β1^t) · m_t  (rectified, ρ_t < 5, degenerated_to_sgd)
        torch._foreach_add_(thetas, exp_avgs, alpha=-c.step_size)
    for param, theta in zip(params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _fused_update(
    params: list[Tensor],
    grads: list[Tensor],
    state: dict[str, list[Tensor]],
    scalars: Tensor,
    l2_decay: bool,
    amsgrad: bool,
    denom_from_max: bool,
) -> None:
    """One adaptive step as one traceable function (compiled by :data:`_COMPILED`).

    ``scalars`` holds the values that change between steps and groups (see ``_StepScalars.as_tensor``),
    so they are graph inputs, not constants: one graph serves every step of a group, rectified or
    not. The flags, fixed for a group, select the graph.
    """
    decay, l2, beta1, one_minus_beta1, beta2, one_minus_beta2 = scalars[:6].unbind()
    eps, step_size, denom_scale = scalars[6:].unbind()
    for index, (param, grad, exp_avg, exp_avg_var) in enumerate(
        zip(params, grads, state["exp_avg"], state["exp_avg_var"], strict=True)
    ):
        # θ ← θ·decay  (1 − lr·λ, 1 − λ or 1); in float32 for float16/bfloat16 parameters
        theta = param.to(exp_avg.dtype) * decay
        grad = grad.to(exp_avg.dtype)
        if l2_decay:
            # g ← g + λ·θ
            grad = grad + l2 * theta
        # m_t = β1·m_{t−1} + (1 − β1)·g_t
        new_exp_avg = exp_avg * beta1 + one_minus_beta1 * grad
        # s_t = β2·s_{t−1} + (1 − β2)·(g_t − m_t)² + ε
        residual = grad - new_exp_avg
        new_exp_avg_var = exp_avg_var * beta2 + one_minus_beta2 * residual * residual + eps
        denominator_source = new_exp_avg_var
        if amsgrad:
            # s_max = max(s_max, s_t)
            new_max = torch.maximum(state["max_exp_avg_var"][index], new_exp_avg_var)
            state["max_exp_avg_var"][index].copy_(new_max)
            if denom_from_max:
                denominator_source = new_max
        # θ ← θ − lr/(1 − β1^t) · m_t / (sqrt(s)/sqrt(1 − β2^t) + ε)  (rectified: lr·r_t · m_t / (sqrt(s_t) + ε))
        theta = theta - step_size * new_exp_avg / (denominator_source.sqrt() * denom_scale + eps)
        exp_avg.copy_(new_exp_avg)
        exp_avg_var.copy_(new_exp_avg_var)
        param.copy_(theta)


_COMPILED = CompiledStep("AdaBelief", _fused_update, fallback=_foreach_update)


def _compiled_update(bucket: Bucket, c: _StepScalars) -> None:
    """The fused compiled step; the foreach step (with a warning) where compilation is impossible.

    The momentum-SGD or no-update steps of the rectified mode, while ρ_t < 5 (t ≤ 5 for β2 ≥ 0.9;
    always for β2 < 2/3), use the foreach ops: a second graph for a few steps costs more than it saves.
    """
    if c.mode != "adaptive":
        _foreach_update(bucket, c)
        return
    _COMPILED(bucket, c, c.l2 != 0.0, c.amsgrad, c.denom_from_max)


_IMPLEMENTATIONS = implementations(
    compiled=_compiled_update, foreach=_foreach_update, single_tensor=_single_tensor_update
)
