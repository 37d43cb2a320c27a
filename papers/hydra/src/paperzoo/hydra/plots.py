"""Hydra's figure, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.hydra.experiment import select_learning_rates
from paperzoo.hydra.train import METHODS
from paperzoo.shared.plotting import plot_bars

if TYPE_CHECKING:
    from paperzoo.hydra.bench import FullConfig


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Test accuracy per downstream task and method at its chosen learning rate (mean ± std over seeds), and the
    mean over tasks."""
    chosen = select_learning_rates([r["metrics"] for r in records], 1 / config.finetune.n_val)
    methods = [m for m in METHODS if f"{m}/mean_test_accuracy" in chosen[0]]
    groups = {
        m: {**{t: [s[f"{m}/{t}/test_accuracy"] for s in chosen] for t in config.tasks},
            "mean": [s[f"{m}/mean_test_accuracy"] for s in chosen]}
        for m in methods
    }  # fmt: skip
    return [plot_bars(folder / "test_accuracy.png", groups, title="Downstream digits tasks: test accuracy",
                      ylabel="test accuracy", ylim=(0.0, 1.0), rotation=20)]  # fmt: skip
