"""The figures of eal-sketch, drawn with ``paperzoo.shared.plotting``: KKT residual per outer iteration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.shared.plotting import plot_panels


def _padded(curves: list[list[float]]) -> list[list[float]]:
    """Seeds stop after different numbers of outer iterations: a stopped run keeps its last residual."""
    n = max(len(c) for c in curves)
    return [list(c) + [c[-1]] * (n - len(c)) for c in curves]


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """KKT vs outer iteration on the logistic and PDE instances and on four HS/BT problems, every seed."""
    keys = sorted({key.split("/kkt_", 1)[1] for r in records for key in r["series"] if "/kkt_" in key})
    shown = [k for k in keys if k.startswith(("pde", "logistic"))] + [
        k for k in ("HS7", "HS40", "HS46", "BT2") if k in keys
    ]
    first = records[0]["series"]
    arms = sorted({key.split("/", 1)[0] for r in records for key in r["series"]})
    panels = {
        name: {
            arm: _padded([r["series"][f"{arm}/kkt_{name}"] for r in records])
            for arm in arms
            if f"{arm}/kkt_{name}" in first
        }
        for name in shown
    }
    return [
        plot_panels(
            folder / "kkt.png",
            {name: curves for name, curves in panels.items() if curves},
            title="KKT residual ‖(∇ₓL, c)‖ per outer iteration",
            xlabel="outer iteration",
            ylabel="KKT residual",
        )
    ]
