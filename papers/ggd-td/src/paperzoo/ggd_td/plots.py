"""The figures of ggd-td, drawn with ``paperzoo.shared.plotting``: return curves per critic (the paper's Fig. 3/4)
and the final returns per arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.shared.plotting import plot_bars, plot_curves


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training return per PPO rollout of steps (mean ± std over seeds) with the random policy's line; final returns."""
    steps_per_rollout = config.ppo.n_envs * config.ppo.n_steps
    curves = {arm: [r["series"][f"{arm}/return"] for r in records] for arm in config.arms}
    length = min(len(c) for per_seed in curves.values() for c in per_seed)
    curves = {arm: [c[:length] for c in per_seed] for arm, per_seed in curves.items()}
    random = float(np.mean([r["metrics"]["random/return"] for r in records]))
    algos = " and ".join(sorted({"SAC" if arm.startswith("sac_") else "PPO" for arm in config.arms}))
    task = config.ppo.env_id.split("/")[-1]
    paths = [
        plot_curves(
            folder / "returns.png",
            curves,
            title=f"{algos} on {task}: critic losses",
            xlabel="environment steps",
            ylabel="mean training episode return",
            x=[steps_per_rollout * (i + 1) for i in range(length)],
            hlines={"random policy": random},
        )
    ]
    groups = {
        label: {arm: [r["metrics"][f"{arm}/{metric}"] for r in records] for arm in config.arms}
        for label, metric in (("last 10 rollouts", "final_return"), ("all rollouts (AUC)", "auc"))
    }
    paths.append(
        plot_bars(
            folder / "final_returns.png",
            groups,
            title=f"{algos} on {task}: mean training return",
            ylabel="return",
            hlines={"random policy": random},
            show_seeds=True,
        )
    )
    return paths
