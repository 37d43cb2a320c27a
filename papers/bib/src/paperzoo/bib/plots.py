"""The figures of BIB, drawn with ``paperzoo.shared.plotting``: median score and gamma per design step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.bib.experiment import ARMS
from paperzoo.shared.plotting import plot_panels


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Median normalised score per step (one panel per encoder, every arm and gradient ascent), and the mean
    gamma per step of BIB and BIB + Adaptive-eta (one panel per encoder)."""
    series = [r["series"] for r in records]
    scores = {
        e: {
            **{arm: [s[f"{e}/{arm}/median_per_step"] for s in series] for arm in ARMS},
            "ga_mlp": [s["ga_mlp/median_per_step"] for s in series],
        }
        for e in config.encoders
    }
    gammas = {
        e: {arm: [s[f"{e}/{arm}/gamma_per_step"] for s in series] for arm in ("bib", "bib_eta")}
        for e in config.encoders
    }
    return [
        plot_panels(
            folder / "score_per_step.png",
            scores,
            title="Median normalised score of the designs (mean ± std over seeds)",
            xlabel="design step",
            ylabel="median normalised score",
        ),
        plot_panels(
            folder / "gamma_per_step.png",
            gammas,
            title="Adaptive-gamma: mean gamma over the candidates",
            xlabel="design step",
            ylabel="gamma",
        ),
    ]
