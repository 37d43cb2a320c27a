"""The benchmark's pieces: configs, the schedule, the ViT, learning-rate selection, smoke figures, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paperzoo.adan.bench import (
    ARMS,
    BENCHMARK,
    FULL_CLAIMS,
    DigitsConfig,
    ImageNetConfig,
    SmokeConfig,
    adam_equivalence,
    grid_key,
    make_model,
    make_optimizer,
    select_learning_rates,
    warmup_cosine,
)
from paperzoo.adan.optimizer import Adan
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.torch.classify import MLP, as_tensors, train_classifier
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
        (lambda: DigitsConfig(lr_grid=(("adan", (1e-3,)),)), "lr_grid"),
        (lambda: DigitsConfig(lr_grid=(("adan", (1e-2, 1e-3)), ("adamw", (1e-3,)))), "increasing"),
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


def test_full_claims_read_what_the_runs_and_the_lr_selection_record():
    # Every run of every (model, arm, lr) records these four metrics: after aggregation no claim lacks one.
    config = DigitsConfig()
    grids = dict(config.lr_grid)
    metrics = {
        f"{grid_key(model, opt, budget, lr)}/{name}": 0.9
        for model in config.models
        for opt, budget in ARMS
        for lr in grids[opt]
        for name in ("val_accuracy", "val_loss", "test_accuracy", "train_loss")
    }
    claims = BENCHMARK.summarize("full", [metrics, metrics])["claims"]
    assert len(claims) == len(FULL_CLAIMS) and all(c["verdict"] != "missing" for c in claims)
    assert select_learning_rates([metrics])[0]["vit_adan_half/lr"] == grids["adan"][0]  # all tied: the smallest


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
