"""The figures of the RAMario benchmark's full scale, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.shared.plotting import plot_bars, plot_panels

if TYPE_CHECKING:
    from paperzoo.ramario.bench import FullConfig

BAR_METRICS = {
    "random_init/max_x_0": "random init, 0 updates",
    "random_init/max_x_k": "random init, k updates",
    "reptile/max_x_0": "Reptile, 0 updates",
    "reptile/max_x_k": "Reptile, k updates",
    "ppo/max_x": "PPO (same steps)",
    "dqn/max_x": "DQN (same steps)",
}


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out distance per arm (mean ± std over seeds, seeds as dots); Reptile's and the baselines' training."""
    level = "-".join(map(str, config.held_out))
    bar = plot_bars(
        folder / "heldout_distance.png",
        {"max x": {label: [r["metrics"][name] for r in records] for name, label in BAR_METRICS.items()}},
        title=f"Held-out level {level}: distance reached",
        ylabel="max x_pos (mean over eval episodes)",
        hlines={"start x": records[0]["metrics"]["level/start_x"]},
        show_seeds=True,
        rotation=20,
    )
    curves = plot_panels(
        folder / "training_curves.png",
        {
            "Reptile meta-training (per outer iteration)": {
                f"Reptile, k = {config.inner.k}": [r["series"]["reptile/meta_max_x"] for r in records]
            },
            f"from scratch on {level} (per tenth of the step budget)": {
                arm.upper(): [r["series"][f"{arm}/train_max_x"] for r in records] for arm in ("ppo", "dqn")
            },
        },
        title="Training: max x of the episodes (mean ± std over seeds)",
        xlabel="outer iteration | tenth of the budget",
        ylabel="max x_pos",
    )
    return [bar, curves]
