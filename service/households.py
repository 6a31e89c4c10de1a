"""Registered poor households (建档立卡贫困户): the register and look-up by ID number.

A household is keyed by the national system's household number (户编号) and
sits in a village (12-digit statistical code; county = first 6 digits,
township = first 9). The head's ID number (居民身份证号) is never stored in
clear: only its keyed hash (look-up, one household per person) and a masked
form. Admins and county staff of the household's county see names and masked
ID numbers; an enterprise sees only households linked to its operator, with
masked names and no ID number; canteens see nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.errors import Coded, message_of
from service import access, audit, pii, places, storage
from service import household_categories as categories
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import today_local, utcnow
from service.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    validation_summary,
)
from service.vocabulary import HOUSEHOLD_STATUS_LABELS

ALREADY_HEAD = Coded("household.already_head", "Already heads a household.")
BAD_EXIT_YEAR = Coded("household.bad_exit_year", "The exit year is a year such as 2019.")
# A household's status codes (with their labels, which the register's files may use).
STATUSES = HOUSEHOLD_STATUS_LABELS
STATUS_BY_LABEL = {label: code for code, label in STATUSES.items()}
# Statuses that may carry the year the household was lifted out of poverty (脱贫年度).
_EXIT_YEAR_STATUSES = ("exited", "monitored")
FIRST_EXIT_YEAR = 2014  # the register (建档立卡) began in 2014
MAX_MEMBERS = 99
MAX_NAME_LENGTH = 50
HOUSEHOLD_NO = re.compile(r"^\d{1,32}$")
VILLAGE_CODE = re.compile(r"^\d{12}$")

# What a reader may see of a household (an allow-list, so the hash can never slip out).
_VISIBLE_FIELDS = (
    "_id",
    "household_no",
    "county_code",
    "township_code",
    "village_code",
    "head_name",
    "members",
    "status",
    "exit_year",
    "registered_on",
    "version",
    "created_at",
    "updated_at",
)


# Validation --------------------------------------------------------------------------


def validated(
    data: Mapping[str, Any], *, with_id_number: bool = True
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields to store for ``data``, and the problems found, by field name.

    ``data`` holds household_no, village_code, optional county_code (must agree
    with the village), head_name, members, status, exit_year and, when
    ``with_id_number``, the clear id_number. Messages never contain the ID number.
    """
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}

    household_no = str(data.get("household_no") or "").strip()
    if not HOUSEHOLD_NO.match(household_no):
        errors["household_no"] = Coded("household.bad_number", "A household number (户编号) is 1–32 digits.")
    fields["household_no"] = household_no

    village = str(data.get("village_code") or "").strip()
    county = data.get("county_code")
    if not VILLAGE_CODE.match(village):
        errors["village_code"] = Coded(
            "household.bad_village", "A village code (村代码) is the 12-digit statistical code."
        )
    elif county and village[:6] != county:
        errors["village_code"] = Coded(
            "household.village_outside_county",
            f"Village {village} is not in county {county} (its first 6 digits differ).",
            village=village,
            county_code=county,
        )
    else:
        fields.update(county_code=village[:6], township_code=village[:9], village_code=village)

    name = str(data.get("head_name") or "").strip()
    if not name:
        errors["head_name"] = Coded(
            "household.head_name_required", "The head of household's name (户主姓名) is required."
        )
    elif len(name) > MAX_NAME_LENGTH:
        errors["head_name"] = Coded(
            "household.head_name_too_long",
            f"A name has at most {MAX_NAME_LENGTH} characters.",
            most=MAX_NAME_LENGTH,
        )
    fields["head_name"] = name

    members = data.get("members")
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= MAX_MEMBERS:
        errors["members"] = bad_members()
    fields["members"] = members

    status = data.get("status")
    exit_year = data.get("exit_year")
    if status not in STATUSES:
        choices = ", ".join(f"{code} ({label})" for code, label in STATUSES.items())
        errors["status"] = Coded("household.bad_status", f"The status is one of {choices}.")
    elif exit_year is None:
        if status == "exited":
            errors["exit_year"] = Coded(
                "household.exit_year_required", "An exited household (已脱贫) needs its exit year (脱贫年度)."
            )
    elif status not in _EXIT_YEAR_STATUSES:
        errors["exit_year"] = Coded(
            "household.no_exit_year",
            f"A {status} ({STATUSES[status]}) household has no exit year; leave it empty.",
            status_label=STATUSES[status],
        )
    elif isinstance(exit_year, bool) or not isinstance(exit_year, int):
        errors["exit_year"] = BAD_EXIT_YEAR
    elif not FIRST_EXIT_YEAR <= exit_year <= today_local().year:
        errors["exit_year"] = Coded(
            "household.exit_year_range",
            f"The exit year is between {FIRST_EXIT_YEAR} and this year.",
            first=FIRST_EXIT_YEAR,
        )
    fields["status"] = status
    fields["exit_year"] = exit_year
    registered, registered_error = _registered_on(data)
    if registered_error:
        errors["registered_on"] = registered_error
    fields["registered_on"] = registered

    if with_id_number:
        try:
            number = pii.validate_id_number(str(data.get("id_number") or ""))
        except ValueError as error:
            errors["id_number"] = message_of(error)
        else:
            fields["id_number_hash"] = pii.hash_id_number(number)
            fields["id_number_masked"] = pii.mask_id_number(number)
    return fields, errors


