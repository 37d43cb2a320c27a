"""The full scale's learning-rate choice and claims on hand-made per-seed metrics."""

import pytest

from paperzoo.coin.bench import BENCHMARK, FullConfig, full_claims
from paperzoo.coin.experiment import select_learning_rates


def _seed(lora_val, ema_val, offset):
    """Two arms at two learning rates: lora best at 0.001, fixed_ema best at 0.01."""
    m = {}
    for arm, vals in (("lora", lora_val), ("fixed_ema", ema_val)):
        for lr, val in zip((0.001, 0.01), vals, strict=True):
            key = f"{arm}@{lr:g}"
            m |= {f"{key}/val_accuracy": val, f"{key}/val_loss": 1 - val, f"{key}/forgetting": lr * 10 + offset}
    m["fixed_ema@0.01/alpha_mean"] = 0.01
    return m


def test_select_learning_rates_copies_every_metric_of_the_chosen_run():
    out = select_learning_rates([_seed((0.8, 0.5), (0.4, 0.7), 0.0), _seed((0.7, 0.6), (0.3, 0.6), 0.01)], 0.01)
    assert [m["lora/lr"] for m in out] == [0.001, 0.001] and [m["fixed_ema/lr"] for m in out] == [0.01, 0.01]
    assert out[1]["lora/forgetting"] == pytest.approx(0.02) and out[0]["fixed_ema/forgetting"] == pytest.approx(0.1)
    assert out[0]["fixed_ema/alpha_mean"] == 0.01 and "lora/alpha_mean" not in out[0]
    assert out[0]["lora/lr_at_edge"] == 1.0  # a two-point grid: every choice is an edge


def _claim_metrics(lora_forgetting, ema_forgetting, edge=0.0, just_trained=0.8):
    m = {"lora/min_just_trained": just_trained, "dynamic_ema/fallback_share": 0.5, "grouping/n_groups": 5.0}
    for arm, f in (("lora", lora_forgetting), ("fixed_ema", ema_forgetting), ("dynamic_ema", ema_forgetting),
                   ("grouping", ema_forgetting)):  # fmt: skip
        m |= {f"{arm}/forgetting": f, f"{arm}/mean_accuracy": 0.5, f"{arm}/lr_at_edge": edge}
    return m


def test_full_claims_follow_the_numbers_and_their_guards():
    claims = {c.text: c for c in full_claims(FullConfig())}
    fixed = claims["fixed EMA (beta 0.99) forgets less than sequential LoRA"]
    seeds = [_claim_metrics(0.5 + d, 0.2 + d) for d in (0.0, 0.01, 0.02)]
    assert fixed.evaluate(seeds)["verdict"] == "reproduced"
    worse = [_claim_metrics(0.2 + d, 0.5 + d) for d in (0.0, 0.01, 0.02)]
    assert fixed.evaluate(worse)["verdict"] == "not reproduced"
    for bad in ({"edge": 1.0}, {"just_trained": 0.3}):  # a learning rate at its grid's edge; LoRA does not learn
        degenerate = [_claim_metrics(0.5 + d, 0.2 + d, **bad) for d in (0.0, 0.01, 0.02)]
        assert fixed.evaluate(degenerate)["verdict"] == "inconclusive"


def test_full_config_validates_its_grid():
    assert BENCHMARK.scales["full"].lrs == (1e-3, 3e-3, 1e-2)  # every arm, the same grid
    with pytest.raises(ValueError, match="lrs"):
        FullConfig(lrs=())
    with pytest.raises(ValueError, match="lrs"):
        FullConfig(lrs=(0.0,))
