"""Estimated share beside what was paid (测算收益与实际到户): per household, operator and period, to the fen.

The estimate is the household's share of its operator's monthly pool (``household_income``); what
was paid is the payout ledger. A row is a month, except where a household and operator were paid
for a whole year: then every estimate and payout of that year is one row, so each figure lands in
exactly one row and the differences add up to the household's estimated minus paid exactly. Beside
the rows: the estimates never paid, and the payouts whose period no benefit link covers (any more).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import operators, payouts, pii, storage
from service.access import ENTERPRISE, Principal
from service.clock import today_local
from service.report_scope import resolve_scope

BY = ("month", "year")


def payout_report(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    operator_id: ObjectId | None = None,
    household_id: ObjectId | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    by: str = "month",
) -> dict[str, Any]:
    """Estimated, paid and their difference per household, operator and period in the caller's scope."""
    payouts.scope_query(actor)
    scope = resolve_scope(
        actor,
        county_code=county_code,
        operator_id=operator_id,
        from_month=from_month,
        to_month=to_month,
        today=today_local(),
    )
    match: dict[str, Any] = {"month": {"$gte": scope.from_month, "$lte": scope.to_month}}
    paid_query: dict[str, Any] = payouts.overlapping(scope.from_month, scope.to_month)
    for query in (match, paid_query):
        if scope.county_codes is not None:
            query["county_code"] = {"$in": list(scope.county_codes)}
        if scope.operator_id is not None:
            query["operator_id"] = scope.operator_id
        if household_id is not None:
            query["household_id"] = household_id
    estimates = list(
        storage.aggregate(
            db[storage.HOUSEHOLD_INCOME],
            [
                {"$match": match},
                {
                    "$group": {
                        "_id": {
                            "household_id": "$household_id",
                            "operator_id": "$operator_id",
                            "month": "$month",
                        },
                        "share_fen": {"$sum": "$share_fen"},
                    }
                },
            ],
        )
    )
    paid = list(db[storage.PAYOUTS].find(paid_query))
    rows = _rows(estimates, paid, by)
    unlinked = _unlinked(db, paid)
    names = _names(db, actor, rows, paid)
    for row in rows:
        row.update(names(row))
    never_paid = [row for row in rows if row["estimated_fen"] != 0 and row["payouts"] == 0]
    return {
        "from_month": scope.from_month,
        "to_month": scope.to_month,
        "county_codes": list(scope.county_codes) if scope.county_codes is not None else None,
        "operator_id": scope.operator_id,
        "by": by,
        "estimated_fen": sum(row["estimated_fen"] for row in rows),
        "paid_fen": sum(row["paid_fen"] for row in rows),
        "difference_fen": sum(row["difference_fen"] for row in rows),
        "rows": rows,
        "never_paid": never_paid,
        "unlinked": payouts.present_many(db, actor, unlinked),
    }


def period_key(month: str, yearly: bool) -> str:
    return month[:4] if yearly else month


def _rows(estimates: list[Mapping[str, Any]], paid: list[Mapping[str, Any]], by: str) -> list[dict[str, Any]]:
    """The report's rows: every estimate and every payout in exactly one of them."""
    yearly = {
        (payout["household_id"], payout["operator_id"], payout["period"])
        for payout in paid
        if len(payout["period"]) == 4
    }

    def key(household_id: ObjectId, operator_id: ObjectId, month: str) -> tuple[ObjectId, ObjectId, str]:
        whole_year = by == "year" or (household_id, operator_id, month[:4]) in yearly
        return household_id, operator_id, period_key(month, whole_year)

    rows: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"estimated_fen": 0, "paid_fen": 0, "payouts": 0})
    for estimate in estimates:
        group = estimate["_id"]
        rows[key(group["household_id"], group["operator_id"], group["month"])]["estimated_fen"] += estimate[
            "share_fen"
        ]
    for payout in paid:
        row = rows[key(payout["household_id"], payout["operator_id"], payout["period_from"])]
        row["paid_fen"] += payout["amount_fen"]
        row["payouts"] += 1
    return [
        {
            "household_id": household_id,
            "operator_id": operator_id,
            "period": period,
            **figures,
            "difference_fen": figures["estimated_fen"] - figures["paid_fen"],
        }
        for (household_id, operator_id, period), figures in sorted(
            rows.items(), key=lambda item: _order(item[0])
        )
    ]


def _order(key: tuple[ObjectId, ObjectId, str]) -> tuple[str, str, str]:
    return str(key[0]), str(key[1]), key[2]


def _unlinked(db: Database, paid: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Payouts whose period no benefit link of their operator and household covers, as links are now."""
    if not paid:
        return []
    links = list(
        db[storage.BENEFIT_LINKS].find(
            {
                "operator_id": {"$in": sorted({payout["operator_id"] for payout in paid})},
                "household_id": {"$in": sorted({payout["household_id"] for payout in paid})},
            },
            {"operator_id": 1, "household_id": 1, "valid_from": 1, "valid_to": 1},
        )
    )
    by_pair: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for link in links:
        by_pair[(link["operator_id"], link["household_id"])].append(link)
    return [
        payout
        for payout in sorted(paid, key=lambda payout: (payout["period_from"], str(payout["_id"])))
        if not any(
            payouts.link_covers(link, payout["period"])
            for link in by_pair[(payout["operator_id"], payout["household_id"])]
        )
    ]


def _names(db: Database, actor: Principal, rows: list[Mapping[str, Any]], paid: list[Mapping[str, Any]]):
    """A row's household number, head's name (masked for enterprises) and operator's name, in two queries."""
    household_ids = sorted({row["household_id"] for row in rows})
    households = {
        household["_id"]: household
        for household in db[storage.HOUSEHOLDS].find(
            {"_id": {"$in": household_ids}}, {"household_no": 1, "head_name": 1}
        )
    }
    names = operators.documents_by_id(db, (row["operator_id"] for row in rows), {"name": 1})

    def of(row: Mapping[str, Any]) -> dict[str, Any]:
        household = households.get(row["household_id"], {})
        name = household.get("head_name")
        return {
            "household_no": household.get("household_no"),
            "head_name": pii.mask_name(name) if actor.role == ENTERPRISE else name,
            "operator_name": names.get(row["operator_id"], {}).get("name"),
        }

    return of
