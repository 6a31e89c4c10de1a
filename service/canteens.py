"""Unit canteens (单位食堂): the units, their yearly reserved-share plans, and progress against them.

Budget units reserve at least 10% of their canteen's yearly food purchases for
products of poverty areas (财库〔2021〕19号; 15% is encouraged) and declare the
yearly total and share by 20 February; a lower share needs its approval (适当放宽
预留比例), and years before 2021 had no floor. A plan per year holds both; progress
adds up the ledger lines the canteen bought by the one rule of
``service.canteen_quota`` — the lines its purchase list shows. Purchases
themselves live in ``service.canteen_purchases``.

A canteen's ``name`` is kept exactly as entered (only surrounding blanks are
trimmed) and is unique within its county: the 832 importer matches buyer units
by exact name through :func:`find_canteen_by_name`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import access, audit, canteen_modes, storage
from service.access import ENTERPRISE, Principal
from service.canteen_quota import (
    NOT_REQUIRED,
    OWN,
    P832_ONLY_FROM,
    REPORTED_BY_OTHER,
    SHARED,
    empty_sums,
    exemption,
    merged_sums,
)
from service.clock import local_date, today_local, utcnow
from service.errors import Coded, Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from service.report_context import ReportContext
from service.vocabulary import UNIT_TYPE_LABELS

# The unit type codes a canteen takes, with their labels.
UNIT_TYPES = UNIT_TYPE_LABELS
# 财库〔2021〕19号: at least 10% of the yearly canteen food purchases is reserved; 15% is encouraged.
FLOOR_RATIO_BP = 1000
ENCOURAGED_RATIO_BP = 1500
# Units declare their yearly total and share by 20 February of the year.
DECLARATION_DEADLINE = (2, 20)
# 财库〔2019〕27号 started the reserved share; earlier years are typos.
FIRST_PLAN_YEAR = 2019
# The 10% floor holds from 2021 (财库〔2021〕19号); "a certain share" before, with no floor.
FLOOR_FROM_YEAR = 2021
MAX_APPROVAL_LENGTH = 100
MAX_NAME_LENGTH = 100
# What a canteen account may change on its own unit (name, county, mode and hierarchy are staff decisions).
CANTEEN_EDITABLE = ("unit_type", "address", "contact", "contractor")
STAFF_EDITABLE = ("name", "county_code", "mode", "shared_unit_ids", "parent_id", *CANTEEN_EDITABLE)
# A supervising unit's subordinates are followed this many levels down (主管预算单位 → 所属单位).
MAX_HIERARCHY_DEPTH = 5

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


# Names ------------------------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """A canteen name as stored: exact, with surrounding blanks (full-width too) trimmed."""
    return str(name).strip(" \t\r\n\u3000\u00a0")


def find_canteen_by_name(db: Database, name: str, county_code: str | None = None) -> dict[str, Any] | None:
    """The canteen with exactly this name (in ``county_code`` if given), or None.

    Names are unique per county, not nationwide: without a county, a name held
    by canteens of two counties is ambiguous and gives None.
    """
    query: dict[str, Any] = {"name": clean_name(name)}
    if county_code is not None:
        query["county_code"] = county_code
    found = list(db[storage.CANTEENS].find(query).limit(2))
    return found[0] if len(found) == 1 else None


def find_canteens_by_names(
    db: Database, names: Iterable[str], county_code: str | None = None
) -> dict[str, dict[str, Any]]:
    """Canteens by exact name in one query (for importers); ambiguous names are left out."""
    wanted = sorted({clean_name(name) for name in names})
    if not wanted:
        return {}
    query: dict[str, Any] = {"name": {"$in": wanted}}
    if county_code is not None:
        query["county_code"] = county_code
    by_name: dict[str, list[dict[str, Any]]] = {}
    for canteen in db[storage.CANTEENS].find(query):
        by_name.setdefault(canteen["name"], []).append(canteen)
    return {name: found[0] for name, found in by_name.items() if len(found) == 1}


# Reading ----------------------------------------------------------------------------------------


CANTEEN_NOT_IN_SCOPE = Coded("canteen.not_in_scope", "No canteen of yours has this id.")


def load_canteen(db: Database, canteen_id: ObjectId) -> dict[str, Any]:
    """A canteen by id, unscoped (callers check access); canteens stored before versioning are version 1."""
    canteen = db[storage.CANTEENS].find_one({"_id": canteen_id})
    if canteen is None:
        raise NotFound(Coded("canteen.not_in_scope", "No such canteen."))
    canteen.setdefault("version", 1)
    canteen.setdefault("plans", [])
    return canteen


def visible_canteen(db: Database, actor: Principal, canteen_id: ObjectId) -> dict[str, Any]:
    """A canteen the actor may act on: its own account, or staff of its county.

    A missing canteen and another tenant's answer alike (admins: 404), so ids reveal nothing.
    """
    if actor.role == ENTERPRISE:
        raise Forbidden(Coded("canteen.enterprise_refused", "Enterprise accounts cannot act on canteens."))
    try:
        canteen = load_canteen(db, canteen_id)
        access.require_canteen(actor, canteen["_id"], canteen["county_code"])
    except NotFound:
        if actor.is_admin:
            raise
        raise Forbidden(CANTEEN_NOT_IN_SCOPE) from None
    except Forbidden:
        raise Forbidden(CANTEEN_NOT_IN_SCOPE) from None
    return canteen


def present(canteen: Mapping[str, Any]) -> dict[str, Any]:
    """A canteen as the API shows it: plans by year, each with its target and whether it came late."""
    return {
        **canteen,
        "plans": [
            {
                **plan,
                "target_fen": target_fen(plan),
                "union_target_fen": union_target_fen(plan),
                "declared_late": declared_late(plan),
            }
            for plan in sorted(canteen.get("plans") or [], key=lambda plan: plan["year"])
        ],
    }


def get_canteen(db: Database, actor: Principal, canteen_id: ObjectId) -> dict[str, Any]:
    return present(visible_canteen(db, actor, canteen_id))


def list_canteens(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    unit_type: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Canteens of the staff member's counties (admins: all), by name."""
    conditions: list[dict[str, Any]] = []
    conditions.extend(access.staff_conditions(actor, county_code))
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if unit_type is not None:
        conditions.append({"unit_type": unit_type})
    if q:
        conditions.append({"name": {"$regex": re.escape(q.strip())}})
    query = {"$and": conditions} if conditions else {}
    found, total = storage.page_of(db[storage.CANTEENS], query, [("name", 1), ("_id", 1)], page, per_page)
    return [present({"version": 1, **canteen}) for canteen in found], total


