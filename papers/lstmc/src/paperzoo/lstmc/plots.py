"""The figures of lstmc, drawn with ``paperzoo.shared.plotting``: L(t) / L_sp per controller and set-point, and the
mean final deviation of every arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.lstmc.experiment import CONTROLLERS, noise_key
from paperzoo.shared.plotting import plot_bars, plot_panels


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One panel per set-point quantile (mean over initial conditions, band over seeds), per noise level; bars of
    the mean deviation per arm."""
    hours = list(range(config.hours + 1))
    paths = []
    for level in config.noise_levels:
        suffix = noise_key(level)
        arms = [f"{a}{suffix}" for a in CONTROLLERS] + (["open_loop"] if not suffix else [])
        panels = {
            f"set-point q={q:g}": {arm: [r["series"][f"L_over_sp/{arm}/q{i}"] for r in records] for arm in arms}
            for i, q in enumerate(config.eval_quantiles)
        }
        name = f"L_over_set_point{suffix or '_clean'}.png"
        paths.append(
            plot_panels(
                folder / name,
                panels,
                title=f"L(t) / L_sp on unseen set-points ({round(100 * level)} % noise on L)",
                xlabel="hour",
                ylabel="L43 / L_sp",
                x=hours,
            )
        )
    groups = {
        f"{round(100 * level)} % noise": {
            arm: [r["metrics"][f"{arm}/deviation{noise_key(level)}"] for r in records] for arm in CONTROLLERS
        }
        for level in config.noise_levels
    }
    groups["0 % noise"]["open_loop"] = [r["metrics"]["open_loop/deviation"] for r in records]
    groups["0 % noise"]["pi@tuning"] = [r["metrics"]["pi/deviation_tuning"] for r in records]
    paths.append(
        plot_bars(
            folder / "deviation.png",
            groups,
            title="Mean |L(t_f) - L_sp| / L_sp on unseen set-points (PBE plant)",
            ylabel="deviation (fraction)",
            hlines={"paper: 2 %": 0.02},
            show_seeds=True,
            rotation=20,
        )
    )
    return paths
