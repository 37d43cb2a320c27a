import math

import pytest

from paperzoo.shared.claims import Claim, Compare, Max, Min, Within, evaluate_term

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
