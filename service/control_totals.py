"""Control totals (账实相符): a channel's figure for a county and month from outside the ledger.

A platform's settlement statement, the counter operator's daily totals summed, the 832 platform's
settlement: county staff enter the figure (in fen) per channel, county and month, and the ledger's
sales of that channel, county and month must equal it. A month may be entered once it has begun
(Asia/Shanghai); entering it again replaces the figure, with the version in the filter and the
change in the audit log. The figures may also come from a spreadsheet (``import_control_totals``),
keyed by county, channel and month like entering them. ``compare`` is what ``ledger verify`` reports
beside the ledger's own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import IO, Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters import tabular
from adapters.base import CHANNELS
from adapters.errors import message_of
from service import access, audit, registers, storage, xlsx
from service.access import Principal
from service.clock import today_local, utcnow
from service.errors import Coded, Conflict, Forbidden, ValidationFailed, validation_summary
from service.vocabulary import CHANNEL_LABELS

MONTH = re.compile(r"^(20\d{2}|2100)-(0[1-9]|1[0-2])$")
COUNTY_CODE = re.compile(r"^\d{6}$")
MAX_SOURCE = 200
CHANNEL_BY_LABEL = {label: code for code, label in CHANNEL_LABELS.items() if code in CHANNELS}

COLUMNS = {
    "county_code": "县区代码",
    "channel": "渠道",
    "month": "月份",
    "amount_fen": "金额(元)",
    "source": "来源",
}
REQUIRED_COLUMNS = ("县区代码", "渠道", "月份", "金额(元)")
TEMPLATE_FILENAME = "control-totals-template.xlsx"
# The template's example row names a source starting with this; imports skip such rows.
EXAMPLE_MARK = "示例"


def _month_problem(month: str) -> Coded | None:
    if not month:
        return Coded("control_total.month_required", "The month (YYYY-MM) is required.")
    if not MONTH.match(month):
        return Coded("period.bad_month", "A month as YYYY-MM, e.g. 2024-03.")
    today = today_local()
    current = f"{today.year:04d}-{today.month:02d}"
    if month > current:
        return Coded(
            "control_total.future_month",
            f"Month {month} has not begun yet (this month is {current}).",
            month=month,
            current=current,
        )
    return None


def _unknown_channel(channel: str) -> Coded:
    return Coded("control_total.unknown_channel", f"Unknown channel {channel!r}.", channel=channel)


def _refuse(field_name: str, message: Coded) -> ValidationFailed:
    details = {field_name: [message]}
    return ValidationFailed(validation_summary(details), details=details)


def set_control_total(
    db: Database,
    actor: Principal,
    county_code: str,
    channel: str,
    month: str,
    amount_fen: int,
    source: str | None = None,
) -> dict[str, Any]:
    """Enter (or replace) the outside figure of a channel, county and month; staff of the county."""
    access.require_county(actor, county_code)
    if channel not in CHANNELS:
        raise _refuse("channel", _unknown_channel(channel))
    problem = _month_problem(month)
    if problem is not None:
        raise _refuse("month", problem)
    key = {"county_code": county_code, "channel": channel, "month": month}
    collection = db[storage.CONTROL_TOTALS]
    before = collection.find_one(key)
    now = utcnow()
    changes = {"amount_fen": amount_fen, "source": source}
    if before is not None and all(before.get(name) == value for name, value in changes.items()):
        return present(db, [before])[0]
    try:
        if before is None:
            after = {**key, **changes, "version": 1, "created_at": now, "updated_at": now}
            after["_id"] = collection.insert_one(after).inserted_id
        else:
            result = collection.update_one(
                {"_id": before["_id"], "version": before["version"]},
                {
                    "$set": {**changes, "updated_at": now, "updated_by": actor.as_actor()},
                    "$inc": {"version": 1},
                },
            )
            if result.matched_count == 0:
                raise _changed_meanwhile()
            after = collection.find_one({"_id": before["_id"]})
    except DuplicateKeyError:
        raise _changed_meanwhile() from None
    audit.record(
        db,
        actor,
        "control_total.update" if before else "control_total.create",
        entity_kind="control_total",
        entity_id=after["_id"],
        county_code=county_code,
        before=before,
        after=after,
    )
    return present(db, [after])[0]


def _changed_meanwhile() -> Conflict:
    return Conflict(
        Coded(
            "control_total.changed_meanwhile", "Someone entered this figure at the same time; read it again."
        )
    )


def list_control_totals(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    channel: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> list[dict[str, Any]]:
    """The figures in the caller's counties, each beside the ledger's sales and their difference."""
    query: dict[str, Any] = {"$and": access.staff_conditions(actor, county_code)}
    for name, value in (("county_code", county_code), ("channel", channel)):
        if value is not None:
            query["$and"].append({name: value})
    if from_month or to_month:
        query["$and"].append({"month": {"$gte": from_month or "2000-01", "$lte": to_month or "2100-12"}})
    if not query["$and"]:
        query = {}
    totals = list(
        db[storage.CONTROL_TOTALS].find(query).sort([("month", -1), ("county_code", 1), ("channel", 1)])
    )
    return present(db, totals)


def present(db: Database, totals: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    ledger = ledger_sales(db, totals)
    views = []
    for total in totals:
        ledger_fen = ledger.get((total["county_code"], total["month"], total["channel"]), 0)
        views.append(
            {
                **{
                    name: total.get(name)
                    for name in ("_id", "county_code", "channel", "month", "amount_fen", "source", "version")
                },
                "channel_label": CHANNEL_LABELS.get(total["channel"], total["channel"]),
                "ledger_fen": ledger_fen,
                "difference_fen": ledger_fen - total["amount_fen"],
                "updated_at": total.get("updated_at"),
            }
        )
    return views


def ledger_sales(db: Database, totals: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], int]:
    """The ledger's sales (fen) of each (county, month, channel) the totals name, in one aggregation."""
    totals = list(totals)
    if not totals:
        return {}
    pipeline = [
        {
            "$match": {
                "county_code": {"$in": sorted({total["county_code"] for total in totals})},
                "month": {"$in": sorted({total["month"] for total in totals})},
                "channel": {"$in": sorted({total["channel"] for total in totals})},
            }
        },
        {
            "$group": {
                "_id": {"county_code": "$county_code", "month": "$month", "channel": "$channel"},
                "sales_fen": {"$sum": "$amount_fen"},
            }
        },
    ]
    return {
        (group["_id"]["county_code"], group["_id"]["month"], group["_id"]["channel"]): int(group["sales_fen"])
        for group in storage.aggregate(db[storage.SALES], pipeline)
    }


