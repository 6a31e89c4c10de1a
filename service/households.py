"""Registered poor households (建档立卡贫困户): the register, look-up by ID number, and bulk import.

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
from datetime import date, datetime
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters import tabular
from adapters.errors import CELL_DIGITS_LOST, Coded, FileRefused, message_of
from service import access, audit, pii, places, registers, storage
from service import household_categories as categories
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import start_of_local_day, today_local, utcnow
from service.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    refused_file,
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

# Import columns (the county's own spreadsheet) and the fields they fill.
COLUMNS = {
    "household_no": "户编号",
    "village_code": "村代码",
    "head_name": "户主姓名",
    "id_number": "身份证号",
    "members": "家庭人口数",
    "status": "户类型",
    "exit_year": "脱贫年度",
}
REQUIRED_COLUMNS = tuple(COLUMNS[name] for name in COLUMNS if name != "exit_year")
# The national monitoring system's export (防止返贫监测), by its own column names: it records the
# categories of households already on the register; other columns of the export are ignored.
MONITORING_COLUMNS = {
    "household_no": "户编号",
    "household_type": "户类型",
    "monitoring_category": "监测对象类别",
    "identified_on": "识别监测时间",
    "risk_removed": "风险是否已消除",
    "removal_method": "风险消除方式",
    "risk_removed_on": "消除监测时间",
}
MONITORING_REQUIRED = ("户编号", "户类型", "监测对象类别")
# A file with this column is the monitoring export; without it, the register's own sheet.
MONITORING_MARK = MONITORING_COLUMNS["monitoring_category"]

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
# Fields a stored household is compared on when an import row meets it.
_COMPARED_FIELDS = (
    "county_code",
    "township_code",
    "village_code",
    "head_name",
    "id_number_hash",
    "id_number_masked",
    "members",
    "status",
    "exit_year",
)


# Validation --------------------------------------------------------------------------


def _validated(
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
        errors["members"] = _bad_members()
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


def _bad_members() -> Coded:
    return Coded(
        "household.bad_members",
        f"The number of members (家庭人口数) is a whole number from 1 to {MAX_MEMBERS}.",
        most=MAX_MEMBERS,
    )


def _raise_if(errors: dict[str, str]) -> None:
    if errors:
        details = {name: [message] for name, message in errors.items()}
        raise ValidationFailed(validation_summary(details), details=details)


def _id_number_taken(actor: Principal, holder: Mapping[str, Any]) -> Coded:
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
    return Conflict(_id_number_taken(actor, holder), details={"id_number": [ALREADY_HEAD]})


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


def _load(db: Database, household_id: ObjectId) -> dict[str, Any]:
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


def _require_staff(actor: Principal) -> None:
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
    _require_staff(actor)
    try:
        number = pii.validate_id_number(id_number)
    except ValueError as error:
        _raise_if({"id_number": message_of(error)})
    household = db[storage.HOUSEHOLDS].find_one({"id_number_hash": pii.hash_id_number(number)})
    if household is None:
        raise NotFound(
            Coded("household.no_head_with_id", "No registered household is headed by this ID number.")
        )
    if not actor.sees_county(household["county_code"]):
        raise Forbidden(_id_number_taken(actor, household))
    return shown(db, household, actor)


# Writing ----------------------------------------------------------------------------------


def create_household(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    _require_staff(actor)
    fields, errors = _validated(data)
    _raise_if(errors)
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
    _require_staff(actor)
    before = _load(db, household_id)
    access.require_county(actor, before["county_code"])
    if before["version"] != expected_version:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    merged = {**before, **{name: value for name, value in changes.items() if name != "id_number"}}
    merged.pop("county_code", None)
    if "id_number" in changes:
        merged["id_number"] = changes["id_number"]
    fields, errors = _validated(merged, with_id_number="id_number" in changes)
    _raise_if(errors)
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
    after = _load(db, household_id)
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


# Categories over time ---------------------------------------------------------------------


def _change_entry(data: Mapping[str, Any]) -> categories.Entry:
    return categories.entry(
        data.get("valid_from"),
        data.get("household_type"),
        data.get("monitoring_category"),
        data.get("identified_on"),
        data.get("risk_removed_on"),
        data.get("removal_method"),
    )


def category_history(db: Database, actor: Principal, household_id: ObjectId) -> dict[str, Any]:
    """A household's categories over time, and the one that holds today."""
    household = load_visible(db, actor, household_id)
    history = categories.history_of(household)
    return {
        "_id": household["_id"],
        "registered_on": categories.registered_on(household),
        "recorded": bool(household.get("categories")),
        "category": categories.current_category(history, today_local()),
        "items": categories.readable(history),
        "version": household["version"],
    }


