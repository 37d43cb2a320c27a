"""A paper's headline statements as comparisons over seed means, and their verdicts.

A claim is evaluated on the per-seed metrics of a run (:meth:`Claim.evaluate`): the comparison is made
on the seed means, and the per-seed values of both sides are recorded beside it (the README's seeds
table). A :class:`Claim` pairs one statement (a :class:`Compare` or :class:`Within`) with guards: conditions
that make the comparison meaningful, such as "both arms are above chance". The verdict is

- ``reproduced``: every guard holds and the statement holds;
- ``not reproduced``: every guard holds and the statement does not;
- ``inconclusive``: a guard fails (two arms both at chance say nothing about which is better);
- ``missing``: a metric the claim names was not produced.

Terms name a metric (``"adam/test_accuracy"``), a constant, or the best/worst of several metrics
(``Max("fixed_mu_*/ood_accuracy")``, shell-style patterns).
"""

from __future__ import annotations

import fnmatch
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from paperzoo.shared.validate import check_non_negative, check_one_of

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


Statement = Compare | Within


@dataclass(frozen=True)
class Claim:
    """One headline statement of the paper, checked on seed means.

    ``text`` is the paper's statement in words; ``statement`` the comparison that tests it; ``guards``
    the non-degeneracy conditions (arms above chance or above a trivial baseline) without which the
    comparison proves nothing.
    """

    text: str
    statement: Statement
    guards: tuple[Statement, ...] = ()

    def evaluate(self, per_seed: Sequence[Metrics]) -> dict[str, object]:
        """The verdict on the seed means of ``per_seed`` (one metrics mapping per seed), as a JSON-ready dict.

        ``values`` holds the compared means (``lhs``, ``rhs``) and each side's per-seed values
        (``lhs_per_seed``, ``rhs_per_seed``).
        """
        if isinstance(per_seed, Mapping) or not per_seed:
            raise ValueError("per_seed must be a non-empty sequence of per-seed metric mappings")
        means, _ = mean_and_std(per_seed)
        result: dict[str, object] = {
            "claim": self.text,
            "test": str(self.statement),
            "guards": [str(g) for g in self.guards],
        }
        try:
            failed = [str(g) for g in self.guards if not g.holds(means)[0]]
            ok, values = self.statement.holds(means)
            values["lhs_per_seed"] = per_seed_values(self.statement.lhs, per_seed, means)
            values["rhs_per_seed"] = per_seed_values(self.statement.rhs, per_seed, means)
        except KeyError as missing:
            return {**result, "verdict": MISSING, "detail": f"no metric {missing.args[0]!r}"}
        result["values"] = values
        if failed:
            return {**result, "verdict": INCONCLUSIVE, "detail": f"guard failed: {'; '.join(failed)}"}
        if math.isnan(values["lhs"]) or math.isnan(values["rhs"]):
            return {**result, "verdict": INCONCLUSIVE, "detail": "a compared value is not finite"}
        return {**result, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


def evaluate_claims(claims: Sequence[Claim], per_seed: Sequence[Metrics]) -> list[dict[str, object]]:
    """Evaluate every claim on the same per-seed metrics."""
    return [claim.evaluate(per_seed) for claim in claims]
