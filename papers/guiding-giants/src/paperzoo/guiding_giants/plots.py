"""The figures of guiding-giants, drawn with ``paperzoo.shared.plotting``: the alpha sweep (harmful refusal,
false refusal and benign accuracy per arm) and the controller's training loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.guiding_giants.experiment import ARMS
from paperzoo.shared.plotting import plot_curves, plot_panels

_METRICS = {"harmful_refusal": "held-out harmful refusal", "false_refusal": "benign false refusal",
            "benign_accuracy": "benign task accuracy"}  # fmt: skip


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """``alpha_sweep.png``: each metric against alpha per arm (mean ± std over seeds, the base model as alpha 0);
    ``controller_loss.png``: the controller's mean loss per epoch."""
    alphas = [0.0, *config.alphas]
    panels = {
        title: {
            arm: [
                [r["metrics"][f"base/{metric}"], *(r["metrics"][f"{arm}@{a:g}/{metric}"] for a in config.alphas)]
                for r in records
            ]
            for arm in ARMS
        }
        for metric, title in _METRICS.items()
    }
    sweep = plot_panels(
        folder / "alpha_sweep.png", panels, title="Steering strength sweep (alpha 0 = base model)", xlabel="alpha",
        ylabel="rate", x=alphas,
    )  # fmt: skip
    loss = plot_curves(
        folder / "controller_loss.png", {"WAS controller": [r["series"]["was/epoch_loss"] for r in records]},
        title="Controller training loss", xlabel="epoch", ylabel="mean loss", logy=True,
    )  # fmt: skip
    return [sweep, loss]
