"""Batch inverse-variance weighting of the value loss: BIV (Mai et al. 2022) and the paper's BIEV.

Per sample i of a minibatch of B, a variance estimate σ̂²_i over the M ensemble heads:

- BIV:  σ̂²_i = γ² · max(Var_k(v_ik; ddof=1), EPS)      (spread of the head values; the official code clips first)
- BIEV: σ̂²_i = max(Var_k(δ_ik; ddof=0) / (κ̂_i / M + (M+1)/(M-1)), EPS),  δ_ik = v_ik - y_ik,
  κ̂_i the unbiased Fisher excess kurtosis of {δ_ik}_k (``scipy.stats.kurtosis(bias=False)``, per sample over
  the heads, never across the batch): the kurtosis- and bias-corrected variance of a sample variance.

Weights w_i = (σ̂²_i + ξ)⁻¹ / Σ_j (σ̂²_j + ξ)⁻¹, with ξ ≥ 0 raised until the effective batch size
EBS = 1 / Σ_i w_i² reaches m = min(B - 1, min_batch_size): ξ = 0 when EBS ≥ m already, else the official
Nelder–Mead search of |EBS(σ̂² + |ξ|) - m| from ξ = 0 (fatol 1, at most 100 iterations). The weights are
constants (numpy; no gradient). The weighted loss is mean_i Σ_k w_i e(v_ik - y_ik), e = square or absolute value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch as th
from scipy.optimize import minimize

from paperzoo.shared.validate import check_one_of, check_range

__all__ = [
    "EPS",
    "ERRORS",
    "Weighting",
    "biev_loss",
    "biev_variance",
    "biv_loss",
    "biv_variance",
    "check_min_batch_size",
    "effective_batch_size",
    "head_excess_kurtosis",
    "inverse_variance_weights",
    "optimal_xi",
    "weighted_error_loss",
]

EPS = 1e-6  # the official variance floor (utils/constants.py)
ERRORS = ("mse", "mae")
Error = Literal["mse", "mae"]


@dataclass(frozen=True)
class Weighting:
    """One minibatch's inverse-variance weights [B], the ξ that was added, and the resulting EBS."""

    weights: np.ndarray
    xi: float
    ebs: float


def check_min_batch_size(min_batch_size: int) -> int:
    """Require an integer ``min_batch_size >= 2`` (the EBS floor m)."""
    if isinstance(min_batch_size, bool) or not isinstance(min_batch_size, int) or min_batch_size < 2:
        raise ValueError(f"min_batch_size must be an integer >= 2, got {min_batch_size!r}")
    return min_batch_size


def head_excess_kurtosis(x: np.ndarray) -> np.ndarray:
    """The unbiased Fisher excess kurtosis of each row of ``x`` [B, M] over its M ≥ 4 entries.

    G2 = ((M² - 1) m4 / m2² - 3 (M - 1)²) / ((M - 2)(M - 3)) with biased central moments m2, m4; equal to
    ``scipy.stats.kurtosis(x, axis=-1, bias=False)`` except for a row without spread, where scipy gives NaN and
    this gives 0 (such a row then gets σ̂² = EPS instead of NaN weights for the whole batch).
    """
    m = x.shape[-1]
    if m < 4:
        raise ValueError(f"the unbiased kurtosis needs at least 4 heads, got {m}")
    centred = x - x.mean(axis=-1, keepdims=True)
    m2 = np.square(centred).mean(axis=-1)
    m4 = np.square(np.square(centred)).mean(axis=-1)
    spread = m2 > (np.finfo(np.float64).resolution * np.abs(x.mean(axis=-1))) ** 2
    ratio = np.divide(m4, np.square(m2), out=np.zeros_like(m2), where=spread)
    g2 = ((m * m - 1.0) * ratio - 3.0 * (m - 1.0) ** 2) / ((m - 2.0) * (m - 3.0))
    return np.where(spread, g2, 0.0)


def biv_variance(values: np.ndarray, gamma: float) -> np.ndarray:
    """σ̂²_i = γ² · max(Var_k(v_ik; ddof=1), EPS) for head values [B, M] (M ≥ 2)."""
    check_range("gamma", gamma, 0.0, 1.0)
    if values.shape[-1] < 2:
        raise ValueError(f"BIV needs at least 2 heads, got {values.shape[-1]}")
    return np.var(values, axis=-1, ddof=1).clip(EPS) * gamma**2


