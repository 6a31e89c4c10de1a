"""Pairings (结对帮扶关系): a buying unit paired with a county, of one kind, for a period.

The kinds are those consumption aid is assessed under (国办发〔2018〕129号): 东西部协作, 对口帮扶,
定点帮扶, 县域结对, 高校定向采购 and 企业结对 (an enterprise with villages or households). A purchase
counts under one pairing, which must be in force on the purchase day; the reports add purchases up
by pairing and by the partner region it names. Days are local (Asia/Shanghai) dates, kept as
``YYYY-MM-DD`` so they compare as text; ``valid_to`` None is open-ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, audit, buying_units, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Coded, Conflict, PreconditionFailed, ValidationFailed

KINDS = {
    "east_west": "东西部协作",
    "counterpart": "对口帮扶",
    "designated": "定点帮扶",
    "county_pairing": "县域结对",
    "university": "高校定向",
    "enterprise_village": "企业结对(村/户)",
}
EDITABLE = ("kind", "partner_region_code", "valid_from", "valid_to", "village_code", "note")
PAIRING_NOT_IN_SCOPE = Coded("pairing.not_in_scope", "No pairing of yours has this id.")


def in_force_on(pairing: Mapping[str, Any], day: date) -> bool:
    """Whether a pairing holds on a local day (both ends included)."""
    text = day.isoformat()
    return pairing["valid_from"] <= text and (pairing.get("valid_to") is None or text <= pairing["valid_to"])


# Reading ----------------------------------------------------------------------------------------


def visible_pairing(db: Database, actor: Principal, pairing_id: ObjectId) -> dict[str, Any]:
    """A pairing of the actor's counties; missing and another county's answer alike."""
    return access.county_record(db[storage.PAIRINGS], actor, pairing_id, PAIRING_NOT_IN_SCOPE)


def pairings_by_id(db: Database, ids: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Pairings by id in one query, unscoped (callers check the county)."""
    return storage.documents_by_id(db, storage.PAIRINGS, ids)


