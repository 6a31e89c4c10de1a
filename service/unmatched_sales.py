"""What counts as unmatched sales (未匹配产品销售额): one definition, read by the unmatched list
(service/unmatched.py) and by the county reports' summary (service/reports.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Lines no product claims (the ledger stores them so, and the rollups group them by the flag).
UNMATCHED_LINES = {"matched": False}


def unmatched_match(
    county_codes: Iterable[str] | None, from_month: str, to_month: str, channel: str | None = None
) -> dict[str, Any]:
    """Unmatched sales of these counties (None: every county) in a period of months (pure).

    Lines no product claims, by the Asia/Shanghai month they happened in; refunds are lines of
    negative amount, so every sum over this match is net of refunds. The raw ``sales`` and the
    ``sales_monthly`` rollup carry these fields alike.
    """
    # One month as an equality, so every backend starts on the (county, month) part of the index.
    months = from_month if from_month == to_month else {"$gte": from_month, "$lte": to_month}
    match: dict[str, Any] = {**UNMATCHED_LINES, "month": months}
    if county_codes is not None:
        match = {"county_code": {"$in": sorted(county_codes)}, **match}
    if channel is not None:
        match["channel"] = channel
    return match


def unmatched_sales_fen(rollup_rows: Iterable[Mapping[str, Any]]) -> int:
    """The dashboard's unmatched sales, from the period's ``sales_monthly`` rows grouped with their
    ``matched`` flag (report_pipelines.monthly_pipeline): the same lines the list groups, net of
    refunds (pure).
    """
    return sum(row["sales_fen"] for row in rollup_rows if row["_id"].get("matched") is False)
