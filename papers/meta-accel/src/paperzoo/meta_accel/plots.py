"""The figures of meta-accel, drawn with ``paperzoo.shared.plotting``: mean regret per selector, which method is
best per model family in the measured matrix, and MetaInf's budget satisfaction (simulated cost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.meta_accel.meta import SELECTORS
from paperzoo.meta_accel.models import FAMILIES
from paperzoo.shared.plotting import plot_bars


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Regret bars (both CV schemes), the best-method share per family, and budget satisfaction."""
    metrics = [r["metrics"] for r in records]
    schemes = {"lfo": "leave-family-out", "cv": "grouped CV"}
    regret = {
        label: {
            s: [m[f"{scheme}/{s}/regret"] for m in metrics] for s in SELECTORS if f"{scheme}/{s}/regret" in metrics[0]
        }
        for scheme, label in schemes.items()
        if any(k.startswith(f"{scheme}/") for k in metrics[0])
    }
    paths = [
        plot_bars(folder / "regret.png", regret, title="Mean regret on held-out tasks", ylabel="regret", rotation=30)
    ]
    series = records[0]["series"]
    methods = [k.split("/")[1] for k in series if k.endswith("/speedup")]
    speedup = np.asarray([series[f"matrix/{m}/speedup"] for m in methods]).T
    family = np.asarray(series["matrix/family_index"], dtype=int)
    best = speedup.argmax(1)
    share = {
        FAMILIES[f]: {m: [float(np.mean(best[family == f] == a))] for a, m in enumerate(methods)}
        for f in np.unique(family)
    }
    paths.append(
        plot_bars(
            folder / "best_method.png",
            share,
            title="Best measured method per family",
            ylabel="share of tasks",
            rotation=30,
        )
    )
    budget = {
        arm: {
            k.split("/")[2]: [m[k] for m in metrics]
            for k in metrics[0]
            if k.startswith(f"cv/{arm}/budget_") and k.endswith("/satisfied")
        }
        for arm in ("metainf", "oracle")
    }
    if budget["metainf"]:
        paths.append(
            plot_bars(
                folder / "budget.png",
                budget,
                title="Budget satisfaction (simulated cost, grouped CV)",
                ylabel="share of tasks within budget",
                ylim=(0.0, 1.05),
            )
        )
    return paths
