"""Unit canteens (单位食堂): the units and the yearly reserved-share plans they declare.

Budget units reserve at least 10% of their canteen's yearly food purchases for
products of poverty areas (财库〔2021〕19号; 15% is encouraged) and declare the
yearly total and share by 20 February; a lower share needs its approval (适当放宽
预留比例), and years before 2021 had no floor. A plan per year holds both; progress
adds up the ledger lines the canteen bought by the one rule of
``service.canteen_quota`` — the lines its purchase list shows. A plan's own rules
and figures live in ``service.canteen_plans``, progress in ``service.canteen_progress``,
purchases in ``service.canteen_purchases``.

A canteen's ``name`` is kept exactly as entered (only surrounding blanks are
trimmed) and is unique within its county: the 832 importer matches buyer units
by exact name through :func:`find_canteen_by_name`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import access, audit, canteen_modes, canteen_plans, storage
from service.access import ENTERPRISE, Principal
from service.canteen_quota import (
    NOT_REQUIRED,
    OWN,
    REPORTED_BY_OTHER,
    exemption,
)
from service.clock import utcnow
from service.errors import Coded, Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from service.vocabulary import UNIT_TYPE_LABELS

# The unit type codes a canteen takes, with their labels.
UNIT_TYPES = UNIT_TYPE_LABELS
MAX_NAME_LENGTH = 100
# What a canteen account may change on its own unit (name, county, mode and hierarchy are staff decisions).
CANTEEN_EDITABLE = ("unit_type", "address", "contact", "contractor")
STAFF_EDITABLE = ("name", "county_code", "mode", "shared_unit_ids", "parent_id", *CANTEEN_EDITABLE)
# A supervising unit's subordinates are followed this many levels down (主管预算单位 → 所属单位).
MAX_HIERARCHY_DEPTH = 5


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
                "target_fen": canteen_plans.target_fen(plan),
                "union_target_fen": canteen_plans.union_target_fen(plan),
                "declared_late": canteen_plans.declared_late(plan),
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
    canteen_plans.check_plan_year(year)
    ratio_bp = data.get("reserve_ratio_bp", canteen_plans.FLOOR_RATIO_BP)
    approval = (data.get("ratio_approval") or "").strip() or None
    if approval is not None and len(approval) > canteen_plans.MAX_APPROVAL_LENGTH:
        raise ValidationFailed(
            Coded("canteen.approval_too_long", "The approval reference is too long."),
            details={
                "ratio_approval": [
                    Coded(
                        "field.length_max",
                        f"At most {canteen_plans.MAX_APPROVAL_LENGTH} characters.",
                        max=canteen_plans.MAX_APPROVAL_LENGTH,
                    )
                ]
            },
        )
    canteen_plans.check_ratio(year, ratio_bp, approval)
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
        "ratio_approval": approval
        if year >= canteen_plans.FLOOR_FROM_YEAR and ratio_bp < canteen_plans.FLOOR_RATIO_BP
        else None,
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
        before={"plan": canteen_plans.plan_for(before, year)},
        after={"plan": plan},
        note=f"year {year}",
    )
    return present(after)
