"""Progress against a canteen's reserved share (预留份额完成情况): one canteen's, many at once, a county's.

What counts toward the share is ``service.canteen_quota``'s one rule; the target comes from the year's
plan (``service.canteen_plans``). Figures are integer fen and basis points.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, canteen_modes, canteen_plans, canteens, storage
from service.access import Principal
from service.canteen_quota import (
    NOT_REQUIRED,
    P832_ONLY_FROM,
    REPORTED_BY_OTHER,
    SHARED,
    empty_sums,
    exemption,
    merged_sums,
)
from service.clock import today_local, utcnow
from service.errors import Coded, Forbidden
from service.report_context import ReportContext

# Quota states, from the figures of one year.
NO_PLAN, MET, ON_TRACK, BEHIND, NOT_STARTED = "no_plan", "met", "on_track", "behind", "not_started"
QUOTA_STATUSES = {
    NO_PLAN: "未申报",
    NOT_STARTED: "未开始",
    MET: "已完成",
    ON_TRACK: "按进度可完成",
    BEHIND: "进度滞后",
    NOT_REQUIRED: "不作要求",
    REPORTED_BY_OTHER: "合并填报",
}


def days_elapsed(year: int, today: date) -> int:
    """Days of ``year`` gone by on ``today``, today included (0 before it starts, all after it ends)."""
    days_in_year = 366 if calendar.isleap(year) else 365
    if today.year < year:
        return 0
    if today.year > year:
        return days_in_year
    return today.timetuple().tm_yday


def quota_figures(
    plan: Mapping[str, Any] | None,
    qualifying_fen: int,
    year: int,
    today: date,
    exempt: str | None = None,
) -> dict[str, Any]:
    """Progress and forecast of one year, in integer fen and basis points (pure).

    progress = qualifying ÷ target; forecast = qualifying ÷ days elapsed × days in the year
    (for a past year, the actual). Basis points are rounded down, so 10000 means truly met.
    A unit ``exempt`` from the share (``canteen_quota.exemption``) has no target and that status,
    so it is never behind.
    """
    days_in_year = 366 if calendar.isleap(year) else 365
    elapsed = days_elapsed(year, today)
    target = None if exempt else canteen_plans.target_fen(plan)
    forecast_fen = None if elapsed == 0 else qualifying_fen * days_in_year // elapsed
    progress_bp = forecast_bp = None
    if target:
        progress_bp = qualifying_fen * 10000 // target
        if elapsed:
            forecast_bp = qualifying_fen * days_in_year * 10000 // (elapsed * target)
    if exempt:
        status = exempt
    elif target is None:
        status = NO_PLAN
    elif qualifying_fen >= target:
        status = MET
    elif elapsed == 0:
        status = NOT_STARTED
    else:
        status = ON_TRACK if forecast_bp is not None and forecast_bp >= 10000 else BEHIND
    return {
        "year": year,
        "plan": dict(plan) if plan is not None else None,
        "target_fen": target,
        "qualifying_fen": qualifying_fen,
        "remaining_fen": None if target is None else max(target - qualifying_fen, 0),
        "progress_bp": progress_bp,
        "days_elapsed": elapsed,
        "days_in_year": days_in_year,
        "forecast_fen": forecast_fen,
        "forecast_bp": forecast_bp,
        "status": status,
    }


def _quota_of(
    canteen: Mapping[str, Any],
    sums: Mapping[str, int],
    year: int,
    today: date,
    reporter: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    mode = canteen_modes.mode_of(canteen)
    plan = canteen_plans.plan_for(canteen, year)
    figures = quota_figures(plan, sums["qualifying_fen"], year, today, exemption(mode, reporter))
    union_target = None if reporter is not None else canteen_plans.union_target_fen(plan)
    union_qualifying = sums.get("union_qualifying_fen", 0)
    return {
        "canteen_id": canteen["_id"],
        "name": canteen["name"],
        "unit_type": canteen.get("unit_type"),
        "county_code": canteen["county_code"],
        "mode": mode,
        "contractor": canteen.get("contractor"),
        "parent_id": canteen.get("parent_id"),
        "reported_by": None
        if reporter is None
        else {"canteen_id": reporter["_id"], "name": reporter["name"]},
        "shared_unit_ids": list(canteen.get("shared_unit_ids") or []),
        **figures,
        "purchases_fen": sums["purchases_fen"],
        "via_832_fen": sums["via_832_fen"],
        "certified_other_fen": sums["certified_other_fen"],
        "not_counted_fen": sums["not_counted_fen"],
        "lines": sums["lines"],
        "p832_only": year >= P832_ONLY_FROM,
        # The union's share (工会), apart from the canteen's: its own target and its own lines.
        "union_target_fen": union_target,
        "union_fen": sums.get("union_fen", 0),
        "union_qualifying_fen": union_qualifying,
        "union_progress_bp": union_qualifying * 10000 // union_target if union_target else None,
    }


def quotas(
    db: Database,
    canteens: list[Mapping[str, Any]],
    year: int,
    today: date | None = None,
    context: ReportContext | None = None,
) -> list[dict[str, Any]]:
    """Each canteen's progress in ``year``: one aggregation of the ledger lines they all bought
    (kept in the report cache while those lines are unchanged, given a context that has one).

    A shared canteen's reporter adds up the lines of the units it reports for, and those units
    show none, so a total over units counts each line once.
    """
    today = today or today_local()
    reporters = canteen_modes.reporters_of(db, (canteen["_id"] for canteen in canteens))
    reported_for = {
        canteen["_id"]: list(canteen.get("shared_unit_ids") or [])
        for canteen in canteens
        if canteen_modes.mode_of(canteen) == SHARED
    }
    wanted = {canteen["_id"] for canteen in canteens}.union(*reported_for.values())
    sums = (context or ReportContext(db)).canteen_purchase_sums(sorted(wanted), year)
    items = []
    for canteen in canteens:
        reporter = reporters.get(canteen["_id"])
        units = [] if reporter is not None else [canteen["_id"], *reported_for.get(canteen["_id"], [])]
        own = merged_sums(sums.get(unit, empty_sums()) for unit in units)
        items.append(_quota_of(canteen, own, year, today, reporter))
    return items


def canteen_quota(
    db: Database, actor: Principal, canteen_id: ObjectId, year: int | None = None, today: date | None = None
) -> dict[str, Any]:
    """One canteen's progress against its reserved share for a year (default: this year)."""
    canteen = canteens.visible_canteen(db, actor, canteen_id)
    today = today or today_local()
    return quotas(db, [canteen], year or today.year, today)[0]


