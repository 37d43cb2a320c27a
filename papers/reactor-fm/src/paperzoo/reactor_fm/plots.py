"""The figures of reactor-fm, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.shared.plotting import plot_curves

LABELS = {
    "pi_reptile": "Reptile + physics-informed adaptation",
    "reptile": "Reptile + data adaptation",
    "transfer": "transfer learning",
    "pi": "physics-informed, from scratch",
    "data": "data-driven, from scratch",
}


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Test MSE vs number of shots (the paper's figure); the meta-training inner-loop loss of both arms."""
    curves = {label: [r["series"][f"{m}/test_mse_vs_shots"] for r in records] for m, label in LABELS.items()}
    out = [
        plot_curves(
            folder / "test_mse_vs_shots.png",
            curves,
            x=list(config.shots),
            title="Unseen CSTR reactions: test MSE vs shots",
            xlabel="number of shots (trajectories)",
            ylabel="test MSE (standardised)",
            logx=True,
            logy=True,
            markers=True,
            hlines={"predict the mean": 1.0},
        )
    ]
    out.append(
        plot_curves(
            folder / "meta_training_loss.png",
            {arm: [r["series"][f"{arm}/inner_loss"] for r in records] for arm in ("reptile", "transfer")},
            title="Meta-training: inner-epoch MSE on each new task",
            xlabel="outer iteration (CSTR, batch, PFR in turn)",
            ylabel="inner-epoch MSE (standardised)",
            logy=True,
        )
    )
    return out
