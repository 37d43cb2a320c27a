"""The figures of npg-igt: log-log LQR gap vs trajectories, CartPole return curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.shared.plotting import plot_curves


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """J* - J(theta) vs sampled trajectories (log-log) and CartPole average return vs episodes."""
    paths = []
    nan = float("nan")  # records read back from JSON hold None where a diverged seed gave a non-finite value
    series = [{k: [nan if v is None else v for v in c] for k, c in r["series"].items()} for r in records]
    if config.lqr is not None:
        curves = {arm: [s[f"{arm}/lqr_gap"] for s in series] for arm in config.lqr.arms}
        paths.append(
            plot_curves(
                folder / "lqr_gap.png",
                curves,
                title="LQR: J* - J(theta)",
                xlabel="trajectories",
                ylabel="gap",
                x=series[0]["lqr/checkpoints"],
                logx=True,
                logy=True,
            )
        )
    if config.cartpole is not None:
        curves = {arm: [s[f"{arm}/cartpole_return"] for s in series] for arm in config.cartpole.arms}
        n = len(next(iter(curves.values()))[0])
        x = [(i + 0.5) * config.cartpole.episodes / n for i in range(n)]
        paths.append(
            plot_curves(
                folder / "cartpole_return.png",
                curves,
                title="CartPole-v1",
                xlabel="episodes",
                ylabel="average return",
                x=x,
            )
        )
    return paths