def compare(
    db: Database,
    county_codes: Iterable[str] | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> tuple[int, list[tuple[str, str, str, int, int]]]:
    """(figures compared, [(county, month, channel, ledger fen, outside fen)] wherever the two differ)."""
    query: dict[str, Any] = {}
    if county_codes is not None:
        query["county_code"] = {"$in": list(county_codes)}
    if from_month or to_month:
        query["month"] = {"$gte": from_month or "2000-01", "$lte": to_month or "2100-12"}
    totals = list(
        db[storage.CONTROL_TOTALS].find(query).sort([("county_code", 1), ("month", 1), ("channel", 1)])
    )
    ledger = ledger_sales(db, totals)
    found = []
    for total in totals:
        key = (total["county_code"], total["month"], total["channel"])
        if ledger.get(key, 0) != total["amount_fen"]:
            found.append((*key, ledger.get(key, 0), total["amount_fen"]))
    return len(totals), found


# Import ------------------------------------------------------------------------------------------------

# 2024-03, 2024-3, 2024/03, 2024年3月, or a date cell on the month's first day (2024-03-01).
_WRITTEN_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:月|[-/.]0?1)?$")
COUNTY_NOT_YOURS = Coded("control_total.county_not_yours", "No county of yours has this code.")


def import_control_totals(
    db: Database, actor: Principal, stream: IO[bytes], filename: str = "", *, dry_run: bool = False
) -> dict[str, Any]:
    """Enter figures from a spreadsheet in the template's columns; a figure already entered counts as
    unchanged, a changed amount or source replaces it (audited)."""
    if actor.role not in access.STAFF:
        raise Forbidden(Coded("control_total.staff_only", "Only county staff enter control totals."))
    register = ControlTotalRegister(actor)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


def _written_month(text: str) -> str:
    match = _WRITTEN_MONTH.match(text)
    return f"{match[1]}-{int(match[2]):02d}" if match else text


