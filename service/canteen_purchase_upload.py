"""The monthly upload of canteen purchases (月度采购表): the import of a file, and its template.

Rows with any problem are rejected whole and reported with their file row number; rows whose
invoice is already logged with the same details count as unchanged, so re-importing a file
changes nothing. Each row is checked and handed to the ledger as one logged purchase is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, NamedTuple

from bson import ObjectId
from pymongo.database import Database

from adapters import tabular
from adapters.errors import FILE_MISSING_COLUMNS
from service import canteen_quota, ledger_rebuilds, purchase_ledger, registers, storage
from service.access import Principal
from service.canteen_purchase_checks import FileState, Lookups, Prepared, canteen_for, prepare, remember
from service.canteen_purchase_inputs import COLUMNS, REQUIRED_COLUMNS, PurchaseInput, from_row
from service.canteen_purchases import conflict_message, ledger_problem
from service.errors import Coded, ValidationFailed
from service.ingest_result import REGISTER_COUNTS, IngestResult
from service.purchase_ledger import RECORDED, resumable

# The template's example row carries an invoice number starting with this; imports skip such rows.
EXAMPLE_MARK = "示例"


# Monthly upload -----------------------------------------------------------------------------------------


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
    register = PurchaseRegister(actor, canteen_for(db, actor, canteen_id), filename)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


class _Row(NamedTuple):
    """A parsed row: the purchase, and the cells that could not be read (reported with its other problems)."""

    purchase: PurchaseInput
    cell_errors: dict[str, str]


class PurchaseRegister(registers.Register):
    """A canteen's purchases by invoice number: each new one claims its invoice, then goes on to the ledger.

    Purchases are never edited: an invoice logged with the same details is unchanged, with other
    details a row error; a claim an interrupted upload left pending is completed by the same row.
    """

    collection = storage.CANTEEN_PURCHASES
    entity_kind = "canteen_purchase"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "invoice_no"
    counts = (*REGISTER_COUNTS, "unmatched", "not_counted")
    versioned = False

    def __init__(self, actor: Principal, canteen: Mapping[str, Any], filename: str):
        super().__init__(actor)
        self.canteen = canteen
        self.source = {"kind": "import", "file": filename or None}
        self.state = FileState()
        self.lookups: Lookups  # the batch's, read by ``resolve``
        self.prepared: dict[int, Prepared] = {}

    def check_header(self, header: list[str]) -> None:
        if COLUMNS["product_code"] in header or COLUMNS["product_name"] in header:
            return
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

    def parse(self, row: tabular.Row) -> tuple[_Row, dict[str, str]]:
        # Unreadable cells are reported in ``diff``, together with what the checks find.
        return _Row(*from_row(row)), {}

    def skip_row(self, data: _Row) -> bool:
        return data.purchase.invoice_no.startswith(EXAMPLE_MARK)

    def resolve(self, db: Database, rows: list[_Row]) -> None:
        self.lookups = Lookups(db, self.canteen)
        self.lookups.load((data.purchase for data in rows), self.state)
        self.prepared = {}

    def key(self, data: _Row) -> str:
        return data.purchase.invoice_no

    def stored_key(self, document: Mapping[str, Any]) -> str:
        return document["invoice_no"]

    def unique_keys(self, data: _Row) -> list[tuple[str, Any, str]]:
        # A row with no invoice or unreadable cells is refused anyway, and claims no invoice.
        return [] if data.cell_errors or not data.purchase.invoice_no else super().unique_keys(data)

    def stored(self, db: Database, rows: list[_Row]) -> list[dict[str, Any]]:
        # ``resolve`` read them, with the purchases the batch's returns reverse.
        return list(self.lookups.purchases.values())

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: _Row
    ) -> tuple[dict[str, Any], dict[str, str]]:
        purchase = data.purchase
        if stored is not None and not data.cell_errors:
            if stored.get("fingerprint") == purchase.fingerprint() and stored["ledger_status"] == RECORDED:
                return {}, {}
            if not resumable(stored, purchase):
                return {}, {"invoice_no": conflict_message(stored, " Use a new invoice number, or a return.")}
        item, problems = prepare(
            purchase,
            self.canteen,
            self.lookups,
            self.actor,
            self.state,
            source={**self.source, "row": row_number},
        )
        errors = {**problems, **data.cell_errors}
        if errors or item is None:
            return {}, errors
        remember(self.state, self.lookups, item)
        self.prepared[row_number] = item
        return {}, {}

    def resumes(self, stored: Mapping[str, Any], data: _Row) -> bool:
        return resumable(stored, data.purchase)

    def build(self, data: _Row, now: datetime) -> dict[str, Any]:
        return self.prepared[data.purchase.row or 0].document

    def after_write(
        self, db: Database, written: list[registers.Write], result: IngestResult
    ) -> dict[int, dict[str, str]]:
        """Hand the claimed purchases to the ledger; a line it refuses loses its claim."""
        kept, refused, partitions = purchase_ledger.hand_written(
            db,
            db[storage.CANTEEN_PURCHASES],
            self.prepared,
            written,
            dry_run=result.dry_run,
            problem=ledger_problem,
        )
        result.partitions |= partitions
        for item in kept:
            document = item.document
            result.unmatched += not document["matched"]
            counts, _ = canteen_quota.qualification(
                document["year"], document["channel"], document["certified"], document["matched"]
            )
            result.tallies["not_counted"] += not counts
        return refused

    def summary_county(self) -> str | None:
        return self.canteen["county_code"]

    def finish(self, db: Database, result: IngestResult) -> None:
        ledger_rebuilds.rebuild_partitions(db, result.partitions)


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