def _registered_on(data: Mapping[str, Any]) -> tuple[str | None, Coded | None]:
    """The registration day (登记日期) as stored (ISO text, or None when not known), or its problem."""
    value = data.get("registered_on")
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return None, Coded(
                "household.bad_registered_on", "The registration day is a date such as 2016-05-01."
            )
    if not categories.REGISTER_BEGAN <= value <= today_local():
        return value.isoformat(), Coded(
            "household.registered_on_range",
            f"The registration day is between {categories.REGISTER_BEGAN} and today.",
            first=categories.REGISTER_BEGAN.isoformat(),
        )
    history = data.get("categories") or []
    if history and value.isoformat() > history[0]["valid_from"]:
        return value.isoformat(), Coded(
            "household.registered_after_category",
            f"The household's categories are recorded from {history[0]['valid_from']}, before this day.",
            day=history[0]["valid_from"],
        )
    return value.isoformat(), None


def bad_members() -> Coded:
    return Coded(
        "household.bad_members",
        f"The number of members (家庭人口数) is a whole number from 1 to {MAX_MEMBERS}.",
        most=MAX_MEMBERS,
    )


def raise_if(errors: dict[str, str]) -> None:
    if errors:
        details = {name: [message] for name, message in errors.items()}
        raise ValidationFailed(validation_summary(details), details=details)


def id_number_taken(actor: Principal, holder: Mapping[str, Any]) -> Coded:
    """Who already holds an ID number, named only as far as the actor may see."""
    if actor.sees_county(holder.get("county_code")):
        return Coded(
            "household.id_number_heads",
            f"This person already heads household {holder['household_no']}.",
            household_no=holder["household_no"],
        )
    county = holder.get("county_code")
    return Coded(
        "household.id_number_heads_elsewhere",
        f"This person already heads a household in county {county}, outside your counties.",
        county_code=county,
    )


def _id_number_conflict(actor: Principal, holder: Mapping[str, Any]) -> Conflict:
    return Conflict(id_number_taken(actor, holder), details={"id_number": [ALREADY_HEAD]})


# Reading --------------------------------------------------------------------------------


def present(household: Mapping[str, Any], actor: Principal) -> dict[str, Any]:
    """A household as ``actor`` may see it: enterprises get a masked name and no ID number."""
    view = {name: household.get(name) for name in _VISIBLE_FIELDS}
    history = categories.history_of(household)
    view["categories"] = categories.readable(history)
    view["category"] = categories.current_category(history, today_local())
    if view["registered_on"]:
        view["registered_on"] = date.fromisoformat(view["registered_on"])
    if actor.role == ENTERPRISE:
        view["head_name"] = pii.mask_name(household.get("head_name"))
    else:
        view["id_number_masked"] = household.get("id_number_masked")
    return view


def shown(db: Database, household: Mapping[str, Any], actor: Principal) -> dict[str, Any]:
    """One household as ``actor`` may see it, its township and village named."""
    return places.with_names(db, [present(household, actor)])[0]


