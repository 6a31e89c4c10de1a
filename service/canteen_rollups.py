"""A supervising budget unit's roll-up (主管预算单位汇总): its own and its subordinates' plans and progress.

A canteen unit names its supervising unit in ``parent_id`` (``service.canteen_modes``); the
supervising unit's account and its county's staff see every unit below it, each with its figures
from the one quota rule (``canteen_progress.quotas``), and totals that are their sum to the fen.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import canteen_progress, canteens, storage
from service.access import Principal
from service.clock import today_local, utcnow
from service.report_context import ReportContext

# Figures added up over the units (fen); statuses are counted.
SUMMED = (
    "target_fen",
    "qualifying_fen",
    "purchases_fen",
    "via_832_fen",
    "not_counted_fen",
    "union_target_fen",
    "union_qualifying_fen",
)


def subordinates(db: Database, unit: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """The units below ``unit`` in its county, each with its depth (1 = directly), by level then name."""
    found: list[tuple[dict[str, Any], int]] = []
    seen = {unit["_id"]}
    frontier = [unit["_id"]]
    for depth in range(1, canteens.MAX_HIERARCHY_DEPTH + 1):
        if not frontier:
            break
        level = [
            child
            for child in db[storage.CANTEENS]
            .find({"parent_id": {"$in": frontier}, "county_code": unit["county_code"]})
            .sort([("name", 1), ("_id", 1)])
            if child["_id"] not in seen
        ]
        seen.update(child["_id"] for child in level)
        found.extend((child, depth) for child in level)
        frontier = [child["_id"] for child in level]
    return found


def totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of the units' figures, and how many are met, behind, or need no share of their own."""
    summed = {name: sum(item[name] or 0 for item in items) for name in SUMMED}
    target = summed["target_fen"]
    return {
        "units": len(items),
        "met": sum(1 for item in items if item["status"] == canteen_progress.MET),
        "behind": sum(1 for item in items if item["status"] == canteen_progress.BEHIND),
        "not_required": sum(
            1 for item in items if item["status"] in (canteens.NOT_REQUIRED, canteens.REPORTED_BY_OTHER)
        ),
        **summed,
        "progress_bp": summed["qualifying_fen"] * 10000 // target if target else None,
    }


def unit_rollup(
    db: Database,
    actor: Principal,
    canteen_id: ObjectId,
    year: int | None = None,
    today: date | None = None,
    context: ReportContext | None = None,
) -> dict[str, Any]:
    """The supervising unit itself (depth 0) and every unit below it in a year, and their totals.

    ``subordinates`` adds up the units below it alone; ``totals`` the whole department, itself included.
    """
    unit = canteens.visible_canteen(db, actor, canteen_id)
    today = today or today_local()
    year = year or today.year
    below = subordinates(db, unit)
    units = [unit, *(child for child, _depth in below)]
    depths = [0, *(depth for _child, depth in below)]
    items = [
        {**item, "depth": depth}
        for item, depth in zip(canteen_progress.quotas(db, units, year, today, context), depths, strict=True)
    ]
    return {
        "canteen_id": unit["_id"],
        "name": unit["name"],
        "county_code": unit["county_code"],
        "year": year,
        "generated_at": utcnow(),
        "items": items,
        "subordinates": totals(items[1:]),
        "totals": totals(items),
    }


def has_subordinates(db: Database, canteen_id: ObjectId) -> bool:
    """Whether any unit names this one as its supervising unit."""
    return db[storage.CANTEENS].find_one({"parent_id": canteen_id}, {"_id": 1}) is not None
