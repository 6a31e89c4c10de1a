"""Market operators (市场经营主体): enterprises, cooperatives, family farms and village collectives.

An operator is identified by its unified social credit code (统一社会信用代码, USCC),
belongs to one county, and declares how it benefits poor households (带贫方式).
County staff register and suspend operators; an enterprise account reads and
edits only the operator it is bound to. Reads carry the operator's current
benefit figures (带贫户数/带贫人数) from the benefit-link register.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from service import access, audit, storage
from service.access import ENTERPRISE, Principal
from service.clock import utcnow
from service.errors import Coded, Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from service.storage import sort_spec
from service.vocabulary import MECHANISMS

KINDS = ("enterprise", "cooperative", "family_farm", "village_collective")
# The seven 带贫方式, in their official order (labels in service.benefit_links.MECHANISMS).
BENEFIT_MECHANISMS = tuple(MECHANISMS)
ACTIVE = "active"
SUSPENDED = "suspended"
STATUSES = (ACTIVE, SUSPENDED)
SORTS = ("name", "-name", "created_at", "-created_at")

# Link statuses that end a benefit link whatever its dates say (the dates alone decide otherwise).
ENDED_LINK_STATUSES = ("ended", "cancelled", "revoked", "void")

# Fields an enterprise may not change on its own operator (county scope and government designations).
_STAFF_ONLY_FIELDS = ("county_code", "is_leading_enterprise")
_EDITABLE_FIELDS = (
    "name",
    "uscc",
    "kind",
    "county_code",
    "address",
    "legal_rep",
    "contact_phone",
    "is_leading_enterprise",
    "benefit_mechanisms",
)


# Identifiers ----------------------------------------------------------------------------------


def check_uscc(value: str, *, override: bool, actor: Principal) -> tuple[str, bool]:
    """The USCC in canonical form and whether its failed check character was overridden.

    Length and alphabet errors are never overridable; a wrong check character may be saved
    by county staff and admins (some early pilot codes are real yet fail the check).
    """
    if override and not actor.is_staff:
        raise Forbidden(
            Coded(
                "operator.override_staff_only", "Only county staff and admins may override the USCC check."
            ),
            details={"uscc_checksum_override": [Coded("field.staff_only", "Not allowed for your role.")]},
        )
    number = uscc_number.compact(value)
    try:
        return uscc_number.validate(number), False
    except InvalidChecksum as error:
        if override:
            return number, True
        raise ValidationFailed(
            Coded("uscc.check", "The USCC's check character is wrong."),
            details={
                "uscc": [
                    Coded(
                        "uscc.check_overridable",
                        "The check character (18th) does not match GB 32100; county staff may save a real "
                        "code that fails the check with uscc_checksum_override: true.",
                    )
                ]
            },
        ) from error
    except InvalidLength as error:
        raise ValidationFailed(
            Coded("uscc.length", "The USCC must have 18 characters."),
            details={"uscc": [Coded("field.length_18", "Must be 18 characters.")]},
        ) from error
    except ValidationError as error:
        raise ValidationFailed(
            Coded("uscc.alphabet", "The USCC has characters outside GB 32100."),
            details={
                "uscc": [
                    Coded(
                        "uscc.alphabet_detail",
                        "The first 8 characters must be digits and the rest from 0-9 and "
                        "ABCDEFGHJKLMNPQRTUWXY (no I, O, S, V, Z).",
                    )
                ]
            },
        ) from error


def _uscc_taken(uscc: str) -> Conflict:
    return Conflict(
        Coded("uscc.taken", f"The USCC {uscc} is already registered to another operator.", uscc=uscc),
        details={"uscc": [Coded("uscc.used", "Already registered to another operator.")]},
    )


# Benefit figures ------------------------------------------------------------------------------


def benefit_counts(
    db: Database, operator_ids: Iterable[ObjectId], at: datetime | None = None
) -> dict[ObjectId, dict[str, int]]:
    """Households and people each operator is linked to now (带贫户数/带贫人数).

    A link is current when valid_from <= at < valid_to (valid_to None: open-ended) and its
    status, if it has one, is not an ended one; a household linked twice counts once.
    """
    moment = at or utcnow()
    ids = list(dict.fromkeys(operator_ids))
    counts = {operator_id: {"linked_households": 0, "linked_people": 0} for operator_id in ids}
    if not ids:
        return counts
    links = db[storage.BENEFIT_LINKS].find(
        {
            "operator_id": {"$in": ids},
            "valid_from": {"$lte": moment},
            "$or": [{"valid_to": None}, {"valid_to": {"$gt": moment}}],
            "status": {"$nin": list(ENDED_LINK_STATUSES)},
        },
        {"operator_id": 1, "household_id": 1},
    )
    households_of: dict[ObjectId, set[Any]] = {}
    for link in links:
        households_of.setdefault(link["operator_id"], set()).add(link["household_id"])
    all_households = set().union(*households_of.values()) if households_of else set()
    members = {
        household["_id"]: int(household.get("members") or 0)
        for household in db[storage.HOUSEHOLDS].find({"_id": {"$in": list(all_households)}}, {"members": 1})
    }
    for operator_id, households in households_of.items():
        counts[operator_id] = {
            "linked_households": len(households),
            "linked_people": sum(members.get(household_id, 0) for household_id in households),
        }
    return counts


# Reading --------------------------------------------------------------------------------------


def _present(document: dict[str, Any], counts: dict[str, int] | None) -> dict[str, Any]:
    """An operator as callers see it, with defaults for records made before a field existed."""
    return {
        "version": 1,
        "is_leading_enterprise": False,
        "benefit_mechanisms": [],
        "uscc_checksum_override": False,
        "status_history": [],
        **document,
        **(counts or {"linked_households": 0, "linked_people": 0}),
    }


def _load(db: Database, operator_id: ObjectId) -> dict[str, Any]:
    document = db[storage.OPERATORS].find_one({"_id": operator_id})
    if document is None:
        raise NotFound(Coded("operator.not_found", "No such operator."))
    document.setdefault("version", 1)
    return document


def _load_visible(db: Database, actor: Principal, operator_id: ObjectId) -> dict[str, Any]:
    document = _load(db, operator_id)
    access.require_operator(actor, document["_id"], document["county_code"])
    return document


def get_operator(db: Database, actor: Principal, operator_id: ObjectId) -> dict[str, Any]:
    document = _load_visible(db, actor, operator_id)
    return _present(document, benefit_counts(db, [operator_id])[operator_id])


# Look-ups for other modules (they check access themselves) ----------------------------------------


def find_operator(
    db: Database, operator_id: ObjectId | None, fields: dict[str, int] | None = None
) -> dict[str, Any] | None:
    """An operator by id, unscoped; None for no id or no such operator."""
    if operator_id is None:
        return None
    return db[storage.OPERATORS].find_one({"_id": operator_id}, fields)


def documents_by_id(
    db: Database, ids: Iterable[Any], fields: dict[str, int]
) -> dict[ObjectId, dict[str, Any]]:
    """Operators by id in one query, unscoped: for rows the caller may already see."""
    return storage.documents_by_id(db, storage.OPERATORS, ids, fields)


def names_by_id(db: Database, ids: Iterable[Any]) -> dict[ObjectId, str]:
    """Operator names by id in one query, unscoped: for rows the caller may already see."""
    return storage.names_by_id(db, storage.OPERATORS, ids)


def matching(
    db: Database,
    fields: dict[str, int] | None = None,
    *,
    ids: Iterable[ObjectId] = (),
    usccs: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Operators named by any of these ids or USCCs, in one query whose every branch starts on an index."""
    wanted = {"_id": sorted(set(ids)), "uscc": sorted(set(usccs))}
    conditions = [{name: {"$in": values}} for name, values in wanted.items() if values]
    if not conditions:
        return []
    query = conditions[0] if len(conditions) == 1 else {"$or": conditions}
    return list(db[storage.OPERATORS].find(query, fields))


