"""The county reports' aggregation pipelines over the derived ledger, built by pure functions.

Each reads one derived collection — ``sales_monthly``, ``operator_pools`` or ``household_income``
— narrowed by :func:`scope_match`; none reads the raw ``sales``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from service.report_scope import ReportScope

HOUSEHOLD_TOTAL_FIELDS = (
    "_id",
    "month",
    "household_id",
    "share_fen",
    "household_no",
    "household_county_code",
    "township_code",
    "members",
)


def scope_match(scope: ReportScope, *, period: bool = True) -> dict[str, Any]:
    """The ``$match`` of a derived collection for a scope (they all carry county_code, month, operator_id)."""
    match: dict[str, Any] = {}
    if scope.county_codes is not None:
        if len(scope.county_codes) == 1:
            match["county_code"] = scope.county_codes[0]
        else:
            match["county_code"] = {"$in": list(scope.county_codes)}
    if period and scope.from_month == scope.to_month:
        # One month: an equality, so an index on (county_code, month) reads that month's rows only.
        match["month"] = scope.from_month
    elif period:
        match["month"] = {"$gte": scope.from_month, "$lte": scope.to_month}
    if scope.operator_id is not None:
        match["operator_id"] = scope.operator_id
    return match


# Grouped by these flags too, sales split by certification and matching are added up in Python
# (:func:`service.report_figures.split_sales`) rather than by a $cond per document and sum.
SALES_FLAGS = {"certified": "$certified", "matched": "$matched"}
GROUPED_SUMS = ("sales_fen", "poor_income_fen", "quantity", "lines")


def _sales_sums() -> dict[str, Any]:
    """Sums of sales_monthly rows: sales, income, quantity, lines."""
    return {name: {"$sum": f"${name}"} for name in GROUPED_SUMS}


POOL_SUMS = ("pool_fen", "allocated_fen", "unallocated_fen", "pools")


def pool_totals_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """operator_pools → the period's pools, allocated and unallocated, in one row."""
    return [
        {"$match": scope_match(scope)},
        {
            "$group": {
                "_id": None,
                "pool_fen": {"$sum": "$pool_fen"},
                "allocated_fen": {"$sum": "$allocated_fen"},
                "unallocated_fen": {"$sum": "$unallocated_fen"},
                "pools": {"$sum": 1},
            }
        },
    ]


def monthly_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """sales_monthly → one row per month, channel and flags (a trend chart's series, once added up)."""
    return [
        {"$match": scope_match(scope)},
        {"$group": {"_id": {"month": "$month", "channel": "$channel", **SALES_FLAGS}, **_sales_sums()}},
    ]


def product_sales_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """sales_monthly → one row per operator, product and flags (unmatched sales: a null product).

    Small (the catalogue's size), and every ranking, count of sellers and category total is
    added up from it, so one pass over sales_monthly serves them all.
    """
    return [
        {"$match": scope_match(scope)},
        {
            "$group": {
                "_id": {"operator_id": "$operator_id", "product_id": "$product_id", **SALES_FLAGS},
                **_sales_sums(),
            }
        },
    ]


def household_totals_pipeline(
    scope: ReportScope, *, township_code: str | None = None, nonzero: bool = True
) -> list[dict[str, Any]]:
    """household_income → one row per household with a non-zero income in the period (``nonzero=False``:
    with any income, for :func:`merge_household_totals`).

    Township and members come from the latest month (a household may have moved or grown).
    """
    match = scope_match(scope)
    if township_code is not None:
        match["township_code"] = township_code
    stages: list[dict[str, Any]] = [
        {"$match": match},
        # Only what the totals read: the shares carry their links, which are not needed here.
        {"$project": {name: 1 for name in HOUSEHOLD_TOTAL_FIELDS}},
        # A total order, so $last is the same document on every server.
        {"$sort": {"month": 1, "_id": 1}},
        {
            "$group": {
                "_id": "$household_id",
                "income_fen": {"$sum": "$share_fen"},
                "household_no": {"$last": "$household_no"},
                "household_county_code": {"$last": "$household_county_code"},
                "township_code": {"$last": "$township_code"},
                "members": {"$last": "$members"},
            }
        },
    ]
    if nonzero:
        stages.append({"$match": {"income_fen": {"$ne": 0}}})
    return stages


def household_month_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """household_income → each household's income in each month of the period (split by category)."""
    return [
        {"$match": scope_match(scope)},
        {
            "$group": {
                "_id": {"household_id": "$household_id", "month": "$month"},
                "income_fen": {"$sum": "$share_fen"},
            }
        },
        {"$sort": {"_id.month": 1, "_id.household_id": 1}},
    ]


def unallocated_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """operator_pools → the pools nobody was linked to share (a data problem to fix)."""
    return [
        {"$match": {**scope_match(scope), "unallocated_fen": {"$ne": 0}}},
        {"$sort": {"month": 1, "county_code": 1, "operator_id": 1}},
        {"$project": {"sources": 0}},
    ]


def household_income_pipeline(
    household_id: ObjectId, from_month: str, to_month: str, operator_id: ObjectId | None = None
) -> list[dict[str, Any]]:
    """household_income → a household's shares in a period, by month and operator."""
    match: dict[str, Any] = {"household_id": household_id, "month": {"$gte": from_month, "$lte": to_month}}
    if operator_id is not None:
        match["operator_id"] = operator_id
    return [{"$match": match}, {"$sort": {"month": 1, "operator_id": 1}}]


def stale_partitions_query(
    county_codes: Iterable[str] | None, from_month: str, to_month: str
) -> dict[str, Any]:
    """ledger_partitions → the dirty county-months of a scope."""
    query: dict[str, Any] = {"dirty": True, "month": {"$gte": from_month, "$lte": to_month}}
    if county_codes is not None:
        query["county_code"] = {"$in": sorted(set(county_codes))}
    return query


# A period's groupings from its months' (the report cache keeps each month's apart) ------------------


def merge_sales_rows(months: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of :func:`monthly_pipeline` or :func:`product_sales_pipeline` of several months, as the
    pipeline gives them for the months together: the sums of rows with the same ``_id`` added."""
    merged: dict[tuple, dict[str, Any]] = {}
    for rows in months:
        for row in rows:
            key = tuple(sorted(row["_id"].items(), key=lambda item: item[0]))
            found = merged.get(key)
            if found is None:
                merged[key] = dict(row)
            else:
                for name in GROUPED_SUMS:
                    found[name] += row[name]
    return list(merged.values())


def merge_household_totals(months: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of :func:`household_totals_pipeline` (``nonzero=False``) of consecutive months, in month
    order, as the pipeline gives them for the months together: incomes added, township and members
    from the latest month, households whose total is zero left out."""
    merged: dict[Any, dict[str, Any]] = {}
    for rows in months:
        for row in rows:
            found = merged.get(row["_id"])
            income = row["income_fen"] if found is None else found["income_fen"] + row["income_fen"]
            merged[row["_id"]] = {**row, "income_fen": income}
    return [row for row in merged.values() if row["income_fen"] != 0]


def merge_pool_totals(months: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The rows of :func:`pool_totals_pipeline` of several months added up ({} when none had pools)."""
    found = [row for row in months if row]
    if not found:
        return {}
    return {"_id": None, **{name: sum(row[name] for row in found) for name in POOL_SUMS}}


def merge_in_month_order(months: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows sorted by month first (:func:`unallocated_pipeline`) of consecutive months, in month order."""
    return [row for rows in months for row in rows]
