"""Headless plotting of curves over seeds (matplotlib with the Agg backend, imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def plot_curves(
    path: str | Path,
    curves: Mapping[str, Sequence[Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    x: Sequence[float] | None = None,
    logy: bool = False,
) -> Path:
    """Draw one line per label: the mean over seeds with a ±1 std band; save a PNG at ``path``.

    ``curves[label]`` holds one sequence per seed, all of the same length.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, per_seed in curves.items():
        arr = np.asarray(per_seed, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"curves[{label!r}] must be a list of equal-length per-seed curves")
        xs = np.arange(1, arr.shape[1] + 1) if x is None else np.asarray(x)
        mean, std = arr.mean(axis=0), arr.std(axis=0)
        (line,) = ax.plot(xs, mean, label=label)
        ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
