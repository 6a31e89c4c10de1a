"""Benefit links (带贫关系): which market operator benefits which registered household, how, and when.

A link ties an operator to a household with a benefit mechanism (带贫方式)
and a weight (kilograms bought, shares held, days worked...) for a period of
Asia/Shanghai calendar days. Periods are stored as UTC instants: valid_from is
the start of the first day, valid_to the start of the day after the last day
(exclusive), or None while open-ended; the API speaks in dates. Links are never
deleted, only ended, so past months' household income stays explainable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.errors import Coded
from service import access, audit, operators, partitions, pii, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import end_of_local_day, start_of_local_day, utcnow
from service.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    validation_summary,
)
from service.link_periods import (
    as_utc,
    check_days,
    describe,
    first_day,
    last_day,
    period,
    raise_if,
)

MAX_WEIGHT = 10**9


# Reading -----------------------------------------------------------------------------------


def present_many(db: Database, actor: Principal, links: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Links as ``actor`` sees them: dates as days, the head's name (masked for enterprises)."""
    links = list(links)
    names = {
        household["_id"]: household.get("head_name")
        for household in db[storage.HOUSEHOLDS].find(
            {"_id": {"$in": list({link["household_id"] for link in links})}}, {"head_name": 1}
        )
    }
    views = []
    for link in links:
        name = names.get(link["household_id"])
        views.append(
            {
                "_id": link["_id"],
                "operator_id": link["operator_id"],
                "household_id": link["household_id"],
                "household_no": link.get("household_no"),
                "head_name": pii.mask_name(name) if actor.role == ENTERPRISE else name,
                "county_code": link.get("county_code"),
                "household_county_code": link.get("household_county_code"),
                "mechanism": link["mechanism"],
                "weight": link["weight"],
                "valid_from": first_day(link),
                "valid_to": last_day(link),
                "end_reason": link.get("end_reason"),
                "ended_at": link.get("ended_at"),
                "version": link["version"],
                "created_at": link.get("created_at"),
                "updated_at": link.get("updated_at"),
            }
        )
    return views


def present(db: Database, actor: Principal, link: Mapping[str, Any]) -> dict[str, Any]:
    return present_many(db, actor, [link])[0]


# Missing and out of scope answer alike, so no one learns which links exist beyond their scope.
NOT_IN_SCOPE = Coded("benefit_link.not_in_scope", "No benefit link of yours has this id.")


def _load(db: Database, link_id: ObjectId) -> dict[str, Any]:
    link = db[storage.BENEFIT_LINKS].find_one({"_id": link_id})
    if link is None:
        raise NotFound(Coded("benefit_link.not_in_scope", "No such benefit link."))
    return link


def _load_readable(db: Database, actor: Principal, link_id: ObjectId) -> dict[str, Any]:
    """A link ``actor`` may read; one 403 for a missing link and another tenant's (admins: 404)."""
    if actor.role == CANTEEN:
        raise Forbidden(Coded("benefit_link.canteen_refused", "Canteen accounts cannot see benefit links."))
    link = db[storage.BENEFIT_LINKS].find_one({"_id": link_id})
    if link is None and actor.is_admin:
        raise NotFound(Coded("benefit_link.not_in_scope", "No such benefit link."))
    if link is None or not _may_read(actor, link):
        raise Forbidden(NOT_IN_SCOPE)
    return link


def _may_read(actor: Principal, link: Mapping[str, Any]) -> bool:
    """An enterprise reads its operator's links; staff those of their counties' operators or households."""
    if actor.role == ENTERPRISE:
        return actor.operator_id == link["operator_id"]
    return actor.sees_county(link.get("county_code")) or actor.sees_county(link.get("household_county_code"))


def _require_may_change(actor: Principal, link: Mapping[str, Any]) -> None:
    """Changing or ending a link is for staff who see both the operator's and the household's county."""
    if not actor.is_staff:
        raise Forbidden(
            Coded("benefit_link.staff_only", "Only county staff and admins may change or end a benefit link.")
        )
    access.require_county(actor, link.get("county_code"))
    access.require_county(actor, link.get("household_county_code"))


