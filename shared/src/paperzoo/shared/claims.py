"""A paper's headline statements as comparisons over seed means, and their verdicts.

A :class:`Claim` pairs one statement (a :class:`Compare` or :class:`Within`) with guards: conditions
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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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

    def holds(self, means: Mapping[str, float]) -> tuple[bool, dict[str, float]]:
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

    def holds(self, means: Mapping[str, float]) -> tuple[bool, dict[str, float]]:
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

    def evaluate(self, means: Mapping[str, float]) -> dict[str, object]:
        """The verdict and the numbers behind it, as a JSON-ready dict."""
        result: dict[str, object] = {
            "claim": self.text,
            "test": str(self.statement),
            "guards": [str(g) for g in self.guards],
        }
        try:
            failed = [str(g) for g in self.guards if not g.holds(means)[0]]
            ok, values = self.statement.holds(means)
        except KeyError as missing:
            return {**result, "verdict": MISSING, "detail": f"no metric {missing.args[0]!r}"}
        result["values"] = values
        if failed:
            return {**result, "verdict": INCONCLUSIVE, "detail": f"guard failed: {'; '.join(failed)}"}
        if any(math.isnan(v) for v in values.values()):
            return {**result, "verdict": INCONCLUSIVE, "detail": "a compared value is not finite"}
        return {**result, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


def evaluate_claims(claims: tuple[Claim, ...], means: Mapping[str, float]) -> list[dict[str, object]]:
    """Evaluate every claim on the same seed means."""
    return [claim.evaluate(means) for claim in claims]
