"""Buying units (采购单位) beside canteens: aid units, universities, hospitals, enterprises, chambers of
commerce and units of partner regions, which buy a county's products or help sell them.

A unit is kept by the staff of one county (``county_code``), the county it buys from; its own place is
``region_code`` (a 6-digit GB/T 2260 code, e.g. a partner city in Guangdong). A unit may own canteens
of that county (``canteen_ids``), and may be supervised by another unit of the county
(``parent_unit_id``): a unit clerk (role ``unit``) acts for its own unit and those it supervises.
Its pairings live in ``service.pairings``, its purchases in ``service.unit_purchases``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from stdnum.cn import uscc as uscc_number

from service import access, audit, canteens, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Coded, Conflict, Forbidden, PreconditionFailed, ValidationFailed

KINDS = {
    "aid_unit": "帮扶单位",  # agencies and state enterprises assigned to help the county
    "university": "高校",
    "hospital": "医院",
    "enterprise": "企业",
    "chamber": "商会",
    "partner_unit": "协作地区单位",
}
MAX_NAME_LENGTH = 100
EDITABLE = ("name", "kind", "region_code", "uscc", "canteen_ids", "parent_unit_id", "contact")
# How deep supervision goes (a ministry, its bureaux, their offices...): a bound on the clerk's scope query.
MAX_LEVELS = 6
UNIT_NOT_IN_SCOPE = Coded("buying_unit.not_in_scope", "No buying unit of yours has this id.")


# Reading ----------------------------------------------------------------------------------------


def clerk_unit_ids(db: Database, actor: Principal) -> list[ObjectId]:
    """A unit clerk's units: its own first, then those it supervises, level by level."""
    if actor.unit_id is None:
        raise Forbidden(Coded("access.unit_only", "Only a unit clerk acts for its unit."))
    found, level = [actor.unit_id], [actor.unit_id]
    for _ in range(MAX_LEVELS):
        level = [
            unit["_id"]
            for unit in db[storage.BUYING_UNITS].find({"parent_unit_id": {"$in": level}}, {"_id": 1})
            if unit["_id"] not in found
        ]
        if not level:
            break
        found.extend(sorted(level))
    return found


def visible_unit(db: Database, actor: Principal, unit_id: ObjectId) -> dict[str, Any]:
    """A unit the actor may act on (staff of its county, a clerk its units); missing and not yours alike."""
    if actor.unit_id is not None:
        if unit_id not in clerk_unit_ids(db, actor):
            raise Forbidden(UNIT_NOT_IN_SCOPE)
        unit = db[storage.BUYING_UNITS].find_one({"_id": unit_id})
        if unit is None:
            raise Forbidden(UNIT_NOT_IN_SCOPE)
        return unit
    return access.county_record(db[storage.BUYING_UNITS], actor, unit_id, UNIT_NOT_IN_SCOPE)


