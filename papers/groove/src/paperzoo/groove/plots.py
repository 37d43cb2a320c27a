"""GROOVE's figures, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.groove.experiment import ARMS, REFERENCES
from paperzoo.groove.gridworld import held_out_levels
from paperzoo.shared.plotting import plot_bars, plot_curves

if TYPE_CHECKING:
    from paperzoo.groove.bench import FullConfig


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out normalised return per checkpoint, the training curve of finished levels, and the normalised return
    per held-out level (grouped bars: the references and the arms)."""
    arms = [a for a in ARMS if a in config.arms]
    n_ckpt = config.train.checkpoints
    steps = config.train.meta_steps
    names = list(held_out_levels())
    groups = [REFERENCES[0], *arms, *REFERENCES[1:]]  # random policy, the arms, A2C
    return [
        plot_curves(
            folder / "heldout_curve.png",
            {a: [r["series"][f"{a}/heldout_curve"] for r in records] for a in arms},
            title="Held-out levels: return / optimal return",
            xlabel="meta-step",
            ylabel="normalised return",
            x=[steps * (i + 1) / n_ckpt for i in range(n_ckpt)],
        ),
        plot_curves(
            folder / "train_curve.png",
            {a: [np.nan_to_num(r["series"][f"{a}/train_finished_normalised"]).tolist() for r in records] for a in arms},
            title="Meta-training: agents finishing their lifetime, return / optimal",
            xlabel="tenth of meta-training",
            ylabel="normalised return",
        ),
        plot_bars(
            folder / "heldout_levels.png",
            {g: {n: [r["metrics"][f"{g}/{n}_normalised"] for r in records] for n in names} for g in groups},
            title="Held-out levels (mean over seeds, ±1 std)",
            ylabel="return / optimal",
            hlines={"zero": 0.0},
            rotation=20,
        ),
    ]
