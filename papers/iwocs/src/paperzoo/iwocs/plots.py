"""The figures of IWOCS, drawn with ``paperzoo.shared.plotting``: return over the uncertainty grid per arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.iwocs.experiment import ARMS
from paperzoo.iwocs.pendulum import box_grid
from paperzoo.shared.plotting import plot_bars, plot_curves


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Return over Ω (grid points ordered m-major, one curve per arm, mean over seeds), worst and nominal returns."""
    deep = config.deep if hasattr(config, "deep") else None
    arms = (*ARMS, "random")
    curves = {arm: [r["series"][f"{arm}/grid_returns"] for r in records] for arm in arms}
    omegas = box_grid(deep.low, deep.high, deep.eval_points) if deep else None
    x = np.arange(len(curves["iwocs"][0]))
    title = "Pendulum-v1: mean return at each (m, l) of the evaluation grid (m-major)"
    if omegas is not None:
        title += f"; m in [{omegas[0, 0]:g}, {omegas[-1, 0]:g}], l in [{omegas[0, 1]:g}, {omegas[-1, 1]:g}]"
    paths = [plot_curves(folder / "grid_returns.png", curves, title=title, xlabel="grid point", ylabel="return", x=x)]
    groups = {
        metric: {arm: [r["metrics"][f"{arm}/{metric}"] for r in records] for arm in arms}
        for metric in ("worst_return", "mean_return", "nominal_return")
    }
    paths.append(
        plot_bars(folder / "returns.png", groups, title="Pendulum-v1 returns", ylabel="return", show_seeds=True)
    )
    return paths
