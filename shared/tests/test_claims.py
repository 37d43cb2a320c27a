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
    result = Claim("text", statement).evaluate(MEANS)
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
    result = claim.evaluate(both_at_chance)
    assert result["verdict"] == "inconclusive" and "a/acc > 0.2" in result["detail"]
    assert claim.evaluate({"a/acc": 0.9, "b/acc": 0.5})["verdict"] == "reproduced"


def test_bad_statements_raise():
    with pytest.raises(ValueError, match="op"):
        Compare("a", "==", "b")
    with pytest.raises(ValueError, match="tolerance"):
        Within("a", "b", -0.1)


def test_statement_text():
    assert str(Compare("a/x", ">=", Max("b_*/x"), margin=-0.01)) == "a/x >= max(b_*/x) - 0.01"
    assert str(Within("a/x", "b/x", 0.01)) == "|a/x - b/x| <= 0.01"
