"""The county reports' adding-up, pure: channels, rankings, sellers, townships, households' income.

Works on the small groupings of :mod:`service.report_pipelines`. All money is integer fen; the
median and 90th percentile of households' income are taken from the integer values themselves
(lower median, nearest rank), so they are integers too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from service.report_pipelines import GROUPED_SUMS

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
# Histogram edges of a household's income in the period, in yuan (the last bucket is open-ended).
INCOME_BUCKET_EDGES_YUAN = (0, 100, 500, 1_000, 2_000, 5_000, 10_000)


SUMMED = (
    "sales_fen",
    "certified_sales_fen",
    "uncertified_sales_fen",
    "unmatched_sales_fen",
    "poor_income_fen",
    "quantity",
    "lines",
)


def split_sales(row: Mapping[str, Any]) -> dict[str, int]:
    """A grouped row's sums with its sales split by its flags: certified, uncertified (matched), unmatched."""
    sales, flags = row["sales_fen"], row["_id"]
    certified, matched = flags.get("certified"), flags.get("matched")
    return {
        "sales_fen": sales,
        "certified_sales_fen": sales if certified else 0,
        "uncertified_sales_fen": sales if matched and not certified else 0,
        "unmatched_sales_fen": 0 if matched else sales,
        **{name: row[name] for name in GROUPED_SUMS if name != "sales_fen"},
    }


def add_up(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]) -> dict[Any, dict]:
    """Grouped rows' split sums (:func:`split_sales`) added up by ``key``, in the order keys first appear."""
    totals: dict[Any, dict[str, int]] = {}
    for row in rows:
        total = totals.setdefault(key(row), dict.fromkeys(SUMMED, 0))
        for name, value in split_sales(row).items():
            total[name] += value
    return totals


def month_channel_totals(month_rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """The rows of :func:`monthly_pipeline` added up by month and channel, in that order."""
    totals = add_up(month_rows, lambda row: (row["_id"]["month"], row["_id"]["channel"]))
    return {key: totals[key] for key in sorted(totals, key=lambda key: tuple(map(_bson_order, key)))}


def _bson_order(value: Any) -> tuple[bool, Any]:
    """A sort key that puts null first, as MongoDB does, and compares the rest (one type) as they are."""
    return (value is not None, value)


def channel_totals(month_rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The month × channel rows (:func:`monthly_pipeline`) added up by channel, in channel order."""
    totals = add_up(month_rows, lambda row: row["_id"]["channel"])
    return {channel: totals[channel] for channel in sorted(totals, key=_bson_order)}


def seller_totals(product_rows: Iterable[Mapping[str, Any]], key: str) -> dict[Any, dict[str, int]]:
    """Matched sales (:func:`product_sales_pipeline`) added up by operator (key="operator_id") or product."""
    if key not in ("operator_id", "product_id"):
        raise ValueError(key)
    matched = (row for row in product_rows if row["_id"].get("matched") is True)
    return add_up(matched, lambda row: row["_id"].get(key))


def sellers_count(product_rows: Iterable[Mapping[str, Any]], key: str) -> int:
    """How many operators (key="operator_id") or products sold: net matched sales above zero."""
    return sum(1 for total in seller_totals(product_rows, key).values() if total["sales_fen"] > 0)


def ranking(product_rows: Iterable[Mapping[str, Any]], key: str, limit: int) -> list[dict[str, Any]]:
    """The top ``limit`` products (key="product_id") or operators by net sales, ties by id."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1–{MAX_LIMIT}")
    totals = seller_totals(product_rows, key)
    ordered = sorted(totals, key=lambda id_: (-totals[id_]["sales_fen"], _bson_order(id_)))
    return [{"_id": id_, **totals[id_]} for id_ in ordered[:limit]]


def township_totals(household_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Household totals (:func:`household_totals_pipeline`) by township: income, households, people."""
    townships: dict[Any, dict[str, int]] = {}
    for row in household_rows:
        township = townships.setdefault(
            row.get("township_code"), {"income_fen": 0, "households": 0, "people": 0}
        )
        township["income_fen"] += row["income_fen"]
        township["households"] += 1
        members = row.get("members")
        # $sum's rule: what is not a number counts nothing.
        if isinstance(members, int) and not isinstance(members, bool):
            township["people"] += members
    return [{"township_code": code, **townships[code]} for code in sorted(townships, key=_bson_order)]


def lower_median(values: list[int]) -> int | None:
    """The lower median of integers (the middle value; of two middle values, the smaller)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def nearest_rank_percentile(values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile: the smallest value with at least ``percent``% of values at or below it."""
    if not values:
        return None
    if not 0 < percent <= 100:
        raise ValueError("percent must be 1–100")
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil(percent × n / 100), in integers
    return ordered[rank - 1]


def income_buckets(edges_yuan: Iterable[int] = INCOME_BUCKET_EDGES_YUAN) -> list[dict[str, Any]]:
    """The histogram's buckets in fen: below the first edge, [edge, next edge), and the last edge and up."""
    edges = [edge * 100 for edge in edges_yuan]
    yuan = list(edges_yuan)
    buckets = [{"label": f"{yuan[0]}元以下", "min_fen": None, "max_fen": edges[0]}]
    for index, low in enumerate(edges):
        high = edges[index + 1] if index + 1 < len(edges) else None
        label = f"{yuan[index]:,}–{yuan[index + 1]:,}元" if high is not None else f"{yuan[index]:,}元及以上"
        buckets.append({"label": label, "min_fen": low, "max_fen": high})
    return buckets


def income_distribution(values: list[int]) -> dict[str, Any]:
    """Count, total, lower median, nearest-rank 90th percentile and histogram of households' income."""
    buckets = [{**bucket, "households": 0} for bucket in income_buckets()]
    for value in values:
        for bucket in buckets:
            low, high = bucket["min_fen"], bucket["max_fen"]
            if (low is None or value >= low) and (high is None or value < high):
                bucket["households"] += 1
                break
    return {
        "count": len(values),
        "total_fen": sum(values),
        "median_fen": lower_median(values),
        "p90_fen": nearest_rank_percentile(values, 90),
        "buckets": buckets,
    }
