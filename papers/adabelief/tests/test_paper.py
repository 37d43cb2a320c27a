"""The paper scale (CIFAR ResNet-34, four optimizers) on a tiny generated ``.npz``: its first epochs run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from paperzoo.adabelief.bench import BENCHMARK, CifarConfig
from paperzoo.adabelief.experiment import OPTIMIZERS
from paperzoo.shared.torch.testing import write_colour_images

N_TEST = 12


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_colour_images(tmp_path / "images.npz", n_train=16, n_test=N_TEST)


def stand_in(images: Path, **overrides) -> CifarConfig:
    fields = {
        "data": str(images),
        "epochs": 2,
        "decay_epoch": 1,
        "batch_size": 16,
        "implementation": "foreach",
        "device": "cpu",
    }
    return dataclasses.replace(BENCHMARK.scales["paper"], **(fields | overrides))


def test_paper_scale_trains_every_optimizer_on_a_stand_in(images: Path):
    config = stand_in(images)
    assert {opt for opt, _, _ in config.optimizers} == set(OPTIMIZERS)
    result = BENCHMARK.run["paper"](config, 0)
    assert set(result.metrics) == {f"{opt}/test_accuracy" for opt in OPTIMIZERS}
    for opt in OPTIMIZERS:
        curve = result.series[f"{opt}/test_accuracy"]
        assert len(curve) == config.epochs and result.metrics[f"{opt}/test_accuracy"] == curve[-1]
        # accuracies are fractions of the 12 test images
        assert all(0.0 <= a <= 1.0 and abs(a * N_TEST - round(a * N_TEST)) < 1e-9 for a in curve)
        losses = result.series[f"{opt}/train_loss"]
        assert len(losses) == config.epochs and all(math.isfinite(v) and v > 0 for v in losses)


def test_paper_scale_defaults_and_bad_data(images: Path, tmp_path: Path):
    default = CifarConfig()
    assert (default.data, default.dataset, default.epochs, default.decay_epoch, default.batch_size) == (
        "download",
        "cifar10",
        200,
        150,
        128,
    )
    with pytest.raises(ValueError, match="data"):
        CifarConfig(data="cifar10.tar.gz")
    raw = dict(np.load(images))
    np.savez(tmp_path / "many.npz", **raw | {"y_train": raw["y_train"] + 8})  # labels up to 10
    with pytest.raises(ValueError, match="labels"):
        BENCHMARK.run["paper"](stand_in(tmp_path / "many.npz"), 0)
