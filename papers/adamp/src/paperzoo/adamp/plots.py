"""The figures of AdamP's full scale, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.adamp.experiment import select_learning_rates
from paperzoo.adamp.training import OPTIMIZERS, PAIRS
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.plotting import plot_curves

if TYPE_CHECKING:
    from paperzoo.adamp.bench import DigitsConfig


def plot_full(config: DigitsConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Conv weight norm and effective step size per epoch (each pair at its reference lr and at the chosen
    lrs), validation accuracy at the chosen lrs, and the toy's weight norm."""
    chosen = select_learning_rates([r["metrics"] for r in records])[0]
    reference = dict(config.reference_lr)

    def curves(metric: str, lrs: dict[str, float], optimizers: tuple[str, ...]) -> dict[str, list[list[float]]]:
        return {
            f"{o} (lr {lrs[o]:g})": [r["series"][f"{grid_key(o, lrs[o])}/{metric}"] for r in records]
            for o in optimizers
        }

    chosen_lrs = {o: chosen[f"{o}/lr"] for o in OPTIMIZERS}
    paths = []
    for metric, label, logy in (
        ("conv_norm", "conv weight norm / initial", False),
        ("effective_step", "effective step size ‖Δw‖/‖w‖", True),
    ):
        for pair in PAIRS:
            lr = reference[pair[0]]
            paths.append(
                plot_curves(
                    folder / f"{pair[0]}_{metric}.png",
                    curves(metric, reference, pair),
                    title=f"{pair[0]} vs {pair[1]}, lr {lr:g}: {label}",
                    xlabel="epoch",
                    ylabel=label,
                    logy=logy,
                )
            )
        paths.append(
            plot_curves(
                folder / f"chosen_lr_{metric}.png",
                curves(metric, chosen_lrs, OPTIMIZERS),
                title=f"Each optimizer at its chosen lr: {label}",
                xlabel="epoch",
                ylabel=label,
                logy=logy,
            )
        )
    paths.append(
        plot_curves(
            folder / "chosen_lr_val_accuracy.png",
            curves("val_accuracy", chosen_lrs, OPTIMIZERS),
            title="Each optimizer at its chosen lr: validation accuracy",
            xlabel="epoch",
            ylabel="accuracy",
        )
    )
    toy = {name: [records[0]["series"][f"toy/{name}_norm"]] for name in ("sgd", "momentum_sgd", "sgdp")}
    paths.append(
        plot_curves(
            folder / "toy_norm.png",
            toy,
            title="2-D toy −cos(w, w*): weight norm",
            xlabel="step",
            ylabel="‖w‖",
        )
    )
    return paths