def list_pairings(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    unit_id: ObjectId | None = None,
    kind: str | None = None,
    on: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Pairings of the staff member's counties (admins: all), earliest first; ``on``: those then in force."""
    conditions = access.staff_conditions(actor, county_code)
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if unit_id is not None:
        conditions.append({"unit_id": unit_id})
    if kind is not None:
        conditions.append({"kind": kind})
    if on is not None:
        day = on.isoformat()
        conditions.append({"valid_from": {"$lte": day}})
        conditions.append({"$or": [{"valid_to": None}, {"valid_to": {"$gte": day}}]})
    query = {"$and": conditions} if conditions else {}
    return storage.page_of(db[storage.PAIRINGS], query, [("valid_from", 1), ("_id", 1)], page, per_page)


# Writing ----------------------------------------------------------------------------------------


def _checked(unit: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The period's order, and a village of the unit's county."""
    errors: dict[str, list[str]] = {}
    if fields.get("valid_to") is not None and fields["valid_to"] < fields["valid_from"]:
        errors["valid_to"] = [
            Coded(
                "pairing.ends_before_start",
                f"The pairing ends before it starts ({fields['valid_from']}).",
                valid_from=fields["valid_from"],
            )
        ]
    village = fields.get("village_code")
    if village and not village.startswith(unit["county_code"]):
        errors["village_code"] = [
            Coded(
                "pairing.village_outside",
                f"The village is not in county {unit['county_code']}.",
                county_code=unit["county_code"],
            )
        ]
    if errors:
        raise ValidationFailed(
            Coded("pairing.invalid", "The pairing is not valid: " + ", ".join(sorted(errors)) + "."),
            details=errors,
        )
    return fields


def _as_stored(data: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: data[name] for name in EDITABLE if name in data}
    for name in ("valid_from", "valid_to"):
        if isinstance(fields.get(name), date):
            fields[name] = fields[name].isoformat()
    return fields


def create_pairing(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Pair a unit with its county for a period; the partner region defaults to the unit's own."""
    unit = buying_units.visible_unit(db, actor, data["unit_id"])
    fields = _as_stored(data)
    fields.setdefault("partner_region_code", None)
    fields["partner_region_code"] = fields["partner_region_code"] or unit["region_code"]
    now = utcnow()
    pairing = {
        "county_code": unit["county_code"],
        "unit_id": unit["_id"],
        "valid_to": None,
        "village_code": None,
        "note": None,
        **_checked(unit, fields),
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    pairing["_id"] = db[storage.PAIRINGS].insert_one(pairing).inserted_id
    audit.record(
        db,
        actor,
        "pairing.create",
        entity_kind="pairing",
        entity_id=pairing["_id"],
        county_code=pairing["county_code"],
        after=pairing,
    )
    return pairing


def _changed_meanwhile() -> PreconditionFailed:
    return PreconditionFailed(
        Coded("pairing.changed", "The pairing changed since you read it; read it again.")
    )


def update_pairing(
    db: Database, actor: Principal, pairing_id: ObjectId, expected_version: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Edit a pairing's kind, partner region or period (If-Match version)."""
    before = visible_pairing(db, actor, pairing_id)
    if before["version"] != expected_version:
        raise _changed_meanwhile()
    unit = buying_units.units_by_id(db, [before["unit_id"]]).get(before["unit_id"]) or before
    merged = {**{name: before.get(name) for name in EDITABLE}, **_as_stored(changes)}
    _checked(unit, merged)
    update = {name: value for name, value in merged.items() if before.get(name) != value}
    if not update:
        return before
    if "valid_from" in update or "valid_to" in update:
        _keep_purchases_inside(db, pairing_id, merged)
    result = db[storage.PAIRINGS].update_one(
        {"_id": pairing_id, "version": expected_version},
        {"$set": {**update, "updated_at": utcnow()}, "$inc": {"version": 1}},
    )
    if result.matched_count == 0:
        raise _changed_meanwhile()
    after = db[storage.PAIRINGS].find_one({"_id": pairing_id})
    audit.record(
        db,
        actor,
        "pairing.update",
        entity_kind="pairing",
        entity_id=pairing_id,
        county_code=after["county_code"],
        before=before,
        after=after,
    )
    return after


def _keep_purchases_inside(db: Database, pairing_id: ObjectId, period: Mapping[str, Any]) -> None:
    outside: list[dict[str, Any]] = [{"date": {"$lt": period["valid_from"]}}]
    if period.get("valid_to") is not None:
        outside.append({"date": {"$gt": period["valid_to"]}})
    stranded = db[storage.UNIT_PURCHASES].find_one({"pairing_id": pairing_id, "$or": outside}, {"date": 1})
    if stranded is not None:
        raise Conflict(
            Coded(
                "pairing.purchases_outside",
                f"A purchase of {stranded['date']} counts under this pairing and would fall outside it.",
                date=stranded["date"],
            )
        )


def delete_pairing(db: Database, actor: Principal, pairing_id: ObjectId, expected_version: int) -> None:
    """Remove a pairing entered by mistake: one purchases count under is kept (409)."""
    pairing = visible_pairing(db, actor, pairing_id)
    if pairing["version"] != expected_version:
        raise _changed_meanwhile()
    if db[storage.UNIT_PURCHASES].find_one({"pairing_id": pairing_id}, {"_id": 1}) is not None:
        raise Conflict(
            Coded("pairing.in_use", "Purchases count under this pairing; end it (valid_to) instead.")
        )
    if db[storage.PAIRINGS].delete_one({"_id": pairing_id, "version": expected_version}).deleted_count == 0:
        raise _changed_meanwhile()
    audit.record(
        db,
        actor,
        "pairing.delete",
        entity_kind="pairing",
        entity_id=pairing_id,
        county_code=pairing["county_code"],
        before=pairing,
    )
