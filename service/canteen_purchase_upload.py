"""The monthly upload of canteen purchases (月度采购表): the import of a file, and its template.

Rows with any problem are rejected whole and reported with their file row number; rows whose
invoice is already logged with the same details count as unchanged, so re-importing a file
changes nothing. Each row is checked and handed to the ledger as one logged purchase is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

from bson import ObjectId
from pymongo import InsertOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from adapters import tabular
from adapters.errors import FILE_MISSING_COLUMNS
from service import audit, batching, canteen_quota, ledger_rebuilds, spreadsheets, storage
from service.access import Principal
from service.canteen_purchase_checks import (
    PENDING,
    RECORDED,
    FileState,
    Lookups,
    Prepared,
    canteen_for,
    prepare,
    remember,
)
from service.canteen_purchase_inputs import COLUMNS, REQUIRED_COLUMNS, PurchaseInput, from_row
from service.canteen_purchases import conflict_message, ingest_items, ledger_problem, resumable
from service.clock import utcnow
from service.errors import Coded, ValidationFailed

log = logging.getLogger(__name__)

IMPORT_BATCH = 500
# The template's example row carries an invoice number starting with this; imports skip such rows.
EXAMPLE_MARK = "示例"


# Monthly upload -----------------------------------------------------------------------------------------


@dataclass
class PurchaseImport:
    """An upload's outcome: the shared import report plus what only purchases have."""

    report: spreadsheets.ImportReport
    skipped: int = 0
    unmatched: int = 0
    not_counted: int = 0
    partitions: set = field(default_factory=set)

    def reject(self, row: int, errors: Mapping[str, str]) -> None:
        self.report.reject(row, [(name, COLUMNS.get(name, ""), message) for name, message in errors.items()])

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report.as_dict(),
            "skipped": self.skipped,
            "unmatched": self.unmatched,
            "not_counted": self.not_counted,
        }


