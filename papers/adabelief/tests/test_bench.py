"""The benchmark's pieces: configs, learning-rate selection, toys, the belief ordering, training."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from paperzoo.adabelief.bench import BENCHMARK, CifarConfig, DigitsConfig, SmokeConfig, full_claims
from paperzoo.adabelief.experiment import belief_ordering, make_optimizer, select_learning_rates
from paperzoo.adabelief.optimizer import AdaBelief
from paperzoo.adabelief.toys import beale, rosenbrock, trajectory
from paperzoo.shared.lr_grid import grid_key


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SmokeConfig(steps=0), "steps"),
        (lambda: SmokeConfig(mlp_lr=-1.0), "mlp_lr"),
        (lambda: SmokeConfig(implementation="fast"), "implementation"),
        (lambda: DigitsConfig(epochs=0), "epochs"),
        (lambda: DigitsConfig(lr_grid=(("adam", (1e-3,)),)), "lr_grid"),
        (
            lambda: DigitsConfig(lr_grid=tuple((o, (1e-2, 1e-3)) for o in ("adabelief", "adam", "adamw", "sgd"))),
            "increasing",
        ),
        (
            lambda: DigitsConfig(weight_decay=(("adabelief", -1.0), ("adam", 0.0), ("adamw", 0.0), ("sgd", 0.0))),
            "weight_decay",
        ),
        (lambda: CifarConfig(dataset="mnist"), "dataset"),
        (lambda: CifarConfig(optimizers=(("lamb", 1e-3, 0.0),)), "optimizer"),
    ],
)
def test_bad_configs_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_make_optimizer_weight_decay_conventions():
    p = [torch.nn.Parameter(torch.ones(3))]
    assert isinstance(make_optimizer("adam", p, 1e-3, 5e-4), torch.optim.Adam)
    assert type(make_optimizer("adamw", p, 1e-3, 1e-2)) is torch.optim.AdamW
    belief = make_optimizer("adabelief", p, 1e-3, 5e-4)
    assert isinstance(belief, AdaBelief)
    group = belief.param_groups[0]
    assert group["eps"] == 1e-8 and not group["rectify"] and group["weight_decouple"]
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lamb", p, 1e-3, 0.0)


def test_full_claims_read_what_the_runs_and_the_lr_selection_record():
    # Every grid run records these four metrics and Beale its two: after aggregation no claim lacks a metric.
    config = DigitsConfig()
    metrics = {
        f"{grid_key(opt, lr)}/{name}": 0.9
        for opt, lrs in config.lr_grid
        for lr in lrs
        for name in ("val_accuracy", "val_loss", "test_accuracy", "epochs_to_target")
    }
    metrics |= {f"{opt}/{name}": 1.0 for opt in ("adabelief", "adam") for name in ("beale_steps", "beale_lr")}
    claims = BENCHMARK.summarize("full", [metrics, metrics])["claims"]
    assert len(claims) == len(full_claims(config)) and all(c["verdict"] != "missing" for c in claims)
    chosen = select_learning_rates([metrics])[0]
    assert all(chosen[f"{opt}/lr"] == lrs[0] for opt, lrs in config.lr_grid)  # all tied: the smallest


def test_full_claims_guard_on_the_budget_of_the_config_that_ran():
    # AdaBelief reaches the target in epoch 10, Adam in 12: a claim about speed under a 30-epoch budget,
    # none under an 11-epoch budget, within which Adam never got there.
    config = DigitsConfig()
    epochs = {"adabelief": 10.0, "adam": 12.0, "adamw": 12.0, "sgd": 12.0}
    metrics = {
        f"{grid_key(opt, lr)}/{name}": epochs[opt] if name == "epochs_to_target" else 0.9
        for opt, lrs in config.lr_grid
        for lr in lrs
        for name in ("val_accuracy", "val_loss", "test_accuracy", "epochs_to_target")
    }
    metrics |= {f"{opt}/{name}": 1.0 for opt in ("adabelief", "adam") for name in ("beale_steps", "beale_lr")}
    speed = "AdaBelief trains as fast as Adam (epochs to 95% validation accuracy)"

    def verdict(cfg: DigitsConfig) -> str:
        claims = BENCHMARK.summarize("full", [metrics], cfg)["claims"]
        return next(c["verdict"] for c in claims if c["claim"] == speed)

    assert verdict(config) == "reproduced"
    assert verdict(dataclasses.replace(config, epochs=11)) == "inconclusive"


def test_toy_functions_and_trajectory():
    assert beale(torch.tensor([3.0, 0.5])).item() == 0.0
    assert beale(torch.tensor([1.0, 1.5])).item() == pytest.approx(4.0 + 12.25 + 25.0)
    assert rosenbrock(torch.tensor([1.0, 1.0])).item() == 0.0
    # SGD on |x| + |y| from (1, 1) with lr 0.25 moves 0.25 per step in each coordinate: (0, 0) after 4 steps.
    path, steps = trajectory(lambda ps: torch.optim.SGD(ps, lr=0.25), "abs_sum", (1.0, 1.0), steps=10)
    assert steps == 4 and path[-1] == (0.0, 0.0) and len(path) == 5
    _, never = trajectory(lambda ps: torch.optim.SGD(ps, lr=1e-4), "abs_sum", (1.0, 1.0), steps=10)
    assert never == 11


def test_belief_ordering_matches_an_independent_recurrence():
    steps, lr, b1, b2 = 50, 1e-3, 0.9, 0.999
    figures = belief_ordering(steps, lr)

    def adabelief_last_step(grads, eps=1e-16):
        m = s = 0.0
        for t, g in enumerate(grads, 1):
            m = b1 * m + (1 - b1) * g
            s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
            step = lr / (1 - b1**t) * m / (math.sqrt(s / (1 - b2**t)) + eps)
        return abs(step)

    def adam_last_step(grads, eps=1e-8):
        m = v = 0.0
        for t, g in enumerate(grads, 1):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            step = lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        return abs(step)

    const, alt = [1.0] * steps, [(-1.0) ** t for t in range(steps)]
    assert figures["adabelief/constant_step_over_adam"] == pytest.approx(
        adabelief_last_step(const) / adam_last_step(const), rel=1e-6
    )
    assert figures["adabelief/alternating_over_constant_step"] == pytest.approx(
        adabelief_last_step(alt) / adabelief_last_step(const), rel=1e-6
    )
    assert figures["adam/alternating_over_constant_step"] == pytest.approx(
        adam_last_step(alt) / adam_last_step(const), rel=1e-6
    )
    # With ±1 gradients, (g − m)² ≈ 0.9 g² in steady state: AdaBelief's step is *larger* than Adam's.
    assert 1.0 < figures["adabelief/alternating_step_over_adam"] < 1.1
