"""The figures of Adan's full scale, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.adan.experiment import select_learning_rates
from paperzoo.adan.training import ARMS
from paperzoo.shared.plotting import plot_curves

if TYPE_CHECKING:
    from paperzoo.adan.bench import DigitsConfig


def plot_full(config: DigitsConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Per model: validation accuracy and train loss per epoch of each arm at its chosen learning rate."""
    chosen = select_learning_rates([r["metrics"] for r in records])[0]
    paths = []
    for model in config.models:
        for metric, label, logy in (("val_accuracy", "validation accuracy", False), ("train_loss", "train loss", True)):
            curves = {}
            for opt, budget in ARMS:
                arm = f"{model}_{opt}_{budget}"
                lr = chosen[f"{arm}/lr"]
                curves[f"{opt} {budget} budget (lr {lr:g})"] = [r["series"][f"{arm}@{lr:g}/{metric}"] for r in records]
            paths.append(
                plot_curves(
                    folder / f"{model}_{metric}.png",
                    curves,
                    title=f"Digits {model.upper()}: {label}",
                    xlabel="epoch",
                    ylabel=label,
                    logy=logy,
                )
            )
    return paths
