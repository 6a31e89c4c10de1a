"""The benefit-link import (带贫关系导入): a spreadsheet of links, keyed by operator, household and first day.

The rules of one link (scope, periods, the stored document) are ``service.benefit_links``'; this module
reads a file's rows, checks each against the links stored and the rows above it (a pair's periods never
overlap), and runs them through the register runner, so re-importing the same file changes nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database

from adapters import tabular
from adapters.errors import CELL_DIGITS_LOST, Coded, message_of
from service import access, partitions, registers, storage
from service.access import ENTERPRISE, Principal
from service.benefit_links import MAX_WEIGHT, new_link, unknown_household
from service.errors import Forbidden
from service.ingest_result import IngestResult
from service.link_periods import as_utc, check_days, overlaps, period
from service.vocabulary import MECHANISMS

MECHANISM_BY_LABEL = {label: code for code, label in MECHANISMS.items()}

COLUMNS = {
    "uscc": "经营主体统一社会信用代码",
    "household_no": "户编号",
    "mechanism": "带贫方式",
    "weight": "权重",
    "valid_from": "开始日期",
    "valid_to": "结束日期",
}
REQUIRED_COLUMNS = tuple(column for name, column in COLUMNS.items() if name != "valid_to")


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


class LinkRegister(registers.PartyRegister):
    """The benefit-link import: keyed by operator, household and first day; a pair's periods never overlap."""

    collection = storage.BENEFIT_LINKS
    entity_kind = "benefit_link"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "valid_from"
    duplicate_message = Coded("benefit_link.same_in_file", "The same link is on row {row}.")

    def __init__(self, actor: Principal):
        super().__init__(actor)
        # Every period known for a pair, stored or from an earlier row, by its first instant.
        self.known: dict[tuple[ObjectId, ObjectId], dict[datetime, _Known]] = {}

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
        return _row_data(row)

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
        return new_link(data["operator"], data["household"], data, data["start"], data["end"], now)

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