def units_by_id(db: Database, ids: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Units by id in one query, unscoped (callers check the county)."""
    return storage.documents_by_id(db, storage.BUYING_UNITS, ids)


def list_units(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Units of the staff member's counties (admins: all), by name."""
    conditions = access.staff_conditions(actor, county_code)
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if kind is not None:
        conditions.append({"kind": kind})
    if q:
        conditions.append({"name": {"$regex": re.escape(q.strip())}})
    query = {"$and": conditions} if conditions else {}
    return storage.page_of(db[storage.BUYING_UNITS], query, [("name", 1), ("_id", 1)], page, per_page)


# Writing ----------------------------------------------------------------------------------------


def _name_taken(name: str, county_code: str) -> Conflict:
    return Conflict(
        Coded(
            "buying_unit.name_taken",
            f"County {county_code} already has a buying unit named {name}.",
            county_code=county_code,
            name=name,
        ),
        details={"name": [Coded("buying_unit.name_used", "Already used in this county.")]},
    )


def _parent_problem(
    db: Database, county_code: str, parent_id: ObjectId, unit_id: ObjectId | None
) -> Coded | None:
    """Why a unit may not be supervised by ``parent_id``: not a unit of the county, or a loop."""
    parent = db[storage.BUYING_UNITS].find_one({"_id": parent_id}, {"county_code": 1, "parent_unit_id": 1})
    if parent is None or parent["county_code"] != county_code:
        return Coded(
            "buying_unit.parent_not_in_county",
            f"The supervising unit is not a buying unit of county {county_code}.",
            county_code=county_code,
        )
    seen = set()
    while parent is not None and unit_id is not None and parent["_id"] not in seen:
        if parent["_id"] == unit_id:
            return Coded("buying_unit.parent_loop", "A unit cannot be supervised by itself or its own units.")
        seen.add(parent["_id"])
        upper = parent.get("parent_unit_id")
        parent = db[storage.BUYING_UNITS].find_one({"_id": upper}, {"parent_unit_id": 1}) if upper else None
    return None


def _checked(
    db: Database, county_code: str, data: Mapping[str, Any], unit_id: ObjectId | None = None
) -> dict[str, Any]:
    """The fields as stored: a name trimmed, a valid USCC, canteens of the unit's county."""
    fields = {name: data[name] for name in EDITABLE if name in data}
    errors: dict[str, list[str]] = {}
    if "name" in fields:
        fields["name"] = canteens.clean_name(fields["name"])
        if not fields["name"]:
            errors["name"] = [
                Coded("field.length_range", f"1–{MAX_NAME_LENGTH} characters.", min=1, max=MAX_NAME_LENGTH)
            ]
    if fields.get("uscc"):
        fields["uscc"] = fields["uscc"].strip().upper()
        if not uscc_number.is_valid(fields["uscc"]):
            errors["uscc"] = [
                Coded(
                    "buying_unit.bad_uscc",
                    f"{fields['uscc']} is not a valid unified social credit code (统一社会信用代码).",
                    uscc=fields["uscc"],
                )
            ]
    if fields.get("canteen_ids"):
        wanted = list(dict.fromkeys(fields["canteen_ids"]))
        found = {
            canteen["_id"]
            for canteen in db[storage.CANTEENS].find(
                {"_id": {"$in": wanted}, "county_code": county_code}, {"_id": 1}
            )
        }
        missing = [str(canteen_id) for canteen_id in wanted if canteen_id not in found]
        if missing:
            errors["canteen_ids"] = [
                Coded(
                    "buying_unit.canteen_not_in_county",
                    f"Not canteens of county {county_code}: {', '.join(missing)}.",
                    county_code=county_code,
                    canteen_ids=missing,
                )
            ]
        fields["canteen_ids"] = wanted
    if fields.get("parent_unit_id") is not None:
        problem = _parent_problem(db, county_code, fields["parent_unit_id"], unit_id)
        if problem:
            errors["parent_unit_id"] = [problem]
    if errors:
        raise ValidationFailed(
            Coded("buying_unit.invalid", "The buying unit is not valid: " + ", ".join(sorted(errors)) + "."),
            details=errors,
        )
    return fields


def create_unit(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Register a buying unit (staff of the county it buys from)."""
    access.county_filter(actor)
    access.require_county(actor, data["county_code"])
    fields = _checked(db, data["county_code"], data)
    now = utcnow()
    unit = {
        "county_code": data["county_code"],
        "uscc": None,
        "canteen_ids": [],
        "parent_unit_id": None,
        "contact": None,
        **fields,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    try:
        unit["_id"] = db[storage.BUYING_UNITS].insert_one(unit).inserted_id
    except DuplicateKeyError:
        raise _name_taken(unit["name"], unit["county_code"]) from None
    audit.record(
        db,
        actor,
        "buying_unit.create",
        entity_kind="buying_unit",
        entity_id=unit["_id"],
        county_code=unit["county_code"],
        after=unit,
    )
    return unit


def _changed_meanwhile() -> PreconditionFailed:
    return PreconditionFailed(
        Coded("buying_unit.changed", "The buying unit changed since you read it; read it again.")
    )


def update_unit(
    db: Database, actor: Principal, unit_id: ObjectId, expected_version: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Edit a unit (If-Match version); its county stays (its pairings and purchases are the county's)."""
    before = visible_unit(db, actor, unit_id)
    if before["version"] != expected_version:
        raise _changed_meanwhile()
    fields = _checked(db, before["county_code"], changes, unit_id)
    update = {name: value for name, value in fields.items() if before.get(name) != value}
    if not update:
        return before
    try:
        result = db[storage.BUYING_UNITS].update_one(
            {"_id": unit_id, "version": expected_version},
            {"$set": {**update, "updated_at": utcnow()}, "$inc": {"version": 1}},
        )
    except DuplicateKeyError:
        raise _name_taken(update["name"], before["county_code"]) from None
    if result.matched_count == 0:
        raise _changed_meanwhile()
    after = db[storage.BUYING_UNITS].find_one({"_id": unit_id})
    audit.record(
        db,
        actor,
        "buying_unit.update",
        entity_kind="buying_unit",
        entity_id=unit_id,
        county_code=after["county_code"],
        before=before,
        after=after,
    )
    return after


def delete_unit(db: Database, actor: Principal, unit_id: ObjectId, expected_version: int) -> None:
    """Remove a unit registered by mistake: one with pairings or purchases is kept (409)."""
    unit = visible_unit(db, actor, unit_id)
    if unit["version"] != expected_version:
        raise _changed_meanwhile()
    in_use = db[storage.PAIRINGS].find_one({"unit_id": unit_id}, {"_id": 1}) or db[
        storage.UNIT_PURCHASES
    ].find_one({"unit_id": unit_id}, {"_id": 1})
    if in_use is not None:
        raise Conflict(
            Coded("buying_unit.in_use", "The unit has pairings or purchases; it is kept for the reports.")
        )
    if db[storage.BUYING_UNITS].delete_one({"_id": unit_id, "version": expected_version}).deleted_count == 0:
        raise _changed_meanwhile()
    audit.record(
        db,
        actor,
        "buying_unit.delete",
        entity_kind="buying_unit",
        entity_id=unit_id,
        county_code=unit["county_code"],
        before=unit,
    )
