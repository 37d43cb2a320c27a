"""The figures of smart-composites, drawn with ``paperzoo.shared.plotting``: trajectories and RMSE bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.shared.plotting import plot_bars, plot_panels


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Position vs time per plant and reference (mean ± std over seeds), and the RMSE of every arm."""
    keys = [f"{p}_{r}" for p in config.plants for r in ("square", "sine")]
    arms = ("reference", "pid", *(f"mpc_{k}" for k in config.models))
    panels = {
        key: {
            arm: [r["series"][f"{key}/{arm}_x"] for r in records]
            for arm in arms
            if f"{key}/{arm}_x" in records[0]["series"]
        }
        for key in keys
    }
    time = (np.arange(config.eval_steps + 1) * config.dt).tolist()
    rmse = {
        arm: {key: [r["metrics"][f"{key}/{arm}_rmse"] for r in records] for key in keys}
        for arm in ("zero", "pid", *(f"mpc_{k}" for k in config.models))
    }
    return [
        plot_panels(
            folder / "trajectories.png",
            panels,
            title="Position tracking (mean over seeds)",
            xlabel="time (s)",
            ylabel="position (m)",
            x=time,
        ),
        plot_bars(
            folder / "rmse.png", rmse, title="Position RMSE per plant and reference", ylabel="RMSE (m)", show_seeds=True
        ),
    ]