# Writing ----------------------------------------------------------------------------------------


def _name_taken(name: str, county_code: str) -> Conflict:
    return Conflict(
        Coded(
            "canteen.name_taken",
            f"County {county_code} already has a canteen named {name}.",
            county_code=county_code,
            name=name,
        ),
        details={"name": [Coded("canteen.name_used", "Already used in this county.")]},
    )


def _check_name_free(db: Database, name: str, county_code: str, canteen_id: ObjectId | None) -> None:
    holder = db[storage.CANTEENS].find_one(
        {"county_code": county_code, "name": name, "_id": {"$ne": canteen_id}}, {"_id": 1}
    )
    if holder is not None:
        raise _name_taken(name, county_code)


def _checked_name(name: Any) -> str:
    cleaned = clean_name(name or "")
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            Coded("canteen.name_required", "A canteen needs a name."),
            details={
                "name": [
                    Coded(
                        "field.length_range", f"1–{MAX_NAME_LENGTH} characters.", min=1, max=MAX_NAME_LENGTH
                    )
                ]
            },
        )
    return cleaned


def create_canteen(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Register a canteen unit (staff of its county)."""
    if not actor.is_staff:
        raise Forbidden(Coded("canteen.staff_only", "Only county staff and admins may register canteens."))
    access.require_county(actor, data["county_code"])
    name = _checked_name(data["name"])
    _check_name_free(db, name, data["county_code"], None)
    unit = canteen_modes.checked_changes(
        db,
        {"_id": None, "county_code": data["county_code"]},
        {
            field: data[field]
            for field in ("mode", "contractor", "parent_id", "shared_unit_ids")
            if field in data
        },
    )
    now = utcnow()
    canteen = {
        "name": name,
        "unit_type": data["unit_type"],
        "county_code": data["county_code"],
        "address": data.get("address"),
        "contact": data.get("contact"),
        "mode": unit.get("mode", OWN),
        "contractor": unit.get("contractor"),
        "parent_id": unit.get("parent_id"),
        "shared_unit_ids": unit.get("shared_unit_ids", []),
        "plans": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    try:
        canteen["_id"] = db[storage.CANTEENS].insert_one(canteen).inserted_id
    except DuplicateKeyError:
        raise _name_taken(name, data["county_code"]) from None
    audit.record(
        db,
        actor,
        "canteen.create",
        entity_kind="canteen",
        entity_id=canteen["_id"],
        county_code=canteen["county_code"],
        after=canteen,
    )
    return present(canteen)


def _version_filter(expected: int) -> dict[str, Any]:
    # Canteens stored before versioning (demo, fixtures) count as version 1.
    if expected == 1:
        return {"$or": [{"version": 1}, {"version": {"$exists": False}}]}
    return {"version": expected}


def update_canteen(
    db: Database, actor: Principal, canteen_id: ObjectId, expected_version: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Edit a canteen (If-Match version); its own account may not change its name or county."""
    before = visible_canteen(db, actor, canteen_id)
    allowed = STAFF_EDITABLE if actor.is_staff else CANTEEN_EDITABLE
    refused = sorted(name for name in changes if name not in allowed)
    if refused:
        raise Forbidden(
            Coded("canteen.staff_only_fields", "Only county staff may change a canteen's name or county."),
            details={name: [Coded("field.staff_only", "Staff only.")] for name in refused},
        )
    if before["version"] != expected_version:
        raise PreconditionFailed("The canteen changed since you read it; read it again.")
    update = dict(changes)
    if "name" in update:
        update["name"] = _checked_name(update["name"])
    if "county_code" in update:
        access.require_county(actor, update["county_code"])
    if any(name in update for name in ("mode", "shared_unit_ids", "contractor", "parent_id")):
        update = canteen_modes.checked_changes(db, before, update)
    update = {name: value for name, value in update.items() if before.get(name) != value}
    if not update:
        return present(before)
    if "name" in update or "county_code" in update:
        _check_name_free(
            db,
            update.get("name", before["name"]),
            update.get("county_code", before["county_code"]),
            canteen_id,
        )
    update["updated_at"] = utcnow()
    try:
        result = db[storage.CANTEENS].update_one(
            {"_id": canteen_id, **_version_filter(expected_version)},
            {"$set": {**update, "version": expected_version + 1}},
        )
    except DuplicateKeyError:
        raise _name_taken(
            update.get("name", before["name"]), update.get("county_code", before["county_code"])
        ) from None
    if result.matched_count == 0:
        raise PreconditionFailed("The canteen changed since you read it; read it again.")
    after = load_canteen(db, canteen_id)
    audit.record(
        db,
        actor,
        "canteen.update",
        entity_kind="canteen",
        entity_id=canteen_id,
        county_code=after["county_code"],
        before=before,
        after=after,
    )
    return present(after)


# Plans (年度预留份额) -------------------------------------------------------------------------------


def target_fen(plan: Mapping[str, Any] | None) -> int | None:
    """The reserved amount of a plan: total × ratio, rounded up to the fen (the share is a minimum)."""
    if plan is None:
        return None
    return -(-plan["food_total_fen"] * plan["reserve_ratio_bp"] // 10000)


def union_target_fen(plan: Mapping[str, Any] | None) -> int | None:
    """The union's own share (工会): its yearly purchases × its ratio, rounded up; None unless configured."""
    if plan is None or not plan.get("union_total_fen") or not plan.get("union_ratio_bp"):
        return None
    return -(-plan["union_total_fen"] * plan["union_ratio_bp"] // 10000)


def declared_late(plan: Mapping[str, Any]) -> bool:
    """Whether the plan was declared after 20 February of its year (Asia/Shanghai)."""
    month, day = DECLARATION_DEADLINE
    return local_date(plan["declared_at"]) > date(plan["year"], month, day)


def plan_for(canteen: Mapping[str, Any], year: int) -> dict[str, Any] | None:
    return next((plan for plan in canteen.get("plans") or [] if plan["year"] == year), None)


def check_plan_year(year: int) -> None:
    last = today_local().year + 1
    if not FIRST_PLAN_YEAR <= year <= last:
        raise ValidationFailed(
            Coded(
                "canteen.plan_year",
                f"A plan year is between {FIRST_PLAN_YEAR} and {last}.",
                first=FIRST_PLAN_YEAR,
                last=last,
            ),
            details={
                "year": [
                    Coded(
                        "field.range", f"Between {FIRST_PLAN_YEAR} and {last}.", min=FIRST_PLAN_YEAR, max=last
                    )
                ]
            },
        )


def check_ratio(year: int, ratio_bp: int, approval: str | None) -> None:
    """From 2021 a share below the 10% floor needs the approval that allowed it (适当放宽预留比例)."""
    if not 1 <= ratio_bp <= 10000:
        raise ValidationFailed(
            Coded("canteen.ratio_range", "The reserved ratio is between 1 and 10000 basis points."),
            details={"reserve_ratio_bp": [Coded("canteen.ratio_range", "From 1 to 10000.")]},
        )
    if year >= FLOOR_FROM_YEAR and ratio_bp < FLOOR_RATIO_BP and not approval:
        raise ValidationFailed(
            Coded(
                "canteen.ratio_below_floor",
                f"From {FLOOR_FROM_YEAR} a reserved ratio below {FLOOR_RATIO_BP} basis points needs the "
                "reference of its approval (ratio_approval).",
                from_year=FLOOR_FROM_YEAR,
                floor_bp=FLOOR_RATIO_BP,
            ),
            details={
                "reserve_ratio_bp": [
                    Coded(
                        "canteen.ratio_floor",
                        f"At least {FLOOR_RATIO_BP}, or give ratio_approval.",
                        floor_bp=FLOOR_RATIO_BP,
                    )
                ]
            },
        )


def _check_has_share(db: Database, canteen: Mapping[str, Any]) -> None:
    """A unit with no canteen, or reported for by a shared canteen, declares no plan of its own."""
    reporter = canteen_modes.reporters_of(db, [canteen["_id"]]).get(canteen["_id"])
    why = exemption(canteen_modes.mode_of(canteen), reporter)
    if why == NOT_REQUIRED:
        raise ValidationFailed(
            Coded("canteen.no_canteen_no_plan", "A unit with no canteen has no reserved share to declare.")
        )
    if why == REPORTED_BY_OTHER:
        raise ValidationFailed(
            Coded(
                "canteen.plan_by_reporter",
                f"{reporter['name']} reports for this unit: its plan holds this unit's share.",
                reporter=reporter["name"],
            )
        )


def set_plan(
    db: Database,
    actor: Principal,
    canteen_id: ObjectId,
    year: int,
    data: Mapping[str, Any],
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Set or replace a year's plan: the yearly food total and the reserved ratio (default 10%).

    From 2021 a ratio below 10% needs ``ratio_approval``, the reference of its approval.

    With ``expected_version`` (If-Match) a concurrent edit is a 412; without it the plan of
    this year is replaced and plans of other years written meanwhile are kept.
    """
    check_plan_year(year)
    ratio_bp = data.get("reserve_ratio_bp", FLOOR_RATIO_BP)
    approval = (data.get("ratio_approval") or "").strip() or None
    if approval is not None and len(approval) > MAX_APPROVAL_LENGTH:
        raise ValidationFailed(
            Coded("canteen.approval_too_long", "The approval reference is too long."),
            details={
                "ratio_approval": [
                    Coded(
                        "field.length_max",
                        f"At most {MAX_APPROVAL_LENGTH} characters.",
                        max=MAX_APPROVAL_LENGTH,
                    )
                ]
            },
        )
    check_ratio(year, ratio_bp, approval)
    union_total, union_ratio = data.get("union_total_fen"), data.get("union_ratio_bp")
    if (union_total is None) != (union_ratio is None):
        raise ValidationFailed(
            Coded(
                "canteen.union_share_pair", "The union's share needs both union_total_fen and union_ratio_bp."
            ),
            details={
                "union_ratio_bp" if union_ratio is None else "union_total_fen": [
                    Coded("field.required", "Required with the other union field.")
                ]
            },
        )
    plan = {
        "year": year,
        "food_total_fen": data["food_total_fen"],
        "reserve_ratio_bp": ratio_bp,
        "union_total_fen": union_total,
        "union_ratio_bp": union_ratio,
        # Kept only where it lowered the floor.
        "ratio_approval": approval if year >= FLOOR_FROM_YEAR and ratio_bp < FLOOR_RATIO_BP else None,
        "declared_at": utcnow(),
        "declared_by": actor.as_actor(),
    }
    for _attempt in range(3):
        before = visible_canteen(db, actor, canteen_id)
        _check_has_share(db, before)
        version = before["version"] if expected_version is None else expected_version
        if before["version"] != version:
            raise PreconditionFailed("The canteen changed since you read it; read it again.")
        plans = [other for other in before["plans"] if other["year"] != year] + [plan]
        plans.sort(key=lambda item: item["year"])
        result = db[storage.CANTEENS].update_one(
            {"_id": canteen_id, **_version_filter(version)},
            {"$set": {"plans": plans, "version": version + 1, "updated_at": plan["declared_at"]}},
        )
        if result.matched_count:
            break
        if expected_version is not None:
            raise PreconditionFailed("The canteen changed since you read it; read it again.")
    else:
        raise PreconditionFailed("The canteen keeps changing; try again.")
    after = load_canteen(db, canteen_id)
    audit.record(
        db,
        actor,
        "canteen.plan_set",
        entity_kind="canteen",
        entity_id=canteen_id,
        county_code=after["county_code"],
        before={"plan": plan_for(before, year)},
        after={"plan": plan},
        note=f"year {year}",
    )
    return present(after)


# Progress against the reserved share (预留份额完成情况) ---------------------------------------------


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
    target = None if exempt else target_fen(plan)
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
    plan = plan_for(canteen, year)
    figures = quota_figures(plan, sums["qualifying_fen"], year, today, exemption(mode, reporter))
    union_target = None if reporter is not None else union_target_fen(plan)
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
    canteen = visible_canteen(db, actor, canteen_id)
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
