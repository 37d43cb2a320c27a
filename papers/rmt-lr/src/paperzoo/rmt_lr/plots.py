"""The figures of rmt-lr: E[λ_1(H_B)] vs B with its fit, max stable lr vs B, and the learner's schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.shared.plotting import plot_curves


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """lambda1_vs_batch.png, max_stable_lr_vs_batch.png and learner_schedule.png from the seed records."""
    series = [r["series"] for r in records]
    sizes = series[0]["batch_sizes"]
    x = 1 / np.asarray(sizes) - 1 / sizes[-1]
    curves = {f"E[λ1(H_B)], {stage}": [s[f"{stage}/lambda1"] for s in series] for stage in ("init", "trained")}
    for stage in ("init", "trained"):
        a, c = (np.mean([r["metrics"][f"{stage}/fit_{k}"] for r in records]) for k in ("a", "c"))
        curves[f"fit a + c(1/B − 1/N), {stage}"] = [list(a + c * x)]
    log_axes = {"x": sizes, "logx": True, "logy": True, "markers": True, "xlabel": "batch size B"}
    paths = [
        plot_curves(
            folder / "lambda1_vs_batch.png",
            curves,
            title="Largest batch-Hessian eigenvalue vs batch size (digits MLP)",
            ylabel="E[λ1(H_B)]",
            **log_axes,
        ),
        plot_curves(
            folder / "max_stable_lr_vs_batch.png",
            {opt: [s[f"{opt}/max_stable_lr"] for s in series] for opt in ("sgd", "adam")},
            title="Largest stable learning rate vs batch size (100 steps)",
            ylabel="max stable lr",
            **log_axes,
        ),
    ]
    if "learner/lr" in series[0]:
        paths.append(
            plot_curves(
                folder / "learner_schedule.png",
                {
                    "learned lr": [s["learner/lr"] for s in series],
                    "learned momentum": [s["learner/momentum"] for s in series],
                },
                x=series[0]["learner/step"],
                logy=True,
                markers=True,
                title="The SLQ learner's learning rate and momentum",
                xlabel="optimizer step",
                ylabel="value",
            )
        )
    return paths