def change_category(
    db: Database, actor: Principal, household_id: ObjectId, expected_version: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Record a dated change of a household's category (in force from ``valid_from``; the same day's
    earlier change is replaced). Days before the household's registration or after today are refused."""
    _require_staff(actor)
    before = load_visible(db, actor, household_id)
    if before["version"] != expected_version:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    item = _change_entry(data)
    _raise_if(categories.check_entry(item, registered=categories.registered_on(before), today=today_local()))
    history = categories.with_entry(categories.history_of(before), item)
    update = {
        "categories": history,
        "category": categories.current_category(history, today_local()),
        "updated_at": utcnow(),
    }
    result = db[storage.HOUSEHOLDS].update_one(
        {"_id": household_id, "version": expected_version}, {"$set": update, "$inc": {"version": 1}}
    )
    if result.matched_count == 0:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    after = _load(db, household_id)
    audit.record(
        db,
        actor,
        "household.category_change",
        entity_kind="household",
        entity_id=household_id,
        county_code=after["county_code"],
        before=before,
        after=after,
    )
    return category_history(db, actor, household_id)


def _monitored_query() -> dict[str, Any]:
    """Households monitored now: by their recorded category, or by their status when none is recorded."""
    legacy = [status for status, (_type, category) in categories.STATUS_STATES.items() if category]
    return {
        "$or": [
            {"category": {"$in": list(categories.MONITORED)}},
            {"category": None, "status": {"$in": legacy}},
        ]
    }


