"""Sharing an order's amount among its items: the parts always make the whole, each within a fen."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.apportion import apportion


def test_an_amount_is_shared_by_weight():
    assert apportion(10_000, [1, 3]) == [2_500, 7_500]


def test_the_fen_left_over_go_to_the_largest_remainders():
    assert apportion(100, [1, 1, 1]) == [34, 33, 33]
    assert apportion(1_198, [5_990, 3_800, 3_800]) == [528, 335, 335]


def test_all_zero_weights_share_equally():
    assert apportion(5, [0, 0]) == [3, 2]


def test_nothing_to_share_among_is_an_error():
    with pytest.raises(ValueError):
        apportion(100, [])


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        apportion(-1, [1])


@given(
    st.integers(min_value=0, max_value=10**14),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=40),
)
def test_the_parts_sum_to_the_whole_and_each_is_within_a_fen_of_its_share(total, weights):
    parts = apportion(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    effective = weights if any(weights) else [1] * len(weights)
    for part, weight in zip(parts, effective, strict=True):
        exact = Fraction(total * weight, sum(effective))
        assert abs(part - exact) < 1
        assert part >= 0
