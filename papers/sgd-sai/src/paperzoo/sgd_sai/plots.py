"""The figures of the SGD-SaI benchmark, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.sgd_sai.experiment import cifar_arm, grid_key, select_learning_rates
from paperzoo.sgd_sai.training import OPTIMIZERS
from paperzoo.shared.plotting import plot_curves, plot_panels

if TYPE_CHECKING:
    from paperzoo.sgd_sai.bench import CifarGridConfig, TransformerConfig

TITLES = {"vit": "Tiny ViT on digits", "lm": "Char transformer"}


def plot_full(config: TransformerConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Per task: validation curves of each optimizer at its chosen learning rate (mean ± std over seeds)."""
    chosen = select_learning_rates([r["metrics"] for r in records])[0]
    lm_steps = [
        min(config.lm_eval_every * (i + 1), config.lm_steps) for i in range(-(-config.lm_steps // config.lm_eval_every))
    ]
    panels = {
        "vit": (("val_accuracy", "validation accuracy", False, "epoch", None),),
        "lm": (
            ("val_loss", "validation loss (nats/char)", True, "step", lm_steps),
            ("val_accuracy", "validation next-character accuracy", False, "step", lm_steps),
        ),
    }
    paths = []
    for task in config.tasks:
        for metric, label, logy, xlabel, x in panels[task]:
            curves = {}
            for opt in OPTIMIZERS:
                lr = chosen[f"{task}_{opt}/lr"]
                curves[f"{opt} (lr {lr:g})"] = [r["series"][f"{grid_key(task, opt, lr)}/{metric}"] for r in records]
            path = folder / f"{task}_{metric}.png"
            title = f"{TITLES[task]}: {label}"
            paths.append(plot_curves(path, curves, title=title, xlabel=xlabel, ylabel=label, x=x, logy=logy))
    return paths


def plot_paper(config: CifarGridConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """The paper's Fig. 2: final test accuracy over the weight-decay axis, one line per learning rate, one panel
    per optimizer (mean ± std over seeds)."""
    panels = {
        opt: {
            f"lr {lr:g}": [
                [r["metrics"][f"{cifar_arm(opt, lr, wd)}/test_accuracy"] for wd in config.weight_decays]
                for r in records
            ]
            for lr in config.lrs
        }
        for opt in config.optimizers
    }
    x = [math.log10(wd) for wd in config.weight_decays]
    title = f"lr × weight-decay grid ({config.model}, {config.epochs} epochs)"
    return [
        plot_panels(
            folder / "grid_test_accuracy.png",
            panels,
            title=title,
            xlabel="log10 weight decay",
            ylabel="final test accuracy",
            x=x,
        )
    ]