def load(db: Database, household_id: ObjectId) -> dict[str, Any]:
    household = db[storage.HOUSEHOLDS].find_one({"_id": household_id})
    if household is None:
        raise NotFound(Coded("household.not_in_scope", "No such household."))
    return household


def linked_household_ids(db: Database, operator_id: ObjectId | None) -> list[ObjectId]:
    """Households linked to an operator now or at any time in the past (ended links count)."""
    if operator_id is None:
        return []
    return list(db[storage.BENEFIT_LINKS].distinct("household_id", {"operator_id": operator_id}))


# Missing and out of scope answer alike, so no one learns which households another tenant has.
NOT_IN_SCOPE = Coded("household.not_in_scope", "No household of yours has this id.")


def _linked(db: Database, operator_id: ObjectId | None, household_id: ObjectId) -> bool:
    """Whether a benefit link (every stored one was approved; ended ones count) ties the two."""
    found = db[storage.BENEFIT_LINKS].find_one(
        {"operator_id": operator_id, "household_id": household_id}, {"_id": 1}
    )
    return found is not None


def require_visible(db: Database, actor: Principal, household: Mapping[str, Any]) -> None:
    """Staff see their counties' households; an enterprise those ever linked to its operator."""
    if actor.role == CANTEEN:
        raise Forbidden(Coded("household.canteen_refused", "Canteen accounts cannot see households."))
    if actor.role == ENTERPRISE:
        visible = _linked(db, actor.operator_id, household["_id"])
    else:
        visible = actor.sees_county(household.get("county_code"))
    if not visible:
        raise Forbidden(NOT_IN_SCOPE)


def load_visible(db: Database, actor: Principal, household_id: ObjectId) -> dict[str, Any]:
    """A household ``actor`` may see; one 403 for a missing one and another's (admins: 404).

    The scope goes into the first query, so both cases cost the same queries.
    """
    if actor.role == CANTEEN:
        raise Forbidden(Coded("household.canteen_refused", "Canteen accounts cannot see households."))
    query: dict[str, Any] = {"_id": household_id}
    if actor.role == ENTERPRISE:
        if not _linked(db, actor.operator_id, household_id):
            raise Forbidden(NOT_IN_SCOPE)
    elif not actor.is_admin:
        query["county_code"] = {"$in": list(actor.county_codes)}
    household = db[storage.HOUSEHOLDS].find_one(query)
    if household is None:
        raise (
            NotFound(Coded("household.not_in_scope", "No such household."))
            if actor.is_admin
            else Forbidden(NOT_IN_SCOPE)
        )
    return household


def require_staff(actor: Principal) -> None:
    if not actor.is_staff:
        raise Forbidden(
            Coded("household.staff_only", "Only county staff and admins may change the household register.")
        )


