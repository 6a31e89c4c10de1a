"""The buyers report (帮扶单位采购统计): "帮扶单位直接购买 X 万元、帮助销售 Y 万元、扶持脱贫人口 Z 人"
for a county and any period of days, by pairing, by partner region and by buying unit.

Direct purchases are every mode but 帮助销售 (direct, canteen, union, 832). A helped sale a channel had
already brought into the ledger counts here once, and is shown apart as double-counted. People
benefited are the members of households whose share of an operator's monthly pool (带贫收益) held
unit purchases in the months the period touches: the ledger pools income by operator and month, not
by channel, so a household sharing in such a pool counts once, whatever part of it the units bought.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Any

from pymongo.database import Database

from service import access, buying_units, pairings, storage
from service.access import Principal
from service.clock import today_local, utcnow
from service.errors import Coded, ValidationFailed
from service.purchase_ledger import RECORDED
from service.unit_purchase_checks import LEDGER_CHANNEL
from service.unit_purchase_inputs import HELPED, MODES


def purchases_pipeline(county_code: str, first: date, last: date) -> list[dict[str, Any]]:
    """A county's recorded unit purchases of a period, summed by pairing, unit, mode and flag (pure)."""
    return [
        {
            "$match": {
                "county_code": county_code,
                "date": {"$gte": first.isoformat(), "$lte": last.isoformat()},
                "ledger_status": RECORDED,
            }
        },
        {
            "$group": {
                "_id": {
                    "pairing_id": "$pairing_id",
                    "unit_id": "$unit_id",
                    "mode": "$mode",
                    "double_counted": "$double_counted",
                },
                "amount_fen": {"$sum": "$amount_fen"},
                "weight_g": {"$sum": {"$ifNull": ["$weight_g", 0]}},
                "lines": {"$sum": 1},
            }
        },
    ]


def _period(first: date | None, last: date | None) -> tuple[date, date]:
    today = today_local()
    first = first or date(today.year, 1, 1)
    last = last or today
    if last < first:
        raise ValidationFailed(
            Coded("date.end_before_start", "The period ends before it starts."),
            details={"to": [Coded("date.end_before_start", "The period ends before it starts.")]},
        )
    return first, last


def _empty() -> dict[str, int]:
    return {"direct_fen": 0, "helped_fen": 0, "total_fen": 0, "double_counted_fen": 0, "lines": 0}


def _add(sums: dict[str, int], group: Mapping[str, Any]) -> None:
    amount = group["amount_fen"]
    sums["helped_fen" if group["_id"]["mode"] == HELPED else "direct_fen"] += amount
    sums["total_fen"] += amount
    sums["lines"] += group["lines"]
    if group["_id"].get("double_counted"):
        sums["double_counted_fen"] += amount


def buyers_report(
    db: Database,
    actor: Principal,
    county_code: str,
    first: date | None = None,
    last: date | None = None,
) -> dict[str, Any]:
    """The county's unit purchases of a period: totals, people benefited, by pairing, region and unit."""
    access.county_filter(actor)
    access.require_county(actor, county_code)
    first, last = _period(first, last)
    groups = list(storage.aggregate(db[storage.UNIT_PURCHASES], purchases_pipeline(county_code, first, last)))
    totals = _empty()
    by_mode: dict[str, dict[str, int]] = {mode: {"amount_fen": 0, "lines": 0} for mode in MODES}
    by_pairing: dict[Any, dict[str, int]] = defaultdict(_empty)
    by_unit: dict[Any, dict[str, int]] = defaultdict(_empty)
    weight_g = 0
    for group in groups:
        key = group["_id"]
        _add(totals, group)
        _add(by_pairing[key["pairing_id"]], group)
        _add(by_unit[key["unit_id"]], group)
        by_mode[key["mode"]]["amount_fen"] += group["amount_fen"]
        by_mode[key["mode"]]["lines"] += group["lines"]
        weight_g += group["weight_g"]
    found_pairings = pairings.pairings_by_id(db, by_pairing)
    units = buying_units.units_by_id(db, [*by_unit, *(p["unit_id"] for p in found_pairings.values())])
    pairing_rows = [
        {
            "pairing_id": pairing_id,
            "kind": found_pairings.get(pairing_id, {}).get("kind"),
            "kind_label": pairings.KINDS.get(found_pairings.get(pairing_id, {}).get("kind"), ""),
            "partner_region_code": found_pairings.get(pairing_id, {}).get("partner_region_code"),
            "unit_id": found_pairings.get(pairing_id, {}).get("unit_id"),
            "unit_name": units.get(found_pairings.get(pairing_id, {}).get("unit_id"), {}).get("name"),
            **sums,
        }
        for pairing_id, sums in by_pairing.items()
    ]
    pairing_rows.sort(key=lambda row: (-row["total_fen"], str(row["pairing_id"])))
    by_region: dict[Any, dict[str, int]] = defaultdict(_empty)
    for row in pairing_rows:
        region = by_region[row["partner_region_code"]]
        for name in region:
            region[name] += row[name]
    unit_rows = [
        {
            "unit_id": unit_id,
            "name": units.get(unit_id, {}).get("name"),
            "kind": units.get(unit_id, {}).get("kind"),
            "region_code": units.get(unit_id, {}).get("region_code"),
            **sums,
        }
        for unit_id, sums in by_unit.items()
    ]
    unit_rows.sort(key=lambda row: (-row["total_fen"], str(row["unit_id"])))
    return {
        "county_code": county_code,
        "from_date": first,
        "to_date": last,
        "generated_at": utcnow(),
        **totals,
        "weight_g": weight_g,
        "people_benefited": people_benefited(db, county_code, first, last),
        "by_mode": [{"mode": mode, "label": MODES[mode], **sums} for mode, sums in by_mode.items()],
        "by_pairing": pairing_rows,
        "by_region": [
            {"partner_region_code": code, **sums}
            for code, sums in sorted(
                by_region.items(), key=lambda item: (-item[1]["total_fen"], str(item[0]))
            )
        ],
        "by_unit": unit_rows,
    }


def people_benefited(db: Database, county_code: str, first: date, last: date) -> int:
    """Members of the households that shared in an operator's pool holding unit purchases, in the months
    the period touches; each household counted once, with its members as of its latest such month."""
    months = {"$gte": first.strftime("%Y-%m"), "$lte": last.strftime("%Y-%m")}
    pools = {
        (pool["month"], pool["operator_id"])
        for pool in db[storage.OPERATOR_POOLS].find(
            {"county_code": county_code, "month": months}, {"month": 1, "operator_id": 1, "sources": 1}
        )
        if any(
            source.get("channel") == LEDGER_CHANNEL and source.get("poor_income_fen", 0) > 0
            for source in pool.get("sources") or []
        )
    }
    if not pools:
        return 0
    members: dict[Any, tuple[str, int]] = {}
    for income in db[storage.HOUSEHOLD_INCOME].find(
        {
            "county_code": county_code,
            "month": months,
            "operator_id": {"$in": sorted({operator for _month, operator in pools})},
            "share_fen": {"$gt": 0},
        },
        {"household_id": 1, "month": 1, "operator_id": 1, "members": 1},
    ):
        if (income["month"], income["operator_id"]) not in pools:
            continue
        latest = members.get(income["household_id"])
        if latest is None or income["month"] > latest[0]:
            members[income["household_id"]] = (income["month"], income.get("members") or 0)
    return sum(count for _month, count in members.values())
