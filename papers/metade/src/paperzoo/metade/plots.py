"""The figures of MetaDE, drawn with ``paperzoo.shared.plotting``: best-so-far error against FEs per function, and
the mean rank of each arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.metade.experiment import CURVE_POINTS, budget
from paperzoo.shared.plotting import plot_bars, plot_curves


def recorded_fes(config: Any, arm: str, n: int) -> np.ndarray:
    """The FEs at which an arm's ``n`` curve points were recorded (random_theta: its draws' FEs together)."""
    B, gen = budget(config), config.P_o * config.NP * (config.S + 1)
    if arm in ("metade", "random_search"):
        return gen * np.arange(1, n + 1)
    if arm == "metade_powerup":
        return np.append(gen * np.arange(1, n), B)
    per_draw = config.P_o if arm == "random_theta" else 1
    NP = config.NP if arm == "random_theta" else config.baseline_np
    steps = B // (per_draw * NP) - 1
    every = max(1, (steps + 1) // CURVE_POINTS)
    return per_draw * NP * (1 + every * np.arange(n))


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One convergence figure per function (error + 1e-8 on a log axis, mean +- std over seeds, each arm's
    best-so-far read at B/12, 2B/12, ..., B) and a rank chart."""
    grid = budget(config) * np.arange(1, CURVE_POINTS + 1) / CURVE_POINTS
    paths = []
    for f in config.functions:
        curves = {}
        for arm in config.arms:
            per_seed = [np.asarray(r["series"][f"{arm}/F{f}_curve"]) for r in records]
            at = np.searchsorted(recorded_fes(config, arm, len(per_seed[0])), grid, side="right") - 1
            curves[arm] = [(c[np.clip(at, 0, len(c) - 1)] + 1e-8).tolist() for c in per_seed]
        paths.append(
            plot_curves(
                folder / f"convergence_F{f}.png",
                curves,
                x=grid.tolist(),
                logy=True,
                title=f"CEC2022 F{f}, D = {config.D}: best-so-far error",
                xlabel="function evaluations",
                ylabel="error + 1e-8",
            )
        )
    ranks = {arm: [r["metrics"][f"{arm}/mean_rank"] for r in records] for arm in config.arms}
    paths.append(
        plot_bars(
            folder / "mean_rank.png",
            {"mean rank": ranks},
            title="Average rank over functions (1 = best)",
            ylabel="rank",
            rotation=30,
            show_seeds=True,
        )
    )
    return paths
