"""A year's consumption-aid income of many households at once: estimated (the ledger) and paid (payouts).

The figures are those of ``GET /api/v1/households/{id}/income`` for January to December read by staff:
every operator's shares, and the payouts whose period overlaps the year (service/payouts.py's rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bson import ObjectId
from pymongo.database import Database

from service import payouts, storage

# Household ids per query: a county's register stays within what every backend takes in one $in.
_CHUNK = 500


@dataclass(frozen=True)
class YearIncome:
    estimated_fen: int = 0
    paid_fen: int = 0

    @property
    def any(self) -> bool:
        return self.estimated_fen != 0 or self.paid_fen != 0


def year_months(year: int) -> tuple[str, str]:
    return f"{year:04d}-01", f"{year:04d}-12"


def year_income(db: Database, household_ids: Iterable[ObjectId], year: int) -> dict[ObjectId, YearIncome]:
    """Each household's income in ``year``; households with none are left out."""
    ids = list(dict.fromkeys(household_ids))
    from_month, to_month = year_months(year)
    estimated: dict[ObjectId, int] = {}
    paid: dict[ObjectId, int] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        shares = storage.aggregate(
            db[storage.HOUSEHOLD_INCOME],
            [
                {"$match": {"household_id": {"$in": chunk}, "month": {"$gte": from_month, "$lte": to_month}}},
                {"$group": {"_id": "$household_id", "fen": {"$sum": "$share_fen"}}},
            ],
        )
        estimated.update((row["_id"], int(row["fen"])) for row in shares)
        paid_rows = storage.aggregate(
            db[storage.PAYOUTS],
            [
                {"$match": {"household_id": {"$in": chunk}, **payouts.overlapping(from_month, to_month)}},
                {"$group": {"_id": "$household_id", "fen": {"$sum": "$amount_fen"}}},
            ],
        )
        paid.update((row["_id"], int(row["fen"])) for row in paid_rows)
    found = {
        household_id: YearIncome(estimated.get(household_id, 0), paid.get(household_id, 0))
        for household_id in ids
    }
    return {household_id: income for household_id, income in found.items() if income.any}
