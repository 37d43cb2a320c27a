"""AdaBelief's figures, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.adabelief.experiment import OPTIMIZERS, select_learning_rates
from paperzoo.adabelief.toys import MINIMA, beale
from paperzoo.shared.lr_grid import chosen_lr_curves
from paperzoo.shared.plotting import plot_contour_paths, plot_curves

if TYPE_CHECKING:
    from paperzoo.adabelief.bench import DigitsConfig


def plot_digits(config: DigitsConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Validation accuracy per epoch at each optimizer's chosen learning rate; the Beale paths of seed 0."""
    chosen = select_learning_rates([r["metrics"] for r in records])[0]
    curves = chosen_lr_curves(records, chosen, OPTIMIZERS, "val_accuracy")
    accuracy = plot_curves(
        folder / "digits_val_accuracy.png",
        curves,
        title="Digits CNN: validation accuracy",
        xlabel="epoch",
        ylabel="accuracy",
    )
    first = records[0]  # the Beale race is deterministic: every seed records the same paths
    paths = {
        f"{opt} ({int(first['metrics'][f'{opt}/beale_steps'])} steps)": (
            first["series"][f"{opt}/beale_x"],
            first["series"][f"{opt}/beale_y"],
        )
        for opt in ("adabelief", "adam")
    }
    beale_plot = plot_contour_paths(
        folder / "beale_trajectories.png",
        lambda x, y: beale(np.stack([x, y])),
        paths,
        xlim=(-0.5, 4.5),
        ylim=(-1.5, 2.5),
        title="Beale function: path to the optimum (3, 0.5)",
        optimum=MINIMA["beale"],
    )
    return [accuracy, beale_plot]