def list_households(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    township_code: str | None = None,
    village_code: str | None = None,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    conditions: list[dict[str, Any]] = []
    if actor.role == ENTERPRISE:
        conditions.append({"_id": {"$in": linked_household_ids(db, actor.operator_id)}})
    else:
        conditions.extend(access.staff_conditions(actor, county_code))
    for name, value in (
        ("county_code", county_code),
        ("township_code", township_code),
        ("village_code", village_code),
        ("status", status),
    ):
        if value is not None:
            conditions.append({name: value})
    if q:
        text = re.escape(q.strip())
        matches: list[dict[str, Any]] = [{"household_no": {"$regex": f"^{text}"}}]
        # Searching by name would let an enterprise confirm names it only sees masked.
        if actor.role != ENTERPRISE:
            matches.append({"head_name": {"$regex": text}})
        conditions.append({"$or": matches})
    query = {"$and": conditions} if conditions else {}
    found, total = storage.page_of(db[storage.HOUSEHOLDS], query, [("household_no", 1)], page, per_page)
    return places.with_names(db, [present(household, actor) for household in found]), total


def get_household(db: Database, actor: Principal, household_id: ObjectId) -> dict[str, Any]:
    return shown(db, load_visible(db, actor, household_id), actor)


def lookup_household(db: Database, actor: Principal, id_number: str) -> dict[str, Any]:
    """The household headed by the person with this ID number (staff only), or NotFound."""
    require_staff(actor)
    try:
        number = pii.validate_id_number(id_number)
    except ValueError as error:
        raise_if({"id_number": message_of(error)})
    household = db[storage.HOUSEHOLDS].find_one({"id_number_hash": pii.hash_id_number(number)})
    if household is None:
        raise NotFound(
            Coded("household.no_head_with_id", "No registered household is headed by this ID number.")
        )
    if not actor.sees_county(household["county_code"]):
        raise Forbidden(id_number_taken(actor, household))
    return shown(db, household, actor)


# Writing ----------------------------------------------------------------------------------


def create_household(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    require_staff(actor)
    fields, errors = validated(data)
    raise_if(errors)
    access.require_county(actor, fields["county_code"])
    collection = db[storage.HOUSEHOLDS]
    if collection.find_one({"household_no": fields["household_no"]}, {"_id": 1}) is not None:
        raise _household_no_taken(fields["household_no"])
    holder = collection.find_one({"id_number_hash": fields["id_number_hash"]})
    if holder is not None:
        raise _id_number_conflict(actor, holder)
    now = utcnow()
    household = {**fields, "version": 1, "created_at": now, "updated_at": now}
    try:
        household["_id"] = collection.insert_one(household).inserted_id
    except DuplicateKeyError:
        # Lost a race with a concurrent create; the driver's message is not passed on (it holds the key).
        if collection.find_one({"household_no": fields["household_no"]}, {"_id": 1}) is not None:
            raise _household_no_taken(fields["household_no"]) from None
        raise Conflict(
            Coded("household.already_head", "This person already heads a household."),
            details={"id_number": [ALREADY_HEAD]},
        ) from None
    audit.record(
        db,
        actor,
        "household.create",
        entity_kind="household",
        entity_id=household["_id"],
        county_code=household["county_code"],
        after=household,
    )
    return shown(db, household, actor)


def _household_no_taken(household_no: str) -> Conflict:
    return Conflict(
        Coded(
            "household.number_taken",
            f"Household number {household_no} is already registered.",
            household_no=household_no,
        ),
        details={"household_no": [Coded("field.already_registered", "Already registered.")]},
    )


def update_household(
    db: Database, actor: Principal, household_id: ObjectId, expected_version: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a household's village, head, members or status (If-Match version required)."""
    require_staff(actor)
    before = load(db, household_id)
    access.require_county(actor, before["county_code"])
    if before["version"] != expected_version:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    merged = {**before, **{name: value for name, value in changes.items() if name != "id_number"}}
    merged.pop("county_code", None)
    if "id_number" in changes:
        merged["id_number"] = changes["id_number"]
    fields, errors = validated(merged, with_id_number="id_number" in changes)
    raise_if(errors)
    access.require_county(actor, fields["county_code"])
    update = {name: value for name, value in fields.items() if before.get(name) != value}
    if "id_number_hash" in update:
        holder = db[storage.HOUSEHOLDS].find_one(
            {"id_number_hash": update["id_number_hash"], "_id": {"$ne": household_id}}
        )
        if holder is not None:
            raise _id_number_conflict(actor, holder)
    if not update:
        return shown(db, before, actor)
    update["updated_at"] = utcnow()
    try:
        result = db[storage.HOUSEHOLDS].update_one(
            {"_id": household_id, "version": expected_version}, {"$set": update, "$inc": {"version": 1}}
        )
    except DuplicateKeyError:
        raise Conflict(
            Coded("household.already_head", "This person already heads a household."),
            details={"id_number": [ALREADY_HEAD]},
        ) from None
    if result.matched_count == 0:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    after = load(db, household_id)
    audit.record(
        db,
        actor,
        "household.update",
        entity_kind="household",
        entity_id=household_id,
        county_code=after["county_code"],
        before=before,
        after=after,
    )
    return shown(db, after, actor)


def household_numbers(db: Database, numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Households by household number, in one query (for other importers)."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return {}
    return {
        household["household_no"]: household
        for household in db[storage.HOUSEHOLDS].find({"household_no": {"$in": wanted}})
    }
