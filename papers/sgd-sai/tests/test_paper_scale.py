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


def write_colour_images(path: Path, n_train: int = 48, n_test: int = 24, size: int = 8) -> Path:
    """Three classes, each a noisy image whose class channel is bright (crop- and flip-invariant: learnable)."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 3
        images = rng.integers(0, 80, size=(n, size, size, 3))
        images[np.arange(n), :, :, labels] += 170
        return images.astype(np.uint8), labels

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


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


def test_random_crop_flip_takes_windows_of_the_padded_image():
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5) + 1
    gen = torch.Generator().manual_seed(0)
    out = cifar.random_crop_flip(images, padding=2, generator=gen)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, y : y + 5, x : x + 5] for y in range(5) for x in range(5)]
        windows += [w.flip(-1) for w in windows]
        assert any(torch.equal(out[i], w) for w in windows)
    # padding 0: the image itself or its mirror image
    out = cifar.random_crop_flip(images, padding=0, generator=gen)
    assert all(torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1)) for i in range(2))
    # the same generator state gives the same augmentation
    a = cifar.random_crop_flip(images, 2, torch.Generator().manual_seed(3))
    b = cifar.random_crop_flip(images, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_cifar_input_augments_in_training_only_and_normalises():
    model = torch.nn.Flatten()
    wrapped = cifar.CifarInput(model, torch.Generator().manual_seed(0), mean=(0.5,) * 3, std=(0.25,) * 3)
    images = torch.rand(4, 3, 6, 6)
    assert list(wrapped.parameters()) == []
    wrapped.eval()
    torch.testing.assert_close(wrapped(images), ((images - 0.5) / 0.25).flatten(1))
    wrapped.train()
    assert not torch.equal(wrapped(images), ((images - 0.5) / 0.25).flatten(1))


def test_load_images_reads_a_local_file_and_rejects_bad_ones(images: Path, tmp_path: Path):
    data = cifar.load_images(str(images), "unused", "cpu")
    assert data["x_train"].shape == (48, 3, 8, 8) and data["x_train"].dtype == torch.float32
    assert 0.0 <= data["x_train"].min() and data["x_train"].max() <= 1.0
    assert data["x_val"] is data["x_test"] and data["y_test"].dtype == torch.int64
    raw = np.load(images)
    assert data["x_train"][5, 1, 2, 3].item() == pytest.approx(raw["x_train"][5, 2, 3, 1] / 255)
    with pytest.raises(ValueError, match="npz"):
        cifar.load_images(str(tmp_path / "missing.npz"), "", "cpu")
    np.savez(tmp_path / "partial.npz", x_train=raw["x_train"], y_train=raw["y_train"])
    with pytest.raises(ValueError, match="x_test"):
        cifar.load_images(str(tmp_path / "partial.npz"), "", "cpu")
    np.savez(tmp_path / "floats.npz", **{k: raw[k] for k in raw.files} | {"x_test": raw["x_test"] / 255.0})
    with pytest.raises(ValueError, match="uint8"):
        cifar.load_images(str(tmp_path / "floats.npz"), "", "cpu")
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
