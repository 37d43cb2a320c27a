"""The figures of dmm, drawn with ``paperzoo.shared.plotting``: KLoM p95 per method and forget set, one figure per
split (forget, retain, val), the oracle-vs-oracle noise floor as its own bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.dmm.experiment import METHODS
from paperzoo.dmm.klom import SPLITS
from paperzoo.shared.plotting import plot_bars


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One grouped bar chart per split: for each forget set, each method's KLoM p95 (mean +- std over base seeds)."""
    paths = []
    for split in SPLITS:
        groups = {
            method: {
                name: [r["metrics"][f"{name}/{method}/{split}_p95"] for r in records]
                for name, _, _ in config.forget_sets
            }
            for method in (*METHODS, "noise_floor")
        }
        paths.append(
            plot_bars(
                folder / f"klom_{split}.png",
                groups,
                title=f"KLoM(oracle || method) p95 on {split} points (lower is better)",
                ylabel="KLoM p95",
                show_seeds=True,
            )
        )
    return paths