def targeting_gaps(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Monitored households (监测对象) no benefit link reaches today: the targeting gaps (staff)."""
    _require_staff(actor)
    conditions = [*access.staff_conditions(actor, county_code), _monitored_query()]
    counties = [county_code] if county_code else None if actor.is_admin else list(actor.county_codes)
    if county_code:
        conditions.append({"county_code": county_code})
    start = start_of_local_day(today_local())
    active: list[dict[str, Any]] = [
        {"valid_from": {"$lte": start}},
        {"$or": [{"valid_to": None}, {"valid_to": {"$gt": start}}]},
    ]
    if counties is not None:
        active.append({"household_county_code": {"$in": counties}})
    linked = db[storage.BENEFIT_LINKS].distinct("household_id", {"$and": active})
    conditions.append({"_id": {"$nin": linked}})
    found, total = storage.page_of(
        db[storage.HOUSEHOLDS], {"$and": conditions}, [("household_no", 1)], page, per_page
    )
    return places.with_names(db, [present(household, actor) for household in found]), total


# Bulk import ------------------------------------------------------------------------------


def _row_data(row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
    """An import row converted to the API's types, and conversion problems by field."""
    errors: dict[str, str] = {}
    for name in ("household_no", "id_number"):
        if COLUMNS[name] in row.imprecise:
            errors[name] = Coded(
                CELL_DIGITS_LOST,
                "Excel stored this as a number and lost its last digits; "
                "format the column as text and enter it again.",
            )
    data: dict[str, Any] = {name: row.get(column) for name, column in COLUMNS.items()}
    data["members"] = _whole_number(data["members"])
    if data["members"] is None:
        errors["members"] = _bad_members()
    status = data["status"]
    data["status"] = STATUS_BY_LABEL.get(status, status)
    year_text = (data["exit_year"] or "").removesuffix("年")
    data["exit_year"] = _whole_number(year_text) if year_text else None
    if year_text and data["exit_year"] is None:
        errors["exit_year"] = BAD_EXIT_YEAR
    return data, errors


_TYPE_BY_LABEL = {
    **{label: code for code, label in categories.HOUSEHOLD_TYPES.items()},
    # The older register's words for a household lifted out of poverty.
    STATUSES["exited"]: "exited",
    STATUSES["poor"]: "exited",
}
_CATEGORY_BY_LABEL = {
    **{label: code for code, label in categories.MONITORING_CATEGORIES.items()},
    **categories.LEGACY_CATEGORY_LABELS,
}
_METHOD_BY_LABEL = {label: code for code, label in categories.REMOVAL_METHODS.items()}
_YES, _NO = ("是", "已消除", "Y", "y"), ("否", "未消除", "N", "n", "")


def _monitoring_row(row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
    """A row of the monitoring export: the household number and the state it exports, or its problems."""
    errors: dict[str, str] = {}
    household_no = row.get(MONITORING_COLUMNS["household_no"]).strip()
    if MONITORING_COLUMNS["household_no"] in row.imprecise:
        errors["household_no"] = Coded(
            CELL_DIGITS_LOST,
            "Excel stored this as a number and lost its last digits; "
            "format the column as text and enter it again.",
        )
    elif not HOUSEHOLD_NO.match(household_no):
        errors["household_no"] = Coded("household.bad_number", "A household number (户编号) is 1–32 digits.")

    def code(name: str, by_label: Mapping[str, str], empty: bool) -> str | None:
        text = row.get(MONITORING_COLUMNS[name]).strip()
        if not text and empty:
            return None
        if text in by_label:
            return by_label[text]
        choices = "、".join(label for label in by_label)
        errors[name] = Coded(
            "category.bad_label", f"{text or '(empty)'} is not one of {choices}.", value=text
        )
        return None

    def day(name: str) -> str | None:
        text = row.get(MONITORING_COLUMNS[name]).strip()
        if not text:
            return None
        try:
            return tabular.parse_local_date(text).isoformat()
        except ValueError as error:
            errors[name] = message_of(error)
            return None

    state = {
        "household_type": code("household_type", _TYPE_BY_LABEL, empty=False),
        "monitoring_category": code("monitoring_category", _CATEGORY_BY_LABEL, empty=True),
        "identified_on": day("identified_on"),
        "risk_removed_on": day("risk_removed_on"),
        "removal_method": code("removal_method", _METHOD_BY_LABEL, empty=True),
    }
    removed = row.get(MONITORING_COLUMNS["risk_removed"]).strip()
    if removed not in _YES + _NO:
        errors["risk_removed"] = Coded(
            "category.bad_yes_no", f"{removed} is neither 是 nor 否.", value=removed
        )
    elif removed in _NO and (state["risk_removed_on"] or state["removal_method"]):
        errors["risk_removed"] = Coded(
            "category.removal_not_marked", "The risk is not marked removed (是), yet a removal is given."
        )
    elif removed in _YES and state["risk_removed_on"] is None and "risk_removed_on" not in errors:
        errors["risk_removed_on"] = Coded(
            "category.removed_on_required", "A removed risk needs the day it was removed."
        )
    return {"household_no": household_no, "state": state}, errors


def _whole_number(text: str) -> int | None:
    try:
        return tabular.parse_whole_number(text)
    except ValueError:
        return None


def import_households(
    db: Database,
    actor: Principal,
    stream: IO[bytes],
    filename: str = "",
    *,
    county_code: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Upsert households from the county's spreadsheet, keyed by household number.

    Rows with any problem are rejected whole and reported with their row
    number; unchanged rows are counted, not rewritten, so re-importing a file
    changes nothing. With ``dry_run`` nothing is written.
    """
    _require_staff(actor)
    if county_code is not None:
        access.require_county(actor, county_code)
    register = HouseholdRegister(actor, county_code)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


class HouseholdRegister(registers.Register):
    """The household register's import: keyed by household number, one head per ID number."""

    collection = storage.HOUSEHOLDS
    entity_kind = "household"
    # Both layouts have the household number; the rest is checked once the layout is known.
    required = (COLUMNS["household_no"],)
    key_field = "household_no"

    def __init__(self, actor: Principal, county_code: str | None):
        super().__init__(actor)
        self.county_code = county_code
        self.holders: dict[str, dict[str, Any]] = {}
        self.monitoring = False
        self.columns: Mapping[str, str] = COLUMNS

    def check_header(self, header: list[str]) -> None:
        self.monitoring = MONITORING_MARK in header
        self.columns = MONITORING_COLUMNS if self.monitoring else COLUMNS
        try:
            tabular.require_columns(header, MONITORING_REQUIRED if self.monitoring else REQUIRED_COLUMNS)
        except FileRefused as error:
            raise refused_file(error) from error

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
        if self.monitoring:
            return _monitoring_row(row)
        data, errors = _row_data(row)
        fields, problems = _validated(data)
        return fields, {**problems, **errors}

    def resolve(self, db: Database, rows: list[dict[str, Any]]) -> None:
        if self.monitoring:
            return
        # Who already heads a household, for every ID number of the batch at once.
        self.holders = {
            household["id_number_hash"]: household
            for household in db[storage.HOUSEHOLDS].find(
                {"id_number_hash": {"$in": [fields["id_number_hash"] for fields in rows]}},
                {"household_no": 1, "county_code": 1, "id_number_hash": 1},
            )
        }

    def check(self, data: dict[str, Any]) -> dict[str, str]:
        if self.monitoring:
            return {}
        county = data["county_code"]
        if self.county_code is not None and county != self.county_code:
            return {
                "village_code": Coded(
                    "household.village_not_import_county",
                    f"The village is not in county {self.county_code}, the county of this import.",
                    county_code=self.county_code,
                )
            }
        if not self.actor.sees_county(county):
            return {
                "village_code": Coded(
                    "access.county_outside", f"County {county} is outside your counties.", county_code=county
                )
            }
        return {}

    def key(self, data: Mapping[str, Any]) -> str:
        return data["household_no"]

    def stored_key(self, document: Mapping[str, Any]) -> str:
        return document["household_no"]

    def unique_keys(self, data: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
        if self.monitoring:
            return super().unique_keys(data)
        return [
            *super().unique_keys(data),
            (
                "id_number",
                data["id_number_hash"],
                Coded("household.same_id_in_file", "The same ID number is on row {row}."),
            ),
        ]

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"household_no": {"$in": [fields["household_no"] for fields in rows]}}

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if self.monitoring:
            return self._category_diff(stored, data)
        holder = self.holders.get(data["id_number_hash"])
        if holder is not None and holder["household_no"] != data["household_no"]:
            return {}, {"id_number": _id_number_taken(self.actor, holder)}
        if stored is None:
            return {}, {}
        if not self.actor.sees_county(stored["county_code"]):
            return {}, {
                "household_no": Coded(
                    "household.registered_elsewhere",
                    f"Registered in county {stored['county_code']}, not yours.",
                    county_code=stored["county_code"],
                )
            }
        return {name: data[name] for name in _COMPARED_FIELDS if stored.get(name) != data[name]}, {}

    def _category_diff(
        self, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A monitoring export's row against the household it names: the categories it adds."""
        if stored is None or not self.actor.sees_county(stored["county_code"]):
            return {}, {
                "household_no": Coded(
                    "household.not_on_register",
                    f"Household {data['household_no']} is not on your register; import it first.",
                    household_no=data["household_no"],
                )
            }
        registered = categories.registered_on(stored)
        state = data["state"]
        checked = categories.entry(
            state["identified_on"] or registered,
            state["household_type"],
            state["monitoring_category"],
            state["identified_on"],
            state["risk_removed_on"],
            state["removal_method"],
        )
        errors = categories.check_entry(checked, registered=registered, today=today_local())
        # The row's entry takes effect on its identification day, whose column names the problem.
        errors.pop("valid_from", None)
        if errors:
            return {}, errors
        history = categories.merged(
            categories.history_of(stored), categories.snapshot_entries(**state, registered=registered)
        )
        if history == stored.get("categories"):
            return {}, {}
        return {"categories": history, "category": categories.current_category(history, today_local())}, {}

    def build(self, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        return dict(data)

    def summary_county(self) -> str | None:
        return self.county_code or super().summary_county()


def household_numbers(db: Database, numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Households by household number, in one query (for other importers)."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return {}
    return {
        household["household_no"]: household
        for household in db[storage.HOUSEHOLDS].find({"household_no": {"$in": wanted}})
    }
