import math

import pytest

from paperzoo.shared.validate import (
    check_betas,
    check_non_negative,
    check_one_of,
    check_positive,
    check_positive_int,
    check_range,
)


@pytest.mark.parametrize(
    ("value", "low", "high", "lo_inc", "hi_inc", "ok"),
    [
        (0.0, 0.0, 1.0, True, True, True),
        (0.0, 0.0, 1.0, False, True, False),
        (1.0, 0.0, 1.0, True, True, True),
        (1.0, 0.0, 1.0, True, False, False),
        (0.5, 0.0, 1.0, False, False, True),
        (-1e-9, 0.0, 1.0, True, True, False),
        (math.nan, 0.0, 1.0, True, True, False),
        (math.inf, 0.0, math.inf, True, True, True),
        (True, 0.0, 1.0, True, True, False),
        ("0.5", 0.0, 1.0, True, True, False),
    ],
)
def test_check_range(value, low, high, lo_inc, hi_inc, ok):
    if ok:
        assert check_range("beta", value, low, high, low_inclusive=lo_inc, high_inclusive=hi_inc) == value
    else:
        with pytest.raises(ValueError, match=r"^beta must"):
            check_range("beta", value, low, high, low_inclusive=lo_inc, high_inclusive=hi_inc)


def test_interval_is_named_in_the_message():
    with pytest.raises(ValueError, match=r"beta1 must be in \[0.0, 1.0\), got 1.0"):
        check_range("beta1", 1.0, 0.0, 1.0, high_inclusive=False)


def test_positive_non_negative_int_one_of():
    assert check_positive("lr", 1e-3) == 1e-3
    with pytest.raises(ValueError, match="lr"):
        check_positive("lr", 0.0)
    assert check_non_negative("wd", 0.0) == 0.0
    with pytest.raises(ValueError, match="wd"):
        check_non_negative("wd", -1.0)
    assert check_positive_int("steps", 3) == 3
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="steps"):
            check_positive_int("steps", bad)
    assert check_one_of("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of"):
        check_one_of("mode", "c", ("a", "b"))


def test_check_betas():
    assert check_betas([0.9, 0.999], 2) == (0.9, 0.999)
    assert check_betas((0.0, 0.5, 0.99), 3) == (0.0, 0.5, 0.99)
    bad_cases = (((0.9,), "tuple of 2"), (0.9, "tuple of 2"), ((0.9, 1.0), r"betas\[1\]"), ((-0.1, 0.9), r"betas\[0\]"))
    for bad, match in bad_cases:
        with pytest.raises(ValueError, match=match):
            check_betas(bad, 2)


@pytest.mark.parametrize("check", [check_positive, check_non_negative])
def test_infinite_values_are_rejected(check):
    with pytest.raises(ValueError, match=r"lr must be in"):
        check("lr", math.inf)
    assert check("lr", 1e300) == 1e300
