from pathlib import Path

import numpy as np
import pytest

from paperzoo.shared import plotting


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_primitive_draws_a_png(tmp_path: Path):
    curves = {"a": [[1.0, 2.0, 3.0], [1.5, 2.5, 2.0]], "b": [[0.5, 0.4, 0.3], [0.6, 0.5, 0.2]]}
    paths = [
        plotting.plot_curves(
            tmp_path / "c.png",
            curves,
            title="t",
            xlabel="x",
            ylabel="y",
            x=[10, 30, 100],
            logx=True,
            markers=True,
            hlines={"random": 0.3},
            span=(10, 100, "training range"),
        ),
        plotting.plot_panels(tmp_path / "p.png", {"arm 1": curves, "arm 2": curves}, title="t", xlabel="x", ylabel="y"),
        plotting.plot_panels(
            tmp_path / "q.png",
            {"a": curves, "b": {"c": [[1.0, 2.0]]}},
            title="t",
            ylabel="y",
            xlabel={"a": "step", "b": "tenth"},
            x={"a": [1, 2, 3], "b": [0.5, 1.0]},
            sharey=False,
        ),
        plotting.plot_bars(
            tmp_path / "sub/b.png",
            {"sac": {"reach": [0.1, 0.3], "push": [0.5, 0.7]}, "mt": {"reach": [0.0, 0.1]}},
            title="t",
            ylabel="success",
            hlines={"chance": 0.1},
            ylim=(0, 1),
            show_seeds=True,
            rotation=30,
        ),
        plotting.plot_contour_paths(
            tmp_path / "k.png",
            lambda x, y: x**2 + 3 * y**2,
            {"gd": ([1.0, 0.5, 0.0], [1.0, 0.2, 0.0])},
            xlim=(-1, 1),
            ylim=(-1, 1),
            title="bowl",
            optimum=(0.0, 0.0),
        ),
    ]
    assert all(is_png(p) for p in paths)


def test_bad_inputs_raise(tmp_path: Path):
    with pytest.raises(ValueError, match="per-seed"):
        plotting.plot_curves(tmp_path / "x.png", {"a": [[1.0, 2.0], [1.0]]}, title="", xlabel="", ylabel="")
    with pytest.raises(ValueError, match="x has"):
        plotting.plot_curves(tmp_path / "x.png", {"a": [[1.0, 2.0]]}, title="", xlabel="", ylabel="", x=[1, 2, 3])
    with pytest.raises(ValueError, match="groups"):
        plotting.plot_bars(tmp_path / "x.png", {}, title="", ylabel="")
    with pytest.raises(ValueError, match="panels"):
        plotting.plot_panels(tmp_path / "x.png", {}, title="", xlabel="", ylabel="")
    assert not list(tmp_path.glob("*.png"))


def test_bars_plot_means_of_the_seeds(tmp_path: Path, monkeypatch):
    heights = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.bar
    monkeypatch.setattr(
        matplotlib.axes.Axes, "bar", lambda self, x, h, *a, **k: (heights.append(h), original(self, x, h, *a, **k))[1]
    )
    plotting.plot_bars(tmp_path / "b.png", {"a": {"t1": [1.0, 3.0], "t2": [4.0]}}, title="", ylabel="")
    assert np.allclose(heights, [2.0, 4.0])
