"""The figures of DynaICL, drawn with ``paperzoo.shared.plotting``: accuracy against prompt tokens per input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.dynaicl.experiment import ARMS
from paperzoo.shared.plotting import plot_curves


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Accuracy vs tokens at the budgets (every arm), and uniform vs DynaICL on the budget grid."""
    series = [r["series"] for r in records]
    budgets = plot_curves(
        folder / "accuracy_vs_tokens.png",
        {arm: [s[f"{arm}/accuracy"] for s in series] for arm in ARMS},
        x=series[0]["uniform/tokens"],
        title=f"Accuracy vs prompt tokens (B = {', '.join(f'{b:g}' for b in config.budgets)})",
        xlabel="prompt tokens per input",
        ylabel="test accuracy",
        markers=True,
    )
    grid = plot_curves(
        folder / "budget_grid.png",
        {arm: [s[f"{arm}_grid/accuracy"] for s in series] for arm in ("uniform", "dynaicl")},
        x=series[0]["uniform_grid/tokens"],
        title="Uniform vs DynaICL on the budget grid",
        xlabel="prompt tokens per input",
        ylabel="test accuracy",
        markers=True,
    )
    return [budgets, grid]
