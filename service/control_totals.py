"""Control totals (账实相符): a channel's figure for a county and month from outside the ledger.

A platform's settlement statement, the counter operator's daily totals summed, the 832 platform's
settlement: county staff enter the figure (in fen) per channel, county and month, and the ledger's
sales of that channel, county and month must equal it. A month may be entered once it has begun
(Asia/Shanghai); entering it again replaces the figure, with the version in the filter and the
change in the audit log. ``compare`` is what ``ledger verify`` reports beside the ledger's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.base import CHANNELS
from service import access, audit, storage
from service.access import Principal
from service.clock import today_local, utcnow
from service.errors import Coded, Conflict, ValidationFailed, validation_summary
from service.vocabulary import CHANNEL_LABELS

MONTH = re.compile(r"^(20\d{2}|2100)-(0[1-9]|1[0-2])$")


def _month_problem(month: str) -> Coded | None:
    if not MONTH.match(month):
        return Coded("period.bad_month", "A month as YYYY-MM, e.g. 2024-03.")
    today = today_local()
    current = f"{today.year:04d}-{today.month:02d}"
    if month > current:
        return Coded(
            "control_total.future_month",
            f"Month {month} has not begun yet (this month is {current}).",
            month=month,
            current=current,
        )
    return None


def _refuse(field_name: str, message: Coded) -> ValidationFailed:
    details = {field_name: [message]}
    return ValidationFailed(validation_summary(details), details=details)


def set_control_total(
    db: Database,
    actor: Principal,
    county_code: str,
    channel: str,
    month: str,
    amount_fen: int,
    source: str | None = None,
) -> dict[str, Any]:
    """Enter (or replace) the outside figure of a channel, county and month; staff of the county."""
    access.require_county(actor, county_code)
    if channel not in CHANNELS:
        raise _refuse(
            "channel",
            Coded("control_total.unknown_channel", f"Unknown channel {channel!r}.", channel=channel),
        )
    problem = _month_problem(month)
    if problem is not None:
        raise _refuse("month", problem)
    key = {"county_code": county_code, "channel": channel, "month": month}
    collection = db[storage.CONTROL_TOTALS]
    before = collection.find_one(key)
    now = utcnow()
    changes = {"amount_fen": amount_fen, "source": source}
    if before is not None and all(before.get(name) == value for name, value in changes.items()):
        return present(db, [before])[0]
    try:
        if before is None:
            after = {**key, **changes, "version": 1, "created_at": now, "updated_at": now}
            after["_id"] = collection.insert_one(after).inserted_id
        else:
            result = collection.update_one(
                {"_id": before["_id"], "version": before["version"]},
                {
                    "$set": {**changes, "updated_at": now, "updated_by": actor.as_actor()},
                    "$inc": {"version": 1},
                },
            )
            if result.matched_count == 0:
                raise _changed_meanwhile()
            after = collection.find_one({"_id": before["_id"]})
    except DuplicateKeyError:
        raise _changed_meanwhile() from None
    audit.record(
        db,
        actor,
        "control_total.update" if before else "control_total.create",
        entity_kind="control_total",
        entity_id=after["_id"],
        county_code=county_code,
        before=before,
        after=after,
    )
    return present(db, [after])[0]


def _changed_meanwhile() -> Conflict:
    return Conflict(
        Coded(
            "control_total.changed_meanwhile", "Someone entered this figure at the same time; read it again."
        )
    )


def list_control_totals(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    channel: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> list[dict[str, Any]]:
    """The figures in the caller's counties, each beside the ledger's sales and their difference."""
    query: dict[str, Any] = {"$and": access.staff_conditions(actor, county_code)}
    for name, value in (("county_code", county_code), ("channel", channel)):
        if value is not None:
            query["$and"].append({name: value})
    if from_month or to_month:
        query["$and"].append({"month": {"$gte": from_month or "2000-01", "$lte": to_month or "2100-12"}})
    if not query["$and"]:
        query = {}
    totals = list(
        db[storage.CONTROL_TOTALS].find(query).sort([("month", -1), ("county_code", 1), ("channel", 1)])
    )
    return present(db, totals)


def present(db: Database, totals: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    ledger = ledger_sales(db, totals)
    views = []
    for total in totals:
        ledger_fen = ledger.get((total["county_code"], total["month"], total["channel"]), 0)
        views.append(
            {
                **{
                    name: total.get(name)
                    for name in ("_id", "county_code", "channel", "month", "amount_fen", "source", "version")
                },
                "channel_label": CHANNEL_LABELS.get(total["channel"], total["channel"]),
                "ledger_fen": ledger_fen,
                "difference_fen": ledger_fen - total["amount_fen"],
                "updated_at": total.get("updated_at"),
            }
        )
    return views


def ledger_sales(db: Database, totals: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], int]:
    """The ledger's sales (fen) of each (county, month, channel) the totals name, in one aggregation."""
    totals = list(totals)
    if not totals:
        return {}
    pipeline = [
        {
            "$match": {
                "county_code": {"$in": sorted({total["county_code"] for total in totals})},
                "month": {"$in": sorted({total["month"] for total in totals})},
                "channel": {"$in": sorted({total["channel"] for total in totals})},
            }
        },
        {
            "$group": {
                "_id": {"county_code": "$county_code", "month": "$month", "channel": "$channel"},
                "sales_fen": {"$sum": "$amount_fen"},
            }
        },
    ]
    return {
        (group["_id"]["county_code"], group["_id"]["month"], group["_id"]["channel"]): int(group["sales_fen"])
        for group in storage.aggregate(db[storage.SALES], pipeline)
    }


def compare(
    db: Database,
    county_codes: Iterable[str] | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> tuple[int, list[tuple[str, str, str, int, int]]]:
    """(figures compared, [(county, month, channel, ledger fen, outside fen)] wherever the two differ)."""
    query: dict[str, Any] = {}
    if county_codes is not None:
        query["county_code"] = {"$in": list(county_codes)}
    if from_month or to_month:
        query["month"] = {"$gte": from_month or "2000-01", "$lte": to_month or "2100-12"}
    totals = list(
        db[storage.CONTROL_TOTALS].find(query).sort([("county_code", 1), ("month", 1), ("channel", 1)])
    )
    ledger = ledger_sales(db, totals)
    found = []
    for total in totals:
        key = (total["county_code"], total["month"], total["channel"])
        if ledger.get(key, 0) != total["amount_fen"]:
            found.append((*key, ledger.get(key, 0), total["amount_fen"]))
    return len(totals), found
