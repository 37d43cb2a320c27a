"""TA-LPG's figures, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.shared.plotting import plot_curves, plot_panels
from paperzoo.ta_lpg.experiment import ARMS

if TYPE_CHECKING:
    from paperzoo.ta_lpg.bench import FullConfig

# The learned schedule is drawn against n/N on this grid, so that every test lifetime shares one abscissa.
SCHEDULE_GRID = np.linspace(0.0, 1.0, 101)[1:]


def _on_grid(curve: list[float]) -> list[float]:
    """An entropy curve over updates n = 1..N, linearly interpolated onto :data:`SCHEDULE_GRID` (n/N)."""
    n = len(curve)
    return np.interp(SCHEDULE_GRID, (np.arange(n) + 1) / n, curve).tolist()


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out return / optimal against the test lifetime; the learned schedule (policy entropy against n/N at
    each test lifetime); ES fitness per generation."""
    arms = [a for a in ARMS if a in config.arms]
    lifetimes = sorted(config.test_lifetimes)
    low, high = config.train.dist.lifetime
    return [
        plot_curves(
            folder / "lifetimes.png",
            {a: [[r["metrics"][f"{a}/normalised_L{n}"] for n in lifetimes] for r in records] for a in arms},
            title="Held-out levels: mean over seeds ±1 std",
            xlabel="test lifetime N (agent updates)",
            ylabel="return / optimal return",
            x=lifetimes,
            logx=True,
            markers=True,
            hlines={"random": float(np.mean([r["metrics"]["random/normalised"] for r in records]))},
            span=(low, high, "meta-training range"),
        ),
        plot_panels(
            folder / "schedule.png",
            {
                f"{a}: policy entropy over the lifetime": {
                    f"N = {n}": [_on_grid(r["series"][f"{a}/entropy_L{n}"]) for r in records] for n in lifetimes
                }
                for a in arms
            },
            title="The learned schedule (mean over seeds ±1 std)",
            xlabel="n / N",
            ylabel="policy entropy (nats)",
            x=SCHEDULE_GRID.tolist(),
        ),
        plot_curves(
            folder / "es_fitness.png",
            {a: [r["series"][f"{a}/fitness"] for r in records] for a in arms},
            title="ES meta-training: mean candidate return per generation",
            xlabel="generation",
            ylabel="mean return",
        ),
    ]
