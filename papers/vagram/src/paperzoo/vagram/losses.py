"""The value-gradient weighted model loss of VaGraM (Voelcker et al., ICLR 2022) and its MSE baseline.

Data (s, a, r, s'), model prediction (ŝ', r̂) (a delta model gives the same error), e = ŝ' - s' ∈ R^D, and K value
functions V_k(s) = Q_k(s, μ(s)) of the current agent (SAC's Q1, Q2, Q̄1, Q̄2) with their gradients at the REAL
next state, g_k = ∇_s V_k(s') (constants of the model loss). Per sample:

    VaGraM        ℓ = (1/K) Σ_k Σ_j (g_kj e_j)² / D  +  (r̂ - r)²        (Eq. 4 with the reward head, per element)
    Taylor-VAML   ℓ = (1/K) Σ_k (g_kᵀ e)²            +  (r̂ - r)²        (the unbounded first-order form)
    MSE           ℓ = Σ_j e_j² / D                    +  (r̂ - r)²        (= VaGraM with g ≡ 1: the same reduction)

and the loss is the mean of ℓ over the batch (and the ensemble). This is pairlab/vagram's reduction at the ICLR
version (``mbrl/models/vaml_mlp.py``): squares per state element, the reward term broadcast onto every element,
``.mean()`` over ensemble x batch x D, averaged over the value functions.

Stabilisation (official): per value function, the norms n_i = ‖g_i‖ over the batch, q = their ``clip_quantile``
quantile (linear interpolation, as ``np.quantile``), and g_i ← g_i · q / n_i where n_i ≥ q. A later state of
the official code adds a running scale m ← ρ m + (1 - ρ) mean_i n_i (ρ = 0.999, m₀ = 1, the UNclipped norms,
once per value function) and g ← g / m, replaces NaN gradients by 1e5 and sums (not averages) over the value
functions: :class:`NormScale` switches all three on.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paperzoo.shared.validate import check_one_of, check_range

__all__ = ["NormScale", "clip_value_gradients", "mse_loss", "vagram_loss"]

REDUCTIONS = ("mean", "member")
NAN_GRADIENT = 1e5  # the later official code's replacement of NaN value gradients


class NormScale:
    """The running gradient-norm scale of the later official code: m ← ρ m + (1 - ρ) mean ‖g‖, then g / m.

    Args:
        momentum: ρ in [0, 1) (official 0.999).
        value: m₀ (official 1.0).
    """

    def __init__(self, momentum: float = 0.999, value: float = 1.0) -> None:
        self.momentum = check_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
        self.value = check_range("value", value, 0.0, float("inf"), low_inclusive=False, high_inclusive=False)

    def rescale(self, grads: Tensor, norms: Tensor) -> Tensor:
        """g_k / m_k with m updated once per value function k (in order) from the mean of its norms."""
        out = []
        for g, n in zip(grads, norms, strict=True):
            # m ← ρ m + (1 - ρ) mean_i ‖g_i‖
            self.value = self.momentum * self.value + (1.0 - self.momentum) * float(n.mean())
            out.append(g / self.value)
        return torch.stack(out)


def clip_value_gradients(grads: Tensor, clip_quantile: float = 0.95) -> tuple[Tensor, Tensor]:
    """Quantile clipping per value function: g_i ← g_i · min(1, q / ‖g_i‖), q the batch quantile of ‖g‖.

    ``grads`` is (K, ..., D); the quantile of each value function runs over all its other entries (batch and
    ensemble, as the official code flattens them). Returns the clipped gradients and the UNclipped norms (K, ...).
    """
    check_range("clip_quantile", clip_quantile, 0.0, 1.0, low_inclusive=False)
    norms = torch.linalg.vector_norm(grads, dim=-1)
    q = torch.quantile(norms.reshape(norms.shape[0], -1), clip_quantile, dim=1)
    q = q.reshape(-1, *([1] * (norms.ndim - 1)))
    # vectors at or above the quantile are rescaled to norm q, the others kept
    scale = torch.where(norms < q, torch.ones_like(norms), q / norms.clamp_min(torch.finfo(norms.dtype).tiny))
    return grads * scale.unsqueeze(-1), norms


def _check_shapes(pred: Tensor, target: Tensor) -> None:
    if pred.ndim not in (2, 3) or pred.shape[-1] < 2:
        raise ValueError(f"pred must be (E, B, D+1) or (B, D+1) with D >= 1, got {tuple(pred.shape)}")
    if target.shape != pred.shape and target.shape != pred.shape[-2:]:
        raise ValueError(
            f"target must be (B, D+1) = {tuple(pred.shape[-2:])} or pred's shape, got {tuple(target.shape)}"
        )


def _reduce(state: Tensor, reward_sq: Tensor, reduction: str) -> Tensor:
    """Official reduction: the reward square added onto every state element, mean over all (or per member)."""
    total = state + reward_sq
    if reduction == "member":
        if total.ndim != 3:
            raise ValueError("reduction='member' needs an ensemble prediction (E, B, D+1)")
        return total.mean(dim=(1, 2))
    return total.mean()


def vagram_loss(
    pred: Tensor,
    target: Tensor,
    grads: Tensor,
    clip_quantile: float | None = 0.95,
    taylor: bool = False,
    norm_scale: NormScale | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The VaGraM model loss (or Taylor-VAML with ``taylor=True``) on the official reduction (module docstring).

    Args:
        pred: (E, B, D+1) or (B, D+1) predicted next state (or delta) with the reward last.
        target: (B, D+1) (shared by the members) or pred's shape; same coordinates as ``pred``.
        grads: (K, B, D) value gradients ∇_s V_k(s') for a (B, D+1) target, or (K, E, B, D) for a per-member target;
            treated as constants (detached).
        clip_quantile: the batch quantile of ‖g‖ to clip at, in (0, 1]; None turns clipping off.
        taylor: the Taylor-VAML term (gᵀe)² instead of Σ_j (g_j e_j)².
        norm_scale: the later official state (running norm scale, NaN -> 1e5, sum over value functions).
        reduction: ``"mean"`` (a scalar) or ``"member"`` (one value per ensemble member, for validation scores).
    """
    _check_shapes(pred, target)
    check_one_of("reduction", reduction, REDUCTIONS)
    if clip_quantile is not None:
        check_range("clip_quantile", clip_quantile, 0.0, 1.0, low_inclusive=False)
    d = pred.shape[-1] - 1
    expected = (target.shape[:-1], d)
    if grads.ndim != target.ndim + 1 or grads.shape[1:-1] != expected[0] or grads.shape[-1] != d or grads.shape[0] < 1:
        raise ValueError(f"grads must be (K, {', '.join(map(str, (*expected[0], d)))}), got {tuple(grads.shape)}")
    g = grads.detach()
    if norm_scale is not None:
        g = torch.nan_to_num(g, nan=NAN_GRADIENT)
    norms = torch.linalg.vector_norm(g, dim=-1)
    if clip_quantile is not None:
        g, norms = clip_value_gradients(g, clip_quantile)
    if norm_scale is not None:
        g = norm_scale.rescale(g, norms)
    if pred.ndim == 3 and target.ndim == 2:
        g = g.unsqueeze(1)  # (K, 1, B, D): every member weighted by the same sample's gradient
    error = pred[..., :-1] - target[..., :-1]
    weighted = g * error
    # Taylor-VAML: (g_kᵀ e)²; VaGraM: (g_kj e_j)² per element
    per_vf = weighted.sum(-1, keepdim=True).square() if taylor else weighted.square()
    state = per_vf.sum(0) if norm_scale is not None else per_vf.mean(0)
    return _reduce(state, (pred[..., -1:] - target[..., -1:]).square(), reduction)


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The MSE baseline on VaGraM's reduction: mean of Σ_j e_j² / D + (r̂ - r)², i.e. ``vagram_loss`` with g ≡ 1."""
    _check_shapes(pred, target)
    check_one_of("reduction", reduction, REDUCTIONS)
    return _reduce(
        (pred[..., :-1] - target[..., :-1]).square(), (pred[..., -1:] - target[..., -1:]).square(), reduction
    )
