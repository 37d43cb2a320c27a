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

Since Σ_j (c_k g_kj e_j)² = Σ_j c_k² g_kj² e_j² (c_k the clip/scale factor of g_k), VaGraM is an MSE with per-element
weights w_j = (1/K) Σ_k c_k² g_kj² (a sum over k with the norm scale): :class:`ValueWeights` precomputes g² and ‖g‖
once per model-training round and forms w per minibatch, and ``mse_loss(..., weights=w)`` is the loss (the fast path
of :func:`train_model`; equal to :func:`vagram_loss` up to float rounding).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from paperzoo.shared.validate import check_one_of, check_range

__all__ = ["NormScale", "ValueWeights", "batch_quantile", "clip_value_gradients", "mse_loss", "vagram_loss"]

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

    def update(self, norms: Tensor) -> list[float]:
        """m_k: m updated once per value function k (in order) from the mean of its norms ``norms[k]``."""
        scales = []
        for n in norms:
            # m ← ρ m + (1 - ρ) mean_i ‖g_i‖
            self.value = self.momentum * self.value + (1.0 - self.momentum) * float(n.mean())
            scales.append(self.value)
        return scales

    def rescale(self, grads: Tensor, norms: Tensor) -> Tensor:
        """g_k / m_k with m updated once per value function k (in order) from the mean of its norms."""
        return torch.stack([g / m for g, m in zip(grads, self.update(norms), strict=True)])


def batch_quantile(x: Tensor, q: float, dim: int = -1) -> Tensor:
    """``torch.quantile(x, q, dim)`` (linear interpolation, NaN where a slice holds one) from a partial top-k.

    With r = q (n - 1), the quantile is lerp(x_(⌊r⌋), x_(⌈r⌉), r - ⌊r⌋) of the sorted slice; only its n - ⌊r⌋ largest
    entries are needed (5 % of them for q = 0.95), not a full sort. Equal to ``torch.quantile`` up to the rounding
    of the interpolation (at most 1 ulp: torch's kernel orders the float operations differently).
    """
    check_range("q", q, 0.0, 1.0)
    n = x.shape[dim]
    rank = q * (n - 1)
    below, above = int(rank), math.ceil(rank)
    top = torch.topk(x, n - below, dim=dim).values  # descending: position j holds the (n - 1 - j)-th smallest
    out = torch.lerp(top.select(dim, -1), top.select(dim, n - 1 - above), rank - below)
    if x.isnan().any():  # torch.quantile's rule: a slice holding a NaN has a NaN quantile
        out = torch.where(x.isnan().any(dim), torch.full_like(out, float("nan")), out)
    return out


def clip_value_gradients(grads: Tensor, clip_quantile: float = 0.95) -> tuple[Tensor, Tensor]:
    """Quantile clipping per value function: g_i ← g_i · min(1, q / ‖g_i‖), q the batch quantile of ‖g‖.

    ``grads`` is (K, ..., D); the quantile of each value function runs over all its other entries (batch and
    ensemble, as the official code flattens them). Returns the clipped gradients and the UNclipped norms (K, ...).
    """
    check_range("clip_quantile", clip_quantile, 0.0, 1.0, low_inclusive=False)
    norms = torch.linalg.vector_norm(grads, dim=-1)
    q = batch_quantile(norms.reshape(norms.shape[0], -1), clip_quantile)
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


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean", weights: Tensor | None = None) -> Tensor:
    """The MSE baseline on VaGraM's reduction: mean of Σ_j e_j² / D + (r̂ - r)², i.e. ``vagram_loss`` with g ≡ 1.

    ``weights`` (broadcastable to the state error, e.g. from :class:`ValueWeights`) gives Σ_j w_j e_j² / D instead:
    with w_j = (1/K) Σ_k c_k² g_kj² this is VaGraM's loss.
    """
    _check_shapes(pred, target)
    check_one_of("reduction", reduction, REDUCTIONS)
    state = (pred[..., :-1] - target[..., :-1]).square()
    if weights is not None:
        if weights.shape[-1] != state.shape[-1]:
            raise ValueError(f"weights must end in D = {state.shape[-1]}, got {tuple(weights.shape)}")
        state = weights.detach() * state
    return _reduce(state, (pred[..., -1:] - target[..., -1:]).square(), reduction)


class ValueWeights:
    """VaGraM's per-element weights w = (1/K) Σ_k c_k² g_k² for one model-training round (module docstring).

    g² and the norms ‖g_k‖ of every transition are computed once; a call gathers a minibatch's rows, takes the
    ``clip_quantile`` quantile of its norms per value function (as :func:`clip_value_gradients`: c_k = min(1,
    q_k / ‖g_k‖)) and, with a :class:`NormScale`, divides c_k by the updated running scale m_k and sums over k.

    Args:
        grads: (K, N, D) value gradients of the round's N transitions (constants).
        clip_quantile: in (0, 1]; None turns clipping off.
        replace_nan: NaN gradients -> 1e5 (the norm-scale state of the official code).
    """

    def __init__(self, grads: Tensor, clip_quantile: float | None = 0.95, replace_nan: bool = False) -> None:
        if grads.ndim != 3:
            raise ValueError(f"grads must be (K, N, D), got {tuple(grads.shape)}")
        if clip_quantile is not None:
            check_range("clip_quantile", clip_quantile, 0.0, 1.0, low_inclusive=False)
        self.clip_quantile = clip_quantile
        g = grads.detach().transpose(0, 1)  # (N, K, D): one gathered row per transition
        if replace_nan:
            g = torch.nan_to_num(g, nan=NAN_GRADIENT)
        self.norms = torch.linalg.vector_norm(g, dim=-1).contiguous()  # (N, K)
        self.squares = g.square().contiguous()  # (N, K, D)

    def __call__(self, indices: Tensor, norm_scale: NormScale | None = None) -> Tensor:
        """(*indices.shape, D) weights of the transitions ``indices`` (one minibatch: the quantile runs over it)."""
        return self.minibatches(indices.unsqueeze(0), norm_scale)[0]

    def minibatches(self, indices: Tensor, norm_scale: NormScale | None = None) -> Tensor:
        """(*indices.shape, D) weights of n equal minibatches ``indices`` (n, ...) at once (e.g. an epoch's): the
        quantile runs within each minibatch, and the running scale is updated minibatch after minibatch."""
        flat = indices.reshape(-1)
        shape = (indices.shape[0], -1, *self.squares.shape[1:])  # (n, M, K, D)
        norms = self.norms.index_select(0, flat).reshape(shape[:-1])  # (n, M, K)
        factor = torch.ones_like(norms)
        if self.clip_quantile is not None:
            q = batch_quantile(norms, self.clip_quantile, dim=1).unsqueeze(1)
            # c = min(1, q / n): clip_value_gradients' factor (n < q -> 1), written as one clamp
            factor = (q / norms.clamp_min(torch.finfo(norms.dtype).tiny)).clamp_max(1.0)
        if norm_scale is not None:
            scales = [norm_scale.update(batch.T) for batch in norms]
            factor = factor / torch.tensor(scales, dtype=norms.dtype, device=norms.device).unsqueeze(1)
        # Σ_k c_k² g_kj² per transition: (n, M, K, 1) x (n, M, K, D) summed over K
        weights = (factor.square().unsqueeze(-1) * self.squares.index_select(0, flat).reshape(shape)).sum(2)
        weights = weights if norm_scale is not None else weights / norms.shape[-1]
        return weights.reshape(*indices.shape, -1)
