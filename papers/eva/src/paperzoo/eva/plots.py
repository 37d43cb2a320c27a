"""EVA's figures, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.eva.experiment import select_learning_rates
from paperzoo.eva.train import METHODS, TARGETS
from paperzoo.shared.lr_grid import chosen_lr_curves
from paperzoo.shared.plotting import plot_bars, plot_curves

if TYPE_CHECKING:
    from paperzoo.eva.bench import FullConfig


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training loss of each method at its chosen learning rate (mean ± std over seeds); EVA's ranks per layer."""
    chosen = select_learning_rates([r["metrics"] for r in records])[0]
    methods = [m for m in METHODS if f"{m}/lr" in chosen]
    curves = chosen_lr_curves(records, chosen, methods, "train_loss")
    paths = [
        plot_curves(folder / "train_loss.png", curves, title="Fine-tuning on subtraction: training loss",
                    xlabel="step", ylabel="trace cross-entropy", logy=True)
    ]  # fmt: skip
    if all("eva_rho2/ranks" in r["series"] for r in records):
        paths.append(plot_ranks(config, records, folder / "eva_ranks.png"))
    return paths


def plot_ranks(config: FullConfig, records: list[dict[str, Any]], path: Path) -> Path:
    """Bars: EVA's rank per layer (rho = 2, mean over seeds with a dot per seed), against the uniform r of LoRA."""
    names = [f"{i}.{t.split('_')[0]}" for i in range(config.pretrain.model.n_layer) for t in TARGETS]
    per_layer = {name: [r["series"]["eva_rho2/ranks"][i] for r in records] for i, name in enumerate(names)}
    r = config.finetune.r
    return plot_bars(path, {"EVA rho = 2": per_layer}, title="EVA rho = 2: rank per layer (layer.projection)",
                     ylabel="rank", hlines={f"r = {r} (LoRA, EVA rho=1)": r}, show_seeds=True,
                     rotation=90)  # fmt: skip