def _row_data(row: tabular.Row) -> tuple[dict[str, Any], dict[str, Any]]:
    """A row's fields, parsed, and its problems by field."""
    cells = {name: unicodedata.normalize("NFKC", row.get(column)).strip() for name, column in COLUMNS.items()}
    data: dict[str, Any] = {
        "county_code": cells["county_code"],
        "channel": CHANNEL_BY_LABEL.get(cells["channel"], cells["channel"].lower()),
        "month": _written_month(cells["month"]),
        "source": cells["source"] or None,
    }
    errors: dict[str, Any] = {}
    if not COUNTY_CODE.match(data["county_code"]):
        errors["county_code"] = Coded("field.county_code", "Must be a 6-digit county code.")
    if data["channel"] not in CHANNELS:
        errors["channel"] = _unknown_channel(cells["channel"])
    problem = _month_problem(data["month"])
    if problem is not None:
        errors["month"] = problem
    try:
        data["amount_fen"] = tabular.parse_yuan_to_fen(row.get(COLUMNS["amount_fen"]))
    except ValueError as error:
        data["amount_fen"] = None
        errors["amount_fen"] = message_of(error)
    if data["source"] is not None and len(data["source"]) > MAX_SOURCE:
        errors["source"] = Coded(
            "control_total.source_too_long", f"At most {MAX_SOURCE} characters.", limit=MAX_SOURCE
        )
    return data, errors


class ControlTotalRegister(registers.Register):
    """The control-total import: keyed by county, channel and month, like entering a figure."""

    collection = storage.CONTROL_TOTALS
    entity_kind = "control_total"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "month"

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, Any]]:
        return _row_data(row)

    def skip_row(self, data: dict[str, Any]) -> bool:
        return (data.get("source") or "").startswith(EXAMPLE_MARK)

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        # A county that does not exist and another's read alike.
        return {} if self.actor.sees_county(data["county_code"]) else {"county_code": COUNTY_NOT_YOURS}

    def key(self, data: Mapping[str, Any]) -> tuple[str, str, str]:
        return data["county_code"], data["channel"], data["month"]

    def stored_key(self, document: Mapping[str, Any]) -> tuple[str, str, str]:
        return document["county_code"], document["channel"], document["month"]

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            name: {"$in": sorted({data[name] for data in rows})}
            for name in ("county_code", "month", "channel")
        }

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if stored is None:
            return {}, {}
        changes = {name: data[name] for name in ("amount_fen", "source") if stored.get(name) != data[name]}
        return ({**changes, "updated_by": self.actor.as_actor()} if changes else {}), {}

    def build(self, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        return {name: data[name] for name in ("county_code", "channel", "month", "amount_fen", "source")}


def template() -> bytes:
    """The upload template: the columns with one example row, and a sheet of notes."""
    example = {
        COLUMNS["county_code"]: "340722",
        COLUMNS["channel"]: CHANNEL_LABELS["jd"],
        COLUMNS["month"]: "2024-03",
        COLUMNS["amount_fen"]: 123_456,
        COLUMNS["source"]: f"{EXAMPLE_MARK}：导入时忽略",
    }
    notes = [
        {"列": COLUMNS["county_code"], "填写说明": "6 位县区代码，须是您管辖的县。"},
        {"列": COLUMNS["channel"], "填写说明": "、".join(CHANNEL_LABELS[code] for code in CHANNELS)},
        {"列": COLUMNS["month"], "填写说明": "如 2024-03；只能填已经开始的月份（北京时间）。"},
        {"列": COLUMNS["amount_fen"], "填写说明": "该渠道当月在该县的销售额，单位元，最多两位小数。"},
        {
            "列": COLUMNS["source"],
            "填写说明": "如结算单号、日报名称，可不填；以“示例”开头的行不导入。",
        },
        {"列": "（全部）", "填写说明": "同一县、渠道、月份只填一行；再次导入会替换已登记的金额和来源。"},
    ]
    return xlsx.write_xlsx(
        [
            xlsx.Sheet(
                "账实核对",
                [
                    xlsx.Column(name, name, xlsx.FEN if name == COLUMNS["amount_fen"] else xlsx.TEXT)
                    for name in COLUMNS.values()
                ],
                [example],
            ),
            xlsx.Sheet("填写说明", [xlsx.Column("列", "列"), xlsx.Column("填写说明", "填写说明")], notes),
        ]
    )