def import_purchases(
    db: Database,
    actor: Principal,
    stream: IO[bytes],
    filename: str = "",
    *,
    canteen_id: ObjectId | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Log a canteen's purchases from its monthly xlsx or CSV upload (the template's columns).

    Rows with any problem are rejected whole and reported with their file row number; rows whose
    invoice is already logged with the same details count as unchanged, so re-importing a file
    changes nothing. The template's example row is skipped. With ``dry_run`` nothing is written.
    """
    canteen = canteen_for(db, actor, canteen_id)
    reader = spreadsheets.read_rows(stream, filename, required=REQUIRED_COLUMNS)
    if COLUMNS["product_code"] not in reader.header and COLUMNS["product_name"] not in reader.header:
        reader.close()
        raise ValidationFailed(
            Coded(
                "canteen_purchase.product_column",
                f"The file needs a {COLUMNS['product_code']} or {COLUMNS['product_name']} column.",
                columns=[COLUMNS["product_code"], COLUMNS["product_name"]],
            ),
            details={
                "file": [
                    Coded(
                        FILE_MISSING_COLUMNS,
                        f"Missing column {COLUMNS['product_code']} or {COLUMNS['product_name']}.",
                        columns=f"{COLUMNS['product_code']}或{COLUMNS['product_name']}",
                    )
                ]
            },
        )
    outcome = PurchaseImport(spreadsheets.ImportReport(dry_run=dry_run))
    state = FileState()
    source = {"kind": "import", "file": filename or None}
    try:
        for batch in batching.batched(reader, IMPORT_BATCH):
            _import_batch(db, actor, canteen, batch, outcome, state, source)
    finally:
        reader.close()
    if not dry_run:
        ledger_rebuilds.rebuild_partitions(db, outcome.partitions)
        if outcome.report.inserted:
            audit.record(
                db,
                actor,
                "canteen_purchase.import",
                entity_kind="canteen",
                entity_id=canteen["_id"],
                county_code=canteen["county_code"],
                note=f"{filename}: {outcome.report.summary()}",
            )
    log.info("canteen purchase import", extra={"file": filename, **outcome.report.counts()})
    return outcome.as_dict()


def _import_batch(
    db: Database,
    actor: Principal,
    canteen: Mapping[str, Any],
    batch: list[tabular.Row],
    outcome: PurchaseImport,
    state: FileState,
    source: dict[str, Any],
) -> None:
    report = outcome.report
    parsed: list[tuple[PurchaseInput, dict[str, str]]] = []
    for row in batch:
        report.rows += 1
        purchase, errors = from_row(row)
        if purchase.invoice_no.startswith(EXAMPLE_MARK):
            outcome.skipped += 1
            continue
        parsed.append((purchase, errors))
    lookups = Lookups(db, canteen)
    lookups.load((purchase for purchase, _ in parsed), state)

    new: list[Prepared] = []
    resumed: list[Prepared] = []
    for purchase, errors in parsed:
        existing = lookups.purchases.get(purchase.invoice_no)
        if not errors and existing is not None:
            if (
                existing.get("fingerprint") == purchase.fingerprint()
                and existing["ledger_status"] == RECORDED
            ):
                report.unchanged += 1
                state.rows_by_invoice[purchase.invoice_no] = purchase.row or 0
                continue
            if not resumable(existing, purchase):
                outcome.reject(
                    purchase.row or 0,
                    {"invoice_no": conflict_message(existing, " Use a new invoice number, or a return.")},
                )
                continue
        item, problems = prepare(
            purchase, canteen, lookups, actor, state, source={**source, "row": purchase.row}
        )
        errors = {**problems, **errors}
        if errors or item is None:
            outcome.reject(purchase.row or 0, errors)
            continue
        remember(state, lookups, item)
        if existing is not None:
            item.document = {**existing}
            resumed.append(item)
        else:
            new.append(item)
    if report.dry_run:
        rejected, _ = ingest_items(db, new + resumed, dry_run=True)
        _count(outcome, new + resumed, rejected)
        return

    claimed = _claim(db, new, outcome)
    items = claimed + resumed
    rejected, partitions = ingest_items(db, items, dry_run=False)
    outcome.partitions |= partitions
    collection = db[storage.CANTEEN_PURCHASES]
    if rejected:
        collection.delete_many(
            {"_id": {"$in": [items[i].document["_id"] for i in rejected]}, "ledger_status": PENDING}
        )
    accepted = [item["_id"] for i, item in enumerate(x.document for x in items) if i not in rejected]
    if accepted:
        collection.update_many(
            {"_id": {"$in": accepted}}, {"$set": {"ledger_status": RECORDED, "recorded_at": utcnow()}}
        )
    _count(outcome, items, rejected)


def _count(outcome: PurchaseImport, items: list[Prepared], rejected: Mapping[int, Mapping[str, Any]]) -> None:
    for index, item in enumerate(items):
        if index in rejected:
            name, message = ledger_problem(item, rejected[index])
            outcome.reject(item.purchase.row or 0, {name: message})
            continue
        outcome.report.inserted += 1
        outcome.unmatched += not item.document["matched"]
        document = item.document
        counts, _ = canteen_quota.qualification(
            document["year"], document["channel"], document["certified"], document["matched"]
        )
        outcome.not_counted += not counts


def _claim(db: Database, items: list[Prepared], outcome: PurchaseImport) -> list[Prepared]:
    """Insert the pending records; one whose invoice was claimed meanwhile is a row error."""
    if not items:
        return []
    for item in items:
        item.document["_id"] = ObjectId()
    failed: set[int] = set()
    try:
        db[storage.CANTEEN_PURCHASES].bulk_write([InsertOne(item.document) for item in items], ordered=False)
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(failure.get("code") != 11000 for failure in failures):
            raise
        failed = {failure["index"] for failure in failures}
    claimed = []
    for index, item in enumerate(items):
        if index in failed:
            outcome.reject(
                item.purchase.row or 0,
                {
                    "invoice_no": Coded(
                        "canteen_purchase.logged_meanwhile",
                        f"Invoice {item.purchase.invoice_no} was logged by someone else meanwhile.",
                        invoice_no=item.purchase.invoice_no,
                    )
                },
            )
        else:
            claimed.append(item)
    return claimed


# The upload template ------------------------------------------------------------------------------------

TEMPLATE_FILENAME = "canteen-purchases-template.xlsx"
_TEMPLATE_NOTES = (
    ("采购日期", "必填。采购当天的日期，如 2024-03-15 或 2024/3/15（北京时间），不能晚于今天。"),
    (
        "供应商统一社会信用代码",
        "18位统一社会信用代码。产品不在扶贫产品目录中时必填；填写时须与产品所属经营主体一致。",
    ),
    ("产品编号", "扶贫产品认定编号、商品条码（13位）、平台商品编号（SKU）或系统中的产品ID，任填其一。"),
    ("产品名称", "产品编号为空或无法识别时必填。目录外产品照常记录，但不计入预留份额（832平台采购除外）。"),
    ("数量", "必填，整数。退货填负数。"),
    ("单位", "可选，如 斤、公斤、箱。"),
    ("金额(元)", "必填，单位元，最多两位小数（如 350.50），不得四舍五入。退货填负数。"),
    ("发票号", "必填，本单位内不得重复；重复导入同一发票视为未变化。以“示例”开头的行不导入。"),
    ("是否832平台", "填 是 或 否（空白视为否）。通过832平台采购的全部计入预留份额。"),
    ("原发票号", "可选列：退货时增加此列，填写被退货采购的发票号。"),
    (
        "说明",
        "每个文件只填一个食堂的采购；首行为表头，请勿修改列名。数字编号列请设为文本格式，避免丢失位数。",
    ),
)
_EXAMPLE_ROW = (
    date(2024, 3, 15),
    "91110108551385082Q",
    "FP340722202400001",
    "枞阳大米（示例）",
    100,
    "斤",
    Decimal("350.00"),
    f"{EXAMPLE_MARK}-导入时忽略",
    "否",
)


def purchase_template() -> bytes:
    """The upload template: the columns, one example row (skipped on import) and a sheet of notes."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "采购明细"
    headers = [COLUMNS[name] for name in COLUMNS if name != "refund_of_invoice_no"]
    sheet.append(headers)
    sheet.append(list(_EXAMPLE_ROW))
    bold = Font(bold=True)
    text_columns = {COLUMNS["operator_uscc"], COLUMNS["product_code"], COLUMNS["invoice_no"]}
    for index, header in enumerate(headers, start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index).font = bold
        sheet.column_dimensions[letter].width = max(12, 2 * len(header) + 4)
        if header in text_columns:
            # Text cells keep long codes whole (Excel would show 20-digit invoice numbers as 1.2E+19).
            for row in range(2, 1002):
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.cell(row=2, column=1).number_format = "yyyy-mm-dd"
    sheet.cell(row=2, column=7).number_format = "0.00"
    choice = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
    sheet.add_data_validation(choice)
    choice.add(
        f"{get_column_letter(headers.index(COLUMNS['via_832']) + 1)}2:"
        f"{get_column_letter(headers.index(COLUMNS['via_832']) + 1)}1001"
    )
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet("填写说明")
    notes.append(["列", "填写说明"])
    for cell in notes[1]:
        cell.font = bold
    for column, text in _TEMPLATE_NOTES:
        notes.append([column, text])
    notes.column_dimensions["A"].width = 26
    notes.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
