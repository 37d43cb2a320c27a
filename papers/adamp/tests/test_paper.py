"""The paper scale (ImageNet, ResNet-50, GPUs) started on a tiny stand-in: a generated image folder, a small
torchvision model, one epoch on the CPU; what it returns is checked, not only that it ran."""

from __future__ import annotations

import dataclasses
import math

import pytest

from paperzoo.adamp.bench import BENCHMARK, ImageNetConfig
from paperzoo.adamp.experiment import run_paper
from paperzoo.adamp.training import OPTIMIZERS
from paperzoo.shared.torch.testing import write_image_folder


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # bf16 autocast off on a CPU-only host
def test_paper_scale_runs_on_a_tiny_stand_in(tmp_path):
    write_image_folder(tmp_path)
    config = dataclasses.replace(
        BENCHMARK.scales["paper"],
        data_dir=str(tmp_path),
        model="resnet18",
        epochs=1,
        batch_size=4,
        image_size=32,
        num_workers=0,
        implementation="foreach",
        device="cpu",
    )
    result = run_paper(config, seed=0)
    assert set(result.metrics) == {f"{opt}/test_accuracy" for opt in OPTIMIZERS}
    assert set(result.series) == set(result.metrics)
    n_val = 2 * 3
    for name, accuracy in result.metrics.items():
        assert math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0, name
        assert round(accuracy * n_val) == pytest.approx(accuracy * n_val), name  # correct / n_val
        assert result.series[name] == [accuracy]  # one value per epoch, the last is the metric


def test_paper_config_checks_its_new_fields():
    with pytest.raises(ValueError, match="num_workers"):
        ImageNetConfig(num_workers=-1)
    with pytest.raises(ValueError, match="implementation"):
        ImageNetConfig(implementation="fast")
    with pytest.raises(ValueError, match="model"):
        ImageNetConfig(model="")
    assert ImageNetConfig(num_workers=0).num_workers == 0


def test_paper_scale_rejects_an_unknown_model(tmp_path):
    config = dataclasses.replace(BENCHMARK.scales["paper"], data_dir=str(tmp_path), model="resnet5000", device="cpu")
    with pytest.raises(ValueError, match="model"):
        run_paper(config, seed=0)
