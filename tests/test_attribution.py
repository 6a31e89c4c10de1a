"""The attribution arithmetic: rounding and the largest-remainder split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.attribution import Claim, poor_income_fen, round_half_up, share_pool


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 10, 1), (4, 10, 0), (15, 10, 2), (-5, 10, -1), (-4, 10, 0), (-15, 10, -2), (0, 7, 0)],
)
def test_round_half_up_rounds_halves_away_from_zero(numerator, denominator, expected):
    assert round_half_up(numerator, denominator) == expected


def test_poor_income_is_amount_times_rate():
    assert poor_income_fen(12_345, 1500, certified=True) == 1852  # 1851.75
    assert poor_income_fen(10_001, 1500, certified=True) == 1500  # 1500.15
    assert poor_income_fen(10_000, 1500, certified=False) == 0


def test_a_refund_cancels_its_sale_exactly():
    assert poor_income_fen(-12_345, 1500, True) == -poor_income_fen(12_345, 1500, True)


def test_equal_claims_share_evenly_and_leftovers_go_by_household_no():
    claims = [Claim("0003", 30), Claim("0001", 30), Claim("0002", 30)]
    assert share_pool(100, claims) == [33, 34, 33]


def test_shares_follow_weight_times_days():
    claims = [Claim("A", 60), Claim("B", 30), Claim("C", 15)]
    assert share_pool(1_000, claims) == [571, 286, 143]


def test_a_negative_pool_is_shared_the_same_way():
    claims = [Claim("0001", 30), Claim("0002", 30), Claim("0003", 30)]
    assert share_pool(-100, claims) == [-34, -33, -33]


def test_a_pool_without_claims_cannot_be_shared():
    with pytest.raises(ValueError):
        share_pool(100, [])


claim_lists = st.lists(
    st.builds(
        Claim,
        household_no=st.text(alphabet="0123456789", min_size=4, max_size=8),
        weighted=st.integers(min_value=1, max_value=310_000),
    ),
    min_size=1,
    max_size=40,
)


@given(pool=st.integers(min_value=-(10**12), max_value=10**12), claims=claim_lists)
def test_shares_always_sum_exactly_to_the_pool(pool, claims):
    assert sum(share_pool(pool, claims)) == pool


@given(pool=st.integers(min_value=0, max_value=10**12), claims=claim_lists)
def test_no_share_is_more_than_one_fen_from_its_exact_proportion(pool, claims):
    total = sum(claim.weighted for claim in claims)
    for claim, share in zip(claims, share_pool(pool, claims), strict=True):
        assert abs(share * total - pool * claim.weighted) < total
