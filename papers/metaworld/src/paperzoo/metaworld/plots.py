"""The figures of the Meta-World benchmark's full scale, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.metaworld.experiment import task_key
from paperzoo.shared.plotting import plot_bars, plot_curves

if TYPE_CHECKING:
    from paperzoo.metaworld.bench import FullConfig

ARMS = ("random", "single", "mt_sac", "scripted")


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training-episode success per task (single-task vs MT-SAC), and evaluation success per task (bars)."""
    curves = {}
    for t in config.tasks:
        for arm in ("single", "mt_sac"):
            key = f"{arm}/{task_key(t)}_train_success"
            if all(key in r["series"] for r in records):
                curves[f"{arm} {t}"] = [r["series"][key] for r in records]
    n_bins = len(next(iter(curves.values()))[0])
    train = plot_curves(
        folder / "train_success.png",
        curves,
        title="Training episodes reaching success (per tenth of training)",
        xlabel="environment steps per task",
        ylabel="success rate of training episodes",
        x=[config.steps_per_task * (i + 0.5) / n_bins for i in range(n_bins)],
    )
    groups = {
        arm: {t: [r["metrics"][f"{arm}/{task_key(t)}_success"] for r in records] for t in config.tasks} for arm in ARMS
    }
    per_task = plot_bars(
        folder / "success_per_task.png",
        groups,
        title="Success per task (MT protocol, mean ± std)",
        ylabel=f"success rate ({config.eval_episodes} episodes)",
        ylim=(0.0, 1.05),
        show_seeds=True,
    )
    return [train, per_task]
