"""The paper scale (ImageNet, ViT-S/16, GPUs) started on a tiny stand-in: a generated image folder, a tiny ViT,
one and two epochs on the CPU; what it returns is checked, not only that it ran."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from paperzoo.adan.bench import BENCHMARK, ImageNetConfig
from paperzoo.adan.experiment import run_paper
from paperzoo.shared.torch.testing import write_image_folder


def _tiny(config: ImageNetConfig, data_dir: Path) -> ImageNetConfig:
    return dataclasses.replace(
        config,
        data_dir=str(data_dir),
        # Adan at half AdamW's epochs, each with a warm-up shorter than its run, as in the paper's arms.
        arms=(("adan", 1, 1.5e-2, 0.02, 0), ("adamw", 2, 2e-3, 0.05, 1)),
        batch_size=4,
        image_size=32,
        patch_size=8,
        dim=32,
        depth=1,
        heads=2,
        mlp_ratio=2,
        num_workers=0,
        implementation="foreach",
        device="cpu",
    )


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # bf16 autocast is off on a CPU-only host
def test_paper_scale_runs_on_a_tiny_stand_in(tmp_path):
    write_image_folder(tmp_path)
    result = run_paper(_tiny(BENCHMARK.scales["paper"], tmp_path), seed=0)
    assert set(result.metrics) == {"adan/test_accuracy", "adamw/test_accuracy"}
    assert {name: len(curve) for name, curve in result.series.items()} == {
        "adan/test_accuracy": 1,
        "adamw/test_accuracy": 2,
    }  # one validation accuracy per epoch of each arm's own budget
    n_val = 2 * 3
    for name, accuracy in result.metrics.items():
        assert math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0, name
        assert round(accuracy * n_val) == pytest.approx(accuracy * n_val), name  # correct / n_val
        assert result.series[name][-1] == accuracy


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 30}, "multiple of patch_size"),
        ({"dim": 30, "heads": 4}, "multiple of heads"),
        ({"depth": 0}, "depth"),
        ({"num_workers": -1}, "num_workers"),
        ({"implementation": "fast"}, "implementation"),
        ({"arms": (("adan", 10, 1e-2, 0.02, 10),)}, "warm-up"),
    ],
)
def test_paper_config_checks_the_model_and_loader_fields(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(ImageNetConfig(), **changes)
