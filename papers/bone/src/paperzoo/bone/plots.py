"""Bone's figures, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.bone.experiment import select_learning_rates
from paperzoo.bone.train import METHODS
from paperzoo.shared.lr_grid import chosen_lr_curves
from paperzoo.shared.plotting import plot_curves

if TYPE_CHECKING:
    from paperzoo.bone.bench import FullConfig


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training loss of each method at its chosen learning rate (mean ± std over seeds)."""
    chosen = select_learning_rates([r["metrics"] for r in records], 1 / config.finetune.n_val)[0]
    methods = [m for m in METHODS if f"{m}/lr" in chosen]
    curves = chosen_lr_curves(records, chosen, methods, "train_loss")
    return [
        plot_curves(folder / "train_loss.png", curves, title="Fine-tuning on subtraction: training loss",
                    xlabel="step", ylabel="trace cross-entropy", logy=True)
    ]  # fmt: skip
