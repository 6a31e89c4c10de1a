"""The import of unit purchases (单位采购导入表) through the register runner, and its template.

Rows with any problem are rejected whole and reported with their file row number; rows whose order is
already logged with the same details count as unchanged, so re-importing a file changes nothing. Each
row is checked and handed to the ledger as one logged purchase is; the template's example row is
skipped. Units are named as registered in the county of the import.
"""

from __future__ import annotations

import io
from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import IO, Any

from pymongo.database import Database

from adapters import tabular
from service import access, ledger_rebuilds, purchase_ledger, registers, storage
from service.access import Principal
from service.errors import Coded, ValidationFailed
from service.ingest_result import REGISTER_COUNTS, IngestResult
from service.purchase_ledger import RECORDED, resumable
from service.unit_purchase_checks import Lookups, Prepared, prepare
from service.unit_purchase_inputs import COLUMNS, MODES, REQUIRED_COLUMNS, PurchaseInput, from_row
from service.unit_purchases import ledger_problem, order_logged

TEMPLATE_FILENAME = "unit-purchases-template.xlsx"
# The template's example row carries an order id starting with this; imports skip such rows.
EXAMPLE_MARK = "示例"
DOUBLE_COUNTED = "double_counted"


def import_purchases(
    db: Database,
    actor: Principal,
    stream: IO[bytes],
    filename: str = "",
    *,
    county_code: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Log units' purchases from an xlsx or CSV file in the template's columns (one county's units)."""
    access.county_filter(actor)
    if county_code is None and len(actor.county_codes) == 1:
        county_code = actor.county_codes[0]
    if county_code is None:
        raise ValidationFailed(
            Coded("unit_purchase.county_required", "Name the county whose units the file lists."),
            details={"county_code": [Coded("field.required", "Required.")]},
        )
    access.require_county(actor, county_code)
    register = UnitPurchaseRegister(actor, county_code, filename)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


class UnitPurchaseRegister(registers.Register):
    """Unit purchases, keyed by (unit, order id); only ever inserted, then handed to the ledger."""

    collection = storage.UNIT_PURCHASES
    entity_kind = "unit_purchase"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "order_id"
    versioned = False
    counts = (*REGISTER_COUNTS, DOUBLE_COUNTED)

    def __init__(self, actor: Principal, county_code: str, filename: str):
        super().__init__(actor)
        self.county_code = county_code
        self.source = {"kind": "import", "file": filename or None}
        self.lookups: Lookups | None = None
        self.prepared: dict[int, Prepared] = {}
        self.partitions: set = set()

    def parse(self, row: tabular.Row) -> tuple[PurchaseInput, dict[str, str]]:
        return from_row(row)

    def skip_row(self, data: PurchaseInput) -> bool:
        return data.order_id.startswith(EXAMPLE_MARK)

    def resolve(self, db: Database, rows: list[PurchaseInput]) -> None:
        self.lookups = Lookups(db, self.actor, self.county_code)
        self.lookups.load(rows)
        self.prepared = {}

    def check(self, data: PurchaseInput) -> dict[str, str]:
        assert self.lookups is not None and data.row is not None
        item, errors = prepare(data, self.lookups, self.actor, source=self.source)
        if item is not None:
            self.prepared[data.row] = item
        return errors

    def key(self, data: PurchaseInput) -> Hashable:
        return (data.unit_id, data.order_id)

    def stored_key(self, document: Mapping[str, Any]) -> Hashable:
        return (document["unit_id"], document["order_id"])

    def existing_filter(self, rows: list[PurchaseInput]) -> dict[str, Any]:
        orders: dict[Any, list[str]] = {}
        for data in rows:
            orders.setdefault(data.unit_id, []).append(data.order_id)
        return {"$or": [{"unit_id": unit, "order_id": {"$in": sorted(ids)}} for unit, ids in orders.items()]}

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: PurchaseInput
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if stored is None:
            return {}, {}
        if stored.get("fingerprint") != data.fingerprint():
            return {}, {"order_id": order_logged(stored)}
        if stored.get("ledger_status") != RECORDED and not resumable(stored, data):
            return {}, {
                "order_id": Coded(
                    "unit_purchase.logged_meanwhile",
                    f"Order {data.order_id} is being logged by someone else just now.",
                    order_id=data.order_id,
                )
            }
        return {}, {}

    def resumes(self, stored: Mapping[str, Any], data: PurchaseInput) -> bool:
        return stored.get("ledger_status") != RECORDED and resumable(stored, data)

    def build(self, data: PurchaseInput, now: datetime) -> dict[str, Any]:
        assert data.row is not None
        return dict(self.prepared[data.row].document)

    def after_write(
        self, db: Database, written: list[registers.Write], result: IngestResult
    ) -> dict[int, dict[str, str]]:
        kept, refused, partitions = purchase_ledger.hand_written(
            db,
            db[storage.UNIT_PURCHASES],
            self.prepared,
            written,
            dry_run=result.dry_run,
            problem=ledger_problem,
        )
        result.tallies[DOUBLE_COUNTED] += sum(1 for item in kept if item.line is None)
        if not result.dry_run:
            self.partitions |= partitions
        return refused

    def summary_county(self) -> str | None:
        return self.county_code

    def finish(self, db: Database, result: IngestResult) -> None:
        ledger_rebuilds.rebuild_partitions(db, self.partitions)


# Template ---------------------------------------------------------------------------------------------

_EXAMPLE_ROW = {
    "unit_name": "深圳市某区机关事务管理局",
    "mode": MODES["direct"],
    "date": "2024-03-15",
    "product_code": "",
    "supplier_uscc": "91110108551385082Q",
    "description": "枞阳大米 10kg 袋装",
    "quantity": "100",
    "quantity_unit": "袋",
    "kg": "1000",
    "amount_fen": "6800.00",
    "pairing": "东西部协作",
    "evidence_no": "HT-2024-001",
    "order_id": f"{EXAMPLE_MARK}-0001",
}
_TEMPLATE_NOTES = (
    (COLUMNS["unit_name"], "登记过的采购单位名称，与单位名录中的完全一致。"),
    (COLUMNS["mode"], "、".join(MODES.values()) + " 之一。帮助销售指单位帮助本县向他人销售。"),
    (COLUMNS["date"], "YYYY-MM-DD，不能晚于今天。"),
    (
        COLUMNS["product_code"],
        "目录内产品：产品ID、条码或认定证书编号。目录外产品留空，填写供应商和产品说明。",
    ),
    (COLUMNS["supplier_uscc"], "目录外产品必填：供应商的统一社会信用代码。"),
    (COLUMNS["description"], "目录外产品必填：产品名称、规格。"),
    (COLUMNS["quantity"], "整数，按“单位”列的单位计。"),
    (COLUMNS["kg"], "已知时填写，最多三位小数；须与数量×产品单位重量一致。"),
    (COLUMNS["amount_fen"], "元，最多两位小数。"),
    (COLUMNS["pairing"], "结对类型（东西部协作、对口帮扶…）或结对ID；该单位当天只有一个结对关系时可留空。"),
    (COLUMNS["evidence_no"], "发票号、合同号等凭证。"),
    (COLUMNS["order_id"], f"本单位内唯一；帮助销售填写电商平台订单号。以“{EXAMPLE_MARK}”开头的行不导入。"),
)


def purchase_template() -> bytes:
    """The import template: the columns, one example row (skipped on import) and a sheet of notes."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "单位采购明细"
    sheet.append([COLUMNS[name] for name in COLUMNS])
    sheet.append([_EXAMPLE_ROW[name] for name in COLUMNS])
    bold = Font(bold=True)
    for index, cell in enumerate(sheet[1], start=1):
        cell.font = bold
        # Text cells keep long codes whole (Excel would show 18-digit codes as 9.1E+17).
        for row in range(2, 1002):
            sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("填写说明")
    notes.append(["列", "填写说明"])
    for column, text in _TEMPLATE_NOTES:
        notes.append([column, text])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