def biev_variance(errors: np.ndarray) -> np.ndarray:
    """σ̂²_i = max(Var_k(δ_ik) / (κ̂_i / M + (M+1)/(M-1)), EPS) for TD errors [B, M] (M ≥ 4)."""
    m = errors.shape[-1]
    if m < 4:
        raise ValueError(f"BIEV needs at least 4 heads (unbiased kurtosis over heads), got ensemble_size={m}")
    correction = head_excess_kurtosis(errors) / m + (m + 1.0) / (m - 1.0)
    return (np.var(errors, axis=-1) / correction).clip(EPS)


def effective_batch_size(variance: np.ndarray) -> float:
    """EBS = 1 / Σ_i w_i², w_i = σ_i⁻² / Σ_j σ_j⁻² (B for equal variances, 1 when one sample takes all)."""
    inverse = np.reciprocal(variance)
    weights = inverse / inverse.sum()
    return float(1.0 / np.square(weights).sum())


def optimal_xi(variance: np.ndarray, min_batch_size: int = 16) -> float:
    """ξ ≥ 0 with EBS(σ̂² + ξ) ≈ m = min(B - 1, min_batch_size): 0 when EBS(σ̂²) ≥ m, else the official
    Nelder–Mead minimisation of |EBS(σ̂² + |ξ|) - m| from ξ = 0 (fatol 1, ≤ 100 iterations)."""
    check_min_batch_size(min_batch_size)
    target = min(len(variance) - 1, min_batch_size)
    if effective_batch_size(variance) >= target:
        return 0.0
    result = minimize(
        lambda xi: abs(effective_batch_size(variance + abs(xi[0])) - target),
        np.zeros(1),
        method="Nelder-Mead",
        options={"fatol": 1, "maxiter": 100},
    )
    return float(abs(result.x[0]))


def inverse_variance_weights(variance: np.ndarray, min_batch_size: int = 16) -> Weighting:
    """w_i = (σ̂²_i + ξ)⁻¹ / Σ_j (σ̂²_j + ξ)⁻¹ with ξ = :func:`optimal_xi`."""
    xi = optimal_xi(variance, min_batch_size)
    inverse = np.reciprocal(variance + xi)
    weights = inverse / inverse.sum()
    return Weighting(weights, xi, float(1.0 / np.square(weights).sum()))


def weighted_error_loss(values: th.Tensor, targets: th.Tensor, weights: np.ndarray, error: Error = "mse") -> th.Tensor:
    """mean_i Σ_k w_i e(v_ik - y_ik) with e(d) = d² (``"mse"``) or |d| (``"mae"``); ``values`` [B, M, D]."""
    check_one_of("error", error, ERRORS)
    delta = values[..., 0] - targets
    per_sample = (delta.square() if error == "mse" else delta.abs()).sum(dim=-1)
    return (per_sample * th.as_tensor(weights, dtype=values.dtype, device=values.device)).mean()


def _numpy(x: th.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float64)


def biv_loss(
    values: th.Tensor,
    targets: th.Tensor,
    gamma: float,
    min_batch_size: int = 16,
    error: Error = "mse",
    out: list[Weighting] | None = None,
) -> th.Tensor:
    """L_BIV: :func:`weighted_error_loss` with the BIV weights of the head values (``out`` collects the weighting)."""
    weighting = inverse_variance_weights(biv_variance(_numpy(values[..., 0]), gamma), min_batch_size)
    if out is not None:
        out.append(weighting)
    return weighted_error_loss(values, targets, weighting.weights, error)


def biev_loss(
    values: th.Tensor,
    targets: th.Tensor,
    min_batch_size: int = 16,
    error: Error = "mse",
    out: list[Weighting] | None = None,
) -> th.Tensor:
    """L_BIEV: :func:`weighted_error_loss` with the BIEV weights of the TD errors (``out`` collects the weighting)."""
    weighting = inverse_variance_weights(biev_variance(_numpy(values[..., 0] - targets)), min_batch_size)
    if out is not None:
        out.append(weighting)
    return weighted_error_loss(values, targets, weighting.weights, error)
