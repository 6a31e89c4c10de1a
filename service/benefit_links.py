"""Benefit links (带贫关系): which market operator benefits which registered household, how, and when.

A link ties an operator to a household with a benefit mechanism (带贫方式)
and a weight (kilograms bought, shares held, days worked...) for a period of
Asia/Shanghai calendar days. Periods are stored as UTC instants: valid_from is
the start of the first day, valid_to the start of the day after the last day
(exclusive), or None while open-ended; the API speaks in dates. Links are never
deleted, only ended, so past months' household income stays explainable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters import tabular
from adapters.errors import CELL_DIGITS_LOST, Coded, message_of
from service import access, audit, operators, partitions, pii, registers, storage
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
from service.ingest_result import IngestResult
from service.link_periods import (
    as_utc,
    check_days,
    describe,
    first_day,
    last_day,
    overlaps,
    period,
    raise_if,
)
from service.vocabulary import MECHANISMS

MECHANISM_BY_LABEL = {label: code for code, label in MECHANISMS.items()}
MAX_WEIGHT = 10**9

COLUMNS = {
    "uscc": "经营主体统一社会信用代码",
    "household_no": "户编号",
    "mechanism": "带贫方式",
    "weight": "权重",
    "valid_from": "开始日期",
    "valid_to": "结束日期",
}
REQUIRED_COLUMNS = tuple(column for name, column in COLUMNS.items() if name != "valid_to")
IMPORT_BATCH = 500


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


def _new_link(
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
    link = _new_link(operator, household, data, start, end, utcnow())
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


# Bulk import ---------------------------------------------------------------------------------


@dataclass
class _Known:
    """A link period already known for an (operator, household) pair: stored, or from this file."""

    start: datetime
    end: datetime | None
    link: dict[str, Any] | None = None
    row: int | None = None


def _row_data(row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "uscc": unicodedata.normalize("NFKC", row.get(COLUMNS["uscc"])).strip().upper(),
        "household_no": row.get(COLUMNS["household_no"]),
    }
    if not data["uscc"]:
        errors["uscc"] = Coded(
            "benefit_link.uscc_required", "The operator's unified social credit code is required."
        )
    if not data["household_no"]:
        errors["household_no"] = Coded(
            "benefit_link.household_no_required", "The household number is required."
        )
    elif COLUMNS["household_no"] in row.imprecise:
        errors["household_no"] = Coded(
            CELL_DIGITS_LOST, "Excel stored this as a number and lost digits; format the column as text."
        )
    mechanism = row.get(COLUMNS["mechanism"])
    data["mechanism"] = MECHANISM_BY_LABEL.get(mechanism, mechanism)
    if data["mechanism"] not in MECHANISMS:
        errors["mechanism"] = Coded(
            "benefit_link.bad_mechanism",
            "The mechanism is one of " + "、".join(MECHANISMS.values()) + " (or its code).",
            choices=list(MECHANISMS.values()),
        )
    try:
        data["weight"] = tabular.parse_whole_number(row.get(COLUMNS["weight"]))
    except ValueError:
        data["weight"] = None
    if data["weight"] is None or not 1 <= data["weight"] <= MAX_WEIGHT:
        errors["weight"] = Coded("benefit_link.bad_weight", "The weight is a whole number of at least 1.")
    for name in ("valid_from", "valid_to"):
        text = row.get(COLUMNS[name])
        data[name] = None
        if not text:
            if name == "valid_from":
                errors[name] = Coded("benefit_link.start_required", "The start date is required.")
            continue
        try:
            data[name] = tabular.parse_local_date(text)
        except ValueError as error:
            errors[name] = message_of(error)
    errors.update(
        {k: v for k, v in check_days(data["valid_from"], data["valid_to"]).items() if k not in errors}
    )
    return data, errors


def import_links(
    db: Database, actor: Principal, stream: IO[bytes], filename: str = "", *, dry_run: bool = False
) -> dict[str, Any]:
    """Create or update links from a spreadsheet, keyed by (operator, household, start date).

    Staff import for operators and households of their counties; an enterprise
    only for its own operator, and it cannot change links already stored.
    Overlapping periods for one pair are rejected, against stored links and
    against earlier rows of the file. Re-importing the same file changes nothing.
    """
    if actor.role not in (*access.STAFF, ENTERPRISE):
        raise Forbidden(
            Coded(
                "benefit_link.import_refused",
                "Only county staff, admins and enterprises may import benefit links.",
            )
        )
    register = LinkRegister(actor)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


class LinkRegister(registers.Register):
    """The benefit-link import: keyed by operator, household and first day; a pair's periods never overlap."""

    collection = storage.BENEFIT_LINKS
    entity_kind = "benefit_link"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "valid_from"
    duplicate_message = Coded("benefit_link.same_in_file", "The same link is on row {row}.")

    def __init__(self, actor: Principal):
        super().__init__(actor)
        self.operators: dict[str, dict[str, Any] | None] = {}
        self.households: dict[str, dict[str, Any]] = {}
        # Every period known for a pair, stored or from an earlier row, by its first instant.
        self.known: dict[tuple[ObjectId, ObjectId], dict[datetime, _Known]] = {}

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
        return _row_data(row)

    def resolve(self, db: Database, rows: list[dict[str, Any]]) -> None:
        wanted = {data["uscc"] for data in rows if data["uscc"] not in self.operators}
        if wanted:
            found = {op["uscc"]: op for op in operators.matching(db, usccs=wanted)}
            self.operators.update({uscc: found.get(uscc) for uscc in wanted})
        self.households = {
            household["household_no"]: household
            for household in db[storage.HOUSEHOLDS].find(
                {"household_no": {"$in": sorted({data["household_no"] for data in rows})}},
                {"household_no": 1, "county_code": 1},
            )
        }

    def check(self, data: dict[str, Any]) -> dict[str, str]:
        operator = self.operators.get(data["uscc"])
        household = self.households.get(data["household_no"])
        errors = _scope_problems(self.actor, operator, household)
        if not errors:
            data["operator"], data["household"] = operator, household
            data["start"], data["end"] = period(data["valid_from"], data["valid_to"])
        return errors

    def key(self, data: Mapping[str, Any]) -> tuple[ObjectId, ObjectId, datetime]:
        return data["operator"]["_id"], data["household"]["_id"], data["start"]

    def stored_key(self, document: Mapping[str, Any]) -> tuple[ObjectId, ObjectId, datetime]:
        return document["operator_id"], document["household_id"], as_utc(document["valid_from"])

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        # Every link of the batch's pairs, not only those with a row's first day: periods must not overlap.
        return {
            "operator_id": {"$in": sorted({data["operator"]["_id"] for data in rows})},
            "household_id": {"$in": sorted({data["household"]["_id"] for data in rows})},
        }

    def remember(self, documents: list[dict[str, Any]]) -> None:
        for link in documents:
            start = as_utc(link["valid_from"])
            end = None if link.get("valid_to") is None else as_utc(link["valid_to"])
            self.known.setdefault((link["operator_id"], link["household_id"]), {}).setdefault(
                start, _Known(start=start, end=end, link=link)
            )

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        start, end = data["start"], data["end"]
        periods = self.known.setdefault((data["operator"]["_id"], data["household"]["_id"]), {})
        if stored is not None:
            errors, changes = _changes_to(self.actor, stored, data, end)
            if "valid_to" in changes:
                periods[start].end = changes["valid_to"]
            return changes, errors
        clash = next((p for p in periods.values() if overlaps(start, end, p.start, p.end)), None)
        if clash is not None:
            where = f"row {clash.row}" if clash.row is not None else f"link {clash.link['_id']}"
            message = f"The period overlaps {where} for the same operator and household."
            if clash.row is not None:
                return {}, {"valid_from": Coded("benefit_link.overlaps_row", message, row=clash.row)}
            return {}, {"valid_from": Coded("benefit_link.overlaps_stored", message)}
        periods[start] = _Known(start=start, end=end, row=row_number)
        return {}, {}

    def build(self, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        return _new_link(data["operator"], data["household"], data, data["start"], data["end"], now)

    def finish(self, db: Database, result: IngestResult) -> None:
        for operator in self.operators.values():
            if operator is not None:
                partitions.mark_operator_links_changed(db, operator["_id"])


def _scope_problems(
    actor: Principal, operator: Mapping[str, Any] | None, household: Mapping[str, Any] | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if operator is None:
        errors["uscc"] = Coded(
            "benefit_link.unknown_operator", "No registered operator has this unified social credit code."
        )
    elif actor.role == ENTERPRISE and operator["_id"] != actor.operator_id:
        errors["uscc"] = Coded(
            "benefit_link.own_operator", "An enterprise may import links only for its own operator."
        )
    elif actor.role != ENTERPRISE and not actor.sees_county(operator.get("county_code")):
        errors["uscc"] = Coded(
            "benefit_link.operator_outside",
            f"The operator is in county {operator.get('county_code')}, outside your counties.",
            county_code=operator.get("county_code"),
        )
    # A household outside the scope reads exactly as an unknown number.
    if actor.role == ENTERPRISE:
        if "uscc" in errors:
            return errors
        in_scope = household is not None and household["county_code"] == operator.get("county_code")
    else:
        in_scope = household is not None and actor.sees_county(household["county_code"])
    if not in_scope:
        errors["household_no"] = unknown_household(actor).details["household_no"][0]
    return errors


def _changes_to(
    actor: Principal, stored: Mapping[str, Any], data: Mapping[str, Any], end: datetime | None
) -> tuple[dict[str, str], dict[str, Any]]:
    """What a row changes on the stored link with its key, or why it may not."""
    stored_end = None if stored.get("valid_to") is None else as_utc(stored["valid_to"])
    changes: dict[str, Any] = {
        name: data[name] for name in ("mechanism", "weight") if stored.get(name) != data[name]
    }
    if end != stored_end:
        if end is None or (stored_end is not None and end > stored_end):
            return {
                "valid_to": Coded(
                    "benefit_link.stored_ends_earlier",
                    f"Link {stored['_id']} ends earlier; a link is never extended.",
                )
            }, {}
        changes["valid_to"] = end
    if changes and actor.role == ENTERPRISE:
        return {
            "weight": Coded(
                "benefit_link.staff_only", f"Only county staff may change the stored link {stored['_id']}."
            )
        }, {}
    if changes and not actor.sees_county(stored.get("household_county_code")):
        return {
            "household_no": Coded(
                "benefit_link.household_outside", "The household's county is outside your counties."
            )
        }, {}
    return {}, changes
