"""The figures of the RAMario benchmark's full scale, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.shared.plotting import plot_bars, plot_panels

if TYPE_CHECKING:
    from paperzoo.ramario.bench import FullConfig

BAR_METRICS = {
    "random_init/progress_0": "random init, 0 updates",
    "random_init/progress_k": "random init, k updates",
    "reptile/progress_0": "Reptile, 0 updates",
    "reptile/progress_k": "Reptile, k updates",
    "ppo/progress": "PPO (same steps)",
    "dqn/progress": "DQN (same steps)",
}


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out progress per arm (mean ± std over seeds, seeds as dots; the scripted "run right" as a line);
    Reptile's and the baselines' training curves."""
    level = "-".join(map(str, config.held_out))
    where = f"held-out {level}" if config.mini_levels is None else f"held-out {level} mini-levels"
    bar = plot_bars(
        folder / "heldout_progress.png",
        {"progress": {label: [r["metrics"][name] for r in records] for name, label in BAR_METRICS.items()}},
        title=f"{where[0].upper()}{where[1:]}: progress ({config.eval_episodes} episodes)",
        ylabel="max x - start x, px (mean over episodes)",
        hlines={"run right (scripted)": records[0]["metrics"]["scripted/run_right"]},
        show_seeds=True,
        rotation=20,
    )
    curves = plot_panels(
        folder / "training_curves.png",
        {
            "Reptile meta-training": {
                f"Reptile, k = {config.inner.k}": [r["series"]["reptile/meta_progress"] for r in records]
            },
            f"PPO, DQN on {where}": {
                arm.upper(): [r["series"][f"{arm}/train_progress"] for r in records] for arm in ("ppo", "dqn")
            },
        },
        title="Training: progress of the episodes (mean ± std over seeds)",
        xlabel="outer iteration | tenth of the budget",
        ylabel="progress (px)",
    )
    return [bar, curves]
