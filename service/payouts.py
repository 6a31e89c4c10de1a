"""The payout ledger (到户资金台账): what an operator actually paid a linked household, and for which period.

A payout names its operator and household, its kind (销售返利, 收购款溢价, 分红, 工资, 租金), the amount
in fen, the Asia/Shanghai day it was paid, how (打卡, 现金, 转账), the voucher it was paid under and
the period it pays for (a month YYYY-MM or a year YYYY). It is logged by the operator's enterprise
or by county staff, one at a time or from a spreadsheet, and only to a household the operator has a
benefit link with during that period. A voucher number is used once per operator: that is also the
natural key that makes re-importing a file change nothing. Payouts are never edited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters import tabular
from adapters.errors import Coded, message_of
from service import access, audit, operators, pii, registers, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import local_date, start_of_local_day, today_local, utcnow
from service.errors import Conflict, Forbidden, invalid_fields
from service.vocabulary import PAYOUT_KIND_LABELS, PAYOUT_METHOD_LABELS

KINDS = PAYOUT_KIND_LABELS
METHODS = PAYOUT_METHOD_LABELS
KIND_BY_LABEL = {label: code for code, label in KINDS.items()}
METHOD_BY_LABEL = {label: code for code, label in METHODS.items()}
PERIOD = re.compile(r"^(20\d{2}|2100)(-(0[1-9]|1[0-2]))?$")
MAX_VOUCHER = 64

COLUMNS = {
    "uscc": "经营主体统一社会信用代码",
    "household_no": "户编号",
    "kind": "类型",
    "amount_fen": "金额(元)",
    "paid_on": "支付日期",
    "method": "支付方式",
    "voucher_no": "凭证号",
    "period": "所属期",
}
REQUIRED_COLUMNS = tuple(COLUMNS.values())
TEMPLATE_FILENAME = "payouts-template.xlsx"
# The template's example row carries a voucher number starting with this; imports skip such rows.
EXAMPLE_MARK = "示例"

NOT_LINKED = Coded(
    "payout.not_linked",
    "The operator has no benefit link with this household during the period; payouts go to linked "
    "households only.",
)
VOUCHER_USED = Coded("payout.voucher_used", "This voucher number is already used by the operator.")
NOT_IN_SCOPE = Coded("payout.operator_not_yours", "No market operator of yours has this id.")


# Periods -----------------------------------------------------------------------------------------


def period_months(period: str) -> tuple[str, str]:
    """The first and last month (YYYY-MM) of a period: a month, or a whole year."""
    return (period, period) if len(period) == 7 else (f"{period}-01", f"{period}-12")


def period_instants(period: str) -> tuple[datetime, datetime]:
    """The UTC moments a period begins and ends (exclusive), its months cut in Asia/Shanghai."""
    first, last = period_months(period)
    year, month = int(last[:4]), int(last[5:7])
    after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start_of_local_day(date.fromisoformat(f"{first}-01")), start_of_local_day(after)


def overlapping(from_month: str, to_month: str) -> dict[str, Any]:
    """The payouts whose period overlaps the months from..to: the one rule of what was paid in a period."""
    return {"period_from": {"$lte": to_month}, "period_to": {"$gte": from_month}}


def link_covers(link: Mapping[str, Any], period: str) -> bool:
    """Whether a benefit link is in force on any day of a period."""
    start, end = period_instants(period)
    return _aware(link["valid_from"]) < end and (
        link.get("valid_to") is None or _aware(link["valid_to"]) > start
    )


def _link_query(operator_id: ObjectId, household_id: ObjectId, period: str) -> dict[str, Any]:
    start, end = period_instants(period)
    return {
        "operator_id": operator_id,
        "household_id": household_id,
        "valid_from": {"$lt": end},
        "$or": [{"valid_to": None}, {"valid_to": {"$gt": start}}],
    }


# Checks shared by one payout and an imported row ----------------------------------------------------


def check_fields(data: Mapping[str, Any], today: date) -> dict[str, Any]:
    """Problems of a payout's own fields, by field (no database)."""
    errors: dict[str, Any] = {}
    if data.get("paid_on") is not None and data["paid_on"] > today:
        errors["paid_on"] = Coded("payout.paid_in_future", "The day it was paid is after today.")
    if data.get("period") and not PERIOD.match(data["period"]):
        errors["period"] = Coded("payout.bad_period", "A period is a month (YYYY-MM) or a year (YYYY).")
    return errors


def _raise_if(errors: Mapping[str, Any]) -> None:
    if errors:
        raise invalid_fields(errors)


