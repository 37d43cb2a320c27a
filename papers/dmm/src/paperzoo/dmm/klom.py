"""KLoM (KL divergence of margins), the evaluation of Georgiev et al. (2024, App. E.1) and data-unlearning-bench.

For an eval point x with label y, a model's margin is ``m(x) = z_y - logsumexp_{c != y} z_c``. Each method gives N
margins per point (one per independently trained original model, unlearned), the oracles (retrained on S \\ F from
scratch) give N more. Both samples are clipped to ``[-clip, clip]`` and binned into ``bins`` equal-width bins
spanning the pooled minimum to maximum; with the bin probabilities ``p`` (first sample) and ``q`` (second sample),
``q <- max(q, eps)`` where ``p > 0``, then ``q`` renormalised (as ``scipy.stats.entropy`` does), and

    KLoM(x) = KL(p || q) = sum_b p_b log(p_b / q_b).

Direction: data-unlearning-bench's ``run.py`` passes (oracle, unlearned) into a function whose parameters read
(unlearned, oracle), so its published numbers are KL(oracle || unlearned). We keep that: every call here is
``klom(oracle_margins, unlearned_margins)``, for every method and the noise floor alike.

Top bin edge: ``np.digitize`` in the official code puts the pooled maximum outside bins 1..20 and drops it; we
count it in the last bin (``np.histogram``'s closed last bin), so every sample is binned and p, q sum to one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from paperzoo.shared.validate import check_positive, check_positive_int

SPLITS = ("forget", "retain", "val")


def margins(logits: Tensor, labels: Tensor) -> Tensor:
    """``z_y - logsumexp_{c != y} z_c`` over the last axis: logits ``[..., n, C]``, labels ``[n]`` -> ``[..., n]``."""
    if logits.shape[-2] != labels.shape[-1]:
        raise ValueError(f"labels must have {logits.shape[-2]} entries (the logits' points), got {labels.shape[-1]}")
    one_hot = torch.nn.functional.one_hot(labels, logits.shape[-1]).bool().expand_as(logits)
    correct = logits.gather(-1, labels.expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    return correct - logits.masked_fill(one_hot, -torch.inf).logsumexp(dim=-1)


def klom(
    p_samples: np.ndarray | Tensor,
    q_samples: np.ndarray | Tensor,
    bins: int = 20,
    clip: float = 100.0,
    eps: float = 1e-5,
) -> np.ndarray:
    """Per-point KL(p || q) between binned margin samples: ``p_samples`` ``[N_p, n]`` (the oracles' margins in this
    package) and ``q_samples`` ``[N_q, n]`` (the method's), one column per eval point -> ``[n]``, each >= 0.

    Vectorised over points; the bins of point j span ``[min_j, max_j]`` of its pooled clipped samples (a point
    whose samples are all equal gets ``[v, v + 1]``), the top edge closed."""
    check_positive_int("bins", bins)
    check_positive("clip", clip)
    check_positive("eps", eps)
    p = np.clip(np.asarray(p_samples, dtype=np.float64), -clip, clip)
    q = np.clip(np.asarray(q_samples, dtype=np.float64), -clip, clip)
    if p.ndim != 2 or q.ndim != 2 or p.shape[1] != q.shape[1] or min(p.shape[0], q.shape[0]) == 0:
        raise ValueError(f"p_samples and q_samples must be [N, n] with the same n, got {p.shape} and {q.shape}")
    low = np.minimum(p.min(0), q.min(0))
    high = np.maximum(p.max(0), q.max(0))
    high = np.where(high > low, high, low + 1.0)
    width = (high - low) / bins

    def probabilities(samples: np.ndarray) -> np.ndarray:
        index = np.clip(np.floor((samples - low) / width).astype(np.int64), 0, bins - 1)
        flat = index + bins * np.arange(samples.shape[1])
        counts = np.bincount(flat.ravel(), minlength=bins * samples.shape[1]).reshape(samples.shape[1], bins)
        return counts / samples.shape[0]

    pp, qq = probabilities(p), probabilities(q)
    raised = (pp > 0) & (qq < eps)
    qq = np.where(raised, eps, qq)
    # Renormalise (as scipy.stats.entropy does) only the points whose q was raised: elsewhere q already sums to
    # one, and dividing again would leave rounding noise where p and q are the same sample.
    qq = np.where(raised.any(1, keepdims=True), qq / qq.sum(1, keepdims=True), qq)
    ratio = np.where(pp > 0, pp / np.where(qq > 0, qq, 1.0), 1.0)
    return (pp * np.log(ratio)).sum(1)


def klom_report(
    oracle_margins: np.ndarray | Tensor,
    method_margins: np.ndarray | Tensor,
    splits: Mapping[str, np.ndarray],
    bins: int = 20,
) -> dict[str, float]:
    """KLoM(oracle || method) summarised per split: ``{split}_p95``, ``{split}_p99``, ``{split}_mean`` for each
    ``splits[name]`` (indices into the eval points)."""
    values = klom(oracle_margins, method_margins, bins=bins)
    report = {}
    for name, index in splits.items():
        v = values[np.asarray(index)]
        report |= {f"{name}_p95": float(np.percentile(v, 95)), f"{name}_p99": float(np.percentile(v, 99))}
        report[f"{name}_mean"] = float(v.mean())
    return report
