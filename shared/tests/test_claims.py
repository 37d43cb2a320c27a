import math

import numpy as np
import pytest

from paperzoo.shared.claims import Better, Claim, Compare, Max, Min, NoWorse, Within, evaluate_term

MEANS = {"a/acc": 0.90, "b/acc": 0.85, "fixed_1/acc": 0.80, "fixed_2/acc": 0.88, "c/acc": None}


@pytest.mark.parametrize(
    ("term", "value"),
    [("a/acc", 0.90), (0.5, 0.5), (3, 3.0), (Max("fixed_*/acc"), 0.88), (Min("fixed_*/acc"), 0.80)],
)
def test_terms(term, value):
    assert evaluate_term(term, MEANS) == value


def test_non_finite_metric_is_nan_and_pattern_without_match_is_missing():
    assert math.isnan(evaluate_term("c/acc", MEANS))
    with pytest.raises(KeyError):
        evaluate_term(Max("nothing_*/acc"), MEANS)


@pytest.mark.parametrize(
    ("statement", "verdict"),
    [
        (Compare("a/acc", ">=", "b/acc"), "reproduced"),
        (Compare("b/acc", ">=", "a/acc"), "not reproduced"),
        (Compare("a/acc", ">=", "b/acc", margin=0.05), "reproduced"),  # 0.90 >= 0.85 + 0.05
        (Compare("a/acc", ">", "b/acc", margin=0.05), "not reproduced"),
        (Compare("b/acc", ">=", "a/acc", margin=-0.06), "reproduced"),
        (Compare("a/acc", ">", Max("fixed_*/acc")), "reproduced"),
        (Compare("a/acc", "<", 0.5), "not reproduced"),
        (Within("a/acc", "b/acc", 0.05), "reproduced"),
        (Within("a/acc", "b/acc", 0.049), "not reproduced"),
        (Compare("a/acc", ">=", "zzz/acc"), "missing"),
        (Compare("c/acc", ">=", "a/acc"), "inconclusive"),
    ],
)
def test_verdicts(statement, verdict):
    result = Claim("text", statement).evaluate([MEANS])
    assert result["verdict"] == verdict
    if verdict in ("reproduced", "not reproduced"):
        assert result["values"]["lhs"] == evaluate_term(statement.lhs, MEANS)


def test_failed_guard_makes_a_claim_inconclusive_even_when_it_holds():
    both_at_chance = {"a/acc": 0.10, "b/acc": 0.10}
    claim = Claim(
        "a >= b",
        Compare("a/acc", ">=", "b/acc"),
        guards=(Compare("a/acc", ">", 0.2), Compare("b/acc", ">", 0.2)),
    )
    result = claim.evaluate([both_at_chance])
    assert result["verdict"] == "inconclusive" and "a/acc > 0.2" in result["detail"]
    assert claim.evaluate([{"a/acc": 0.9, "b/acc": 0.5}])["verdict"] == "reproduced"


def test_claims_compare_seed_means_and_record_each_seed():
    per_seed = [
        {"a/acc": 0.9, "b/acc": 0.8, "fixed_1/acc": 0.7, "fixed_2/acc": 0.6},
        {"a/acc": 0.7, "b/acc": 0.9, "fixed_1/acc": 0.3, "fixed_2/acc": 0.5},
    ]
    result = Claim("a >= b", Compare("a/acc", ">=", "b/acc")).evaluate(per_seed)
    assert result["verdict"] == "not reproduced"  # means 0.80 vs 0.85, although seed 0 alone says otherwise
    assert result["values"]["lhs_per_seed"] == [0.9, 0.7] and result["values"]["rhs_per_seed"] == [0.8, 0.9]
    # A pattern term picks one arm by seed mean (fixed_2: 0.55 > 0.50) and reports that arm in every seed.
    best = Claim("a > best fixed", Compare("a/acc", ">", Max("fixed_*/acc"))).evaluate(per_seed)
    assert best["values"]["rhs"] == pytest.approx(0.55) and best["values"]["rhs_per_seed"] == [0.6, 0.5]
    constant = Claim("a > 0.5", Compare("a/acc", ">", 0.5)).evaluate(per_seed)
    assert constant["values"]["rhs_per_seed"] == [0.5, 0.5]


