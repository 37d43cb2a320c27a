"""Plain-text tables of results and claim verdicts (stdout of the CLI and the harness)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_number(value: float | None) -> str:
    """Four significant digits; ``n/a`` for a missing value."""
    return "n/a" if value is None else f"{value:.4g}"


def format_metrics_table(summary: Mapping[str, Any]) -> str:
    """``arm | metric | mean ± std`` for every metric of a summary."""
    rows = []
    for name, mean in summary["means"].items():
        arm, _, metric = name.rpartition("/")
        std = summary["stds"].get(name)
        rows.append((arm, metric, format_number(mean) + ("" if std is None else f" ± {std:.2g}")))
    return format_table(("arm", "metric", "mean ± std"), rows)


def format_claims(claims: Sequence[Mapping[str, Any]]) -> str:
    """One line per claim: verdict, the statement, and the values compared."""
    lines = ["claims:"]
    for c in claims:
        values = c.get("values", {})
        numbers = f" ({format_number(values.get('lhs'))} vs {format_number(values.get('rhs'))})" if values else ""
        detail = f" — {c['detail']}" if c.get("detail") else ""
        lines.append(f"  [{c['verdict']}] {c['claim']}: {c['test']}{numbers}{detail}")
    return "\n".join(lines)
