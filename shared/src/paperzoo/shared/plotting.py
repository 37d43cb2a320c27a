"""The plotting vocabulary every paper draws its figures with (matplotlib, Agg backend, imported lazily).

- :func:`plot_curves`: one line per label, the mean over seeds with a ±1 std band (training curves, a
  metric against a swept setting).
- :func:`plot_panels`: several such curve plots side by side (one panel per arm or condition).
- :func:`plot_bars`: grouped bars, mean ± std over seeds with optional per-seed dots (per-task,
  per-level, per-layer values of each arm).
- :func:`plot_contour_paths`: optimizer paths over the contours of a 2-D function (toy problems).

Each draws one PNG and returns its path. A figure that none of these can draw is added here once,
not written inside a paper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PerSeed = Sequence[Sequence[float]]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _reference_lines(ax: Any, hlines: Mapping[str, float] | None) -> None:
    for i, (label, y) in enumerate((hlines or {}).items()):
        ax.axhline(y, color="k", linestyle=(":", "--", "-.")[i % 3], linewidth=1, label=label)


def _draw_curves(
    ax: Any, curves: Mapping[str, PerSeed], x: Sequence[float] | None, markers: bool, logy: bool = False
) -> None:
    for label, per_seed in curves.items():
        lengths = {len(c) for c in per_seed}
        arr = np.asarray(per_seed, dtype=np.float64) if len(lengths) == 1 else np.empty(0)
        if arr.ndim != 2:
            raise ValueError(f"curves[{label!r}] must be a list of equal-length per-seed curves")
        xs = np.arange(1, arr.shape[1] + 1) if x is None else np.asarray(x, dtype=np.float64)
        if len(xs) != arr.shape[1]:
            raise ValueError(f"curves[{label!r}] has {arr.shape[1]} points but x has {len(xs)}")
        mean, std = arr.mean(axis=0), arr.std(axis=0)
        (line,) = ax.plot(xs, mean, label=label, marker="o" if markers else None, markersize=4)
        low = mean - std
        if logy:  # a band below zero has no place on a log axis: floor it at the smallest seed value
            low = np.maximum(low, arr.min(axis=0))
        ax.fill_between(xs, low, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def plot_curves(
    path: str | Path,
    curves: Mapping[str, PerSeed],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    x: Sequence[float] | None = None,
    logx: bool = False,
    logy: bool = False,
    markers: bool = False,
    hlines: Mapping[str, float] | None = None,
    span: tuple[float, float, str] | None = None,
) -> Path:
    """One line per label: the mean over seeds with a ±1 std band; save a PNG at ``path``.

    ``curves[label]`` holds one sequence per seed, all of the same length; ``x`` the shared abscissa
    (default 1, 2, ...). ``hlines`` draws labelled horizontal reference lines (chance, a random policy);
    ``span = (lo, hi, label)`` shades an x-range (e.g. the training range of a swept setting).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    _draw_curves(ax, curves, x, markers, logy)
    _reference_lines(ax, hlines)
    if span is not None:
        ax.axvspan(span[0], span[1], color="grey", alpha=0.12, label=span[2])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_panels(
    path: str | Path,
    panels: Mapping[str, Mapping[str, PerSeed]],
    *,
    title: str,
    xlabel: str | Mapping[str, str],
    ylabel: str,
    x: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    sharey: bool = True,
) -> Path:
    """:func:`plot_curves` once per panel (titled by its key), side by side.

    ``xlabel`` and ``x`` are shared by every panel, or given per panel as a mapping from the panel's key.
    """
    if not panels:
        raise ValueError("panels must hold at least one panel")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), dpi=120, sharey=sharey, squeeze=False)
    for ax, (name, curves) in zip(axes[0], panels.items(), strict=True):
        _draw_curves(ax, curves, x.get(name) if isinstance(x, Mapping) else x, markers=False)
        ax.set(title=name, xlabel=xlabel[name] if isinstance(xlabel, Mapping) else xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title)
    return _save(fig, path)


def plot_bars(
    path: str | Path,
    groups: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    hlines: Mapping[str, float] | None = None,
    ylim: tuple[float, float] | None = None,
    show_seeds: bool = False,
    rotation: float = 0.0,
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Grouped bars: for each category, one bar per group at its mean over seeds, ±1 std error bars.

    ``groups[label][category]`` holds the per-seed values of one arm (``label``) on one category (a task,
    a level, a layer); categories appear in first-seen order, and an arm that lacks a category leaves a
    gap. ``show_seeds`` adds a dot per seed; ``colors`` gives a category its own colour (e.g. the method's
    bars apart from the baselines') where there is one group.
    """
    if not groups:
        raise ValueError("groups must hold at least one group")
    categories = list(dict.fromkeys(c for values in groups.values() for c in values))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(categories) * len(groups) + 2), 4), dpi=120)
    width = 0.8 / len(groups)
    centres = np.arange(len(categories), dtype=np.float64)
    for j, (label, values) in enumerate(groups.items()):
        xs = centres - 0.4 + width * (j + 0.5)
        legend_label: str | None = label  # on the group's first bar only
        for i, category in enumerate(categories):
            if category not in values:
                continue
            v = np.asarray(values[category], dtype=np.float64)
            yerr = v.std() if len(v) > 1 else None
            color = (colors or {}).get(category, f"C{j}")
            ax.bar(xs[i], v.mean(), width, yerr=yerr, color=color, capsize=2, label=legend_label)
            legend_label = None
            if show_seeds:
                ax.scatter(np.full(len(v), xs[i]), v, color="k", s=8, zorder=3)
    _reference_lines(ax, hlines)
    ax.set_xticks(centres, categories, rotation=rotation, ha="right" if rotation else "center", fontsize=8)
    ax.set(title=title, ylabel=ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3, axis="y")
    if len(groups) > 1 or hlines:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_contour_paths(
    path: str | Path,
    function: Callable[[np.ndarray, np.ndarray], np.ndarray],
    paths: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    title: str,
    optimum: tuple[float, float] | None = None,
    resolution: int = 200,
) -> Path:
    """Paths ``{label: (xs, ys)}`` over the log-scaled contours of ``function(X, Y)`` on a grid; ★ at ``optimum``."""
    plt = _pyplot()
    xs, ys = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    values = np.asarray(function(xs, ys), dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    ax.contour(xs, ys, np.log10(values - values.min() + 1e-6), levels=30, cmap="Greys", linewidths=0.5)
    for label, (px, py) in paths.items():
        ax.plot(px, py, label=label)
    if optimum is not None:
        ax.plot(*optimum, "k*", markersize=12)
    ax.set(title=title, xlabel="x", ylabel="y")
    ax.legend(fontsize=8)
    return _save(fig, path)
