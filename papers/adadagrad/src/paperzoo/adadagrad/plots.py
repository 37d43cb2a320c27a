"""The figures of AdAdaGrad: test accuracy and batch size against samples seen, per task and optimizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.adadagrad.experiment import OPTIMIZERS, arm_name, schedules
from paperzoo.shared.plotting import plot_panels


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Two figures (accuracy, batch size), one panel per task and optimizer, one line per schedule (mean ± std)."""
    paths = []
    for metric, ylabel in (("test_accuracy", "test accuracy"), ("batch_size", "batch size")):
        panels: dict[str, dict[str, list[list[float]]]] = {}
        xs: dict[str, list[float]] = {}
        for task in config.tasks:
            for opt in OPTIMIZERS:
                panel = f"{task}, {opt}"
                panels[panel] = {}
                for schedule in schedules(config):
                    arm = arm_name(task, opt, schedule)
                    panels[panel][schedule] = [r["series"][f"{arm}/{metric}"] for r in records]
                # the checkpoints are at (nearly) the same sample counts in every arm: the first one's mean
                first = arm_name(task, opt, next(iter(schedules(config))))
                xs[panel] = np.mean([r["series"][f"{first}/samples"] for r in records], axis=0).tolist()
        paths.append(
            plot_panels(
                folder / f"{metric}_vs_samples.png",
                panels,
                title=f"{ylabel} vs samples (equal sample budget)",
                xlabel="samples",
                ylabel=ylabel,
                x=xs,
                sharey=metric == "test_accuracy",
            )
        )
    return paths
