"""The generalized Gaussian distribution (GGD) of TD errors, and the three value losses built on a likelihood.

With scale α and shape β > 0 the GGD density of a TD error δ is

    p(δ) = β / (2 α Γ(1/β)) · exp(-(|δ| / α)^β),                                    (paper, Eq. GGD)

β = 2 is a Gaussian with variance α²/2, β = 1 a Laplace of scale α. The paper fixes α = 1 and lets each ensemble
head predict a shape logit z with β = softplus(z), clamped at :data:`MIN_BETA` so that log Γ(1/β) stays finite.

Value tensors follow the official code: ``values`` is [B, M, D] (head k's value in ``[..., 0]`` and, for D = 2,
its distribution parameter logit in ``[..., 1]``), ``targets`` is [B, M] (one target per head).
"""

from __future__ import annotations

import math
from typing import Literal

import torch as th
import torch.nn.functional as F

from paperzoo.shared.validate import check_one_of

__all__ = [
    "MIN_BETA",
    "NLL_FORMS",
    "gaussian_nll_loss",
    "ggd_beta",
    "ggd_excess_kurtosis",
    "ggd_nll",
    "ggd_nll_loss",
    "ggd_variance",
    "mse_loss",
    "risk_averse_weights",
]

MIN_BETA = 1e-3  # β ≥ 1e-3: log Γ(1/β) explodes as β -> 0 (the official code does not clamp; see README)
NLL_FORMS = ("official", "paper")
NllForm = Literal["official", "paper"]
_TINY = 1e-12  # |δ| floor in the paper form: d/dβ |δ|^β = |δ|^β log|δ| is NaN at δ = 0


def ggd_beta(logits: th.Tensor) -> th.Tensor:
    """β = max(softplus(z), :data:`MIN_BETA`)."""
    return F.softplus(logits).clamp_min(MIN_BETA)


def ggd_nll(delta: th.Tensor, beta: th.Tensor, form: NllForm = "paper") -> th.Tensor:
    """The elementwise GGD negative log-likelihood of TD errors ``delta`` with shape ``beta`` (α = 1).

    - ``"paper"``: ℓ = |δ|^β - log β + log Γ(1/β) + log 2, the exact -log p(δ) above;
    - ``"official"``: ℓ = β·|δ| - log β + log Γ(1/β) (``losses/mle.py`` of the official code: |δ| times β, not
      raised to β, and without the constant log 2). It made the published curves.
    """
    check_one_of("nll_form", form, NLL_FORMS)
    abs_delta = delta.abs()
    normaliser = th.lgamma(beta.reciprocal()) - beta.log()
    if form == "paper":
        return abs_delta.clamp_min(_TINY).pow(beta) + normaliser + math.log(2.0)
    return beta * abs_delta + normaliser


def ggd_variance(beta: th.Tensor, alpha: float = 1.0) -> th.Tensor:
    """Var = α² Γ(3/β) / Γ(1/β) (strictly decreasing in β: a larger shape means less aleatoric spread)."""
    return alpha**2 * th.exp(th.lgamma(3.0 / beta) - th.lgamma(1.0 / beta))


def ggd_excess_kurtosis(beta: th.Tensor) -> th.Tensor:
    """Excess kurtosis Γ(5/β) Γ(1/β) / Γ(3/β)² - 3 (0 for β = 2, 3 for β = 1)."""
    return th.exp(th.lgamma(5.0 / beta) + th.lgamma(1.0 / beta) - 2.0 * th.lgamma(3.0 / beta)) - 3.0


def risk_averse_weights(beta: th.Tensor) -> th.Tensor:
    """w_ik = β_ik / Σ_k' β_ik' over the heads (last axis); not detached, as in the official code."""
    return beta / beta.sum(dim=-1, keepdim=True)


def _check_shapes(values: th.Tensor, targets: th.Tensor, dims: int) -> None:
    if values.ndim != 3 or values.shape[-1] < dims or targets.shape != values.shape[:2]:
        raise ValueError(
            f"values must be [B, M, D>={dims}] and targets [B, M], got {tuple(values.shape)} and {tuple(targets.shape)}"
        )


def mse_loss(values: th.Tensor, targets: th.Tensor) -> th.Tensor:
    """L_MSE = Σ_k mean_i (v_ik - y_ik)²."""
    _check_shapes(values, targets, 1)
    return (values[..., 0] - targets).square().mean(dim=0).sum()


def gaussian_nll_loss(values: th.Tensor, targets: th.Tensor) -> th.Tensor:
    """L_GD = Σ_k mean_i ½ [log σ²_ik + (v_ik - y_ik)² / σ²_ik], σ² = softplus(z) (torch's ``gaussian_nll_loss``,
    variance floored at 1e-6)."""
    _check_shapes(values, targets, 2)
    variance = F.softplus(values[..., 1])
    return F.gaussian_nll_loss(values[..., 0], targets, variance, reduction="none").mean(dim=0).sum()


def ggd_nll_loss(values: th.Tensor, targets: th.Tensor, nll_form: NllForm = "official") -> th.Tensor:
    """L_GGD = mean_i Σ_k w_ik ℓ(v_ik - y_ik; β_ik), β = :func:`ggd_beta` (z), w = :func:`risk_averse_weights` (β)."""
    _check_shapes(values, targets, 2)
    beta = ggd_beta(values[..., 1])
    nll = ggd_nll(values[..., 0] - targets, beta, nll_form)
    return (risk_averse_weights(beta) * nll).sum(dim=-1).mean()