def county_quota_report(
    db: Database,
    actor: Principal,
    county_code: str,
    year: int | None = None,
    today: date | None = None,
    context: ReportContext | None = None,
) -> dict[str, Any]:
    """Every canteen of a county with its progress, and the county's totals (staff)."""
    if not actor.is_staff:
        raise Forbidden(Coded("report.staff_only", "Only county staff and admins may read county reports."))
    access.require_county(actor, county_code)
    today = today or today_local()
    year = year or today.year
    canteens = list(db[storage.CANTEENS].find({"county_code": county_code}).sort([("name", 1), ("_id", 1)]))
    items = quotas(db, canteens, year, today, context)
    planned = [item for item in items if item["target_fen"] is not None]
    return {
        "county_code": county_code,
        "year": year,
        "generated_at": utcnow(),
        "items": items,
        "totals": {
            "canteens": len(items),
            "with_plan": len(planned),
            "met": sum(1 for item in items if item["status"] == MET),
            "behind": sum(1 for item in items if item["status"] == BEHIND),
            "not_required": sum(1 for item in items if item["status"] in (NOT_REQUIRED, REPORTED_BY_OTHER)),
            "target_fen": sum(item["target_fen"] for item in planned),
            "qualifying_fen": sum(item["qualifying_fen"] for item in items),
            "purchases_fen": sum(item["purchases_fen"] for item in items),
            "union_target_fen": sum(item["union_target_fen"] or 0 for item in items),
            "union_qualifying_fen": sum(item["union_qualifying_fen"] for item in items),
        },
    }