def _operator_for(db: Database, actor: Principal, operator_id: ObjectId | None) -> dict[str, Any]:
    """The operator a payout is logged for: an enterprise's own, or one of staff's counties."""
    if actor.role == CANTEEN:
        raise Forbidden(Coded("payout.canteen_refused", "Canteen accounts cannot log or see payouts."))
    if actor.role == ENTERPRISE:
        operator_id = operator_id or actor.operator_id
    if operator_id is None:
        _raise_if({"operator_id": Coded("payout.operator_required", "Which operator paid.")})
    operator = operators.find_operator(db, operator_id)
    # Missing and another tenant's operator answer alike.
    if operator is None or not _may_act_for(actor, operator):
        raise Forbidden(NOT_IN_SCOPE)
    return operator


def _may_act_for(actor: Principal, operator: Mapping[str, Any]) -> bool:
    if actor.role == ENTERPRISE:
        return actor.operator_id == operator["_id"]
    return actor.sees_county(operator.get("county_code"))


def _document(
    operator: Mapping[str, Any], household: Mapping[str, Any], data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """A payout as stored: the operator's county and the household's number copied in for queries."""
    first, last = period_months(data["period"])
    return {
        "operator_id": operator["_id"],
        "county_code": operator.get("county_code"),
        "household_id": household["_id"],
        "household_no": household["household_no"],
        "household_county_code": household.get("county_code"),
        "kind": data["kind"],
        "amount_fen": data["amount_fen"],
        "paid_at": start_of_local_day(data["paid_on"]),
        "method": data["method"],
        "voucher_no": data["voucher_no"],
        "period": data["period"],
        "period_from": first,
        "period_to": last,
        "created_at": now,
    }


# Logging one payout -------------------------------------------------------------------------------


def log_payout(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Log a payout of the caller's operator (staff: of their counties) to a household it is linked with."""
    operator = _operator_for(db, actor, data.get("operator_id"))
    _raise_if(check_fields(data, today_local()))
    household = db[storage.HOUSEHOLDS].find_one({"_id": data["household_id"]})
    # An unknown household, one out of scope and one without a link get the same answer.
    if household is None or (
        db[storage.BENEFIT_LINKS].find_one(_link_query(operator["_id"], household["_id"], data["period"]))
        is None
    ):
        _raise_if({"household_id": NOT_LINKED})
    payout = _document(operator, household, data, utcnow())
    payout["created_by"] = actor.as_actor()
    collection = db[storage.PAYOUTS]
    if collection.find_one({"operator_id": operator["_id"], "voucher_no": data["voucher_no"]}, {"_id": 1}):
        raise _voucher_conflict(data["voucher_no"])
    try:
        payout["_id"] = collection.insert_one(payout).inserted_id
    except DuplicateKeyError:
        raise _voucher_conflict(data["voucher_no"]) from None
    audit.record(
        db,
        actor,
        "payout.create",
        entity_kind="payout",
        entity_id=payout["_id"],
        county_code=payout["county_code"],
        after=payout,
    )
    return present_many(db, actor, [payout])[0]


def _voucher_conflict(voucher_no: str) -> Conflict:
    return Conflict(
        Coded(
            "payout.voucher_taken",
            f"Voucher {voucher_no} is already used by a payout of this operator.",
            voucher_no=voucher_no,
        ),
        details={"voucher_no": [VOUCHER_USED]},
    )


# Reading ----------------------------------------------------------------------------------------------


def scope_query(actor: Principal) -> dict[str, Any]:
    """The payouts a caller may read: an enterprise its operator's, staff their counties' operators'."""
    if actor.role == ENTERPRISE:
        return {"operator_id": actor.operator_id}
    if actor.role == CANTEEN:
        raise Forbidden(Coded("payout.canteen_refused", "Canteen accounts cannot log or see payouts."))
    return access.county_filter(actor)


def present_many(
    db: Database, actor: Principal, payouts: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Payouts as the caller sees them: the day paid, the head's name (masked for enterprises)."""
    payouts = list(payouts)
    names = {
        household["_id"]: household.get("head_name")
        for household in db[storage.HOUSEHOLDS].find(
            {"_id": {"$in": sorted({payout["household_id"] for payout in payouts})}}, {"head_name": 1}
        )
    }
    views = []
    for payout in payouts:
        name = names.get(payout["household_id"])
        views.append(
            {
                **{key: payout.get(key) for key in _SHOWN},
                "paid_on": local_date(_aware(payout["paid_at"])),
                "head_name": pii.mask_name(name) if actor.role == ENTERPRISE else name,
                "kind_label": KINDS.get(payout["kind"], payout["kind"]),
                "method_label": METHODS.get(payout["method"], payout["method"]),
            }
        )
    return views


_SHOWN = (
    "_id",
    "operator_id",
    "county_code",
    "household_id",
    "household_no",
    "kind",
    "amount_fen",
    "method",
    "voucher_no",
    "period",
    "created_at",
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_payouts(
    db: Database,
    actor: Principal,
    *,
    operator_id: ObjectId | None = None,
    household_id: ObjectId | None = None,
    county_code: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Payouts in the caller's scope, newest paid first; a period given keeps those overlapping it."""
    conditions = [scope_query(actor)]
    if county_code is not None and actor.role != ENTERPRISE:
        access.require_county(actor, county_code)
    for name, value in (
        ("operator_id", operator_id),
        ("household_id", household_id),
        ("county_code", county_code),
    ):
        if value is not None:
            conditions.append({name: value})
    if from_month or to_month:
        conditions.append(overlapping(from_month or "2000-01", to_month or "2100-12"))
    conditions = [condition for condition in conditions if condition]
    query = {"$and": conditions} if conditions else {}
    collection = db[storage.PAYOUTS]
    total = collection.count_documents(query)
    cursor = (
        collection.find(query)
        .sort([("paid_at", -1), ("_id", -1)])
        .skip((page - 1) * per_page)
        .limit(per_page)
    )
    return present_many(db, actor, cursor), total


def paid_total(
    db: Database,
    household_id: ObjectId,
    from_month: str,
    to_month: str,
    operator_id: ObjectId | None = None,
) -> int:
    """What a household was paid for periods overlapping from..to (one operator's, when named)."""
    match: dict[str, Any] = {"household_id": household_id, **overlapping(from_month, to_month)}
    if operator_id is not None:
        match["operator_id"] = operator_id
    pipeline = [{"$match": match}, {"$group": {"_id": None, "paid_fen": {"$sum": "$amount_fen"}}}]
    groups = list(storage.aggregate(db[storage.PAYOUTS], pipeline))
    return int(groups[0]["paid_fen"]) if groups else 0


# Import --------------------------------------------------------------------------------------------


def import_payouts(
    db: Database, actor: Principal, stream: IO[bytes], filename: str = "", *, dry_run: bool = False
) -> dict[str, Any]:
    """Log payouts from a spreadsheet in the template's columns; a row already logged counts as unchanged."""
    if actor.role not in (*access.STAFF, ENTERPRISE):
        raise Forbidden(Coded("payout.canteen_refused", "Canteen accounts cannot log or see payouts."))
    register = PayoutRegister(actor)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


def _row_data(row: tabular.Row, today: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """A row's fields, parsed, and its problems by field."""
    errors: dict[str, Any] = {}
    data: dict[str, Any] = {
        "uscc": unicodedata.normalize("NFKC", row.get(COLUMNS["uscc"])).strip().upper(),
        "household_no": row.get(COLUMNS["household_no"]).strip(),
        "voucher_no": unicodedata.normalize("NFKC", row.get(COLUMNS["voucher_no"])).strip(),
        "period": unicodedata.normalize("NFKC", row.get(COLUMNS["period"])).strip(),
    }
    for name, required in (
        ("uscc", Coded("payout.uscc_required", "The operator's unified social credit code is required.")),
        ("household_no", Coded("payout.household_no_required", "The household number is required.")),
        ("voucher_no", Coded("payout.voucher_required", "The voucher number is required.")),
        ("period", Coded("payout.period_required", "The period paid for is required.")),
    ):
        if not data[name]:
            errors[name] = required
    if len(data["voucher_no"]) > MAX_VOUCHER:
        errors["voucher_no"] = Coded(
            "payout.voucher_too_long", f"At most {MAX_VOUCHER} characters.", limit=MAX_VOUCHER
        )
    for name, labels, choices, code in (
        ("kind", KIND_BY_LABEL, KINDS, "payout.bad_kind"),
        ("method", METHOD_BY_LABEL, METHODS, "payout.bad_method"),
    ):
        text = row.get(COLUMNS[name]).strip()
        data[name] = labels.get(text, text)
        if data[name] not in choices:
            errors[name] = Coded(
                code, f"One of {'、'.join(choices.values())}.", choices=list(choices.values())
            )
    try:
        data["amount_fen"] = tabular.parse_yuan_to_fen(row.get(COLUMNS["amount_fen"]))
    except ValueError as error:
        data["amount_fen"] = None
        errors["amount_fen"] = message_of(error)
    if data["amount_fen"] is not None and data["amount_fen"] <= 0:
        errors["amount_fen"] = Coded("payout.amount_not_positive", "A payout is more than 0.")
    try:
        data["paid_on"] = tabular.parse_local_date(row.get(COLUMNS["paid_on"]))
    except ValueError as error:
        data["paid_on"] = None
        errors["paid_on"] = message_of(error)
    errors.update(
        {name: message for name, message in check_fields(data, today).items() if name not in errors}
    )
    return data, errors


class PayoutRegister(registers.PartyRegister):
    """The payout import: keyed by operator and voucher number; payouts are only ever inserted."""

    collection = storage.PAYOUTS
    entity_kind = "payout"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "voucher_no"
    versioned = False

    def __init__(self, actor: Principal):
        super().__init__(actor)
        self.today = today_local()
        self.links: set[tuple[ObjectId, ObjectId, str]] = set()
        self.now = utcnow()

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, Any]]:
        return _row_data(row, self.today)

    def skip_row(self, data: dict[str, Any]) -> bool:
        return data["voucher_no"].startswith(EXAMPLE_MARK)

    def resolve(self, db: Database, rows: list[dict[str, Any]]) -> None:
        super().resolve(db, rows)
        pairs = [
            (operator["_id"], household["_id"], data["period"])
            for data in rows
            if (operator := self.operators.get(data["uscc"])) is not None
            and (household := self.households.get(data["household_no"])) is not None
        ]
        links: dict[tuple[ObjectId, ObjectId], list[dict[str, Any]]] = {}
        if pairs:
            for link in db[storage.BENEFIT_LINKS].find(
                {
                    "operator_id": {"$in": sorted({pair[0] for pair in pairs})},
                    "household_id": {"$in": sorted({pair[1] for pair in pairs})},
                },
                {"operator_id": 1, "household_id": 1, "valid_from": 1, "valid_to": 1},
            ):
                links.setdefault((link["operator_id"], link["household_id"]), []).append(link)
        self.links = {
            (operator_id, household_id, period)
            for operator_id, household_id, period in pairs
            if any(link_covers(link, period) for link in links.get((operator_id, household_id), []))
        }

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        operator = self.operators.get(data["uscc"])
        if operator is None or not _may_act_for(self.actor, operator):
            # Unknown and another tenant's operator read alike.
            return {"uscc": Coded("payout.unknown_operator", "No operator of yours has this credit code.")}
        household = self.households.get(data["household_no"])
        if household is None or (operator["_id"], household["_id"], data["period"]) not in self.links:
            return {"household_no": NOT_LINKED}
        data["operator"], data["household"] = operator, household
        return {}

    def key(self, data: Mapping[str, Any]) -> tuple[ObjectId, str]:
        return data["operator"]["_id"], data["voucher_no"]

    def stored_key(self, document: Mapping[str, Any]) -> tuple[ObjectId, str]:
        return document["operator_id"], document["voucher_no"]

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "operator_id": {"$in": sorted({data["operator"]["_id"] for data in rows})},
            "voucher_no": {"$in": sorted({data["voucher_no"] for data in rows})},
        }

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if stored is None:
            return {}, {}
        fresh = _document(data["operator"], data["household"], data, self.now)
        same = _aware(stored["paid_at"]) == fresh["paid_at"] and all(
            stored.get(name) == fresh[name]
            for name in ("household_id", "kind", "amount_fen", "method", "period")
        )
        return ({}, {}) if same else ({}, {"voucher_no": VOUCHER_USED})

    def build(self, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        return {
            **_document(data["operator"], data["household"], data, now),
            "created_by": self.actor.as_actor(),
        }


def template() -> bytes:
    """The upload template: the columns with one example row, and a sheet of notes."""
    from service import xlsx

    example = {
        COLUMNS["uscc"]: "91110108551385082Q",
        COLUMNS["household_no"]: "3407220000000001",
        COLUMNS["kind"]: "分红",
        COLUMNS["amount_fen"]: 120_000,
        COLUMNS["paid_on"]: "2024-12-20",
        COLUMNS["method"]: "打卡",
        COLUMNS["voucher_no"]: f"{EXAMPLE_MARK}-导入时忽略",
        COLUMNS["period"]: "2024",
    }
    notes = [
        {"列": COLUMNS["kind"], "填写说明": "、".join(KINDS.values())},
        {"列": COLUMNS["method"], "填写说明": "、".join(METHODS.values())},
        {"列": COLUMNS["amount_fen"], "填写说明": "单位元，最多两位小数，大于0。"},
        {"列": COLUMNS["paid_on"], "填写说明": "支付当天（北京时间），不能晚于今天。"},
        {
            "列": COLUMNS["voucher_no"],
            "填写说明": "同一经营主体内不得重复；重复导入同一行视为未变化。以“示例”开头的行不导入。",
        },
        {
            "列": COLUMNS["period"],
            "填写说明": "所支付的月份（如 2024-03）或年度（如 2024）；须有当期带贫关系。",
        },
    ]
    return xlsx.write_xlsx(
        [
            xlsx.Sheet(
                "到户资金",
                [
                    xlsx.Column(name, name, xlsx.FEN if name == COLUMNS["amount_fen"] else xlsx.TEXT)
                    for name in COLUMNS.values()
                ],
                [example],
            ),
            xlsx.Sheet("填写说明", [xlsx.Column("列", "列"), xlsx.Column("填写说明", "填写说明")], notes),
        ]
    )
