"""Adan: adaptive Nesterov momentum without a gradient at an extrapolated point.

Xie, Zhou, Li, Lin, Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
Models", TPAMI 2024, https://arxiv.org/abs/2208.06677. Official code: sail-sg/Adan ``adan.py`` (not on
PyPI), whose arguments, defaults and arithmetic this module follows.

Nesterov momentum evaluates the gradient at an extrapolated point. Adan's "Nesterov momentum
estimation" (NME) rewrites it so that only the gradient at the current point and the gradient
difference Δ_k = g_k − g_{k−1} are needed, and uses the extrapolated gradient g_k + β2·Δ_k for the
second moment too. In the code's notation (b = 1 − the paper's small β; code defaults
(0.98, 0.92, 0.99) = paper (0.02, 0.08, 0.01)), per parameter at step k = 1, 2, …:

    Δ_k = g_k − g_{k−1}                  (g_0 := g_1, so Δ_1 = 0)
    m_k = b1·m_{k−1} + (1 − b1)·g_k
    v_k = b2·v_{k−1} + (1 − b2)·Δ_k
    n_k = b3·n_{k−1} + (1 − b3)·(g_k + b2·Δ_k)²
    u_k = [lr/(1 − b1^k)·m_k + lr·b2/(1 − b2^k)·v_k] / (sqrt(n_k)/sqrt(1 − b3^k) + ε)
    θ_{k+1} = (θ_k − u_k)/(1 + lr·λ)      (proximal decay, default: ``no_prox=False``)
    θ_{k+1} = θ_k·(1 − lr·λ) − u_k        (``no_prox=True``, AdamW-style)

with g optionally clipped to a global norm first (``max_grad_norm > 0``): g ← g·min(1, c/(‖g‖ + ε)),
the norm taken over every parameter of every group; the clipped g is what is remembered as g_{k−1}.

Where the official code (the default here) differs from the paper's Algorithm 1:

- Moments start at zero and are bias-corrected; Algorithm 1 starts from m = g, n = g², v_1 = g_1 − g_0
  and has no bias correction. ``paper_init=True`` gives Algorithm 1's initialisation.
- The paper's restart test (a condition on accumulated step lengths, used only in its Table 12
  ablation) is not in the code; the code has ``restart_opt()`` (moments and step to zero). Here
  ``restart()`` does the same, and ``restart_condition`` is an optional callable checked after each step.

Where this code differs from the official code (deliberately):

- The step count is per parameter (as in ``torch.optim``), not per group: a parameter without a gradient
  does not advance its count. With gradients for every parameter at every step this is identical.
- The previous gradient is stored as is (``prev_grad``), not negated; Δ = g − g_prev is the same number.
- The global gradient norm is accumulated in float64 (the official code sums in float32), with the
  optimizer's default ε; its clipping multiplies ``p.grad`` in place, as the official code does (and as
  ``torch.nn.utils.clip_grad_norm_`` does): after ``step()`` the caller's gradients are the clipped ones.
- ``max_grad_norm`` is global, so a parameter group cannot set its own (the official code silently
  ignores a group's value); complex parameters, a per-group ``max_grad_norm``, negative weight decay and
  unknown implementations raise ``ValueError``.
- float16 and bfloat16 parameters keep float32 state and are updated in float32 (the official
  PyTorch path keeps state in the parameter dtype).

Three implementations of one step, chosen with ``implementation``:

- ``"single_tensor"``: the readable reference and the official per-parameter form: a Python loop over
  parameters with the in-place torch ops in the official order (two ``addcdiv_`` per parameter).
- ``"foreach"``: the same ops in the same order with ``torch._foreach_*``; bit-for-bit equal to it.
- ``"compiled"`` (default): one ``torch.compile``-d function fuses a group's step into one pass over
  memory, with one division by the denominator instead of two. The per-step scalars enter as one
  float64 tensor, so that a new learning rate or step count never recompiles. Where compilation is
  impossible it warns and uses ``"foreach"``.

The bucketing by (device, step count), float32 state, compilation and fallback are
:mod:`paperzoo.shared.torch.optim`'s; this file holds Adan's arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
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
)
from paperzoo.shared.validate import check_betas, check_non_negative, check_one_of

__all__ = ["IMPLEMENTATIONS", "STATE_TENSORS", "Adan"]

STATE_TENSORS: tuple[str, ...] = ("exp_avg", "exp_avg_diff", "exp_avg_sq", "prev_grad")


@dataclass(frozen=True)
class _StepScalars:
    """The coefficients of one step of one group at step count ``k`` (Python floats).

    Every variant (bias-corrected code init, paper init, prox or not) is the same update:
    m ← a_m·m + c_m·g;  v ← a_v·v + c_v·Δ;  n ← a_n·n + c_n·(g + b2·Δ)²;
    θ ← [θ·decay − (s_m·m + s_v·v)/(sqrt(n)/sqrt_bc3 + ε)] / prox.
    """

    a_m: float
    c_m: float
    a_v: float
    c_v: float
    a_n: float
    c_n: float
    beta2: float
    sqrt_bc3: float
    eps: float
    step_m: float
    step_v: float
    decay: float  # 1 − lr·λ with no_prox, else 1
    prox: float  # 1 + lr·λ without no_prox, else 1

    @classmethod
    def of(cls, group: dict[str, Any], k: int) -> _StepScalars:
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        b1, b2, b3 = group["betas"]
        decay, prox = (1.0 - lr * wd, 1.0) if group["no_prox"] else (1.0, 1.0 + lr * wd)
        if not group["paper_init"]:
            # official code: zero-initialised moments, bias corrections 1 − b^k
            return cls(
                a_m=b1,
                c_m=1.0 - b1,
                a_v=b2,
                c_v=1.0 - b2,
                a_n=b3,
                c_n=1.0 - b3,
                beta2=b2,
                sqrt_bc3=math.sqrt(1.0 - b3**k),
                eps=eps,
                step_m=lr / (1.0 - b1**k),
                step_v=lr * b2 / (1.0 - b2**k),
                decay=decay,
                prox=prox,
            )
        # Algorithm 1: m_1 = g_1, n_1 = g_1², v_1 = 0 (k = 1); v_2 = g_2 − g_1 (k = 2); EMAs after; no bias
        # correction. (The paper counts from 0: its g_0 is our g_1.)
        first, second = k == 1, k == 2
        return cls(
            a_m=0.0 if first else b1,
            c_m=1.0 if first else 1.0 - b1,
            a_v=0.0 if first or second else b2,
            c_v=1.0 if second else (0.0 if first else 1.0 - b2),
            a_n=0.0 if first else b3,
            c_n=1.0 if first else 1.0 - b3,
            beta2=b2,
            sqrt_bc3=1.0,
            eps=eps,
            step_m=lr,
            step_v=lr * b2,
            decay=decay,
            prox=prox,
        )

    def as_tensor(self, device: torch.device) -> Tensor:
        """The scalars as one float64 tensor on ``device`` (the compiled function's input)."""
        return float64_tensor([getattr(self, f.name) for f in fields(self)], device)


class Adan(BucketedOptimizer):
    r"""Adan (Xie et al., TPAMI 2024), with the options and defaults of the official code (sail-sg/Adan).

    Per parameter θ with (clipped) gradient g_k at step k = 1, 2, … (elementwise; see the module docstring):
    Δ_k = g_k − g_{k−1} (Δ_1 = 0); m_k = b1·m + (1 − b1)·g_k; v_k = b2·v + (1 − b2)·Δ_k;
    n_k = b3·n + (1 − b3)·(g_k + b2·Δ_k)²; u = [lr/(1−b1^k)·m_k + lr·b2/(1−b2^k)·v_k]/(sqrt(n_k/(1−b3^k)) + ε);
    θ ← (θ − u)/(1 + lr·λ), or θ·(1 − lr·λ) − u with ``no_prox``.

    Args:
        params: parameters or parameter groups (dicts) to optimize.
        lr: learning rate, ≥ 0 (official default 1e-3; the authors use 5-10x AdamW's).
        betas: (b1, b2, b3) in [0, 1), the code's convention (paper's β = 1 − b).
        eps: ε ≥ 0, added to the denominator (outside the square root) and to the global norm.
        weight_decay: λ ≥ 0, decoupled (the authors use 0.02).
        max_grad_norm: clip the global gradient norm (over all groups) to this value; 0 disables. Global:
            set it on the optimizer, not per group. Clipping scales ``p.grad`` in place.
        no_prox: AdamW-style decay θ·(1 − lr·λ) before the step instead of the proximal division after it.
        paper_init: the paper's Algorithm 1 (m_1 = g_1, n_1 = g_1², v_2 = g_2 − g_1, no bias correction)
            instead of the official code's zero-initialised, bias-corrected moments.
        restart_condition: optional ``condition(optimizer) -> bool`` called after every step; when it
            returns True, :meth:`restart` is called (not saved in ``state_dict``).
        implementation: ``"compiled"`` (fused, default), ``"foreach"`` or ``"single_tensor"``.

    Per-parameter state: ``step`` (int), ``exp_avg`` (m), ``exp_avg_diff`` (v), ``exp_avg_sq`` (n),
    ``prev_grad`` (the previous clipped gradient): 4 tensors, 16 bytes per float32 parameter.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float, float] = (0.98, 0.92, 0.99),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_grad_norm: float = 0.0,
        no_prox: bool = False,
        paper_init: bool = False,
        restart_condition: Callable[[Adan], bool] | None = None,
        implementation: str = "compiled",
    ) -> None:
        if restart_condition is not None and not callable(restart_condition):
            raise ValueError(f"restart_condition must be a callable or None, got {restart_condition!r}")
        self.restart_condition = restart_condition
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "max_grad_norm": max_grad_norm,
            "no_prox": no_prox,
            "paper_init": paper_init,
            "implementation": implementation,
        }
        _validate_settings(defaults)
        super().__init__(params, defaults)

    def _validate(self, settings: dict[str, Any]) -> None:
        _validate_settings(settings)
        if settings["max_grad_norm"] != self.defaults["max_grad_norm"]:
            raise ValueError(
                f"max_grad_norm is global (one norm over all groups): set it on the optimizer "
                f"({self.defaults['max_grad_norm']}), not per group, got {settings['max_grad_norm']!r}"
            )

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return STATE_TENSORS

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], k: int) -> None:
        if k == 1:
            # g_0 := g_1, so that Δ_1 = 0 (the official code re-seeds here after a restart too)
            for prev_grad, grad in zip(bucket.state["prev_grad"], bucket.grads, strict=True):
                prev_grad.copy_(grad)
        _IMPLEMENTATIONS[group["implementation"]](bucket, _StepScalars.of(group, k))

    @torch.no_grad()
    def restart(self) -> None:
        """Zero m, v, n and the step count of every parameter (the official ``restart_opt``).

        The previous gradient is kept but unused: at the next step (k = 1) it is re-seeded with g_1.
        """
        for state in self.state.values():
            if state:
                state["step"] = 0
                for key in ("exp_avg", "exp_avg_diff", "exp_avg_sq"):
                    state[key].zero_()

    @torch.no_grad()
    def clip_coefficient(self) -> float:
        """min(1, max_grad_norm/(‖g‖ + ε)) with ‖g‖ the L2 norm of all gradients of all groups (1 if off)."""
        max_norm = self.defaults["max_grad_norm"]
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        if max_norm <= 0 or not grads:
            return 1.0
        # ‖g‖² = Σ_tensors Σ_i g_i²  (float64)
        device = grads[0].device
        squares = [torch.linalg.vector_norm(g, dtype=torch.float64).square().to(device) for g in grads]
        total = math.sqrt(torch.stack(squares).sum().item())  # one host sync, as the official .item()
        # c = min(max_norm/(‖g‖ + ε), 1)
        return min(max_norm / (total + self.defaults["eps"]), 1.0)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Evaluate the closure, clip the global gradient norm, update, and restart if ``restart_condition`` holds.

        ``closure`` re-evaluates the model and returns the loss (it runs with gradients enabled); that loss is
        returned (None without a closure). Parameters without a gradient are left alone.
        """
        loss = self._evaluate(closure)
        clip = self.clip_coefficient()
        if clip < 1.0:
            # g ← c·g, in place in p.grad (as the official code), before any state is touched
            grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
            torch._foreach_mul_(grads, clip)
        self._update()
        if self.restart_condition is not None and self.restart_condition(self):
            self.restart()
        return loss


def _validate_settings(settings: dict[str, Any]) -> None:
    check_non_negative("lr", settings["lr"])
    check_betas(settings["betas"], 3)
    check_non_negative("eps", settings["eps"])
    check_non_negative("weight_decay", settings["weight_decay"])
    check_non_negative("max_grad_norm", settings["max_grad_norm"])
    for flag in ("no_prox", "paper_init"):
        check_one_of(flag, settings[flag], (False, True))


def _single_tensor_update(bucket: Bucket, c: _StepScalars) -> None:
    """The reference step in the official per-parameter form: in-place torch ops, one parameter at a time."""
    for param, grad, exp_avg, exp_avg_diff, exp_avg_sq, prev_grad in zip(
        bucket.params,
        bucket.grads,
        *(bucket.state[name] for name in STATE_TENSORS),
        strict=True,
    ):
        # float16/bfloat16 parameters are updated in a float32 copy (same tensor otherwise)
        theta = param.to(exp_avg.dtype)
        grad = grad.to(exp_avg.dtype)
        # Δ_k = g_k − g_{k−1}
        diff = grad - prev_grad
        # m_k = b1·m_{k−1} + (1 − b1)·g_k
        exp_avg.mul_(c.a_m).add_(grad, alpha=c.c_m)
        # v_k = b2·v_{k−1} + (1 − b2)·Δ_k
        exp_avg_diff.mul_(c.a_v).add_(diff, alpha=c.c_v)
        # n_k = b3·n_{k−1} + (1 − b3)·(g_k + b2·Δ_k)²
        extrapolated = diff.mul_(c.beta2).add_(grad)
        exp_avg_sq.mul_(c.a_n).addcmul_(extrapolated, extrapolated, value=c.c_n)
        # denom = sqrt(n_k)/sqrt(1 − b3^k) + ε
        denom = exp_avg_sq.sqrt().div_(c.sqrt_bc3).add_(c.eps)
        # θ ← θ·(1 − lr·λ)  (no_prox)
        if c.decay != 1.0:
            theta.mul_(c.decay)
        # θ ← θ − lr/(1 − b1^k)·m_k/denom − lr·b2/(1 − b2^k)·v_k/denom
        theta.addcdiv_(exp_avg, denom, value=-c.step_m)
        theta.addcdiv_(exp_avg_diff, denom, value=-c.step_v)
        # θ ← θ/(1 + lr·λ)  (proximal decay)
        if c.prox != 1.0:
            theta.div_(c.prox)
        # g_{k−1} ← g_k
        prev_grad.copy_(grad)
        if theta is not param:
            param.copy_(theta)


def _foreach_update(bucket: Bucket, c: _StepScalars) -> None:
    """The reference step with ``torch._foreach_*`` ops over the bucket, in the same order."""
    exp_avgs, exp_avg_diffs, exp_avg_sqs, prev_grads = (bucket.state[name] for name in STATE_TENSORS)
    params = bucket.params
    thetas = [p.to(m.dtype) for p, m in zip(params, exp_avgs, strict=True)]
    grads = [g.to(m.dtype) for g, m in zip(bucket.grads, exp_avgs, strict=True)]
    # Δ_k = g_k − g_{k−1}
    diffs = torch._foreach_sub(grads, prev_grads)
    # m_k = b1·m_{k−1} + (1 − b1)·g_k
    torch._foreach_mul_(exp_avgs, c.a_m)
    torch._foreach_add_(exp_avgs, grads, alpha=c.c_m)
    # v_k = b2·v_{k−1} + (1 − b2)·Δ_k
    torch._foreach_mul_(exp_avg_diffs, c.a_v)
    torch._foreach_add_(exp_avg_diffs, diffs, alpha=c.c_v)
    # n_k = b3·n_{k−1} + (1 − b3)·(g_k + b2·Δ_k)²
    torch._foreach_mul_(diffs, c.beta2)
    torch._foreach_add_(diffs, grads)
    torch._foreach_mul_(exp_avg_sqs, c.a_n)
    torch._foreach_addcmul_(exp_avg_sqs, diffs, diffs, value=c.c_n)
    # denom = sqrt(n_k)/sqrt(1 − b3^k) + ε
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denoms, c.sqrt_bc3)
    torch._foreach_add_(denoms, c.eps)
    # θ ← θ·(1 − lr·λ)  (no_prox)
    if c.decay != 1.0:
        torch._foreach_mul_(thetas, c.decay)
    # θ ← θ − lr/(1 − b1^k)·m_k/denom − lr·b2/(1 − b2^k)·v_k/denom
    torch._foreach_addcdiv_(thetas, exp_avgs, denoms, value=-c.step_m)
    torch._foreach_addcdiv_(thetas, exp_avg_diffs, denoms, value=-c.step_v)
    # θ ← θ/(1 + lr·λ)  (proximal decay)
    if c.prox != 1.0:
        torch._foreach_div_(thetas, c.prox)
    # g_{k−1} ← g_k
    torch._foreach_copy_(prev_grads, grads)
    for param, theta in zip(params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _fused_update(params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]], scalars: Tensor) -> None:
    """One step as one traceable function (compiled by :data:`_COMPILED`).

    ``scalars`` holds the values of ``_StepScalars`` in field order, as graph inputs (not constants):
    one graph serves every step, learning rate, decay mode and initialisation.
    """
    a_m, c_m, a_v, c_v, a_n, c_n, beta2, sqrt_bc3, eps, step_m, step_v, decay, prox = scalars.unbind()
    for param, grad, exp_avg, exp_avg_diff, exp_avg_sq, prev_grad in zip(
        params, grads, *(state[name] for name in STATE_TENSORS), strict=True
    ):
        grad = grad.to(exp_avg.dtype)
        # Δ_k = g_k − g_{k−1}
        diff = grad - prev_grad
        # m_k = b1·m_{k−1} + (1 − b1)·g_k
        new_m = exp_avg * a_m + c_m * grad
        # v_k = b2·v_{k−1} + (1 − b2)·Δ_k
        new_v = exp_avg_diff * a_v + c_v * diff
        # n_k = b3·n_{k−1} + (1 − b3)·(g_k + b2·Δ_k)²
        extrapolated = diff * beta2 + grad
        new_n = exp_avg_sq * a_n + c_n * extrapolated * extrapolated
        # θ ← [θ·(1 − lr·λ) − (lr/(1−b1^k)·m_k + lr·b2/(1−b2^k)·v_k)/(sqrt(n_k)/sqrt(1−b3^k) + ε)] / (1 + lr·λ)
        denom = new_n.sqrt() / sqrt_bc3 + eps
        theta = (param.to(exp_avg.dtype) * decay - (step_m * new_m + step_v * new_v) / denom) / prox
        exp_avg.copy_(new_m)
        exp_avg_diff.copy_(new_v)
        exp_avg_sq.copy_(new_n)
        prev_grad.copy_(grad)
        param.copy_(theta)


_COMPILED = CompiledStep("Adan", _fused_update, fallback=_foreach_update)

_IMPLEMENTATIONS = implementations(compiled=_COMPILED, foreach=_foreach_update, single_tensor=_single_tensor_update)
