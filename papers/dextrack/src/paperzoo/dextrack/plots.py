"""The figures of dextrack, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.shared.plotting import plot_curves


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out success of the RL+IL generalist and the demo count per flywheel round (one line per seed)."""
    success = {"rlil": [r["series"]["success_per_round"] for r in records]}
    demos = {"demos": [r["series"]["demos_per_round"] for r in records]}
    return [
        plot_curves(
            folder / "success_per_round.png",
            success,
            title="Held-out success per flywheel round",
            xlabel="round",
            ylabel="success",
        ),
        plot_curves(
            folder / "demos_per_round.png",
            demos,
            title="Demonstrations per flywheel round",
            xlabel="round",
            ylabel="demos",
        ),
    ]
