"""The household register's spreadsheet import (脱贫户导入): the county's own sheet, or the monitoring export.

The rules of one household are ``service.households``'; this module reads a file's rows in either
layout and runs them through the register runner, keyed by household number, so re-importing the
same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any

from pymongo.database import Database

from adapters import tabular
from adapters.errors import CELL_DIGITS_LOST, Coded, FileRefused, message_of
from service import access, households, registers, storage
from service import household_categories as categories
from service.access import Principal
from service.clock import today_local
from service.errors import refused_file

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
# Fields a stored household is compared on when an import row meets it.
COMPARED_FIELDS = (
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
        errors["members"] = households.bad_members()
    status = data["status"]
    data["status"] = households.STATUS_BY_LABEL.get(status, status)
    year_text = (data["exit_year"] or "").removesuffix("年")
    data["exit_year"] = _whole_number(year_text) if year_text else None
    if year_text and data["exit_year"] is None:
        errors["exit_year"] = households.BAD_EXIT_YEAR
    return data, errors


_TYPE_BY_LABEL = {
    **{label: code for code, label in categories.HOUSEHOLD_TYPES.items()},
    # The older register's words for a household lifted out of poverty.
    households.STATUSES["exited"]: "exited",
    households.STATUSES["poor"]: "exited",
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
    elif not households.HOUSEHOLD_NO.match(household_no):
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
    households.require_staff(actor)
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
        fields, problems = households.validated(data)
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
            return {}, {"id_number": households.id_number_taken(self.actor, holder)}
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
        return {name: data[name] for name in COMPARED_FIELDS if stored.get(name) != data[name]}, {}

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
