"""The benchmark's pieces: configs, optimizers and their decay conventions, the step monitor, the toy, the
learning-rate selection and the claims (built from the config run), the plots."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from paperzoo.adamp import experiment
from paperzoo.adamp.bench import BENCHMARK, DigitsConfig, ImageNetConfig, SmokeConfig, ToyConfig, full_claims
from paperzoo.adamp.experiment import _radial_cosines, exact_fraction, run_toy, select_learning_rates, split_for_seed
from paperzoo.adamp.models import BNCNN, StepMonitor, cosine_toy_loss, per_epoch_means
from paperzoo.adamp.optimizer import SGDP, AdamP
from paperzoo.adamp.plots import plot_full
from paperzoo.adamp.training import OPTIMIZERS, make_optimizer
from paperzoo.shared.data import digits_split_sizes, load_digits_split
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.records import to_jsonable


def _grid(values: dict[str, tuple[float, ...]]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    return tuple((o, values[o]) for o in OPTIMIZERS)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SmokeConfig(steps=0), "steps"),
        (lambda: SmokeConfig(widths=()), "widths"),
        (lambda: SmokeConfig(adam_lr=0.0), "adam_lr"),
        (lambda: SmokeConfig(implementation="fast"), "implementation"),
        (lambda: ToyConfig(lr=-0.1), "lr"),
        (lambda: DigitsConfig(epochs=0), "epochs"),
        (lambda: DigitsConfig(widths=(16, 0)), "widths"),
        (lambda: DigitsConfig(lr_grid=(("adamw", (1e-3,)),)), "lr_grid"),
        (lambda: DigitsConfig(lr_grid=_grid(dict.fromkeys(OPTIMIZERS, (0.1, 0.01)))), "increasing"),
        (lambda: DigitsConfig(weight_decay=tuple((o, -1.0) for o in OPTIMIZERS)), "weight_decay"),
        (lambda: DigitsConfig(reference_lr=tuple((o, 0.5) for o in OPTIMIZERS)), "reference_lr"),
        (
            lambda: DigitsConfig(reference_lr=(("sgd", 0.1), ("sgdp", 0.3), ("adamw", 1e-3), ("adamp", 1e-3))),
            "same for sgdp and sgd",
        ),
        (lambda: ImageNetConfig(arms=(("lamb", 1e-3, 0.0),)), "optimizer"),
        (lambda: ImageNetConfig(epochs=0), "epochs"),
    ],
)
def test_bad_configs_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_make_optimizer_conventions():
    params = [nn.Parameter(torch.ones(3, 2))]
    sgd = make_optimizer("sgd", params, 0.1, 1e-4)
    assert type(sgd) is torch.optim.SGD
    assert sgd.param_groups[0]["nesterov"] and sgd.param_groups[0]["momentum"] == 0.9
    sgdp = make_optimizer("sgdp", params, 0.1, 1e-4, implementation="foreach")
    assert isinstance(sgdp, SGDP) and sgdp.param_groups[0]["nesterov"]
    assert type(make_optimizer("adamw", params, 1e-3, 1e-2)) is torch.optim.AdamW
    adamp = make_optimizer("adamp", params, 1e-3, 1e-2)
    assert isinstance(adamp, AdamP) and adamp.param_groups[0]["weight_decay"] == 1e-2
    assert adamp.param_groups[0]["implementation"] == "compiled"
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lamb", params, 1e-3, 0.0)


def test_bn_cnn_shape_and_scale_invariant_weights():
    model = BNCNN()
    assert 45_000 < sum(p.numel() for p in model.parameters()) < 50_000
    shapes = [tuple(w.shape) for w in model.conv_weights()]
    assert shapes == [(16, 1, 3, 3), (32, 16, 3, 3), (48, 32, 3, 3), (64, 48, 3, 3)]
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_step_monitor_records_norms_effective_steps_and_the_test():
    # Plain SGD on one weight: Δw = −lr·g, so ‖Δw‖/‖w‖ = lr·‖g‖/‖w‖ before the step.
    w = nn.Parameter(torch.tensor([[3.0, 4.0]], dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=0.5)
    monitor = StepMonitor(optimizer, {"w": w})
    assert monitor.initial_norms == {"w": 5.0}
    w.grad = torch.tensor([[-4.0, 3.0]], dtype=torch.float64)  # orthogonal to w: the test fires
    optimizer.step()
    w.grad = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    optimizer.step()
    assert monitor.fired["w"] == [1.0, 0.0]
    assert monitor.effective_steps["w"][0] == pytest.approx(0.5 * 5.0 / 5.0)
    assert monitor.norms["w"][0] == pytest.approx(math.hypot(5.0, 2.5))  # 3+2, 4−1.5
    assert monitor.effective_steps["w"][1] == pytest.approx(0.5 / math.hypot(5.0, 2.5))
    assert monitor.joint_norms(["w", "w"]) == pytest.approx([math.sqrt(2) * n for n in monitor.norms["w"]])
    monitor.remove()
    optimizer.step()
    assert len(monitor.norms["w"]) == 2


def test_per_epoch_means():
    assert per_epoch_means([1.0, 3.0, 5.0, 7.0], 2) == [2.0, 6.0]
    with pytest.raises(ValueError, match="whole number"):
        per_epoch_means([1.0, 2.0, 3.0], 2)


def test_exact_fraction_makes_equal_totals_tie():
    float32 = [float(torch.tensor(k / 288, dtype=torch.float32)) for k in (285, 284, 285, 285, 286, 283)]
    assert sum(float32[:3]) != sum(float32[3:])  # the float32 accuracies do not tie
    exact = [exact_fraction(a, 288) for a in float32]
    assert exact == [k / 288 for k in (285, 284, 285, 285, 286, 283)]
    assert abs(sum(exact[:3]) / 3 - sum(exact[3:]) / 3) <= 1e-12


def test_radial_cosines_per_channel():
    before = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    after = before + torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(_radial_cosines(before, after), torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_toy_is_scale_invariant_and_momentum_inflates_the_norm():
    target = torch.tensor([-1.0, 0.1], dtype=torch.float64)
    w = torch.tensor([[0.3, -2.0]], dtype=torch.float64)
    assert cosine_toy_loss(7.0 * w, target).item() == pytest.approx(cosine_toy_loss(w, target).item(), rel=1e-14)
    result = run_toy(ToyConfig())
    m = result.metrics
    # Plain GD grows the norm only at second order; momentum much faster; SGDP stays in between.
    assert m["toy/sgd_final_norm"] < m["toy/sgdp_final_norm"] < m["toy/momentum_sgd_final_norm"]
    assert all(m[f"toy/{o}_final_loss"] < -0.99 for o in ("sgd", "momentum_sgd", "sgdp"))
    norms = result.series["toy/sgdp_norm"]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(norms))  # tangent steps never shrink ‖w‖


def _fake_metrics(config: DigitsConfig, best: dict[str, float]) -> dict[str, float]:
    metrics = {}
    for opt, lrs in config.lr_grid:
        for lr in lrs:
            arm = grid_key(opt, lr)
            accuracy = 0.95 if lr == best[opt] else 0.9
            metrics |= {f"{arm}/{m}": accuracy for m in ("val_accuracy", "test_accuracy")}
            metrics |= {f"{arm}/{m}": 1.0 for m in ("val_loss", "train_loss", "conv_norm_growth", "effective_step")}
            metrics |= {f"{arm}/conv_projected_fraction": 1.0, f"{arm}/head_projected_fraction": 0.0}
    metrics |= {f"toy/{o}_final_norm": 1.0 for o in ("sgd", "momentum_sgd", "sgdp")}
    metrics |= {f"toy/{o}_final_loss": -1.0 for o in ("sgd", "momentum_sgd", "sgdp")}
    return metrics


def test_full_claims_read_what_the_runs_and_the_lr_selection_record():
    config = DigitsConfig()
    best = {"sgd": 0.1, "sgdp": 0.3, "adamw": 3e-3, "adamp": 1e-2}
    metrics = _fake_metrics(config, best)
    chosen = select_learning_rates([metrics, metrics])[0]
    assert {o: chosen[f"{o}/lr"] for o in OPTIMIZERS} == best
    assert all(chosen[f"{o}/lr_at_edge"] == 0.0 for o in OPTIMIZERS)
    claims = BENCHMARK.summarize("full", [metrics, metrics])["claims"]
    assert len(claims) == len(full_claims(config)) and all(c["verdict"] != "missing" for c in claims)
    # An edge choice makes the accuracy claim inconclusive.
    edge = _fake_metrics(config, {**best, "adamp": 1e-1})
    verdicts = {c["claim"]: c["verdict"] for c in BENCHMARK.summarize("full", [edge])["claims"]}
    assert verdicts["ADAMP's test accuracy >= ADAMW's (each at its chosen lr)"] == "inconclusive"


def test_plots_are_drawn_from_full_records(tmp_path):
    config = DigitsConfig(epochs=3)
    best = {"sgd": 0.1, "sgdp": 0.3, "adamw": 3e-3, "adamp": 1e-2}
    series = {}
    for opt, lrs in config.lr_grid:
        for lr in lrs:
            arm = grid_key(opt, lr)
            series |= {f"{arm}/{m}": [0.5, 0.6, 0.7] for m in ("val_accuracy", "conv_norm", "effective_step")}
    series |= {f"toy/{o}_norm": [1.0, 1.1] for o in ("sgd", "momentum_sgd", "sgdp")}
    record = {"scale": "full", "config": to_jsonable(config), "metrics": _fake_metrics(config, best), "series": series}
    paths = plot_full(config, [record, record], tmp_path)
    names = [p.name for p in paths]
    assert names == [
        "sgdp_conv_norm.png",
        "adamp_conv_norm.png",
        "chosen_lr_conv_norm.png",
        "sgdp_effective_step.png",
        "adamp_effective_step.png",
        "chosen_lr_effective_step.png",
        "chosen_lr_val_accuracy.png",
        "toy_norm.png",
    ]
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    # The full scale's plots are the committed summary's (its `plots` list names these files).
    assert set(BENCHMARK.plot) == {"full"}


def test_full_claims_are_built_from_the_config_run():
    # The norm claims compare each pair at the config's reference lr, not at the default config's.
    default = {c.text: c for c in full_claims(DigitsConfig())}
    assert "ADAMP's conv weight norm grows less than ADAMW's (same lr 0.001)" in default
    config = DigitsConfig(reference_lr=(("sgd", 0.3), ("sgdp", 0.3), ("adamw", 3e-3), ("adamp", 3e-3)))
    claims = {c.text: c for c in full_claims(config)}
    adamp = claims["ADAMP's conv weight norm grows less than ADAMW's (same lr 0.003)"]
    assert (adamp.statement.lhs, adamp.statement.rhs) == (
        "adamp@0.003/conv_norm_growth",
        "adamw@0.003/conv_norm_growth",
    )
    sgdp = claims["SGDP's conv weight norm grows less than SGD's (same lr 0.3)"]
    assert sgdp.statement.lhs == "sgdp@0.3/conv_norm_growth"
    # summarize judges a run by the config it ran: here the norms at lr 0.3 decide the SGDP claim.
    best = {"sgd": 0.1, "sgdp": 0.3, "adamw": 3e-3, "adamp": 1e-2}
    # (every fake norm growth is 1.0: SGD's at lr 0.3 is raised, so only the claim at lr 0.3 holds).
    metrics = _fake_metrics(config, best) | {"sgd@0.3/conv_norm_growth": 1.5}
    verdicts = {c["claim"]: c["verdict"] for c in BENCHMARK.summarize("full", [metrics], config)["claims"]}
    assert verdicts["SGDP's conv weight norm grows less than SGD's (same lr 0.3)"] == "reproduced"
    default_verdicts = {c["claim"]: c["verdict"] for c in BENCHMARK.summarize("full", [metrics])["claims"]}
    assert default_verdicts["SGDP's conv weight norm grows less than SGD's (same lr 0.1)"] == "not reproduced"


def _accuracy_verdict(gains_in_images: list[int], projected_fraction: float = 1.0) -> dict:
    # Hand-made per-seed metrics of the chosen arms: AdamW at 350/360 in every seed, AdamP ahead by the gains.
    n_test = 360
    claim = next(c for c in full_claims(DigitsConfig()) if c.text.startswith("ADAMP's test accuracy"))
    per_seed = [
        {
            "adamp/test_accuracy": (350 + gain) / n_test,
            "adamw/test_accuracy": 350 / n_test,
            "adamp/lr_at_edge": 0.0,
            "adamw/lr_at_edge": 0.0,
            "adamp/conv_projected_fraction": projected_fraction,
        }
        for gain in gains_in_images
    ]
    return claim.evaluate(per_seed, BENCHMARK.resolution_of)


def test_accuracy_claim_follows_the_interval_rule():
    # The accuracy resolution is one test image of the 360-image digits test set.
    assert BENCHMARK.resolution_of("adamp/test_accuracy") == pytest.approx(1 / 360)
    # AdamP ahead by 2-3 images in every seed: the paired interval lies above 0.
    assert _accuracy_verdict([2, 3, 3])["verdict"] == "reproduced"
    # Behind by 2-4 images in every seed: the interval lies below 0.
    assert _accuracy_verdict([-2, -3, -4])["verdict"] == "not reproduced"
    # The committed record's pattern: a mean gap of a third of an image is below the resolution.
    result = _accuracy_verdict([0, 0, -1])
    assert result["verdict"] == "inconclusive" and "resolution" in result["detail"]
    # One seed far behind, two ahead: the interval straddles 0.
    result = _accuracy_verdict([-5, 4, 5])
    assert result["verdict"] == "inconclusive" and "straddles" in result["detail"]
    # A projection that never fired says nothing about AdamP: inconclusive even with a clear gain.
    result = _accuracy_verdict([2, 3, 3], projected_fraction=0.0)
    assert result["verdict"] == "inconclusive" and "mechanism" in result["detail"]


def test_the_digits_split_is_resampled_per_seed_and_stratified():
    sizes = digits_split_sizes()
    splits = {seed: split_for_seed(seed) for seed in (0, 1, 2)}
    for split in splits.values():
        assert (len(split.y_train), len(split.y_val), len(split.y_test)) == sizes
        # Stratified: every class holds its share of the test set (36 images per class, ±1).
        counts = np.bincount(split.y_test, minlength=10)
        assert counts.sum() == sizes[2] and counts.max() - counts.min() <= 2
    # Seed 0's split is the committed fixed split (load_digits_split's default), so the smoke scale is unchanged.
    np.testing.assert_array_equal(splits[0].x_test, load_digits_split().x_test)
    test_sets = {seed: {s.tobytes() for s in split.x_test} for seed, split in splits.items()}
    for a, b in itertools.combinations(test_sets, 2):
        assert len(test_sets[a] & test_sets[b]) < 0.5 * sizes[2]  # different test images, not a reshuffle
    # The same seed gives the same split (every arm of a seed shares it).
    np.testing.assert_array_equal(split_for_seed(1).x_test, splits[1].x_test)


def test_run_full_trains_every_arm_on_its_seeds_split(monkeypatch):
    seen = []

    def spy(seed):
        seen.append(seed)
        return split_for_seed(seed)

    monkeypatch.setattr(experiment, "split_for_seed", spy)
    tiny = DigitsConfig(
        epochs=1,
        widths=(4,),
        lr_grid=_grid({"sgd": (0.1,), "sgdp": (0.1,), "adamw": (1e-3,), "adamp": (1e-3,)}),
        implementation="foreach",
    )
    metrics = experiment.run_full(tiny, 3).metrics
    assert seen == [3]
    assert all(0.0 <= metrics[f"{grid_key(o, lr)}/test_accuracy"] <= 1.0 for o, (lr,) in tiny.lr_grid)


def test_full_scale_has_five_paired_seeds():
    assert BENCHMARK.seeds["full"] == (0, 1, 2, 3, 4)
    for claim in full_claims(DigitsConfig())[:4]:
        assert claim.statement.paired
