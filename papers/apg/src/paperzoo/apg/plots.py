"""The figures of APG: metrics against the guidance scale (mean ± std over seeds, one line per arm), the blob
samples' radius quantiles per scale, and a grid of CFG's and APG's digits at every scale (first seed).

The digit grid is an image, not a plot: a mosaic of the samples written with Pillow (a diffusers dependency), as
``torchvision.utils.save_image`` would; the curves use ``paperzoo.shared.plotting``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.apg.experiment import DIGITS_CLASSES, GRID_ARMS, GRID_PER_CLASS
from paperzoo.shared.plotting import plot_panels

PANELS = {
    "digits": ("mean_abs", "clip_fraction", "pixel_w1", "fd", "accuracy", "recall"),
    "blobs": ("overshoot", "outside", "correct", "swd"),
}
QUANTILES = np.linspace(0.0, 1.0, 41)
ZOOM, GAP, LABEL = 4, 2, 90  # pixels per digit pixel, between digits, for the row label


def metrics_vs_w(config: Any, records: list[dict[str, Any]], folder: Path, task: str) -> Path:
    """One panel per metric of ``task``, one line per arm against w (seed mean ± std)."""
    ws = [float(w) for w in config.ws]
    panels = {
        metric: {
            arm: [[r["metrics"][f"{arm}_w{w:g}/{task}_{metric}"] for w in ws] for r in records] for arm in config.arms
        }
        for metric in PANELS[task]
    }
    return plot_panels(
        folder / f"{task}_metrics_vs_w.png",
        panels,
        title=f"{task}: metrics vs guidance scale w",
        xlabel="guidance scale w",
        ylabel="value",
        x=ws,
        sharey=False,
    )


def blob_radii(config: Any, records: list[dict[str, Any]], folder: Path) -> Path:
    """Per scale w, the quantile function of the samples' radius for CFG and APG (data radius: 1)."""
    panels = {
        f"w={w:g}": {
            arm: [
                np.quantile(
                    np.linalg.norm(np.reshape(r["series"][f"{arm}_w{w:g}/blobs_points"], (-1, 2)), axis=1), QUANTILES
                )
                for r in records
            ]
            for arm in GRID_ARMS
        }
        for w in config.ws
    }
    return plot_panels(
        folder / "blobs_radius_quantiles.png",
        panels,
        title="2-D blobs: sample radius quantiles (data at radius 1)",
        xlabel="quantile",
        ylabel="radius",
        x=QUANTILES,
    )


def digit_grid(config: Any, record: dict[str, Any], folder: Path) -> Path:
    """Rows: CFG and APG at each w; per row ``GRID_PER_CLASS`` samples of every class, shown after the final clip."""
    from PIL import Image, ImageDraw

    rows = [(arm, w) for w in config.ws for arm in GRID_ARMS]
    cell = 8 * ZOOM + GAP
    width, height = LABEL + DIGITS_CLASSES * GRID_PER_CLASS * cell, len(rows) * cell
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    for i, (arm, w) in enumerate(rows):
        x = np.asarray(record["series"][f"{arm}_w{w:g}/digits_grid"]).reshape(-1, 8, 8)
        draw.text((4, i * cell + cell // 3), f"{arm.upper()} w={w:g}", fill=0)
        for j, image in enumerate(x):
            pixels = np.round((np.clip(image, -1, 1) + 1) * 127.5).astype(np.uint8)
            tile = Image.fromarray(pixels).resize((8 * ZOOM, 8 * ZOOM), Image.NEAREST)
            canvas.paste(tile, (LABEL + j * cell, i * cell))
    path = folder / "digits_samples.png"
    canvas.save(path)
    return path


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """The metrics-vs-w panels of each data set that ran, and the sample figures."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    if config.digits is not None:
        paths += [metrics_vs_w(config, records, folder, "digits"), digit_grid(config, records[0], folder)]
    if config.blobs is not None:
        paths += [metrics_vs_w(config, records, folder, "blobs"), blob_radii(config, records, folder)]
    return paths
