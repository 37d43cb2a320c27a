"""Certificates of a Gaussian-smoothed policy against an adaptive adversary with total l2 budget B.

Adaptive Neyman-Pearson lemma (Kumar et al. 2022, Thm. 2): for any event E of a trajectory of the smoothed policy
a_t = pi(o_t + eps_t + eta_t), eta_t ~ N(0, sigma^2 I) fresh every step, and any adaptive attack with
sqrt(sum_t ||eps_t||^2) <= B,

    P_attacked(E) >= Phi(Phi^-1(P_clean(E)) - B / sigma).

Certified expected total reward (the CDF method): for integer returns R in {0, ..., T},
E[R] = sum_{i=0}^{T-1} P(R > i), each P(R > i) is an event of the trajectory, hence

    R_cert(B) = sum_{i=0}^{T-1} Phi(Phi^-1(p_i) - B / sigma),   p_i = CP_lower(#{R > i}, N, alpha / T),

a lower bound on the attacked expected return with probability >= 1 - alpha over the N clean episodes
(Bonferroni over the T thresholds). Terms with p_i = 0 contribute 0 (Phi^-1(0) = -inf); p_i = 1 contributes 1.
Returns that live elsewhere (MountainCar: [-200, 0]) are shifted into [0, T] first and the certificate shifted back.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range

__all__ = ["certified_action", "certified_reward", "cp_lower", "np_bound"]


def _check_alpha(alpha: float) -> float:
    return check_range("alpha", alpha, 0.0, 1.0, low_inclusive=False, high_inclusive=False)


def cp_lower(k: npt.ArrayLike, n: int, alpha: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound at level 1 - alpha: ``Beta.ppf(alpha, k, n - k + 1)``, 0 at k = 0.

    Equals statsmodels' ``proportion_confint(k, n, alpha=2 * alpha, method="beta")[0]`` (the two-sided interval at
    2 alpha has alpha in each tail).
    """
    check_positive_int("n", n)
    _check_alpha(alpha)
    k = np.asarray(k, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n) or np.any(k != np.round(k)):
        raise ValueError(f"k must be integers in [0, n={n}], got {k}")
    safe = np.maximum(k, 1.0)  # Beta(0, .) is undefined; those entries are replaced by 0 below
    return np.where(k > 0, stats.beta.ppf(alpha, safe, n - k + 1.0), 0.0)


def np_bound(p: npt.ArrayLike, sigma: float, budget: npt.ArrayLike) -> np.ndarray:
    """Phi(Phi^-1(p) - B / sigma) elementwise, with Phi^-1(0) = -inf -> 0 and Phi^-1(1) = +inf -> 1 explicitly.

    ``sigma = 0`` (no smoothing) certifies nothing beyond B = 0: the bound is p at B = 0 and 0 for B > 0 (p < 1).
    """
    check_non_negative("sigma", sigma)
    p, budget = np.asarray(p, dtype=np.float64), np.asarray(budget, dtype=np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p must lie in [0, 1], got {p}")
    if np.any(budget < 0):
        raise ValueError(f"B must be >= 0, got {budget}")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = stats.norm.ppf(p) - np.where(budget > 0, budget / sigma if sigma > 0 else np.inf, 0.0)
        out = stats.norm.cdf(z)
    return np.where(p <= 0, 0.0, np.where(p >= 1, 1.0, out))


def certified_reward(
    returns: npt.ArrayLike,
    sigma: float,
    B: npt.ArrayLike,
    alpha: float = 0.05,
    T: int = 200,
    shift: float = 0.0,
) -> np.ndarray | float:
    """R_cert(B) = sum_{i<T} Phi(Phi^-1(CP_lower(#{R + shift > i}, N, alpha/T)) - B/sigma) - shift.

    Args:
        returns: the N clean smoothed episode returns; ``returns + shift`` must be integers in [0, T].
        sigma: the smoothing noise's standard deviation (>= 0).
        B: the adversary's total l2 budget over the episode (scalar or array, >= 0).
        alpha: the failure probability of the certificate, shared by the T thresholds (Bonferroni).
        T: the largest (shifted) return; CartPole-v0: 200.
        shift: added to every return before certification and subtracted from the certificate (MountainCar:
            200 maps [-200, 0] onto [0, 200]).
    Returns:
        The certificate, a float for a scalar B, else an array shaped like B.
    """
    check_non_negative("sigma", sigma)
    _check_alpha(alpha)
    check_positive_int("T", T)
    r = np.asarray(returns, dtype=np.float64).ravel() + shift
    check_positive_int("N", r.size)
    if np.any(r < 0) or np.any(r > T) or np.any(r != np.round(r)):
        raise ValueError(f"returns + shift must be integers in [0, T={T}], got values in [{r.min()}, {r.max()}]")
    budget = np.asarray(B, dtype=np.float64)
    if np.any(budget < 0) or np.any(np.isnan(budget)):
        raise ValueError(f"B must be >= 0, got {B}")
    counts = (r[None, :] > np.arange(T)[:, None]).sum(axis=1)  # #{R > i}, i = 0..T-1
    p_low = cp_lower(counts, r.size, alpha / T)
    cert = np_bound(p_low[:, None], sigma, budget.ravel()[None, :]).sum(axis=0) - shift
    return float(cert[0]) if budget.ndim == 0 else cert.reshape(budget.shape)


def certified_action(
    top_counts: npt.ArrayLike, n: int, sigma: float, epsilon: float, alpha: float = 0.05
) -> np.ndarray:
    """Per-step action certificate under a per-step budget epsilon (B_t = epsilon sqrt(t + 1) up to step t).

    ``top_counts[t]``: how many of ``n`` noise draws at step t gave the most frequent action. The action at step t is
    certified when its lower probability bound, moved by the total budget spent so far, stays above 1/2:
    Phi(Phi^-1(CP_lower(top_counts[t], n, alpha)) - epsilon sqrt(t + 1) / sigma) > 1/2.
    """
    check_non_negative("epsilon", epsilon)
    counts = np.asarray(top_counts)
    budget = epsilon * np.sqrt(np.arange(counts.size) + 1.0)
    return np_bound(cp_lower(counts, n, alpha), sigma, budget) > 0.5
