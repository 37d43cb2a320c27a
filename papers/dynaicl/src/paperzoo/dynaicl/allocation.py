"""Budget-constrained allocation of demonstrations (DynaICL, Zhou et al. 2023, arXiv 2305.11170, section 3.3).

Given per-input predictions ``k_i`` in [0, K] and an average budget of ``B`` demonstrations per input over ``N``
inputs, the paper scales the predictions to the budget,

    k_i' = k_i * B N / sum_j k_j,     clipped to [0, K],

and fixes the rounding so that ``sum_i k_i' = B N`` exactly. Here the scaling factor is solved with the clipping
(water-filling: ``k_i' = min(K, c k_i)`` with ``c`` such that the sum is ``B N``) and the rounding is a
largest-remainder allocation (floor every ``k_i'``, then give the remaining demonstrations to the largest
fractional parts, ties to the larger prediction): an input with a larger prediction never gets fewer
demonstrations, which rounding first and fixing afterwards does not guarantee. ``B N`` is rounded to an integer.

Performance-constrained setting: :func:`min_budget` is the smallest budget whose measured accuracy reaches a target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from paperzoo.shared.validate import check_positive_int, check_range


def allocate(pred_k: Sequence[float] | np.ndarray, budget: float, K: int) -> np.ndarray:
    """Integer demonstration counts in [0, K] summing to ``round(budget * N)``, monotone in ``pred_k``.

    A constant ``pred_k`` (all zeros included) gives the uniform allocation: every input ``budget`` demonstrations
    when ``budget`` is an integer. When the inputs with a positive prediction are all at ``K`` and demonstrations
    remain, the rest go evenly to the inputs predicted 0 (they are tied, so the order still holds).
    ``ValueError`` when ``K < 1``, ``budget`` is outside [0, K] or a prediction is outside [0, K].
    """
    check_positive_int("K", K)
    check_range("budget", budget, 0.0, float(K))
    pred = np.asarray(pred_k, dtype=np.float64)
    if pred.ndim != 1 or pred.size == 0:
        raise ValueError(f"pred_k must be a non-empty 1-d sequence, got shape {pred.shape}")
    if not np.all(np.isfinite(pred)) or pred.min() < 0 or pred.max() > K:
        raise ValueError(f"pred_k must lie in [0, K={K}], got values in [{pred.min()}, {pred.max()}]")
    n = pred.size
    total = round(budget * n)
    if np.all(pred == pred[0]):
        pred = np.ones(n)
    positive = pred > 0
    capacity = K * int(positive.sum())
    if total >= capacity:
        # every positive prediction saturates at K; the predicted-zero inputs share the rest evenly
        scaled = np.where(positive, float(K), (total - capacity) / max(int((~positive).sum()), 1))
    else:
        # water-filling: k_i' = min(K, c k_i), sum_i k_i' = total (the clipped set only grows, so this ends)
        clipped = np.zeros(n, dtype=bool)
        while True:
            c = (total - K * clipped.sum()) / pred[~clipped].sum()
            newly = ~clipped & (c * pred > K)
            if not newly.any():
                break
            clipped |= newly
        scaled = np.where(clipped, float(K), c * pred)
    floors = np.floor(scaled + 1e-9)
    frac = scaled - floors
    remaining = total - int(floors.sum())
    # largest remainder first, ties to the larger prediction, then to the earlier input (a stable order)
    order = np.lexsort((np.arange(n), -pred, -np.round(frac, 9)))
    out = floors.astype(np.int64)
    out[order[:remaining]] += 1
    return out


def min_budget(target_accuracy: float, budgets: Sequence[float], accuracies: Sequence[float]) -> float:
    """The smallest budget whose accuracy is at least ``target_accuracy`` (NaN when none reaches it).

    ``budgets`` and ``accuracies`` are paired measurements (any order). ``ValueError`` when ``target_accuracy`` is
    outside [0, 1] or the sequences differ in length or are empty.
    """
    check_range("target_accuracy", target_accuracy, 0.0, 1.0)
    if len(budgets) != len(accuracies) or not budgets:
        raise ValueError(
            f"budgets and accuracies must be non-empty and equal in length, got {len(budgets)}, {len(accuracies)}"
        )
    reached = [b for b, a in zip(budgets, accuracies, strict=True) if a >= target_accuracy]
    return float(min(reached)) if reached else math.nan
