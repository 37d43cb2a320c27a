"""A paper's headline statements, evaluated on per-seed values, and their verdicts.

Two kinds of comparative statement (the paper's claims at full scale):

- :class:`Better`: A beats B, ``d = A - B > margin`` (for ``better="lower"`` metrics, ``B - A > margin``);
- :class:`NoWorse`: A is no worse than B by more than δ, ``d >= -delta`` (same orientation).

The difference ``d`` gets a two-sided :data:`LEVEL` (95 %) Student-t confidence interval across seeds
(``scipy.stats``): over the per-seed differences when the arms are *paired* (they share a seed's initial
weights, data and batch order: the default), Welch's interval otherwise. With the claim's threshold
``t`` (``margin`` for Better, ``-delta`` for NoWorse) the verdict is

- ``reproduced``: the interval lies on the claimed side of ``t``;
- ``not reproduced``: it lies on the other side;
- ``inconclusive``: it straddles ``t``; or the mean difference is within the metric's declared
  *resolution* of ``t`` (one test example, ``1/n_test``, for an accuracy: no data can tell a smaller
  gap); or, for metrics whose cross-machine variation was measured
  (:class:`paperzoo.shared.benchmark.MetricSpec`), the interval widened by it on each side straddles
  ``t`` (a verdict another machine's arithmetic can flip is no finding); or a guard failed (two arms
  both at chance say nothing about which is better); or the method's *mechanism* did not visibly act
  (an adaptive weight that never moved); or a seed gave no finite value;
- ``missing``: a metric the claim names was not produced.

A single seed (smoke scale) gives a zero-width interval: the point estimate, a regression check rather
than evidence. :class:`Compare` and :class:`Within` are threshold statements on seed means, for guards,
mechanism checks and smoke sanity checks.

Terms name a metric (``"adam/test_accuracy"``), a constant, or the best/worst of several metrics
(``Max("fixed_mu_*/ood_accuracy")``, shell-style patterns; the arm is picked by seed mean).
"""

from __future__ import annotations

import fnmatch
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from paperzoo.shared.validate import check_non_negative, check_one_of

# The two-sided confidence level of every interval a verdict rests on.
LEVEL = 0.95
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, MISSING = "reproduced", "not reproduced", "inconclusive", "missing"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, MISSING)

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Max:
    """The largest of the metrics whose names match ``pattern``."""

    pattern: str

    def __str__(self) -> str:
        return f"max({self.pattern})"


@dataclass(frozen=True)
class Min:
    """The smallest of the metrics whose names match ``pattern``."""

    pattern: str

    def __str__(self) -> str:
        return f"min({self.pattern})"


Term = str | float | int | Max | Min
Metrics = Mapping[str, float | None]