def list_links(
    db: Database,
    actor: Principal,
    *,
    operator_id: ObjectId | None = None,
    household_id: ObjectId | None = None,
    county_code: str | None = None,
    mechanism: str | None = None,
    active_on: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    conditions: list[dict[str, Any]] = []
    if actor.role == ENTERPRISE:
        if operator_id is not None and operator_id != actor.operator_id:
            raise Forbidden(
                Coded("benefit_link.own_operator", "You may list only your own operator's links.")
            )
        conditions.append({"operator_id": actor.operator_id})
    elif actor.role == CANTEEN:
        raise Forbidden(Coded("benefit_link.canteen_refused", "Canteen accounts cannot see benefit links."))
    else:
        if not actor.is_admin:
            counties = list(actor.county_codes)
            conditions.append(
                {"$or": [{"county_code": {"$in": counties}}, {"household_county_code": {"$in": counties}}]}
            )
        if county_code is not None:
            access.require_county(actor, county_code)
    for name, value in (
        ("operator_id", operator_id),
        ("household_id", household_id),
        ("county_code", county_code),
        ("mechanism", mechanism),
    ):
        if value is not None:
            conditions.append({name: value})
    if active_on is not None:
        day_start = start_of_local_day(active_on)
        conditions.append({"valid_from": {"$lte": day_start}})
        conditions.append({"$or": [{"valid_to": None}, {"valid_to": {"$gt": day_start}}]})
    query = {"$and": conditions} if conditions else {}
    collection = db[storage.BENEFIT_LINKS]
    total = collection.count_documents(query)
    cursor = (
        collection.find(query)
        .sort([("household_no", 1), ("valid_from", 1), ("_id", 1)])
        .skip((page - 1) * per_page)
        .limit(per_page)
    )
    return present_many(db, actor, cursor), total


def get_link(db: Database, actor: Principal, link_id: ObjectId) -> dict[str, Any]:
    return present(db, actor, _load_readable(db, actor, link_id))


# Creating ----------------------------------------------------------------------------------


def _operator_for(db: Database, actor: Principal, operator_id: ObjectId | None) -> dict[str, Any]:
    if actor.role == ENTERPRISE:
        operator_id = operator_id or actor.operator_id
        if operator_id != actor.operator_id:
            raise Forbidden(
                Coded(
                    "benefit_link.own_operator", "An enterprise may link households only to its own operator."
                )
            )
    elif actor.role == CANTEEN:
        raise Forbidden(
            Coded("benefit_link.canteen_refused", "Canteen accounts cannot create benefit links.")
        )
    if operator_id is None:
        raise_if(
            {
                "operator_id": Coded(
                    "benefit_link.operator_required", "Which operator the household is linked to."
                )
            }
        )
    operator = operators.find_operator(db, operator_id)
    if operator is None:
        raise_if({"operator_id": Coded("operator.not_found", "No such operator.")})
    access.require_operator(actor, operator["_id"], operator.get("county_code"))
    return operator


def unknown_household(actor: Principal, field_name: str = "household_no") -> ValidationFailed:
    """The one answer for a household that does not exist and one outside the actor's scope."""
    message = UNKNOWN_HOUSEHOLD_FOR_ENTERPRISE if actor.role == ENTERPRISE else UNKNOWN_HOUSEHOLD
    return ValidationFailed(validation_summary({field_name: [message]}), details={field_name: [message]})


UNKNOWN_HOUSEHOLD = Coded("benefit_link.unknown_household", "No registered household has this number.")
UNKNOWN_HOUSEHOLD_FOR_ENTERPRISE = Coded(
    "benefit_link.unknown_household_for_enterprise",
    "No household with this number is registered in your operator's county; a household of another "
    "county is linked on request, approved by its county's staff (POST /api/v1/benefit-links/requests).",
)


def household_scope(actor: Principal, operator: Mapping[str, Any]) -> dict[str, Any]:
    """The households a link may name: an enterprise's in its operator's county, staff's in theirs."""
    if actor.role == ENTERPRISE:
        return {"county_code": operator.get("county_code")}
    if actor.is_admin:
        return {}
    return {"county_code": {"$in": list(actor.county_codes)}}


def _household_for(
    db: Database, actor: Principal, operator: Mapping[str, Any], data: Mapping[str, Any]
) -> dict[str, Any]:
    """The household named by household_id or by household_no (which enterprises, unable to browse, send).

    The scope is part of the query, so a missing household and one outside the scope cost the same
    one query and get the same answer.
    """
    household_id, household_no = data.get("household_id"), data.get("household_no")
    if (household_id is None) == (household_no is None):
        raise_if(
            {
                "household_id": Coded(
                    "benefit_link.household_required", "Send exactly one of household_id and household_no."
                )
            }
        )
    query = {"_id": household_id} if household_id is not None else {"household_no": household_no}
    household = db[storage.HOUSEHOLDS].find_one({**query, **household_scope(actor, operator)})
    if household is None:
        raise unknown_household(actor, "household_id" if household_id is not None else "household_no")
    return household


def _overlapping(
    db: Database,
    operator_id: ObjectId,
    household_id: ObjectId,
    start: datetime,
    end: datetime | None,
    exclude_id: ObjectId | None = None,
) -> dict[str, Any] | None:
    query: dict[str, Any] = {
        "operator_id": operator_id,
        "household_id": household_id,
        "$or": [{"valid_to": None}, {"valid_to": {"$gt": start}}],
    }
    if end is not None:
        query["valid_from"] = {"$lt": end}
    if exclude_id is not None:
        query["_id"] = {"$ne": exclude_id}
    return db[storage.BENEFIT_LINKS].find_one(query, sort=[("valid_from", 1)])


def _overlap_conflict(existing: Mapping[str, Any]) -> Conflict:
    last = last_day(existing)
    return Conflict(
        Coded(
            "benefit_link.overlap" if last else "benefit_link.overlap_open",
            f"Household {existing.get('household_no')} is already linked to this operator "
            f"{describe(existing)} (link {existing['_id']}); the periods overlap.",
            household_no=existing.get("household_no"),
            first=first_day(existing).isoformat(),
            last=last.isoformat() if last else None,
        ),
        details={
            "valid_from": [Coded("benefit_link.overlaps", f"Overlaps link {existing['_id']}.")],
            "link_id": [str(existing["_id"])],
        },
    )


def new_link(
    operator: Mapping[str, Any],
    household: Mapping[str, Any],
    data: Mapping[str, Any],
    start: datetime,
    end: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """A link document; the operator's county and the household number are copied in for queries."""
    return {
        "operator_id": operator["_id"],
        "household_id": household["_id"],
        "household_no": household["household_no"],
        "county_code": operator.get("county_code"),
        "household_county_code": household["county_code"],
        "mechanism": data["mechanism"],
        "weight": data["weight"],
        "valid_from": start,
        "valid_to": end,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def create_link(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Link a household to an operator: county staff of both counties, or the operator's enterprise
    for a household of its own county (one of another county is requested: service.link_requests)."""
    operator = _operator_for(db, actor, data.get("operator_id"))
    household = _household_for(db, actor, operator, data)
    return insert_link(db, actor, operator, household, data)


def insert_link(
    db: Database,
    actor: Principal,
    operator: Mapping[str, Any],
    household: Mapping[str, Any],
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """Store a link whose operator and household the caller has already authorised."""
    raise_if(check_days(data["valid_from"], data.get("valid_to")))
    start, end = period(data["valid_from"], data.get("valid_to"))
    existing = _overlapping(db, operator["_id"], household["_id"], start, end)
    if existing is not None:
        raise _overlap_conflict(existing)
    link = new_link(operator, household, data, start, end, utcnow())
    collection = db[storage.BENEFIT_LINKS]
    try:
        link["_id"] = collection.insert_one(link).inserted_id
    except DuplicateKeyError:
        # Same operator, household and first day: the stored link it collided with overlaps by definition.
        same = _overlapping(db, operator["_id"], household["_id"], start, end)
        if same is None:
            raise Conflict(
                Coded(
                    "benefit_link.created_meanwhile",
                    "A link with the same first day was created at the same time.",
                )
            ) from None
        raise _overlap_conflict(same) from None
    # Two overlapping creates can both pass the check above; the later one withdraws (never acknowledged).
    rival = _overlapping(db, operator["_id"], household["_id"], start, end, exclude_id=link["_id"])
    if rival is not None:
        collection.delete_one({"_id": link["_id"]})
        raise _overlap_conflict(rival)
    audit.record(
        db,
        actor,
        "benefit_link.create",
        entity_kind="benefit_link",
        entity_id=link["_id"],
        county_code=link["county_code"],
        after=link,
    )
    partitions.mark_operator_links_changed(db, link["operator_id"], since=link["valid_from"])
    return present(db, actor, link)


# Changing and ending --------------------------------------------------------------------------


def update_link(
    db: Database, actor: Principal, link_id: ObjectId, expected_version: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a link's weight or mechanism (staff; past months' figures change on the next rebuild)."""
    before = _load_readable(db, actor, link_id)
    _require_may_change(actor, before)
    if before["version"] != expected_version:
        raise PreconditionFailed("The link changed since you read it; read it again.")
    update = {name: changes[name] for name in ("weight", "mechanism") if name in changes}
    update = {name: value for name, value in update.items() if before.get(name) != value}
    if not update:
        return present(db, actor, before)
    update["updated_at"] = utcnow()
    result = db[storage.BENEFIT_LINKS].update_one(
        {"_id": link_id, "version": expected_version}, {"$set": update, "$inc": {"version": 1}}
    )
    if result.matched_count == 0:
        raise PreconditionFailed("The link changed since you read it; read it again.")
    after = _load(db, link_id)
    audit.record(
        db,
        actor,
        "benefit_link.update",
        entity_kind="benefit_link",
        entity_id=link_id,
        county_code=after.get("county_code"),
        before=before,
        after=after,
    )
    partitions.mark_operator_links_changed(db, after["operator_id"], since=after["valid_from"])
    return present(db, actor, after)


def end_link(
    db: Database, actor: Principal, link_id: ObjectId, valid_to: date, reason: str
) -> dict[str, Any]:
    """End a link after ``valid_to`` (its last day); an end can be brought forward, never pushed back."""
    before = _load_readable(db, actor, link_id)
    _require_may_change(actor, before)
    raise_if(check_days(first_day(before), valid_to))
    end = end_of_local_day(valid_to)
    current_end = before.get("valid_to")
    if current_end is not None:
        if as_utc(current_end) == end:
            return present(db, actor, before)
        if as_utc(current_end) < end:
            raise Conflict(
                Coded(
                    "benefit_link.not_extended",
                    f"The link already ends on {last_day(before)}; it cannot be extended. Create a new link.",
                    last=last_day(before).isoformat(),
                ),
                details={"valid_to": [Coded("benefit_link.after_end", "After the link's current end.")]},
            )
    now = utcnow()
    result = db[storage.BENEFIT_LINKS].update_one(
        {"_id": link_id, "version": before["version"]},
        {
            "$set": {
                "valid_to": end,
                "end_reason": reason,
                "ended_at": now,
                "ended_by": actor.as_actor(),
                "updated_at": now,
            },
            "$inc": {"version": 1},
        },
    )
    if result.matched_count == 0:
        raise PreconditionFailed("The link changed while ending it; read it again.")
    after = _load(db, link_id)
    audit.record(
        db,
        actor,
        "benefit_link.end",
        entity_kind="benefit_link",
        entity_id=link_id,
        county_code=after.get("county_code"),
        before=before,
        after=after,
        note=reason,
    )
    partitions.mark_operator_links_changed(db, after["operator_id"], since=end)
    return present(db, actor, after)