def count(db: Database) -> int:
    """How many operators are registered, of every county."""
    return db[storage.OPERATORS].count_documents({})


def list_operators(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    q: str | None = None,
    is_leading_enterprise: bool | None = None,
    sort: str = "name",
    page: int = 1,
    per_page: int = 50,
    benefit_figures: bool = True,
) -> tuple[list[dict[str, Any]], int]:
    """Operators the caller may see: staff those of their counties, an enterprise only its own.

    ``benefit_figures=False`` leaves out the households and people linked (a query over every link),
    for a list of names.
    """
    conditions: list[dict[str, Any]] = []
    if actor.role == ENTERPRISE:
        conditions.append({"_id": actor.operator_id})
    else:
        conditions.extend(access.staff_conditions(actor, county_code))
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if kind is not None:
        conditions.append({"kind": kind})
    if status is not None:
        conditions.append({"status": status})
    if is_leading_enterprise is not None:
        conditions.append(
            {"is_leading_enterprise": True}
            if is_leading_enterprise
            else {"is_leading_enterprise": {"$ne": True}}
        )
    if q:
        conditions.append({"name": {"$regex": re.escape(q), "$options": "i"}})
    query = {"$and": conditions} if conditions else {}
    documents, total = storage.page_of(db[storage.OPERATORS], query, sort_spec(sort), page, per_page)
    if not benefit_figures:
        return documents, total
    counts = benefit_counts(db, [document["_id"] for document in documents])
    return [_present(document, counts[document["_id"]]) for document in documents], total