def mean_and_std(per_seed: Sequence[Metrics]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Per-metric mean and population std over seeds; ``None`` where a seed gave a non-finite value."""
    names = sorted({k for m in per_seed for k in m})
    means: dict[str, float | None] = {}
    stds: dict[str, float | None] = {}
    for name in names:
        values = [m.get(name) for m in per_seed]
        if any(v is None or not math.isfinite(v) for v in values):
            means[name] = stds[name] = None
            continue
        arr = np.asarray(values, dtype=np.float64)
        means[name], stds[name] = float(arr.mean()), float(arr.std())
    return means, stds


def resolve_term(term: Term, means: Mapping[str, float | None]) -> str | float:
    """The metric name a term stands for (the best/worst matching arm by seed mean), or its constant."""
    if isinstance(term, (Max, Min)):
        matches = {k: v for k, v in means.items() if fnmatch.fnmatchcase(k, term.pattern)}
        if not matches:
            raise KeyError(term.pattern)
        pick = max if isinstance(term, Max) else min
        return pick(matches, key=lambda k: -math.inf if matches[k] is None else matches[k])
    if isinstance(term, str):
        if term not in means:
            raise KeyError(term)
        return term
    return float(term)


def per_seed_values(term: Term, per_seed: Sequence[Metrics], means: Mapping[str, float | None]) -> list[float]:
    """The term's value in each seed (a pattern term: the arm it picks by seed mean); NaN where missing."""
    resolved = resolve_term(term, means)
    if isinstance(resolved, float):
        return [resolved] * len(per_seed)
    return [math.nan if (v := m.get(resolved)) is None else float(v) for m in per_seed]


def evaluate_term(term: Term, means: Mapping[str, float]) -> float:
    """The value of ``term`` given seed-mean metrics; ``KeyError`` if a named metric is absent."""
    if isinstance(term, (Max, Min)):
        values = [v for k, v in means.items() if fnmatch.fnmatchcase(k, term.pattern)]
        if not values:
            raise KeyError(term.pattern)
        return max(values) if isinstance(term, Max) else min(values)
    if isinstance(term, str):
        value = means[term]
        return math.nan if value is None else float(value)
    return float(term)


@dataclass(frozen=True)
class Compare:
    """``lhs OP rhs + margin`` with OP one of ``>=``, ``>``, ``<=``, ``<``.

    A positive margin demands more than the bare comparison for ``>=``/``>`` (``a >= b + 0.01``: a beats b by
    a point); a negative margin allows slack.
    """

    lhs: Term
    op: Literal[">=", ">", "<=", "<"]
    rhs: Term
    margin: float = 0.0

    def __post_init__(self) -> None:
        check_one_of("op", self.op, tuple(_OPS))

    def holds(self, means: Mapping[str, float]) -> tuple[bool, dict[str, Any]]:
        """Whether the comparison holds, and the values it compared."""
        a, b = evaluate_term(self.lhs, means), evaluate_term(self.rhs, means)
        return bool(_OPS[self.op](a, b + self.margin)), {"lhs": a, "rhs": b}

    def __str__(self) -> str:
        margin = f" {'+' if self.margin >= 0 else '-'} {abs(self.margin):g}" if self.margin else ""
        return f"{self.lhs} {self.op} {self.rhs}{margin}"


@dataclass(frozen=True)
class Within:
    """``|lhs - rhs| <= tolerance`` ("within 1 point" of an accuracy is ``tolerance=0.01``)."""

    lhs: Term
    rhs: Term
    tolerance: float

    def __post_init__(self) -> None:
        check_non_negative("tolerance", self.tolerance)

    def holds(self, means: Mapping[str, float]) -> tuple[bool, dict[str, Any]]:
        """Whether the two terms are within the tolerance, and the values it compared."""
        a, b = evaluate_term(self.lhs, means), evaluate_term(self.rhs, means)
        # 1e-12 absorbs float rounding of the difference (0.90 - 0.85 is 0.05000000000000004).
        return bool(abs(a - b) <= self.tolerance + 1e-12), {"lhs": a, "rhs": b}

    def __str__(self) -> str:
        return f"|{self.lhs} - {self.rhs}| <= {self.tolerance:g}"


def difference_interval(
    lhs: Sequence[float], rhs: Sequence[float], paired: bool = True, level: float = LEVEL
) -> tuple[float, float, float]:
    """The mean of ``lhs - rhs`` over seeds and its two-sided ``level`` Student-t interval: (mean, low, high).

    Paired: the t interval of the per-seed differences (``scipy.stats.ttest_1samp``). Unpaired: Welch's
    interval of the difference of means (``scipy.stats.ttest_ind(equal_var=False)``). A constant side
    (the same value in every seed, e.g. a threshold) makes the design one-sample, hence paired. One seed,
    or differences without spread, give a zero-width interval at the mean.
    """
    from scipy import stats

    a, b = np.asarray(lhs, dtype=np.float64), np.asarray(rhs, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"lhs and rhs must be equal-length, non-empty sequences, got {a.shape} and {b.shape}")
    mean = float(a.mean() - b.mean())
    paired = paired or bool(np.all(a == a[0]) or np.all(b == b[0]))
    if paired:
        d = a - b
        if len(d) < 2 or np.all(d == d[0]):
            return mean, mean, mean
        ci = stats.ttest_1samp(d, 0.0).confidence_interval(level)
    else:
        if len(a) < 2:
            return mean, mean, mean
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return mean, float(ci.low), float(ci.high)


def _arrow(better: str, strict: bool) -> str:
    return (">" if better == "higher" else "<") + ("" if strict else "=")


@dataclass(frozen=True)
class Better:
    """A beats B: ``A - B > margin`` (``better="higher"``) or ``B - A > margin`` (``better="lower"``).

    ``paired``: the arms share each seed's initial weights, data and batch order, so the interval is over
    per-seed differences. ``resolution`` raises the compared metrics' declared resolution (the larger applies).
    """

    lhs: Term
    rhs: Term
    better: Literal["higher", "lower"] = "higher"
    margin: float = 0.0
    paired: bool = True
    resolution: float | None = None

    def __post_init__(self) -> None:
        check_one_of("better", self.better, ("higher", "lower"))
        check_non_negative("margin", self.margin)
        if self.resolution is not None:
            check_non_negative("resolution", self.resolution)

    @property
    def threshold(self) -> float:
        """The value of the oriented difference the claim must exceed."""
        return self.margin

    def __str__(self) -> str:
        sign = "+" if self.better == "higher" else "-"
        margin = f" {sign} {self.margin:g}" if self.margin else ""
        return f"{self.lhs} {_arrow(self.better, True)} {self.rhs}{margin}"


@dataclass(frozen=True)
class NoWorse:
    """A is no worse than B by more than δ: ``A - B >= -delta`` (``higher``) or ``B - A >= -delta`` (``lower``)."""

    lhs: Term
    rhs: Term
    delta: float = 0.0
    better: Literal["higher", "lower"] = "higher"
    paired: bool = True
    resolution: float | None = None

    def __post_init__(self) -> None:
        check_one_of("better", self.better, ("higher", "lower"))
        check_non_negative("delta", self.delta)
        if self.resolution is not None:
            check_non_negative("resolution", self.resolution)

    @property
    def threshold(self) -> float:
        """The value of the oriented difference the claim must reach."""
        return -self.delta

    def __str__(self) -> str:
        sign = "-" if self.better == "higher" else "+"
        delta = f" {sign} {self.delta:g}" if self.delta else ""
        return f"{self.lhs} {_arrow(self.better, False)} {self.rhs}{delta}"


Threshold = Compare | Within
Statement = Better | NoWorse | Compare | Within
Resolutions = Callable[[str], float]


def _no_resolution(name: str) -> float:
    return 0.0


@dataclass(frozen=True)
class Claim:
    """One headline statement of the paper, evaluated on per-seed values.

    ``text`` is the paper's statement in words; ``statement`` the comparison that tests it (:class:`Better`
    or :class:`NoWorse` for a comparison of arms); ``guards`` the non-degeneracy conditions (arms above
    chance or a trivial baseline) and ``mechanism`` the conditions that the method's own mechanism visibly
    acted (an adapted weight moved, ranks were redistributed), both thresholds on seed means: if one
    fails, the claim is inconclusive, never "not reproduced".
    """

    text: str
    statement: Statement
    guards: tuple[Threshold, ...] = ()
    mechanism: tuple[Threshold, ...] = ()

    def evaluate(
        self,
        per_seed: Sequence[Metrics],
        resolution: Resolutions = _no_resolution,
        variation: Resolutions = _no_resolution,
    ) -> dict[str, Any]:
        """The verdict on ``per_seed`` (one metrics mapping per seed), as a JSON-ready dict.

        ``resolution(metric_name)`` is the declared resolution of a metric (0 when none), ``variation(name)`` its
        declared cross-machine variation (0 when none). ``values`` holds
        the compared seed means (``lhs``, ``rhs``), each side's per-seed values and, for Better/NoWorse, the
        mean difference ``lhs - rhs`` with its interval (``difference``, ``interval``, ``level``, ``paired``).
        """
        if isinstance(per_seed, Mapping) or not per_seed:
            raise ValueError("per_seed must be a non-empty sequence of per-seed metric mappings")
        means, _ = mean_and_std(per_seed)
        result: dict[str, Any] = {
            "claim": self.text,
            "test": str(self.statement),
            "guards": [str(g) for g in self.guards],
        }
        if self.mechanism:
            result["mechanism"] = [str(g) for g in self.mechanism]
        try:
            failed = [str(g) for g in self.guards if not g.holds(means)[0]]
            idle = [str(g) for g in self.mechanism if not g.holds(means)[0]]
            lhs = per_seed_values(self.statement.lhs, per_seed, means)
            rhs = per_seed_values(self.statement.rhs, per_seed, means)
        except KeyError as missing:
            return {**result, "verdict": MISSING, "detail": f"no metric {missing.args[0]!r}"}
        values: dict[str, Any] = {
            "lhs": evaluate_term(self.statement.lhs, means),
            "rhs": evaluate_term(self.statement.rhs, means),
            "lhs_per_seed": lhs,
            "rhs_per_seed": rhs,
        }
        result["values"] = values
        if failed:
            return {**result, "verdict": INCONCLUSIVE, "detail": f"guard failed: {'; '.join(failed)}"}
        if idle:
            return {**result, "verdict": INCONCLUSIVE, "detail": f"mechanism did not act: {'; '.join(idle)}"}
        bad = [i for i, (a, b) in enumerate(zip(lhs, rhs, strict=True)) if not (math.isfinite(a) and math.isfinite(b))]
        if bad:
            return {**result, "verdict": INCONCLUSIVE, "detail": f"no finite value in seed index(es) {bad}"}
        if isinstance(self.statement, (Compare, Within)):
            ok, _ = self.statement.holds(means)
            return {**result, "verdict": REPRODUCED if ok else NOT_REPRODUCED}
        return {**result, **self._interval_verdict(lhs, rhs, values, means, resolution, variation)}

    def _interval_verdict(
        self,
        lhs: list[float],
        rhs: list[float],
        values: dict[str, Any],
        means: Mapping[str, float | None],
        resolution: Resolutions,
        variation: Resolutions,
    ) -> dict[str, Any]:
        statement = self.statement
        assert isinstance(statement, (Better, NoWorse))
        mean, low, high = difference_interval(lhs, rhs, statement.paired)
        values |= {"difference": mean, "interval": [low, high], "level": LEVEL, "paired": statement.paired}
        sign = 1.0 if statement.better == "higher" else -1.0  # orient so that larger means "lhs is better"
        d, lo, hi = sign * mean, min(sign * low, sign * high), max(sign * low, sign * high)
        t = statement.threshold
        names = [n for term in (statement.lhs, statement.rhs) if isinstance(n := resolve_term(term, means), str)]
        res = max([statement.resolution or 0.0, *(resolution(n) for n in names)])
        raw_threshold = sign * t + 0.0  # the threshold on the raw difference lhs - rhs (+ 0.0: no "-0")
        if abs(d - t) < res:
            detail = f"difference within the resolution {res:.4g} of the threshold {raw_threshold:g}"
            return {"verdict": INCONCLUSIVE, "detail": detail}
        # Widened by what another machine's arithmetic moves the compared metrics by: a verdict must survive it.
        spread = max((variation(n) for n in names), default=0.0)
        lo, hi = lo - spread, hi + spread
        if (lo > t) if isinstance(statement, Better) else (lo >= t):
            return {"verdict": REPRODUCED}
        if (hi <= t) if isinstance(statement, Better) else (hi < t):
            return {"verdict": NOT_REPRODUCED}
        widened = f", widened by the cross-machine variation {spread:.3g}," if spread else ""
        return {"verdict": INCONCLUSIVE, "detail": f"the interval{widened} straddles the threshold {raw_threshold:g}"}


def evaluate_claims(
    claims: Sequence[Claim],
    per_seed: Sequence[Metrics],
    resolution: Resolutions = _no_resolution,
    variation: Resolutions = _no_resolution,
) -> list[dict[str, Any]]:
    """Evaluate every claim on the same per-seed metrics."""
    return [claim.evaluate(per_seed, resolution, variation) for claim in claims]
