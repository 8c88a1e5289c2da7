"""How the JSON twin writes numbers (docs/reports.md): 6 decimals to the nearest, disparities toward failing."""

from __future__ import annotations

import random

import pytest

from reports.bias import _check
from reports.numbers import num, num_toward


def test_numbers_are_written_to_6_decimals_and_non_finite_as_null():
    assert num(0.12345649) == 0.123456 and num(0.1234565001) == 0.123457
    assert str(num(-0.0000004)) == "0.0"  # never "-0.0"
    assert num(float("nan")) is None and num(float("inf")) is None and num("x") is None


@pytest.mark.parametrize(("value", "op", "written"), [
    (0.7999996, ">=", 0.799999),  # to the nearest it would be 0.8 and pass "at least 0.8"
    (0.1000001, "<=", 0.100001),  # to the nearest it would be 0.1 and pass "at most 0.1"
    (0.8, ">=", 0.8), (0.1, "<=", 0.1), (-0.0000001, "<=", 0.0), (-0.0000001, ">=", -0.000001),
])
def test_a_disparity_is_rounded_toward_failing(value: float, op: str, written: float):
    assert num_toward(value, op) == written


def test_a_check_is_judged_on_the_value_written():
    ratio = _check("demographic_parity_ratio", "sex", 0.7999996, 0.8)
    assert (ratio["value"], ratio["status"]) == (0.799999, "FAIL")
    difference = _check("demographic_parity_difference", "sex", 0.1000001, 0.1)
    assert (difference["value"], difference["status"]) == (0.100001, "FAIL")


def test_for_thresholds_of_6_decimals_the_written_value_passes_exactly_when_the_exact_one_does():
    rng = random.Random(7)
    for _ in range(20_000):
        threshold = round(rng.uniform(0, 1), rng.randint(1, 6))
        value = threshold + rng.choice([-1, 1]) * rng.choice([1e-9, 4e-7, 6e-7, 1e-6, 1e-3]) * rng.random()
        for op in (">=", "<="):
            exact = value >= threshold if op == ">=" else value <= threshold
            written = num_toward(value, op)
            assert written is not None
            assert (written >= threshold if op == ">=" else written <= threshold) == exact, (value, threshold, op)
