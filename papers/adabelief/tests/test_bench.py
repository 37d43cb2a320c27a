"""The benchmark's pieces: configs, learning-rate selection, toys, the belief ordering, training."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from paperzoo.adabelief.bench import BENCHMARK, CifarConfig, DigitsConfig, SmokeConfig, full_claims, total_steps
from paperzoo.adabelief.experiment import (
    belief_ordering,
    fastest_learning_rates,
    make_optimizer,
    select_learning_rates,
)
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


def _grid_metrics(config: DigitsConfig, steps: dict[str, dict[float, float]] | None = None) -> dict[str, float]:
    # Every grid run records these four metrics and Beale its two; steps[opt][lr] overrides steps to target.
    steps = steps or {}
    metrics = {
        f"{grid_key(opt, lr)}/{name}": 0.9
        for opt, lrs in config.lr_grid
        for lr in lrs
        for name in ("val_accuracy", "val_loss", "test_accuracy")
    }
    metrics |= {
        f"{grid_key(opt, lr)}/steps_to_target": steps.get(opt, {}).get(lr, 100.0)
        for opt, lrs in config.lr_grid
        for lr in lrs
    }
    metrics |= {f"{opt}/{name}": 1.0 for opt in ("adabelief", "adam") for name in ("beale_steps", "beale_lr")}
    return metrics


def test_full_claims_read_what_the_runs_and_the_lr_selection_record():
    config = DigitsConfig()
    metrics = _grid_metrics(config)
    claims = BENCHMARK.summarize("full", [metrics, metrics])["claims"]
    assert len(claims) == len(full_claims(config)) and all(c["verdict"] != "missing" for c in claims)
    chosen = select_learning_rates([metrics])[0]
    assert all(chosen[f"{opt}/lr"] == lrs[0] for opt, lrs in config.lr_grid)  # all tied: the smallest
    assert all(chosen[f"{opt}/speed_lr"] == lrs[0] for opt, lrs in config.lr_grid)


def test_protocol_adabelief_decay_at_adamw_scale_and_default_lr_in_grid():
    config = DigitsConfig()
    wd = dict(config.weight_decay)
    assert wd["adabelief"] == wd["adamw"] == 1e-2
    grids = dict(config.lr_grid)
    assert 1e-3 in grids["adabelief"] and 1e-3 in grids["adam"] and 0.1 in grids["sgd"]
    assert len({len(v) for v in grids.values()}) == 1  # the same grid size for every optimizer
    p = [torch.nn.Parameter(torch.ones(3))]
    group = make_optimizer("adabelief", p, 1e-3, wd["adabelief"]).param_groups[0]
    assert group["weight_decay"] == 1e-2 and group["weight_decouple"] and not group["fixed_decay"]


def test_speed_lr_is_each_optimizers_own_fastest():
    # Per seed and lr: AdaBelief is fastest at 1e-2, Adam at 3e-3, although every accuracy ties (so the
    # accuracy choice is each grid's smallest lr); the speed claim reads the fastest runs.
    config = DigitsConfig()
    seeds = [
        _grid_metrics(config, {"adabelief": {3e-3: 80.0, 1e-2: 40.0, 3e-2: 44.0}, "adam": {1e-3: 90.0, 3e-3: 48.0}}),
        _grid_metrics(config, {"adabelief": {3e-3: 84.0, 1e-2: 44.0, 3e-2: 48.0}, "adam": {1e-3: 90.0, 3e-3: 52.0}}),
    ]
    chosen = select_learning_rates(seeds)
    for m, own in zip(chosen, (40.0, 44.0), strict=True):
        assert (m["adabelief/speed_lr"], m["adam/speed_lr"]) == (1e-2, 3e-3)
        assert m["adabelief/steps_to_target"] == own and m["adabelief/speed_lr_at_edge"] == 0.0
        assert m["adabelief/lr"] == 1e-3 and m["adabelief/lr_at_edge"] == 1.0  # accuracy: all tied
    assert [m["adam/steps_to_target"] for m in chosen] == [48.0, 52.0]
    # A tie of mean steps (1e-2 and 3e-2 both 42 on average) goes to the lower lr.
    tied = [
        _grid_metrics(config, {"adabelief": {1e-2: 40.0, 3e-2: 44.0}}),
        _grid_metrics(config, {"adabelief": {1e-2: 44.0, 3e-2: 40.0}}),
    ]
    assert {m["adabelief/speed_lr"] for m in fastest_learning_rates(tied)} == {1e-2}
    # The fastest lr at the grid's edge is flagged.
    edge = fastest_learning_rates([_grid_metrics(config, {"adam": {3e-2: 20.0}})])[0]
    assert edge["adam/speed_lr"] == 3e-2 and edge["adam/speed_lr_at_edge"] == 1.0


def _speed_verdict(config: DigitsConfig, adabelief: list[float], adam: list[float], edge: float = 0.0) -> dict:
    claim = next(c for c in full_claims(config) if c.text.startswith("AdaBelief trains as fast as Adam"))
    per_seed = [
        {
            "adabelief/steps_to_target": a,
            "adam/steps_to_target": b,
            "adabelief/speed_lr_at_edge": edge,
            "adam/speed_lr_at_edge": 0.0,
        }
        for a, b in zip(adabelief, adam, strict=True)
    ]
    return claim.evaluate(per_seed, BENCHMARK.resolution_of)


def test_speed_claim_in_steps_with_the_eval_every_resolution_and_guards():
    config = DigitsConfig()
    budget = total_steps(config)
    assert budget == config.epochs * 36  # 1149 training images, batch 32
    assert BENCHMARK.resolution_of("adabelief/steps_to_target") == config.eval_every
    # AdaBelief faster in every seed, by more than one evaluation interval: reproduced.
    assert _speed_verdict(config, [40, 44, 40], [60, 64, 56])["verdict"] == "reproduced"
    # Slower by many intervals in every seed: not reproduced.
    assert _speed_verdict(config, [80, 84, 88], [40, 44, 40])["verdict"] == "not reproduced"
    # Slower on average by less than one evaluation interval: below the resolution, inconclusive.
    result = _speed_verdict(config, [44, 44, 44], [40, 44, 40])
    assert result["verdict"] == "inconclusive" and "resolution" in result["detail"]
    # The resolution follows the config's eval_every: with 1-step evaluations a 4-step gap in every seed counts.
    fine = dataclasses.replace(config, eval_every=1)
    assert _speed_verdict(fine, [44, 45, 46], [40, 41, 42])["verdict"] == "not reproduced"
    coarse = dataclasses.replace(config, eval_every=8)
    assert "resolution" in _speed_verdict(coarse, [48, 52, 56], [44, 48, 50])["detail"]
    # Guards: a target never reached (budget + 1) or a fastest lr at its grid's edge decides nothing.
    assert _speed_verdict(config, [budget + 1] * 3, [40, 44, 40])["verdict"] == "inconclusive"
    assert _speed_verdict(config, [40, 44, 40], [60, 64, 56], edge=1.0)["verdict"] == "inconclusive"


def test_full_claims_guard_on_the_budget_of_the_config_that_ran():
    # AdaBelief reaches the target at step 360, Adam at 432 (epoch 12): a claim about speed under a
    # 30-epoch budget, none under an 11-epoch budget (396 steps), within which Adam never got there.
    config = DigitsConfig()
    steps = {opt: dict.fromkeys(lrs, 432.0) for opt, lrs in config.lr_grid}
    steps["adabelief"] = dict.fromkeys(dict(config.lr_grid)["adabelief"], 360.0)
    for opt, lrs in config.lr_grid:  # each optimizer fastest at an interior point of its grid
        steps[opt][lrs[2]] -= 4.0
    metrics = _grid_metrics(config, steps)
    speed = next(c.text for c in full_claims(config) if c.text.startswith("AdaBelief trains as fast"))

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
