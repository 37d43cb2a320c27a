"""The benchmark's pieces: configs, the schedule, the ViT, learning-rate selection, the claims (built from the
config run), the plots, smoke figures, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paperzoo.adan.bench import BENCHMARK, DigitsConfig, ImageNetConfig, SmokeConfig, full_claims, smoke_claims
from paperzoo.adan.experiment import adam_equivalence, select_learning_rates
from paperzoo.adan.optimizer import Adan
from paperzoo.adan.plots import plot_full
from paperzoo.adan.training import ARMS, grid_key, make_model, make_optimizer, warmup_cosine
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.records import to_jsonable
from paperzoo.shared.testbeds.classify import MLP, as_tensors, train_classifier
from paperzoo.shared.torch.optim import state_bytes_per_param


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SmokeConfig(steps=0), "steps"),
        (lambda: SmokeConfig(clip_fraction=1.0), "clip_fraction"),
        (lambda: SmokeConfig(implementation="fast"), "implementation"),
        (lambda: DigitsConfig(epochs=1), "epochs"),
        (lambda: DigitsConfig(models=("resnet",)), "models"),
        (lambda: DigitsConfig(warmup_fraction=1.0), "warmup_fraction"),
        (lambda: DigitsConfig(cnn_lr_grid=(("adan", (1e-3,)),)), "cnn_lr_grid"),
        (lambda: DigitsConfig(vit_lr_grid=(("adan", (1e-2, 1e-3)), ("adamw", (1e-3,)))), "increasing"),
        (lambda: DigitsConfig(vit_max_shift=-1), "vit_max_shift"),
        (lambda: DigitsConfig(vit_label_smoothing=1.0), "vit_label_smoothing"),
        (lambda: DigitsConfig(vit_warmup_share=0.5), "vit_warmup_share"),  # would fill the half-budget arm
        (lambda: DigitsConfig(vit_warmup_share=-0.1), "vit_warmup_share"),
        (lambda: DigitsConfig(weight_decay=(("adan", -1.0), ("adamw", 0.0))), "weight_decay"),
        (lambda: ImageNetConfig(arms=(("lamb", 10, 1e-3, 0.0, 1),)), "optimizer"),
        (lambda: ImageNetConfig(arms=(("adan", 10, 1e-3, 0.0, 10),)), "warm-up"),
    ],
)
def test_bad_configs_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_paper_scale_is_the_papers_setting():
    config = ImageNetConfig()
    arms = {opt: (epochs, lr, wd) for opt, epochs, lr, wd, _ in config.arms}
    assert arms["adan"] == (150, 1.5e-2, 0.02) and arms["adamw"][0] == 300
    assert arms["adan"][0] * 2 == arms["adamw"][0]  # the half-budget comparison
    assert BENCHMARK.scales["full"].epochs // 2 * 2 == BENCHMARK.scales["full"].epochs


def test_warmup_cosine_schedule():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    schedule = warmup_cosine(0.2)(optimizer, 10)  # 2 warm-up steps, then cosine over 8
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    expected = [0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * i / 8)) for i in range(8)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_make_model_names():
    assert sum(p.numel() for p in make_model("vit").parameters()) == 69_194
    assert isinstance(make_model("cnn"), torch.nn.Module)


def test_make_optimizer_settings():
    params = [torch.nn.Parameter(torch.ones(3))]
    adan = make_optimizer("adan", params, 5e-3, 0.02)
    assert isinstance(adan, Adan)
    group = adan.param_groups[0]
    assert group["betas"] == (0.98, 0.92, 0.99) and not group["no_prox"] and group["weight_decay"] == 0.02
    assert type(make_optimizer("adamw", params, 1e-3, 0.05)) is torch.optim.AdamW
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lamb", params, 1e-3, 0.0)


def test_state_bytes_per_param():
    params = [torch.nn.Parameter(torch.ones(4, 3)), torch.nn.Parameter(torch.ones(5))]
    for p in params:
        p.grad = torch.ones_like(p)
    adan, adamw = Adan(params, implementation="foreach"), torch.optim.AdamW(params)
    adan.step()
    adamw.step()
    assert state_bytes_per_param(adan) == 16.0  # m, v, n, previous gradient
    assert state_bytes_per_param(adamw) == 8.0


def test_adam_equivalence_figure_is_rounding_and_detects_a_difference():
    assert adam_equivalence(20, seed=0) <= 1e-12
    # the same comparison with b2 ≠ 0 is far from Adam: the figure can fail
    gen = torch.Generator().manual_seed(0)
    a, b = (
        torch.nn.Parameter(torch.zeros(5, dtype=torch.float64)),
        torch.nn.Parameter(torch.zeros(5, dtype=torch.float64)),
    )
    adan = Adan([a], lr=1e-2, betas=(0.9, 0.5, 0.999), implementation="foreach")
    adam = torch.optim.Adam([b], lr=1e-2, betas=(0.9, 0.999))
    for _ in range(5):
        g = torch.randn(5, generator=gen, dtype=torch.float64)
        a.grad, b.grad = g.clone(), g.clone()
        adan.step()
        adam.step()
    assert (a - b).abs().max().item() > 1e-4


def _fake_metrics(config: DigitsConfig, value: float = 0.9) -> dict[str, float]:
    # Every run of every (model, arm, lr) records these four metrics.
    return {
        f"{grid_key(model, opt, budget, lr)}/{name}": value
        for model in config.models
        for opt, budget in ARMS
        for lr in config.lr_grid(model)[opt]
        for name in ("val_accuracy", "val_loss", "test_accuracy", "train_loss")
    }


def test_full_claims_read_what_the_runs_and_the_lr_selection_record():
    # After aggregation no claim lacks a metric.
    config = DigitsConfig()
    grids = config.lr_grid("vit")
    metrics = _fake_metrics(config)
    claims = BENCHMARK.summarize("full", [metrics, metrics])["claims"]
    assert len(claims) == len(full_claims(config)) == 4 and all(c["verdict"] != "missing" for c in claims)
    assert select_learning_rates([metrics])[0]["vit_adan_half/lr"] == grids["adan"][0]  # all tied: the smallest
    # All tied at the smallest lr: every arm sits at a grid edge, so no claim is decided.
    assert {c["verdict"] for c in claims} == {"inconclusive"}


def test_full_claims_are_built_from_the_config_run():
    # A run of one model is judged by that model's claims only (none goes missing for the model not trained).
    config = DigitsConfig(models=("cnn",))
    texts = [c.text for c in full_claims(config)]
    assert texts == [
        "Adan at half the epochs >= AdamW at the full epochs (CNN, test accuracy)",
        "Adan >= AdamW at the same epochs (CNN, test accuracy)",
    ]
    claims = BENCHMARK.summarize("full", [_fake_metrics(config)], config)["claims"]
    assert [c["claim"] for c in claims] == texts and all(c["verdict"] != "missing" for c in claims)
    # Judged by the default config's claims, the same run lacks the ViT's metrics.
    default = BENCHMARK.summarize("full", [_fake_metrics(config)])["claims"]
    assert sum(c["verdict"] == "missing" for c in default) == 2
    # The smoke claim names the smoke's step count.
    assert "in 50 steps" in smoke_claims(SmokeConfig(steps=50))[0].text


def test_plots_are_drawn_for_the_configs_models(tmp_path):
    config = DigitsConfig(epochs=4, models=("cnn",))
    series = {
        f"{grid_key(model, opt, budget, lr)}/{metric}": [0.5, 0.6, 0.7]
        for model in config.models
        for opt, budget in ARMS
        for lr in config.lr_grid(model)[opt]
        for metric in ("val_accuracy", "train_loss")
    }
    record = {"scale": "full", "config": to_jsonable(config), "metrics": _fake_metrics(config), "series": series}
    paths = plot_full(config, [record, record], tmp_path)
    assert [p.name for p in paths] == ["cnn_val_accuracy.png", "cnn_train_loss.png"]
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_training_is_deterministic_and_learns():
    split = load_digits_split()
    data = {k: v[:256] if k.endswith("train") else v for k, v in as_tensors(split, "cpu").items()}

    def train(seed):
        torch.manual_seed(seed)
        return train_classifier(
            MLP(),
            lambda ps: make_optimizer("adan", ps, 1e-2, 0.02, implementation="foreach"),
            data,
            epochs=4,
            batch_size=32,
            seed=seed,
            make_scheduler=warmup_cosine(0.1),
        )

    a, b, c = train(0), train(0), train(1)
    assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy
    assert a.train_loss != c.train_loss
    assert a.train_loss[-1] < a.train_loss[0] and a.val_accuracy[-1] > 0.5
    assert np.all(np.isfinite(a.train_loss))


def _half_budget_verdict(gains_in_images: list[int]) -> dict:
    # Hand-made per-seed metrics of the chosen arms: AdamW (30 epochs) at 350/360, Adan (15) ahead by the gains.
    n_test = 360
    claim = full_claims(DigitsConfig(models=("cnn",)))[0]
    per_seed = [
        {
            "cnn_adan_half/test_accuracy": (350 + gain) / n_test,
            "cnn_adamw_full/test_accuracy": 350 / n_test,
            "cnn_adan_half/lr_at_edge": 0.0,
            "cnn_adamw_full/lr_at_edge": 0.0,
        }
        for gain in gains_in_images
    ]
    return claim.evaluate(per_seed, BENCHMARK.resolution_of)


def test_half_budget_claim_follows_the_interval_rule():
    # The accuracy resolution is one test image of the 360-image digits test set.
    assert BENCHMARK.resolution_of("cnn_adan_half/test_accuracy") == pytest.approx(1 / 360)
    # Ahead by 2-3 images in every seed: the paired interval lies above 0.
    assert _half_budget_verdict([2, 3, 3])["verdict"] == "reproduced"
    # Behind by 4-6 images in every seed (the ViT's pattern): the interval lies below 0.
    assert _half_budget_verdict([-4, -5, -6])["verdict"] == "not reproduced"
    # Behind by half an image on average: below the resolution, whatever the interval.
    result = _half_budget_verdict([0, -1, 0, -1])
    assert result["verdict"] == "inconclusive" and "resolution" in result["detail"]
    # One seed far behind, two ahead: the interval straddles 0.
    result = _half_budget_verdict([-9, 2, 3])
    assert result["verdict"] == "inconclusive" and "straddles" in result["detail"]
