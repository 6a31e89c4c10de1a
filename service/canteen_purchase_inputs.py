"""A canteen purchase as stated (食堂采购录入): an API body or an upload row, parsed but not yet checked.

The upload's columns live here too, since a row is read by them; the checks against the rules and
the catalogue are in ``service.canteen_purchase_checks``.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bson import ObjectId

from adapters import tabular
from adapters.errors import CELL_BAD_FLAG, Coded
from service.purchase_fields import clean_code, clean_text, clean_uscc, read_cells

# Upload columns, by the API field each fills.
COLUMNS = {
    "date": "采购日期",
    "operator_uscc": "供应商统一社会信用代码",
    "product_code": "产品编号",
    "product_name": "产品名称",
    "quantity": "数量",
    "unit": "单位",
    "amount_fen": "金额(元)",
    "invoice_no": "发票号",
    "via_832": "是否832平台",
    # Optional, not in the template's main columns: a return names the invoice it reverses.
    "refund_of_invoice_no": "原发票号",
}
REQUIRED_COLUMNS = (COLUMNS["date"], COLUMNS["quantity"], COLUMNS["amount_fen"], COLUMNS["invoice_no"])
_YES = {"是", "Y", "YES", "TRUE", "1", "√"}
_NO = {"否", "N", "NO", "FALSE", "0"}


@dataclass
class PurchaseInput:
    """One purchase as the canteen stated it (API body or file row), parsed but not yet checked."""

    date: date | None = None
    operator_uscc: str | None = None
    operator_id: ObjectId | None = None
    product_id: ObjectId | None = None
    sku: str | None = None
    sku_channel: str | None = None
    product_code: str | None = None
    product_name: str | None = None
    quantity: int | None = None
    unit: str | None = None
    amount_fen: int | None = None
    invoice_no: str = ""
    refund_of_invoice_no: str | None = None
    via_832: bool | None = None
    # The file's row number (header = 1); None for an API call.
    row: int | None = None

    @property
    def product_field(self) -> str:
        """The field an error about the product is reported on."""
        if self.row is not None:
            return "product_code" if self.product_code or not self.product_name else "product_name"
        if self.product_id is not None:
            return "product_id"
        return "sku" if self.sku else "product_name"

    def fingerprint(self) -> str:
        """A digest of what was stated; the same invoice with another digest is a different purchase."""
        parts = (
            self.date.isoformat() if self.date else None,
            self.operator_uscc,
            str(self.operator_id) if self.operator_id else None,
            str(self.product_id) if self.product_id else None,
            self.sku,
            self.sku_channel,
            self.product_code,
            self.product_name,
            self.quantity,
            self.unit,
            self.amount_fen,
            self.refund_of_invoice_no,
            self.via_832,
        )
        return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def from_api(data: Mapping[str, Any]) -> PurchaseInput:
    """A purchase from a validated API body (schemas.canteens.CanteenPurchaseCreateSchema)."""
    return PurchaseInput(
        date=data["date"],
        operator_uscc=clean_uscc(data.get("operator_uscc")),
        operator_id=data.get("operator_id"),
        product_id=data.get("product_id"),
        sku=clean_code(data.get("sku")),
        sku_channel=data.get("channel"),
        product_name=clean_text(data.get("product_name")),
        quantity=data["quantity"],
        unit=clean_text(data.get("unit")),
        amount_fen=data["amount_fen"],
        invoice_no=clean_code(data.get("invoice_no")) or "",
        refund_of_invoice_no=clean_code(data.get("refund_of_invoice_no")),
        via_832=data.get("via_832"),
    )


def from_row(row: tabular.Row) -> tuple[PurchaseInput, dict[str, str]]:
    """A purchase from an upload row, and the cells that could not be read, by field."""
    errors: dict[str, str] = {}
    purchase = PurchaseInput(row=row.number)
    purchase.date, purchase.quantity, purchase.amount_fen = read_cells(
        row, COLUMNS, ("product_code", "invoice_no", "operator_uscc", "refund_of_invoice_no"), errors
    )
    purchase.operator_uscc = clean_uscc(row.get(COLUMNS["operator_uscc"]))
    purchase.product_code = clean_code(row.get(COLUMNS["product_code"]))
    purchase.product_name = clean_text(row.get(COLUMNS["product_name"]))
    purchase.unit = clean_text(row.get(COLUMNS["unit"]))
    purchase.invoice_no = clean_code(row.get(COLUMNS["invoice_no"])) or ""
    purchase.refund_of_invoice_no = clean_code(row.get(COLUMNS["refund_of_invoice_no"]))
    flag = unicodedata.normalize("NFKC", row.get(COLUMNS["via_832"])).strip().upper()
    if flag in _YES:
        purchase.via_832 = True
    elif flag in _NO:
        purchase.via_832 = False
    elif flag:
        errors["via_832"] = Coded(
            CELL_BAD_FLAG,
            f"{row.get(COLUMNS['via_832'])!r}: write 是 or 否.",
            value=row.get(COLUMNS["via_832"]),
        )
    return purchase, errors
