"""The figure of AGAIN: % mastered cells against episodes, per arm (mean over seeds, ±1 std band)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.shared.plotting import plot_curves

LABELS = {
    "random": "Random",
    "alp_gmm": "ALP-GMM",
    "again_r": "AGAIN-R",
    "again_random_expert": "AGAIN, random expert",
    "again_ground_truth": "AGAIN, ground-truth neighbours",
}


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """The mastered-cells curves of every arm (each seed's curve: the mean over its test students)."""
    curves = {
        LABELS[arm]: [100.0 * np.asarray(r["series"][f"{arm}/mastery"]) for r in records]
        for arm in config.arms
        if f"{arm}/mastery" in records[0]["series"]
    }
    x = np.arange(len(next(iter(curves.values()))[0])) * config.score_every
    path = plot_curves(
        folder / "mastery.png",
        curves,
        x=x,
        title=f"Toy env {config.n_cells}x{config.n_cells}: new students",
        xlabel="episodes",
        ylabel="% mastered cells",
    )
    return [path]
