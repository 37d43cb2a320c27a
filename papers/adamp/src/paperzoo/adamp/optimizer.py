"""AdamP and SGDP: momentum optimizers that remove the radial part of the update of scale-invariant weights.

Heo, Chun, Oh, Han, Yun, Kim, Uh, Ha, "AdamP: Slowing Down the Slowdown for Momentum Optimizers on
Scale-invariant Weights", ICLR 2021, https://arxiv.org/abs/2006.08217. Official code: clovaai/AdamP,
pip package ``adamp`` v0.3.0 (classes ``AdamP``, ``SGDP``), whose arguments, defaults and arithmetic
this module follows.

A weight w followed by a normalisation (BatchNorm, LayerNorm) is scale-invariant: f(c·w) = f(w) for
c > 0, so its gradient is orthogonal to w and plain gradient descent grows ‖w‖ only at second order.
Momentum adds a first-order radial component, ‖w‖ grows fast, and the effective step lr/‖w‖² shrinks
prematurely. AdamP/SGDP detect such weights from the raw gradient and remove the radial component of
the update d, per output channel (or per layer):

    channel view: rows w_i = w.view(w.size(0), −1);   layer view: one row w.view(1, −1)
    fires if  max_i |cos(g_i, w_i)| < δ / sqrt(row length)     (channel view first, then layer view)
    then      d_i ← d_i − ŵ_i·⟨ŵ_i, d_i⟩,  ŵ_i = w_i/(‖w_i‖ + ε),  and the weight decay is scaled by wd_ratio

Only parameters with more than one dimension are tested; biases and normalisation parameters never are.
The base updates, per parameter (decay applied after the projection is computed from the pre-decay w):

    AdamP: m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  denom = sqrt(v)/sqrt(1 − β2^t) + ε
           d = m/denom   (nesterov: d = (β1·m + (1 − β1)·g)/denom)
           w ← w·(1 − lr·λ·r);  w ← w − lr/(1 − β1^t)·d
    SGDP:  b = μ·b + (1 − dampening)·g   (b = 0 before the first step)
           d = g + μ·b if nesterov else b
           w ← w·(1 − lr·λ·r/(1 − μ));  w ← w − lr·d

with r = wd_ratio where the projection fired, else 1. Where the paper and the official code differ, this
follows the code: the test uses |cos| (the paper's eq. 11 has no absolute value; the authors confirmed the
code, issue #6), and SGDP's decay is decoupled and divided by 1 − μ (so that in the steady state of the
momentum buffer it matches SGD's L2 decay of strength λ). One official quirk is kept on purpose: without
Nesterov, SGDP's d *is* the momentum buffer, and the official code projects it in place, so the stored
buffer loses its radial component too (with Nesterov, or in AdamP, the state is not projected).

Where this code differs from the official code (deliberately):

- AdamP's first moment is updated with ``lerp`` (m + (1 − β1)·(g − m)), the op ``torch.optim.AdamW``
  uses, and an unprojected parameter takes AdamW's ``addcdiv_`` step: with δ = 0 (the test never fires)
  AdamP is ``torch.optim.AdamW`` bit for bit. The official code writes β1·m + (1 − β1)·g and divides
  first: one rounding apart (checked against the official package to 1e-12 in float64). Likewise SGDP's
  Nesterov direction is ``g.add(b, alpha=μ)``, torch.optim.SGD's op, so that SGDP with δ = 0, λ = 0 and
  no dampening is ``torch.optim.SGD`` bit for bit.
- float16 and bfloat16 parameters keep float32 state and are updated in float32, then rounded back.
- Validation: negative lr, eps, weight decay, delta or wd_ratio, betas outside [0, 1), momentum outside
  [0, 1) (SGDP divides by 1 − μ), dampening outside [0, 1], complex parameters or an unknown
  implementation raise ``ValueError``. SGDP's ``lr`` is required, as in the official code.

Three implementations of one step, chosen with ``implementation``:

- ``"single_tensor"``: the readable reference, a loop over parameters with in-place torch ops; the
  scale-invariance test is :func:`scale_invariant_view` and the projection :func:`project_radial`.
- ``"foreach"``: the elementwise ops with ``torch._foreach_*`` over a group's parameters; the test and
  the projection, which reduce over rows of each tensor, run per tensor on the tensors with more than one
  dimension. Bit-for-bit equal to ``"single_tensor"`` on CPU.
- ``"compiled"`` (default): one ``torch.compile``-d function per group: the moments, the update d and the
  four row sums the test and the projection need (⟨g, w⟩, ‖g‖², ‖w‖², ⟨w, d⟩) in one pass, the view chosen
  with ``torch.where`` (no data-dependent branch, no host synchronisation), and the projected step in a
  second. The per-row coefficients go through a small buffer so that they are computed once per row. The
  scalars that change (learning rate, bias corrections, decay factors) enter as one float64 tensor, so a
  schedule or a new step count never recompiles; the group's fixed β, μ, ε, δ are compile-time constants
  (as tensors they stop inductor from fusing the moment update into the reduction). Where compilation is
  impossible it warns and uses ``"foreach"``.

The bucketing by (device, step count), float32 state, compilation and fallback are
:mod:`paperzoo.shared.torch.optim`'s; this file holds AdamP's and SGDP's arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.optim.optimizer import ParamsT, required

from paperzoo.shared.torch.optim import (
    IMPLEMENTATIONS,
    Bucket,
    BucketedOptimizer,
    CompiledStep,
    float64_tensor,
    implementations,
)
from paperzoo.shared.validate import check_betas, check_non_negative, check_one_of, check_range

__all__ = ["IMPLEMENTATIONS", "SGDP", "AdamP", "View", "project_radial", "scale_invariant_view"]

View = Literal["channel", "layer"]
VIEWS: tuple[View, ...] = ("channel", "layer")


# ----------------------------------------------------------------------------------------- projection
def _rows(tensor: Tensor, view: View) -> Tensor:
    """``tensor`` as a matrix of rows: one per output channel (``"channel"``) or a single row (``"layer"``)."""
    return tensor.reshape(tensor.shape[0] if view == "channel" else 1, -1)


def scale_invariant_view(param: Tensor, grad: Tensor, delta: float, eps: float = 1e-8) -> View | None:
    """The first view in which the gradient test declares ``param`` scale-invariant, or None.

    For the channel view, then the layer view (see :func:`_rows`): the view fires if
    ``max_i |cos(g_i, w_i)| < delta / sqrt(row length)``, the cosine being
    ``torch.nn.functional.cosine_similarity(g_i, w_i, eps=eps)`` of the *raw gradient* and the weight.
    Parameters with one dimension or none are never tested (None).
    """
    if param.dim() <= 1:
        return None
    for view in VIEWS:
        weight_rows, grad_rows = _rows(param, view), _rows(grad, view)
        cosine = F.cosine_similarity(grad_rows, weight_rows, dim=1, eps=eps).abs_()
        if cosine.max() < delta / math.sqrt(weight_rows.shape[1]):
            return view
    return None


def project_radial(param: Tensor, update: Tensor, view: View, eps: float = 1e-8) -> Tensor:
    """``update`` without its radial component, row by row: d_i − ŵ_i·⟨ŵ_i, d_i⟩ with ŵ_i = w_i/(‖w_i‖ + ε).

    Returns a new tensor shaped like ``update`` (``update`` itself is not modified).
    """
    weight_rows, update_rows = _rows(param, view), _rows(update, view)
    unit = weight_rows / weight_rows.norm(dim=1, keepdim=True).add_(eps)
    return (update_rows - unit * (unit * update_rows).sum(dim=1, keepdim=True)).reshape(update.shape)


def _projection_coefficients(theta: Tensor, grad: Tensor, update: Tensor, delta: float, eps: float) -> Tensor:
    """:func:`scale_invariant_view` and :func:`project_radial` as traceable tensor code (the compiled step).

    From four row sums, ⟨g_i, w_i⟩, ‖g_i‖², ‖w_i‖², ⟨w_i, d_i⟩ (the layer view's are their totals), the
    projection d_i − ŵ_i·⟨ŵ_i, d_i⟩ = d_i − k_i·w_i with k_i = ⟨w_i, d_i⟩/(‖w_i‖ + ε)², the view chosen with
    ``torch.where`` (no data-dependent branch). Returns ``[k_1, …, k_rows, fired]``: k_i = 0 where the test
    does not fire, ``fired`` 1.0 or 0.0.
    """
    rows = theta.shape[0]
    w, g, d = theta.reshape(rows, -1), grad.reshape(rows, -1), update.reshape(rows, -1)
    gw, gg, ww, wd = (g * w).sum(1), (g * g).sum(1), (w * w).sum(1), (w * d).sum(1)
    w_norm = ww.sqrt()
    # |cos(g_i, w_i)| = |⟨g_i, w_i⟩| / (max(‖g_i‖, ε)·max(‖w_i‖, ε))  (cosine_similarity's clamping)
    channel_cos = gw.abs() / (gg.sqrt().clamp_min(eps) * w_norm.clamp_min(eps))
    channel = channel_cos.amax() < delta / math.sqrt(w.shape[1])
    layer_w_norm = ww.sum().sqrt()
    layer_cos = gw.sum().abs() / (gg.sum().sqrt().clamp_min(eps) * layer_w_norm.clamp_min(eps))
    layer = layer_cos < delta / math.sqrt(w.numel())
    # k_i = ⟨w_i, d_i⟩/(‖w_i‖ + ε)²  (layer view: the totals)
    channel_k = wd / (w_norm + eps).square()
    layer_k = wd.sum() / (layer_w_norm + eps).square()
    k = torch.where(channel, channel_k, torch.where(layer, layer_k, torch.zeros_like(layer_k)))
    return torch.cat([k, (channel | layer).to(k.dtype).unsqueeze(0)])


def _coefficient_buffers(bucket: Bucket, state_name: str) -> list[Tensor]:
    """One ``[k_1, …, k_rows, fired]`` buffer per parameter of the bucket with more than one dimension.

    The compiled step writes the projection coefficients into these graph inputs and reads them back, so
    that inductor computes them once per row: computed inline, they would be recomputed for every element.
    """
    return [
        state.new_empty(param.shape[0] + 1)
        for param, state in zip(bucket.params, bucket.state[state_name], strict=True)
        if param.dim() > 1
    ]


def _check_projection_settings(settings: dict[str, Any]) -> None:
    check_non_negative("eps", settings["eps"])
    check_non_negative("weight_decay", settings["weight_decay"])
    check_non_negative("delta", settings["delta"])
    check_non_negative("wd_ratio", settings["wd_ratio"])
    check_one_of("nesterov", settings["nesterov"], (False, True))


# ----------------------------------------------------------------------------------------------- AdamP
@dataclass(frozen=True)
class _AdamPScalars:
    """The scalars of one AdamP step of one group at step count t (Python float64)."""

    beta1: float
    one_minus_beta1: float
    beta2: float
    one_minus_beta2: float
    eps: float
    step_size: float  # lr/(1 − β1^t)
    bias_correction2_sqrt: float  # sqrt(1 − β2^t)
    inverse_bias_correction2_sqrt: float  # 1/sqrt(1 − β2^t): the compiled step multiplies
    delta: float
    decay: float  # 1 − lr·λ: unprojected parameters (torch.optim.AdamW's factor)
    projected_decay: float  # 1 − lr·λ·wd_ratio: projected parameters
    nesterov: bool

    @classmethod
    def of(cls, group: dict[str, Any], step: int) -> _AdamPScalars:
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        return cls(
            beta1=beta1,
            one_minus_beta1=1.0 - beta1,
            beta2=beta2,
            one_minus_beta2=1.0 - beta2,
            eps=group["eps"],
            step_size=lr / (1.0 - beta1**step),
            bias_correction2_sqrt=(1.0 - beta2**step) ** 0.5,
            inverse_bias_correction2_sqrt=1.0 / (1.0 - beta2**step) ** 0.5,
            delta=group["delta"],
            decay=1.0 - lr * weight_decay,
            projected_decay=1.0 - lr * weight_decay * group["wd_ratio"],
            nesterov=group["nesterov"],
        )

    def as_tensor(self, device: torch.device) -> Tensor:
        """The scalars that change from step to step (or with a schedule) as one float64 tensor on ``device``:
        the compiled function's input, so that they never recompile it."""
        values = [self.step_size, self.inverse_bias_correction2_sqrt, self.decay, self.projected_decay]
        return float64_tensor(values, device)

    def constants(self) -> tuple[float, ...]:
        """The scalars fixed for a group (β1, 1 − β1, β2, 1 − β2, ε, δ): compile-time constants of the compiled
        step. As graph inputs they cost inductor the fusion of the moment update into the reduction pass (an
        extra pass over every matrix, about 2.3× slower here); a group that changes them recompiles once."""
        return (self.beta1, self.one_minus_beta1, self.beta2, self.one_minus_beta2, self.eps, self.delta)


class AdamP(BucketedOptimizer):
    r"""AdamP (Heo et al., ICLR 2021), with the options and defaults of the official code v0.3.0.

    For each parameter w with gradient g at step t = 1, 2, … (elementwise unless stated):

    1. m_t = β1·m_{t−1} + (1 − β1)·g;  v_t = β2·v_{t−1} + (1 − β2)·g²;
    2. denom = sqrt(v_t)/sqrt(1 − β2^t) + ε;  d = m_t/denom, or with ``nesterov``
       d = (β1·m_t + (1 − β1)·g)/denom;
    3. if w has more than one dimension and :func:`scale_invariant_view` fires (channel view, else layer
       view: max_i |cos(g_i, w_i)| < δ/sqrt(row length)), d_i ← d_i − ŵ_i·⟨ŵ_i, d_i⟩ per row with
       ŵ_i = w_i/(‖w_i‖ + ε), and r = wd_ratio; otherwise r = 1;
    4. w ← w·(1 − lr·λ·r)  (decoupled decay, after the projection was computed from the pre-decay w);
    5. w ← w − lr/(1 − β1^t)·d.

    With δ = 0 the test never fires and this is ``torch.optim.AdamW`` (bit for bit in float64).

    Args:
        params: parameters or parameter groups (dicts) to optimize.
        lr: learning rate, ≥ 0.
        betas: (β1, β2), each in [0, 1).
        eps: ε ≥ 0: in the denominator, the cosine's norm clamp and ŵ's norm.
        weight_decay: λ ≥ 0 (decoupled, AdamW style).
        delta: δ ≥ 0, the threshold of the scale-invariance test (0 disables the projection).
        wd_ratio: r ≥ 0, the weight-decay multiplier of projected parameters.
        nesterov: Nesterov momentum in the update direction.
        implementation: ``"compiled"`` (fused, default), ``"foreach"`` or ``"single_tensor"``.

    Per-parameter state: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v); float32 for
    float16/bfloat16 parameters, else the parameter dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        nesterov: bool = False,
        implementation: str = "compiled",
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "delta": delta,
            "wd_ratio": wd_ratio,
            "nesterov": nesterov,
            "implementation": implementation,
        }
        super().__init__(params, defaults)  # validates through add_param_group

    def _validate(self, settings: dict[str, Any]) -> None:
        check_non_negative("lr", settings["lr"])
        check_betas(settings["betas"], 2)
        _check_projection_settings(settings)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:
        _ADAMP[group["implementation"]](bucket, _AdamPScalars.of(group, step))


def _adamp_single_tensor(bucket: Bucket, c: _AdamPScalars) -> None:
    """The reference AdamP step: one parameter at a time, in-place torch ops."""
    for param, grad, exp_avg, exp_avg_sq in zip(
        bucket.params, bucket.grads, bucket.state["exp_avg"], bucket.state["exp_avg_sq"], strict=True
    ):
        # float16/bfloat16 parameters are updated in a float32 copy (same tensor otherwise)
        theta, grad = param.to(exp_avg.dtype), grad.to(exp_avg.dtype)
        # m_t = β1·m + (1 − β1)·g  (as lerp: AdamW's op);  v_t = β2·v + (1 − β2)·g²
        exp_avg.lerp_(grad, c.one_minus_beta1)
        exp_avg_sq.mul_(c.beta2).addcmul_(grad, grad, value=c.one_minus_beta2)
        # denom = sqrt(v_t)/sqrt(1 − β2^t) + ε
        denom = (exp_avg_sq.sqrt() / c.bias_correction2_sqrt).add_(c.eps)
        # the update's numerator: m_t, or with Nesterov β1·m_t + (1 − β1)·g
        numerator = c.beta1 * exp_avg + c.one_minus_beta1 * grad if c.nesterov else exp_avg
        # the test on the raw gradient and the pre-decay weight
        view = scale_invariant_view(theta, grad, c.delta, c.eps)
        if view is None:
            # w ← w·(1 − lr·λ);  w ← w − lr/(1 − β1^t)·d  (AdamW's ops)
            if c.decay != 1.0:
                theta.mul_(c.decay)
            theta.addcdiv_(numerator, denom, value=-c.step_size)
        else:
            # d ← d − ŵ·⟨ŵ, d⟩ per row;  w ← w·(1 − lr·λ·wd_ratio);  w ← w − lr/(1 − β1^t)·d
            update = project_radial(theta, numerator / denom, view, c.eps)
            if c.projected_decay != 1.0:
                theta.mul_(c.projected_decay)
            theta.add_(update, alpha=-c.step_size)
        if theta is not param:
            param.copy_(theta)


def _split_by_view(thetas: list[Tensor], grads: list[Tensor], delta: float, eps: float) -> list[View | None]:
    """The scale-invariance test of each parameter (per tensor: it reduces over rows)."""
    return [scale_invariant_view(theta, grad, delta, eps) for theta, grad in zip(thetas, grads, strict=True)]


def _adamp_foreach(bucket: Bucket, c: _AdamPScalars) -> None:
    """The reference AdamP step with ``torch._foreach_*`` ops over the bucket, in the same order."""
    exp_avgs, exp_avg_sqs = bucket.state["exp_avg"], bucket.state["exp_avg_sq"]
    # float16/bfloat16 parameters are updated in float32 copies (same tensors otherwise)
    thetas = [param.to(m.dtype) for param, m in zip(bucket.params, exp_avgs, strict=True)]
    grads = [grad.to(m.dtype) for grad, m in zip(bucket.grads, exp_avgs, strict=True)]
    # m_t = β1·m + (1 − β1)·g  (lerp);  v_t = β2·v + (1 − β2)·g²
    torch._foreach_lerp_(exp_avgs, grads, c.one_minus_beta1)
    torch._foreach_mul_(exp_avg_sqs, c.beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=c.one_minus_beta2)
    # denom = sqrt(v_t)/sqrt(1 − β2^t) + ε
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denoms, c.bias_correction2_sqrt)
    torch._foreach_add_(denoms, c.eps)
    # the update's numerator: m_t, or with Nesterov β1·m_t + (1 − β1)·g
    numerators = exp_avgs
    if c.nesterov:
        numerators = torch._foreach_mul(exp_avgs, c.beta1)
        torch._foreach_add_(numerators, torch._foreach_mul(grads, c.one_minus_beta1))
    views = _split_by_view(thetas, grads, c.delta, c.eps)
    plain = [i for i, view in enumerate(views) if view is None]
    projected = [i for i, view in enumerate(views) if view is not None]
    if plain:
        # w ← w·(1 − lr·λ);  w ← w − lr/(1 − β1^t)·d  (AdamW's ops)
        plain_thetas = [thetas[i] for i in plain]
        if c.decay != 1.0:
            torch._foreach_mul_(plain_thetas, c.decay)
        torch._foreach_addcdiv_(
            plain_thetas, [numerators[i] for i in plain], [denoms[i] for i in plain], value=-c.step_size
        )
    if projected:
        # d ← d − ŵ·⟨ŵ, d⟩ per row (per tensor);  w ← w·(1 − lr·λ·wd_ratio);  w ← w − lr/(1 − β1^t)·d
        directions = torch._foreach_div([numerators[i] for i in projected], [denoms[i] for i in projected])
        updates = [project_radial(thetas[i], d, views[i], c.eps) for i, d in zip(projected, directions, strict=True)]
        projected_thetas = [thetas[i] for i in projected]
        if c.projected_decay != 1.0:
            torch._foreach_mul_(projected_thetas, c.projected_decay)
        torch._foreach_add_(projected_thetas, updates, alpha=-c.step_size)
    for param, theta in zip(bucket.params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _adamp_direction(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    inverse_bias_correction2_sqrt: Tensor,
    constants: tuple[float, ...],
    nesterov: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The traceable AdamP moments and unprojected update d: (θ, g, m_t, v_t, d), in the state dtype."""
    beta1, one_minus_beta1, beta2, one_minus_beta2, eps, _ = constants
    theta, grad = param.to(exp_avg.dtype), grad.to(exp_avg.dtype)
    # m_t = β1·m + (1 − β1)·g  (lerp);  v_t = β2·v + (1 − β2)·g²
    new_exp_avg = torch.lerp(exp_avg, grad, one_minus_beta1)
    new_exp_avg_sq = exp_avg_sq * beta2 + one_minus_beta2 * grad * grad
    # d = m_t/denom (Nesterov: (β1·m_t + (1 − β1)·g)/denom),  denom = sqrt(v_t)/sqrt(1 − β2^t) + ε
    numerator = beta1 * new_exp_avg + one_minus_beta1 * grad if nesterov else new_exp_avg
    update = numerator / (new_exp_avg_sq.sqrt() * inverse_bias_correction2_sqrt + eps)
    return theta, grad, new_exp_avg, new_exp_avg_sq, update


def _adamp_fused(
    params: list[Tensor],
    grads: list[Tensor],
    state: dict[str, list[Tensor]],
    scalars: Tensor,
    constants: tuple[float, ...],
    nesterov: bool,
    coefficients: list[Tensor],
) -> None:
    """One AdamP step of a bucket as one traceable function (compiled by :data:`_ADAMP_COMPILED`).

    ``scalars`` holds the step's changing values (:meth:`_AdamPScalars.as_tensor`), ``constants`` the group's
    fixed ones (:meth:`_AdamPScalars.constants`); ``coefficients`` are the buffers of
    :func:`_coefficient_buffers`, one per matrix parameter.
    """
    step_size, inverse_bias_correction2_sqrt, decay, projected_decay = scalars.to(state["exp_avg"][0].dtype).unbind()
    eps, delta = constants[4], constants[5]
    matrices = iter(coefficients)
    for param, grad, exp_avg, exp_avg_sq in zip(params, grads, state["exp_avg"], state["exp_avg_sq"], strict=True):
        theta, grad, new_exp_avg, new_exp_avg_sq, update = _adamp_direction(
            param, grad, exp_avg, exp_avg_sq, inverse_bias_correction2_sqrt, constants, nesterov
        )
        exp_avg.copy_(new_exp_avg)
        exp_avg_sq.copy_(new_exp_avg_sq)
        if param.dim() > 1:
            # d_i ← d_i − k_i·w_i;  w ← w·(1 − lr·λ·r) − lr/(1 − β1^t)·d  (r = wd_ratio where projected)
            k = next(matrices)
            k.copy_(_projection_coefficients(theta, grad, update, delta, eps))
            rows = theta.shape[0]
            w = theta.reshape(rows, -1)
            factor = torch.where(k[-1] > 0, projected_decay, decay)
            projected = w * factor - step_size * (update.reshape(rows, -1) - w * k[:-1].unsqueeze(1))
            param.copy_(projected.reshape(param.shape))
        else:
            # w ← w·(1 − lr·λ) − lr/(1 − β1^t)·d
            param.copy_(theta * decay - step_size * update)


_ADAMP_COMPILED = CompiledStep("AdamP", _adamp_fused, fallback=_adamp_foreach)


def _adamp_compiled(bucket: Bucket, c: _AdamPScalars) -> None:
    """The fused compiled step; the foreach step (with a warning) where compilation is impossible."""
    _ADAMP_COMPILED(bucket, c, c.constants(), c.nesterov, _coefficient_buffers(bucket, "exp_avg"))


_ADAMP = implementations(compiled=_adamp_compiled, foreach=_adamp_foreach, single_tensor=_adamp_single_tensor)


# ------------------------------------------------------------------------------------------------ SGDP
@dataclass(frozen=True)
class _SGDPScalars:
    """The scalars of one SGDP step of one group (Python float64)."""

    lr: float
    momentum: float
    one_minus_dampening: float
    eps: float
    delta: float
    decay: float  # 1 − lr·λ/(1 − μ): unprojected parameters
    projected_decay: float  # 1 − lr·λ·wd_ratio/(1 − μ): projected parameters
    nesterov: bool

    @classmethod
    def of(cls, group: dict[str, Any]) -> _SGDPScalars:
        lr, weight_decay, momentum = group["lr"], group["weight_decay"], group["momentum"]
        return cls(
            lr=lr,
            momentum=momentum,
            one_minus_dampening=1.0 - group["dampening"],
            eps=group["eps"],
            delta=group["delta"],
            decay=1.0 - lr * weight_decay / (1.0 - momentum),
            projected_decay=1.0 - lr * weight_decay * group["wd_ratio"] / (1.0 - momentum),
            nesterov=group["nesterov"],
        )

    def as_tensor(self, device: torch.device) -> Tensor:
        """The scalars that change with a schedule as one float64 tensor on ``device`` (the compiled function's
        input, so that they never recompile it)."""
        return float64_tensor([self.lr, self.decay, self.projected_decay], device)

    def constants(self) -> tuple[float, ...]:
        """The scalars fixed for a group (μ, 1 − dampening, ε, δ): compile-time constants of the compiled step,
        as in AdamP (:meth:`_AdamPScalars.constants`)."""
        return (self.momentum, self.one_minus_dampening, self.eps, self.delta)


class SGDP(BucketedOptimizer):
    r"""SGDP (Heo et al., ICLR 2021), with the options and defaults of the official code v0.3.0.

    For each parameter w with gradient g (elementwise unless stated):

    1. b ← μ·b + (1 − dampening)·g, with b = 0 before the first step (torch.optim.SGD starts from
       b = g instead: the same only without dampening);
    2. d = g + μ·b with ``nesterov``, else d = b;
    3. if w has more than one dimension and :func:`scale_invariant_view` fires (channel view, else layer
       view: max_i |cos(g_i, w_i)| < δ/sqrt(row length)), d_i ← d_i − ŵ_i·⟨ŵ_i, d_i⟩ per row with
       ŵ_i = w_i/(‖w_i‖ + ε), and r = wd_ratio; otherwise r = 1. Without ``nesterov`` d is the buffer
       b itself, and the projected d is stored as b (as in the official code);
    4. w ← w·(1 − lr·λ·r/(1 − μ))  (decoupled decay, divided by 1 − μ);
    5. w ← w − lr·d.

    With δ = 0, λ = 0 and no dampening this is ``torch.optim.SGD(momentum=μ, nesterov=…)`` bit for bit.

    Args:
        params: parameters or parameter groups (dicts) to optimize.
        lr: learning rate, ≥ 0 (required).
        momentum: μ in [0, 1).
        dampening: in [0, 1].
        weight_decay: λ ≥ 0 (decoupled, divided by 1 − μ).
        nesterov: Nesterov momentum.
        eps: ε ≥ 0: the cosine's norm clamp and ŵ's norm.
        delta: δ ≥ 0, the threshold of the scale-invariance test (0 disables the projection).
        wd_ratio: r ≥ 0, the weight-decay multiplier of projected parameters.
        implementation: ``"compiled"`` (fused, default), ``"foreach"`` or ``"single_tensor"``.

    Per-parameter state: ``step`` (int) and ``momentum_buffer`` (b, also kept when μ = 0, as in the
    official code); float32 for float16/bfloat16 parameters, else the parameter dtype.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = required,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        eps: float = 1e-8,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        implementation: str = "compiled",
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "eps": eps,
            "delta": delta,
            "wd_ratio": wd_ratio,
            "implementation": implementation,
        }
        super().__init__(params, defaults)  # validates through add_param_group

    def _validate(self, settings: dict[str, Any]) -> None:
        if settings["lr"] is required:
            raise ValueError("lr must be given: SGDP has no default learning rate")
        check_non_negative("lr", settings["lr"])
        check_range("momentum", settings["momentum"], 0.0, 1.0, high_inclusive=False)
        check_range("dampening", settings["dampening"], 0.0, 1.0)
        _check_projection_settings(settings)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:
        _SGDP[group["implementation"]](bucket, _SGDPScalars.of(group))


def _sgdp_single_tensor(bucket: Bucket, c: _SGDPScalars) -> None:
    """The reference SGDP step: one parameter at a time, in-place torch ops."""
    for param, grad, buf in zip(bucket.params, bucket.grads, bucket.state["momentum_buffer"], strict=True):
        theta, grad = param.to(buf.dtype), grad.to(buf.dtype)
        # b ← μ·b + (1 − dampening)·g
        buf.mul_(c.momentum).add_(grad, alpha=c.one_minus_dampening)
        # d = g + μ·b (Nesterov, torch.optim.SGD's op) or b
        direction = grad.add(buf, alpha=c.momentum) if c.nesterov else buf
        view = scale_invariant_view(theta, grad, c.delta, c.eps)
        factor = c.decay
        if view is not None:
            # d ← d − ŵ·⟨ŵ, d⟩ per row (stored into b without Nesterov, where d is b)
            projected = project_radial(theta, direction, view, c.eps)
            if not c.nesterov:
                buf.copy_(projected)
            direction, factor = projected, c.projected_decay
        # w ← w·(1 − lr·λ·r/(1 − μ));  w ← w − lr·d
        if factor != 1.0:
            theta.mul_(factor)
        theta.add_(direction, alpha=-c.lr)
        if theta is not param:
            param.copy_(theta)


def _sgdp_foreach(bucket: Bucket, c: _SGDPScalars) -> None:
    """The reference SGDP step with ``torch._foreach_*`` ops over the bucket, in the same order."""
    bufs = bucket.state["momentum_buffer"]
    thetas = [param.to(b.dtype) for param, b in zip(bucket.params, bufs, strict=True)]
    grads = [grad.to(b.dtype) for grad, b in zip(bucket.grads, bufs, strict=True)]
    # b ← μ·b + (1 − dampening)·g
    torch._foreach_mul_(bufs, c.momentum)
    torch._foreach_add_(bufs, grads, alpha=c.one_minus_dampening)
    # d = g + μ·b (Nesterov) or b
    directions = list(torch._foreach_add(grads, bufs, alpha=c.momentum)) if c.nesterov else list(bufs)
    views = _split_by_view(thetas, grads, c.delta, c.eps)
    factors = [c.decay] * len(thetas)
    for i, view in enumerate(views):
        if view is not None:
            # d ← d − ŵ·⟨ŵ, d⟩ per row (stored into b without Nesterov, where d is b)
            directions[i] = project_radial(thetas[i], directions[i], view, c.eps)
            if not c.nesterov:
                bufs[i].copy_(directions[i])
            factors[i] = c.projected_decay
    # w ← w·(1 − lr·λ·r/(1 − μ));  w ← w − lr·d
    for factor in {c.decay, c.projected_decay} - {1.0}:
        group = [theta for theta, f in zip(thetas, factors, strict=True) if f == factor]
        if group:
            torch._foreach_mul_(group, factor)
    torch._foreach_add_(thetas, directions, alpha=-c.lr)
    for param, theta in zip(bucket.params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _sgdp_direction(
    param: Tensor, grad: Tensor, buf: Tensor, constants: tuple[float, ...], nesterov: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The traceable SGDP buffer and unprojected update d: (θ, g, b, d), in the state dtype."""
    momentum, one_minus_dampening = constants[:2]
    theta, grad = param.to(buf.dtype), grad.to(buf.dtype)
    # b ← μ·b + (1 − dampening)·g;  d = g + μ·b (Nesterov) or b
    new_buf = buf * momentum + one_minus_dampening * grad
    return theta, grad, new_buf, grad + momentum * new_buf if nesterov else new_buf


def _sgdp_fused(
    params: list[Tensor],
    grads: list[Tensor],
    state: dict[str, list[Tensor]],
    scalars: Tensor,
    constants: tuple[float, ...],
    nesterov: bool,
    coefficients: list[Tensor],
) -> None:
    """One SGDP step of a bucket as one traceable function (compiled by :data:`_SGDP_COMPILED`).

    ``scalars`` holds the changing values (:meth:`_SGDPScalars.as_tensor`), ``constants`` the group's fixed
    ones (:meth:`_SGDPScalars.constants`); ``coefficients`` are the buffers of :func:`_coefficient_buffers`,
    one per matrix parameter.
    """
    lr, decay, projected_decay = scalars.to(state["momentum_buffer"][0].dtype).unbind()
    eps, delta = constants[2], constants[3]
    matrices = iter(coefficients)
    for param, grad, buf in zip(params, grads, state["momentum_buffer"], strict=True):
        theta, grad, new_buf, update = _sgdp_direction(param, grad, buf, constants, nesterov)
        factor = decay
        if param.dim() > 1:
            # d_i ← d_i − k_i·w_i (stored into b without Nesterov, where d is b); r = wd_ratio where projected
            k = next(matrices)
            k.copy_(_projection_coefficients(theta, grad, update, delta, eps))
            rows = theta.shape[0]
            w = theta.reshape(rows, -1)
            update = (update.reshape(rows, -1) - w * k[:-1].unsqueeze(1)).reshape(param.shape)
            if not nesterov:
                new_buf = update
            factor = torch.where(k[-1] > 0, projected_decay, decay)
        # w ← w·(1 − lr·λ·r/(1 − μ)) − lr·d
        buf.copy_(new_buf)
        param.copy_(theta * factor - lr * update)


_SGDP_COMPILED = CompiledStep("SGDP", _sgdp_fused, fallback=_sgdp_foreach)


def _sgdp_compiled(bucket: Bucket, c: _SGDPScalars) -> None:
    """The fused compiled step; the foreach step (with a warning) where compilation is impossible."""
    _SGDP_COMPILED(bucket, c, c.constants(), c.nesterov, _coefficient_buffers(bucket, "momentum_buffer"))


_SGDP = implementations(compiled=_sgdp_compiled, foreach=_sgdp_foreach, single_tensor=_sgdp_single_tensor)
