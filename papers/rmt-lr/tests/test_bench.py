"""The benchmark's configs, fit and claims, and the paper scale's first steps on a tiny stand-in."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from paperzoo.rmt_lr.bench import BENCHMARK, FullConfig, full_claims
from paperzoo.rmt_lr.experiment import fit_inverse_batch, log_slope
from paperzoo.shared.claims import Claim
from paperzoo.shared.torch.testing import write_colour_images


def test_fit_recovers_a_and_c_and_the_slope_is_log_log():
    sizes = [4, 8, 16, 32, 1149]
    values = [2.0 + 3.0 * (1 / b - 1 / 1149) for b in sizes]
    fit = fit_inverse_batch(sizes, values, 1149)
    assert fit["fit_a"] == pytest.approx(2.0) and fit["fit_c"] == pytest.approx(3.0)
    assert fit["fit_r2"] == pytest.approx(1.0) and fit["spearman"] == pytest.approx(-1.0)
    assert log_slope([4, 8, 16], [0.1, 0.2, 0.4]) == pytest.approx(1.0)
    assert math.isnan(log_slope([4, 8], [0.0, 0.2]))  # the grid's floor diverged: no slope


def metrics(sgd_slope: float, learner_gap: float) -> dict[str, float]:
    base = {
        f"{stage}/{k}": v
        for stage in ("init", "trained")
        for k, v in (("spearman", -1.0), ("fit_r2", 0.97), ("fit_c", 5.0))
    }
    return base | {
        "sgd/slope_deviation": abs(sgd_slope - 1.0),
        "adam/slope_deviation": 0.05,
        "sgd/stable_at_edge": 0.0,
        "sgd/floor_diverged": 0.0,
        "adam/stable_at_edge": 0.0,
        "adam/floor_diverged": 0.0,
        "sgd/test_accuracy": 0.97,
        "adam/test_accuracy": 0.97,
        "sgd/lr_at_edge": 0.0,
        "adam/lr_at_edge": 0.0,
        "learner/test_accuracy": 0.97 + learner_gap,
        "learner/lr_max_over_min": 1.0,
        "learner/momentum_range": 0.2,
    }


def verdicts(per_seed: list[dict[str, float]]) -> dict[str, str]:
    return {c.text: c.evaluate(per_seed)["verdict"] for c in full_claims(FullConfig())}


def test_claims_follow_the_numbers():
    good = verdicts([metrics(1.0 + d, d / 100) for d in (-0.05, 0.0, 0.05)])
    assert set(good.values()) == {"reproduced"}
    bad = verdicts([metrics(0.4 + d, -0.05 + d / 100) for d in (-0.05, 0.0, 0.05)])
    sgd = next(t for t in bad if t.startswith("SGD"))
    learner = next(t for t in bad if "learner" in t)
    assert bad[sgd] == "not reproduced" and bad[learner] == "not reproduced"
    idle = [metrics(1.0, 0.0) | {"learner/momentum_range": 0.0}] * 3  # the learner's knob never moved
    assert verdicts(idle)[learner] == "inconclusive"
    edge = [metrics(1.0, 0.0) | {"sgd/stable_at_edge": 1.0}] * 3  # the grid's top was stable: no max found
    assert verdicts(edge)[sgd] == "inconclusive"
    assert all(isinstance(c, Claim) for c in BENCHMARK.claims_for("smoke", BENCHMARK.scales["smoke"]))


def test_configs_validate():
    for bad in ({"rho_cap": 1.0}, {"m": 1}, {"n_v": 0}, {"lr_grid": (("sgd", (0.1, -1.0)),)}, {"batch_sizes": (8, 4)}):
        with pytest.raises(ValueError):
            dataclasses.replace(FullConfig(), **bad)


def test_paper_scale_runs_on_a_stand_in(tmp_path: Path):
    images = write_colour_images(tmp_path / "images.npz", n_train=48, n_test=12)
    config = dataclasses.replace(
        BENCHMARK.scales["paper"],
        data=str(images),
        device="cpu",
        mlp_sizes=(192, 8, 3),
        batch_sizes=(4, 16),
        n_batches=2,
        m=5,
        train_epochs=1,
        stability_grid=(("sgd", (0.25, 1.0)), ("adam", (0.01, 0.04))),
        stability_steps=3,
        epochs=1,
        batch_size=16,
        cnn_width=4,
        cnn_groups=2,
        n_v=1,
        learner_batch=16,
        lr_grid=(("adam", (1e-3, 1e-2)), ("sgd", (1e-2, 1e-1))),
    )
    result = BENCHMARK.run["paper"](config, 0)
    assert result.series["batch_sizes"] == [4.0, 16.0, 48.0]
    assert all(np.isfinite(result.series["init/lambda1"])) and result.metrics["init/lambda1_full"] > 0
    assert len(result.series["sgd/max_stable_lr"]) == 3
    for key in ("learner", "sgd@0.1", "adam@0.01"):
        assert 0 <= result.metrics[f"{key}/test_accuracy"] <= 1
