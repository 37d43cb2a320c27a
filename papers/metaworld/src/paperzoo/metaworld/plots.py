"""The figures of the Meta-World benchmark's full scale, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.metaworld.experiment import task_key
from paperzoo.shared.plotting import plot_bars, plot_curves

if TYPE_CHECKING:
    from paperzoo.metaworld.bench import FullConfig

ARMS = ("random", "single", "mt_sac", "scripted")


def _per_seed(records: list[dict[str, Any]], name: str) -> list[float]:
    return [r["metrics"][name] for r in records]


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training-episode success per task (single-task vs MT-SAC: the plateau), evaluation success per MT task, and
    the held-out-task split's meta-test success per task (MAML-VPG and random)."""
    curves = {
        f"{arm} {t}": [r["series"][f"{arm}/{task_key(t)}_train_success"] for r in records]
        for t in config.tasks
        for arm in ("single", "mt_sac")
    }
    n_bins = len(next(iter(curves.values()))[0])
    paths = [
        plot_curves(
            folder / "train_success.png",
            curves,
            title="Training episodes reaching success (per tenth of training)",
            xlabel="environment steps per task",
            ylabel="success rate of training episodes",
            x=[config.steps_per_task * (i + 0.5) / n_bins for i in range(n_bins)],
        ),
        plot_bars(
            folder / "success_per_task.png",
            {arm: {t: _per_seed(records, f"{arm}/{task_key(t)}_success") for t in config.tasks} for arm in ARMS},
            title="Success per task (MT protocol, mean ± std)",
            ylabel=f"success rate ({config.eval_episodes} episodes)",
            ylim=(0.0, 1.05),
            show_seeds=True,
        ),
    ]
    ml = config.ml
    if ml.iterations:
        tasks = {t: f"{t} (train)" for t in ml.train_tasks} | {t: f"{t} (held out)" for t in ml.test_tasks}
        groups = {
            f"{arm} meta-test": {
                label: _per_seed(records, f"ml_{arm}/{task_key(t)}_success") for t, label in tasks.items()
            }
            for arm in ("maml", "random")
        }
        paths.append(
            plot_bars(
                folder / "held_out_tasks.png",
                groups,
                title="Meta-test success: train tasks vs held-out tasks (mean ± std)",
                ylabel="meta-test success rate",
                ylim=(0.0, 1.05),
                show_seeds=True,
                rotation=20.0,
            )
        )
    return paths
