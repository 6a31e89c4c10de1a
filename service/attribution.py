"""Income attribution: the arithmetic that turns certified sales into household income.

Pure functions, no database: the ledger rebuild, `ledger verify` and the tests
all call these, so there is exactly one definition of the method.

1. A certified sale line carries poor_income_fen = round_half_up(amount_fen × benefit_rate_bp / 10000).
2. Per operator and Asia/Shanghai calendar month, the pool is the sum of its lines' poor_income_fen.
3. The pool is shared among the operator's links active in that month in proportion to
   weight × days active, by the largest-remainder method, so shares add up to the pool exactly
   (ties broken by household_no). A negative pool (refunds) is shared the same way.
4. A pool with no active link is unallocated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BASIS_POINTS = 10_000


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero.

    Away from zero (not towards +∞) so a refund's income is exactly the negative of the sale's.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def poor_income_fen(amount_fen: int, benefit_rate_bp: int, certified: bool) -> int:
    """The part of a sale line that reaches poor households; 0 unless certified."""
    if not certified:
        return 0
    return round_half_up(amount_fen * benefit_rate_bp, BASIS_POINTS)


@dataclass(frozen=True)
class Claim:
    """One household's claim on an operator's monthly pool: Σ weight × days active over its links."""

    household_no: str
    weighted: int


def share_pool(pool_fen: int, claims: Sequence[Claim]) -> list[int]:
    """Split pool_fen among claims by weight × days with the largest-remainder method.

    Returns one share per claim, in the claims' order, summing exactly to pool_fen.
    Remainder fen go to the largest fractional parts, ties to the smaller household_no.
    A negative pool is split as the negative of the split of its absolute value.
    """
    total = sum(claim.weighted for claim in claims)
    if total <= 0:
        raise ValueError("no active claim to share the pool among")
    magnitude = abs(pool_fen)
    floors = []
    remainders = []
    for claim in claims:
        quotient, remainder = divmod(magnitude * claim.weighted, total)
        floors.append(quotient)
        remainders.append(remainder)
    left_over = magnitude - sum(floors)
    order = sorted(range(len(claims)), key=lambda i: (-remainders[i], claims[i].household_no))
    for index in order[:left_over]:
        floors[index] += 1
    sign = -1 if pool_fen < 0 else 1
    return [sign * share for share in floors]
