"""The paper scale (ResNet-18 CIFAR-10 lr × weight-decay grid) on a tiny generated stand-in: its first steps run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from paperzoo.sgd_sai import cifar, plots
from paperzoo.sgd_sai.bench import BENCHMARK, CifarGridConfig
from paperzoo.sgd_sai.experiment import cifar_arm, run_paper
from paperzoo.shared.torch.testing import write_colour_images


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_colour_images(tmp_path / "images.npz")


def stand_in(images: Path, **overrides) -> CifarGridConfig:
    fields = {
        "lrs": (1e-3, 1e-2),
        "weight_decays": (5e-4,),
        "epochs": 3,
        "batch_size": 16,
        "lr_decay_every": 2,
        "model": "tiny_vit",
        "data": str(images),
        "implementation": "foreach",
        "device": "cpu",
    }
    return dataclasses.replace(BENCHMARK.scales["paper"], **(fields | overrides))


def test_paper_scale_runs_its_grid_on_a_stand_in(images: Path, tmp_path: Path):
    config = stand_in(images)
    result = BENCHMARK.run["paper"](config, 42)
    metrics = result.metrics
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["data/chance_accuracy"] == pytest.approx(1 / 3)
    for opt in config.optimizers:
        finals = [metrics[f"{cifar_arm(opt, lr, 5e-4)}/test_accuracy"] for lr in config.lrs]
        assert metrics[f"{opt}/grid_best_test_accuracy"] == max(finals)
        assert metrics[f"{opt}/grid_mean_test_accuracy"] == pytest.approx(np.mean(finals))
        for lr in config.lrs:
            arm = cifar_arm(opt, lr, 5e-4)
            curve = result.series[f"{arm}/test_accuracy"]
            assert len(curve) == config.epochs and metrics[f"{arm}/best_test_accuracy"] == max(curve)
            # accuracies are counts of the 24 test images
            assert all(abs(a * 24 - round(a * 24)) < 1e-4 for a in curve)
    # the colour task is trivially learnable: AdamW's loss falls and it leaves chance
    adamw = cifar_arm("adamw", 1e-3, 5e-4)
    assert result.series[f"{adamw}/train_loss"][-1] < 0.7 * result.series[f"{adamw}/train_loss"][0]
    assert metrics[f"{adamw}/test_accuracy"] > 0.6
    summary = BENCHMARK.summarize("paper", [metrics], config)
    assert [c["verdict"] for c in summary["claims"]] != ["missing", "missing"]
    assert all(c["verdict"] != "missing" for c in summary["claims"])
    record = {"metrics": metrics, "series": result.series}
    (path,) = plots.plot_paper(config, [record], tmp_path / "plots")
    assert path.name == "grid_test_accuracy.png" and path.stat().st_size > 0


def test_paper_scale_is_deterministic_and_every_point_starts_from_the_same_weights(images: Path):
    config = stand_in(images, optimizers=("sgd_sai",), lrs=(1e-3,), epochs=1)
    assert run_paper(config, 42).metrics == run_paper(config, 42).metrics
    torch.manual_seed(42)
    a = cifar.build_model("tiny_vit", 3, 8).state_dict()
    torch.manual_seed(42)
    b = cifar.build_model("tiny_vit", 3, 8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_build_model_rejects_an_unknown_model():
    with pytest.raises(ValueError, match="model"):
        cifar.build_model("vgg16", 10, 32)


def test_cifar_resnet18_is_the_official_architecture_and_trains(images: Path):
    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = cifar.cifar_resnet18(10)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # the official models/resnet.py ResNet18
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    # torch's default init (uniform within 1/sqrt(fan_in)), as the official model: not torchvision's He-normal
    assert model.layer1[0].conv1.weight.abs().max() <= 1 / math.sqrt(64 * 9)
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    config = stand_in(images, model="resnet18", optimizers=("sgd_sai",), lrs=(1e-3,), epochs=1)
    metrics = run_paper(config, 42).metrics
    assert all(math.isfinite(v) for v in metrics.values())