# Writing --------------------------------------------------------------------------------------


def _mechanisms(values: Iterable[str]) -> list[str]:
    """Selected benefit mechanisms, deduplicated, in the canonical order."""
    chosen = set(values)
    return [code for code in BENEFIT_MECHANISMS if code in chosen]


def _version_filter(expected: int) -> dict[str, Any]:
    # Operators stored before versioning (demo, imports) count as version 1.
    if expected == 1:
        return {"$or": [{"version": 1}, {"version": {"$exists": False}}]}
    return {"version": expected}


def create_operator(db: Database, actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Register an operator in one of the caller's counties (staff and admins only)."""
    if not actor.is_staff:
        raise Forbidden(Coded("operator.staff_only", "Only county staff and admins register operators."))
    access.require_county(actor, data["county_code"])
    uscc, overridden = check_uscc(
        data["uscc"], override=data.get("uscc_checksum_override", False), actor=actor
    )
    if db[storage.OPERATORS].find_one({"uscc": uscc}, {"_id": 1}) is not None:
        raise _uscc_taken(uscc)
    now = utcnow()
    document = {
        "name": data["name"],
        "uscc": uscc,
        "uscc_checksum_override": overridden,
        "kind": data["kind"],
        "county_code": data["county_code"],
        "address": data.get("address"),
        "legal_rep": data.get("legal_rep"),
        "contact_phone": data.get("contact_phone"),
        "is_leading_enterprise": data.get("is_leading_enterprise", False),
        "benefit_mechanisms": _mechanisms(data.get("benefit_mechanisms") or []),
        "status": ACTIVE,
        "status_history": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": actor.as_actor(),
    }
    try:
        document["_id"] = db[storage.OPERATORS].insert_one(document).inserted_id
    except DuplicateKeyError as error:
        raise _uscc_taken(uscc) from error
    audit.record(
        db,
        actor,
        "operator.create",
        entity_kind="operator",
        entity_id=document["_id"],
        county_code=document["county_code"],
        after=document,
        note=_override_note(uscc) if overridden else None,
    )
    return _present(document, None)


def _override_note(uscc: str) -> str:
    return f"USCC check overridden: {uscc} fails the GB 32100 check character."


def update_operator(
    db: Database, actor: Principal, operator_id: ObjectId, expected_version: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Edit an operator's details; an enterprise edits its own, but not its county or designations."""
    before = _load_visible(db, actor, operator_id)
    if not actor.is_staff:
        refused = [name for name in _STAFF_ONLY_FIELDS if name in changes]
        if refused:
            raise Forbidden(
                Coded("operator.staff_only_fields", "Only county staff may change these fields."),
                details={
                    name: [Coded("field.staff_only", "Only county staff may change this.")]
                    for name in refused
                },
            )
    if before["version"] != expected_version:
        raise PreconditionFailed("If-Match does not match the current version; read it again.")
    override = changes.pop("uscc_checksum_override", False)
    if override and "uscc" not in changes:
        raise ValidationFailed(
            Coded(
                "operator.override_without_uscc", "uscc_checksum_override applies only together with a uscc."
            ),
            details={
                "uscc_checksum_override": [
                    Coded("operator.override_without_uscc", "Send it with the uscc it applies to.")
                ]
            },
        )
    update: dict[str, Any] = {}
    note = None
    if "uscc" in changes:
        uscc, overridden = check_uscc(changes.pop("uscc"), override=override, actor=actor)
        if uscc != before.get("uscc"):
            taken = db[storage.OPERATORS].find_one({"uscc": uscc, "_id": {"$ne": operator_id}}, {"_id": 1})
            if taken is not None:
                raise _uscc_taken(uscc)
            update["uscc"] = uscc
            update["uscc_checksum_override"] = overridden
            note = _override_note(uscc) if overridden else None
    if "benefit_mechanisms" in changes:
        changes["benefit_mechanisms"] = _mechanisms(changes["benefit_mechanisms"])
    for name in _EDITABLE_FIELDS:
        if name in changes and changes[name] != before.get(name):
            update[name] = changes[name]
    if "county_code" in update:
        access.require_county(actor, update["county_code"])
    if not update:
        return _present(before, benefit_counts(db, [operator_id])[operator_id])
    update.update(updated_at=utcnow(), version=expected_version + 1)
    try:
        result = db[storage.OPERATORS].update_one(
            {"_id": operator_id, **_version_filter(expected_version)}, {"$set": update}
        )
    except DuplicateKeyError as error:
        raise _uscc_taken(update["uscc"]) from error
    if result.matched_count == 0:
        raise PreconditionFailed("The operator was changed by someone else; read it again.")
    if "county_code" in update:
        _move_county(db, operator_id, update["county_code"])
    after = _load(db, operator_id)
    audit.record(
        db,
        actor,
        "operator.update",
        entity_kind="operator",
        entity_id=operator_id,
        county_code=after["county_code"],
        before=before,
        after=after,
        note=note,
    )
    return _present(after, benefit_counts(db, [operator_id])[operator_id])


def _move_county(db: Database, operator_id: ObjectId, county_code: str) -> None:
    """Keep the copies of an operator's county (its products, its enterprise accounts) in step."""
    db[storage.PRODUCTS].update_many({"operator_id": operator_id}, {"$set": {"county_code": county_code}})
    db[storage.USERS].update_many(
        {"operator_id": operator_id, "role": ENTERPRISE}, {"$set": {"county_codes": [county_code]}}
    )


def _change_status(
    db: Database,
    actor: Principal,
    operator_id: ObjectId,
    *,
    target: str,
    action: str,
    reason: str | None,
    expected_version: int | None,
) -> dict[str, Any]:
    if not actor.is_staff:
        raise Forbidden(
            Coded(
                "operator.staff_only_status", "Only county staff and admins suspend or reactivate operators."
            )
        )
    before = _load_visible(db, actor, operator_id)
    current = before.get("status", ACTIVE)
    if current == target:
        allowed = ["reactivate"] if current == SUSPENDED else ["suspend"]
        raise Conflict(
            Coded("operator.already_in_status", f"The operator is already {current}."),
            details={"status": current, "allowed": allowed},
        )
    if target == SUSPENDED and not (reason or "").strip():
        raise ValidationFailed(
            Coded("operator.reason_required", "A reason is required to suspend an operator."),
            details={"reason": [Coded("field.required", "Required.")]},
        )
    version = before["version"] if expected_version is None else expected_version
    if before["version"] != version:
        raise PreconditionFailed("If-Match does not match the current version; read it again.")
    now = utcnow()
    entry = {"at": now, "by": actor.as_actor(), "from": current, "to": target, "reason": reason}
    result = db[storage.OPERATORS].update_one(
        {"_id": operator_id, "status": current, **_version_filter(version)},
        {
            "$set": {"status": target, "updated_at": now, "version": version + 1},
            "$push": {"status_history": entry},
        },
    )
    if result.matched_count == 0:
        raise PreconditionFailed("The operator was changed by someone else; read it again.")
    after = _load(db, operator_id)
    audit.record(
        db,
        actor,
        f"operator.{action}",
        entity_kind="operator",
        entity_id=operator_id,
        county_code=after["county_code"],
        before=before,
        after=after,
        note=reason,
    )
    return _present(after, benefit_counts(db, [operator_id])[operator_id])


def suspend_operator(
    db: Database, actor: Principal, operator_id: ObjectId, reason: str, expected_version: int | None = None
) -> dict[str, Any]:
    """Suspend an operator: its products can no longer be submitted or advanced to certification."""
    return _change_status(
        db,
        actor,
        operator_id,
        target=SUSPENDED,
        action="suspend",
        reason=reason,
        expected_version=expected_version,
    )


def reactivate_operator(
    db: Database,
    actor: Principal,
    operator_id: ObjectId,
    reason: str | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    return _change_status(
        db,
        actor,
        operator_id,
        target=ACTIVE,
        action="reactivate",
        reason=reason,
        expected_version=expected_version,
    )
