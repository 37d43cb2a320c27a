"""The figures of CoIN, drawn with ``paperzoo.shared.plotting``: the accuracy matrices (each task's accuracy
after every later task, one panel per continual arm), the dynamic alpha_t per step, and forgetting per arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.coin.continual import ARMS
from paperzoo.coin.experiment import select_learning_rates
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.plotting import plot_bars, plot_curves, plot_panels

CONTINUAL = tuple(a for a in ARMS if a != "joint")


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Each arm at its chosen learning rate (:func:`paperzoo.coin.experiment.select_learning_rates`)."""
    t = config.continual.n_tasks
    chosen = select_learning_rates([r["metrics"] for r in records], 1 / config.continual.n_val)[0]
    key = {arm: grid_key(arm, chosen[f"{arm}/lr"]) for arm in ARMS}
    panels = {
        arm: {
            f"task {j + 1}": [[r["series"][f"{key[arm]}/a_row{i}"][j] for i in range(j, t)] for r in records]
            for j in range(t - 1)
        }
        for arm in CONTINUAL
    }
    # a[i][j] is defined for i >= j: pad each task's curve on the left so every panel shares the task axis
    padded = {
        arm: {name: [[float("nan")] * (t - len(c)) + c for c in curves] for name, curves in per_task.items()}
        for arm, per_task in panels.items()
    }
    paths = [
        plot_panels(
            folder / "accuracy_matrix.png",
            padded,
            title="accuracy on task j after training task i",
            xlabel="after task i",
            ylabel="greedy exact match",
            x=list(range(1, t + 1)),
        ),
        plot_curves(
            folder / "alpha.png",
            {arm: [r["series"][f"{key[arm]}/alpha"] for r in records] for arm in ("dynamic_ema", "grouping")},
            title="dynamic balance weight alpha_t (mean over LoRA tensors)",
            xlabel="step (all tasks)",
            ylabel="alpha_t (weight on new parameters)",
            logy=True,
        ),
        plot_bars(
            folder / "forgetting.png",
            {
                "forgetting": {arm: [r["metrics"][f"{key[arm]}/forgetting"] for r in records] for arm in CONTINUAL},
                "final mean accuracy": {
                    arm: [r["metrics"][f"{key[arm]}/mean_accuracy"] for r in records] for arm in ARMS
                },
            },
            title="forgetting and final mean accuracy",
            ylabel="fraction",
        ),
    ]
    return paths
