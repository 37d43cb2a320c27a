"""EVA's figures, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.eva.experiment import select_learning_rates
from paperzoo.eva.train import SCALINGS, TARGETS, parse_arm
from paperzoo.shared.lr_grid import chosen_lr_curves, grid_key
from paperzoo.shared.plotting import plot_bars, plot_panels

if TYPE_CHECKING:
    from paperzoo.eva.bench import FullConfig

SCALING_TITLE = {"official": "alpha = 1 (official EVA scripts)", "alpha_r": "alpha = r"}


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training loss of each arm at its chosen learning rate (mean ± std over seeds), one panel per scaling setting;
    validation exact match over each arm's grid; EVA's ranks per layer."""
    chosen = select_learning_rates([r["metrics"] for r in records], 1 / config.finetune.n_val)[0]
    panels = {
        SCALING_TITLE[scaling]: chosen_lr_curves(records, chosen, arms, "train_loss")
        for scaling in SCALINGS
        if (arms := [arm for arm in config.arms if parse_arm(arm)[1] == scaling])
    }
    paths = [
        plot_panels(folder / "train_loss.png", panels, title="Fine-tuning on subtraction: training loss at the "
                    "chosen learning rate", xlabel="step", ylabel="trace cross-entropy")
    ]  # fmt: skip
    paths.append(plot_lr_grid(config, records, folder / "lr_grid.png"))
    if all("eva_rho2/ranks" in r["series"] for r in records):
        paths.append(plot_ranks(config, records, folder / "eva_ranks.png"))
    return paths


def plot_lr_grid(config: FullConfig, records: list[dict[str, Any]], path: Path) -> Path:
    """Validation exact match against log10(learning rate), one panel per arm (a line per seed's mean ± std)."""
    panels = {
        arm: {"validation exact match": [[r["metrics"][f"{grid_key(arm, lr)}/val_accuracy"] for lr in lrs]
                                         for r in records]}
        for arm, lrs in config.lr_grid
    }  # fmt: skip
    x = {arm: [math.log10(lr) for lr in lrs] for arm, lrs in config.lr_grid}
    return plot_panels(path, panels, title="Validation exact match over each arm's learning-rate grid",
                       xlabel="log10 learning rate", ylabel="exact match", x=x)  # fmt: skip


def plot_ranks(config: FullConfig, records: list[dict[str, Any]], path: Path) -> Path:
    """Bars: EVA's rank per layer (rho = 2, mean over seeds with a dot per seed), against the uniform r of LoRA."""
    names = [f"{i}.{t.split('_')[0]}" for i in range(config.pretrain.model.n_layer) for t in TARGETS]
    per_layer = {name: [r["series"]["eva_rho2/ranks"][i] for r in records] for i, name in enumerate(names)}
    r = config.finetune.r
    return plot_bars(path, {"EVA rho = 2": per_layer}, title="EVA rho = 2: rank per layer (layer.projection)",
                     ylabel="rank", hlines={f"r = {r} (LoRA, EVA rho=1)": r}, show_seeds=True,
                     rotation=90)  # fmt: skip
