"""Argument checks shared by the agents' configs."""

from __future__ import annotations


def check_widths(name: str, widths: tuple[int, ...]) -> tuple[int, ...]:
    """Require a non-empty tuple of positive integer layer widths."""
    if not widths or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {widths!r}")
    return widths
