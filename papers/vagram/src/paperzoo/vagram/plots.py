"""The figures of VaGraM, drawn with ``paperzoo.shared.plotting``: MBPO-lite return curves and the fit test's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.shared.plotting import plot_bars, plot_curves
from paperzoo.vagram.experiment import ARMS


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Return vs env steps of both MBPO arms (random policy as reference); held-out errors of the fit test."""
    mc = config.mbpo
    curves = {arm: [r["series"][f"mbpo/{arm}/return_curve"] for r in records] for arm in ARMS}
    steps = [mc.initial_steps + mc.epoch_length * (i + 1) for i in range(len(curves[ARMS[0]][0]))]
    random = sum(r["metrics"]["mbpo/random/return"] for r in records) / len(records)
    paths = [
        plot_curves(
            folder / "mbpo_return.png",
            curves,
            x=steps,
            title=f"MBPO-lite, Pendulum-v1 + {mc.distractors} distractors, 1 x {mc.hidden[0]} model",
            xlabel="env steps",
            ylabel="evaluation return",
            hlines={"random policy": random},
        )
    ]
    for metric, label in (("value_error", "held-out |V(s'_hat) - V(s')|"), ("state_mse", "held-out state MSE")):
        groups = {
            arm: {f"1 x {w}": [r["metrics"][f"fit/{arm}_w{w}/{metric}"] for r in records] for w in config.fit.widths}
            for arm in ARMS
        }
        paths.append(plot_bars(folder / f"fit_{metric}.png", groups, title=f"Fit test: {label}", ylabel=label))
    return paths