def test_claims_need_per_seed_metrics():
    with pytest.raises(ValueError, match="per_seed"):
        Claim("a", Compare("a/acc", ">", 0.5)).evaluate(MEANS)
    with pytest.raises(ValueError, match="per_seed"):
        Claim("a", Compare("a/acc", ">", 0.5)).evaluate([])


def test_bad_statements_raise():
    with pytest.raises(ValueError, match="op"):
        Compare("a", "==", "b")
    with pytest.raises(ValueError, match="tolerance"):
        Within("a", "b", -0.1)


def test_statement_text():
    assert str(Compare("a/x", ">=", Max("b_*/x"), margin=-0.01)) == "a/x >= max(b_*/x) - 0.01"
    assert str(Within("a/x", "b/x", 0.01)) == "|a/x - b/x| <= 0.01"


# ---------------------------------------------------------------------------------------- interval rule
def seeds(**arms: list[float]) -> list[dict[str, float]]:
    """Per-seed metric dicts from per-arm lists: seeds(a=[1, 2], b=[3, 4]) -> [{a/x: 1, b/x: 3}, ...]."""
    n = len(next(iter(arms.values())))
    return [{f"{arm}/x": float(values[i]) for arm, values in arms.items()} for i in range(n)]


def test_paired_interval_equals_the_t_formula():
    from paperzoo.shared.claims import difference_interval

    a, b = [0.90, 0.85, 0.95], [0.80, 0.82, 0.83]
    d = np.subtract(a, b)
    half = 4.302652729911275 * d.std(ddof=1) / np.sqrt(3)  # t(0.975, df=2), from a table
    mean, low, high = difference_interval(a, b, paired=True)
    assert mean == pytest.approx(d.mean()) and (low, high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert difference_interval([1.0], [0.5]) == (0.5, 0.5, 0.5)  # one seed: the point
    assert difference_interval([1.0, 2.0], [0.5, 1.5]) == (0.5, 0.5, 0.5)  # no spread in the differences
    with pytest.raises(ValueError, match="equal-length"):
        difference_interval([1.0, 2.0], [1.0])


def test_large_consistent_difference_is_reproduced_with_three_seeds():
    per_seed = seeds(a=[0.95, 0.93, 0.96], b=[0.60, 0.62, 0.58])
    assert Claim("a > b", Better("a/x", "b/x")).evaluate(per_seed)["verdict"] == "reproduced"
    result = Claim("b > a", Better("b/x", "a/x")).evaluate(per_seed)
    assert result["verdict"] == "not reproduced"
    _, high = result["values"]["interval"]
    assert high < 0 and result["values"]["difference"] == pytest.approx(-0.3466666, rel=1e-5)


def test_paired_design_detects_a_small_consistent_difference_that_unpaired_cannot():
    a = [0.70, 0.90, 0.80]
    b = [0.69, 0.888, 0.791]  # a is better by 0.009-0.012 in every seed; the seeds differ by 0.2
    assert Claim("p", Better("a/x", "b/x")).evaluate(seeds(a=a, b=b))["verdict"] == "reproduced"
    unpaired = Claim("u", Better("a/x", "b/x", paired=False)).evaluate(seeds(a=a, b=b))
    assert unpaired["verdict"] == "inconclusive" and "straddles" in unpaired["detail"]


def test_a_difference_below_the_resolution_is_inconclusive():
    per_seed = seeds(a=[0.900, 0.905, 0.902], b=[0.899, 0.904, 0.901])  # 0.001 better in every seed
    assert Claim("c", Better("a/x", "b/x")).evaluate(per_seed)["verdict"] == "reproduced"
    result = Claim("c", Better("a/x", "b/x")).evaluate(per_seed, resolution=lambda name: 1 / 360)
    assert result["verdict"] == "inconclusive" and "resolution" in result["detail"]
    claim_level = Claim("c", Better("a/x", "b/x", resolution=0.01)).evaluate(per_seed)
    assert claim_level["verdict"] == "inconclusive"
    # A claim's own resolution cannot lower the metric's declared one: the larger applies.
    widened = Claim("c", Better("a/x", "b/x")).evaluate(per_seed, variation=lambda name: 0.002)  # interval ± 0.002
    assert widened["verdict"] == "inconclusive" and "widened" in widened["detail"]
    finer = Claim("c", Better("a/x", "b/x", resolution=1e-4)).evaluate(per_seed, resolution=lambda name: 1 / 360)
    assert finer["verdict"] == "inconclusive"


def test_no_worse_with_delta_and_lower_is_better():
    per_seed = seeds(a=[0.88, 0.87, 0.89], b=[0.90, 0.89, 0.90])  # a is 1.7 points below b
    assert Claim("w", NoWorse("a/x", "b/x", delta=0.05)).evaluate(per_seed)["verdict"] == "reproduced"
    assert Claim("w", NoWorse("a/x", "b/x", delta=0.0)).evaluate(per_seed)["verdict"] == "not reproduced"
    # Lower is better (steps, losses): a takes fewer steps than b.
    steps = seeds(a=[100, 110, 105], b=[150, 160, 170])
    assert Claim("s", Better("a/x", "b/x", better="lower")).evaluate(steps)["verdict"] == "reproduced"
    assert Claim("s", Better("b/x", "a/x", better="lower")).evaluate(steps)["verdict"] == "not reproduced"
    assert str(Better("a/x", "b/x", better="lower")) == "a/x < b/x"
    assert str(NoWorse("a/x", "b/x", delta=0.01)) == "a/x >= b/x - 0.01"


def test_a_threshold_is_a_one_sample_interval():
    # "the method is above chance": the constant side makes it one-sample even when unpaired is asked.
    per_seed = seeds(a=[0.30, 0.35, 0.32])
    assert Claim("t", Better("a/x", 0.1, paired=False)).evaluate(per_seed)["verdict"] == "reproduced"
    assert Claim("t", Better("a/x", 0.33)).evaluate(per_seed)["verdict"] == "inconclusive"


def test_nan_and_missing_seeds_give_clear_verdicts():
    per_seed = seeds(a=[0.9, float("nan"), 0.8], b=[0.5, 0.5, 0.5])
    result = Claim("n", Better("a/x", "b/x")).evaluate(per_seed)
    assert result["verdict"] == "inconclusive" and "seed index(es) [1]" in result["detail"]
    partial = [{"a/x": 0.9, "b/x": 0.5}, {"b/x": 0.5}]  # seed 1 never recorded a/x
    result = Claim("m", Better("a/x", "b/x")).evaluate(partial)
    assert result["verdict"] == "inconclusive" and "[1]" in result["detail"]
    assert Claim("z", Better("zzz/x", "b/x")).evaluate(partial)["verdict"] == "missing"


def test_mechanism_that_did_not_act_makes_a_claim_inconclusive():
    per_seed = [{"amft/acc": 0.9, "fixed/acc": 0.5, "amft/mu_range": 0.003} for _ in range(3)]
    claim = Claim(
        "adaptive beats fixed",
        Better("amft/acc", "fixed/acc"),
        mechanism=(Compare("amft/mu_range", ">=", 0.1),),
    )
    result = claim.evaluate(per_seed)
    assert result["verdict"] == "inconclusive" and "mechanism did not act" in result["detail"]
    moved = [{**m, "amft/mu_range": 0.4} for m in per_seed]
    assert claim.evaluate(moved)["verdict"] == "reproduced"


def test_bad_interval_statements_raise():
    with pytest.raises(ValueError, match="better"):
        Better("a", "b", better="up")
    with pytest.raises(ValueError, match="delta"):
        NoWorse("a", "b", delta=-0.1)
    with pytest.raises(ValueError, match="margin"):
        Better("a", "b", margin=-1.0)
