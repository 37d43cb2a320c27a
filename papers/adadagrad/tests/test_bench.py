"""The benchmark's configs, claims and the paper scale on a tiny generated stand-in."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from paperzoo.adadagrad.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig, full_claims
from paperzoo.shared.claims import INCONCLUSIVE, REPRODUCED
from paperzoo.shared.torch.testing import write_colour_images


def test_full_claims_cover_every_adaptive_arm():
    claims = full_claims(FullConfig())
    # 2 tasks x 2 optimizers x 3 adaptive schedules x 3 statements
    assert len(claims) == 36
    assert all(c.mechanism for c in claims)


def test_a_saturated_or_edge_tuned_arm_makes_its_claims_inconclusive():
    """The step claim of one arm: answered when the test set the batch, inconclusive when the data set size did
    (most of the budget at a batch of half the training set or more) or b = 16's rate sits at its grid's edge."""
    claim = next(c for c in full_claims(FullConfig()) if c.text.startswith("digits, adagrad, norm_eta0.5: >= 3x"))
    arm, small, large = "digits_adagrad_norm_eta0.5", "digits_adagrad_const16", "digits_adagrad_const512"
    seed = {
        f"{arm}/step_reduction": 10.0,
        f"{arm}/batch_growth": 20.0,
        f"{arm}/saturated_fraction": 0.2,
        f"{small}/lr_at_edge": 0.0,
        **{f"{a}/test_accuracy": 0.9 for a in (arm, small, large)},
    }
    assert claim.evaluate([seed] * 3)["verdict"] == REPRODUCED
    for key, value in ((f"{arm}/saturated_fraction", 0.8), (f"{small}/lr_at_edge", 1.0)):
        assert claim.evaluate([seed | {key: value}] * 3)["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (FullConfig, {"b_small": 1}, "b_small"),
        (FullConfig, {"etas": (0.1, 0.0)}, "etas"),
        (FullConfig, {"test_interval": 0}, "test_interval"),
        (FullConfig, {"theta": 0.0}, "theta"),
        (FullConfig, {"lr_grids": (("adagrad", (0.05, 0.15)), ("adagradnorm", (1.0,)))}, "lr_grids"),
        (FullConfig, {"lr_grids": (("adagrad", (0.05,)), ("adagradnorm", (-1.0,)))}, "lr_grids"),
        (SmokeConfig, {"eta": -1.0}, "eta"),
        (PaperConfig, {"b0": 1}, "b0"),
        (PaperConfig, {"b0": 70_000}, "b0"),
        (PaperConfig, {"test": "gradient"}, "test"),
        (PaperConfig, {"lr": 0.0}, "lr"),
    ],
)
def test_bad_configs_raise(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


def test_paper_scale_starts_on_a_stand_in(tmp_path: Path):
    images = write_colour_images(tmp_path / "images.npz", n_train=48, n_test=24, size=8)
    config = dataclasses.replace(
        BENCHMARK.scales["paper"],
        dataset="cifar10",
        data=str(images),
        b0=4,
        b_max=48,
        eta=0.5,
        samples=96,
        checkpoints=2,
        device="cpu",
    )
    result = BENCHMARK.run["paper"](config, 0)
    metrics = result.metrics
    assert metrics["cifar10_adagrad_norm/samples"] >= 96
    assert 4 <= metrics["cifar10_adagrad_norm/final_batch_size"] <= 48
    assert all(math.isfinite(v) for v in metrics.values())
