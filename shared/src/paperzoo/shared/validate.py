"""Argument validators: one vocabulary, each raising ``ValueError`` that names the argument.

Every paper validates its constructor arguments and configs with these, so that a bad value fails at
once with a message such as ``lr must be in [0, inf), got -1.0``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_range(
    name: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Require ``low <= value <= high`` (each end open or closed); NaN is always rejected."""
    lo_br, hi_br = ("[" if low_inclusive else "("), ("]" if high_inclusive else ")")
    interval = f"{lo_br}{low}, {high}{hi_br}"
    if not _is_real(value) or math.isnan(value):
        raise ValueError(f"{name} must be a real number in {interval}, got {value!r}")
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (above and below):
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def check_positive(name: str, value: float) -> float:
    """Require a finite ``value > 0`` (an infinite learning rate or tolerance is never meant)."""
    return check_range(name, value, 0.0, math.inf, low_inclusive=False, high_inclusive=False)


def check_non_negative(name: str, value: float) -> float:
    """Require a finite ``value >= 0``."""
    return check_range(name, value, 0.0, math.inf, high_inclusive=False)


def check_positive_int(name: str, value: int) -> int:
    """Require an integer ``value >= 1`` (booleans are not integers here)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_one_of(name: str, value: Any, options: Collection[Any]) -> Any:
    """Require ``value`` to be one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(map(repr, options))}, got {value!r}")
    return value


def check_betas(value: Any, count: int, name: str = "betas") -> tuple[float, ...]:
    """Require a tuple or list of ``count`` decay rates, each in [0, 1) (an optimizer's ``betas``)."""
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise ValueError(f"{name} must be a tuple of {count} numbers in [0, 1), got {value!r}")
    for index, beta in enumerate(value):
        check_range(f"{name}[{index}]", beta, 0.0, 1.0, high_inclusive=False)
    return tuple(value)
