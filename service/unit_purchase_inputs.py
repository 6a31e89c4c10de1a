"""A unit purchase as stated (单位采购录入): an API body or an upload row, parsed but not yet checked.

The upload's columns and the purchase modes live here, since a row is read by them; the checks against
the units, pairings and the catalogue are in ``service.unit_purchase_checks``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bson import ObjectId

from adapters import tabular
from adapters.errors import CELL_EMPTY, Coded
from service.purchase_fields import clean_code, clean_text, clean_uscc, read_cells

DIRECT, HELPED, CANTEEN, UNION, P832 = "direct", "helped", "canteen", "union", "p832"
# How a unit bought: all but 帮助销售 are the unit's own purchases (直接购买 in the reports).
MODES = {
    DIRECT: "直接采购",
    HELPED: "帮助销售",
    CANTEEN: "食堂采购",
    UNION: "工会采购",
    P832: "832平台采购",
}
_MODE_BY_TEXT = {
    **{label: mode for mode, label in MODES.items()},
    **{mode: mode for mode in MODES},
    "直接购买": DIRECT,
    "食堂": CANTEEN,
    "工会": UNION,
    "832": P832,
    "832平台": P832,
}
# A weight is kept in whole grams: a kilogram figure has at most three decimals.
GRAMS_PER_KG = 1000

# Upload columns, by the API field each fills.
COLUMNS = {
    "unit_name": "采购单位",
    "mode": "采购方式",
    "date": "采购日期",
    "product_code": "产品编号",
    "supplier_uscc": "供应商统一社会信用代码",
    "description": "产品说明",
    "quantity": "数量",
    "quantity_unit": "单位",
    "kg": "重量(公斤)",
    "amount_fen": "金额(元)",
    "pairing": "结对关系",
    "evidence_no": "凭证号",
    "order_id": "订单号",
}
REQUIRED_COLUMNS = tuple(
    COLUMNS[name] for name in ("unit_name", "mode", "date", "quantity", "amount_fen", "order_id")
)


@dataclass
class PurchaseInput:
    """One purchase as stated (API body or file row), parsed but not yet checked."""

    mode: str | None = None
    date: date | None = None
    unit_id: ObjectId | None = None
    unit_name: str | None = None
    product_id: ObjectId | None = None
    # A file's 产品编号: a product id, barcode or certificate number.
    product_code: str | None = None
    supplier_uscc: str | None = None
    description: str | None = None
    quantity: int | None = None
    quantity_unit: str | None = None
    weight_g: int | None = None
    amount_fen: int | None = None
    pairing_id: ObjectId | None = None
    # A file's 结对关系: a pairing id or its kind (东西部协作...).
    pairing: str | None = None
    evidence_no: str | None = None
    order_id: str = ""
    # The file's row number (header = 1); None for an API call.
    row: int | None = None

    @property
    def product_field(self) -> str:
        """The field an error about the product is reported on."""
        return "product_code" if self.row is not None else "product_id"

    def fingerprint(self) -> str:
        """A digest of what was stated; the same order with another digest is a different purchase."""
        parts = (
            self.mode,
            self.date.isoformat() if self.date else None,
            str(self.unit_id) if self.unit_id else None,
            str(self.product_id) if self.product_id else self.product_code,
            self.supplier_uscc,
            self.description,
            self.quantity,
            self.quantity_unit,
            self.weight_g,
            self.amount_fen,
            str(self.pairing_id) if self.pairing_id else None,
            self.evidence_no,
        )
        return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def grams(kg: Decimal | None) -> int | None:
    """A kilogram figure as whole grams (the schema allows at most three decimals)."""
    return None if kg is None else int(kg * GRAMS_PER_KG)


def from_api(data: Mapping[str, Any]) -> PurchaseInput:
    """A purchase from a validated API body (schemas.unit_purchases.UnitPurchaseCreateSchema)."""
    return PurchaseInput(
        mode=data["mode"],
        date=data["date"],
        unit_id=data["unit_id"],
        product_id=data.get("product_id"),
        supplier_uscc=clean_uscc(data.get("supplier_uscc")),
        description=clean_text(data.get("description")),
        quantity=data["quantity"],
        quantity_unit=clean_text(data.get("quantity_unit")),
        weight_g=grams(data.get("kg")),
        amount_fen=data["amount_fen"],
        pairing_id=data.get("pairing_id"),
        evidence_no=clean_code(data.get("evidence_no")),
        order_id=clean_code(data.get("order_id")) or "",
    )


# Kilograms in a cell: at most three decimals, so a weight is whole grams.
_KG = re.compile(r"^\d+(\.\d{1,3})?$")


def from_row(row: tabular.Row) -> tuple[PurchaseInput, dict[str, str]]:
    """A purchase from an upload row, and the cells that could not be read, by field."""
    errors: dict[str, str] = {}
    purchase = PurchaseInput(row=row.number)
    mode_text = unicodedata.normalize("NFKC", row.get(COLUMNS["mode"])).strip()
    purchase.mode = _MODE_BY_TEXT.get(mode_text) or _MODE_BY_TEXT.get(mode_text.lower())
    if purchase.mode is None:
        errors["mode"] = Coded(
            "unit_purchase.bad_mode",
            f"{mode_text!r}: write one of {'、'.join(MODES.values())}.",
            value=mode_text,
            choices="、".join(MODES.values()),
        )
    purchase.date, purchase.quantity, purchase.amount_fen = read_cells(
        row, COLUMNS, ("product_code", "supplier_uscc", "evidence_no", "order_id"), errors
    )
    purchase.unit_name = clean_text(row.get(COLUMNS["unit_name"]))
    if not purchase.unit_name:
        errors["unit_name"] = Coded(CELL_EMPTY, "The unit is empty.", column=COLUMNS["unit_name"])
    purchase.product_code = clean_code(row.get(COLUMNS["product_code"]))
    purchase.supplier_uscc = clean_uscc(row.get(COLUMNS["supplier_uscc"]))
    purchase.description = clean_text(row.get(COLUMNS["description"]))
    purchase.quantity_unit = clean_text(row.get(COLUMNS["quantity_unit"]))
    purchase.pairing = clean_text(row.get(COLUMNS["pairing"]))
    purchase.evidence_no = clean_code(row.get(COLUMNS["evidence_no"]))
    purchase.order_id = clean_code(row.get(COLUMNS["order_id"])) or ""
    kg = unicodedata.normalize("NFKC", row.get(COLUMNS["kg"])).strip().replace(",", "")
    if kg:
        if _KG.match(kg):
            purchase.weight_g = grams(Decimal(kg))
        else:
            errors["kg"] = Coded(
                "unit_purchase.bad_kg", f"{kg!r} is not a weight in kilograms (at most 3 decimals).", value=kg
            )
    return purchase, errors


# A product's unit as a weight: "kg", "斤", "箱(5kg)", "500g/袋"; None when it names no weight.
_WEIGHTS_G = {
    "kg": 1000,
    "公斤": 1000,
    "千克": 1000,
    "斤": 500,
    "g": 1,
    "克": 1,
    "吨": 1_000_000,
    "t": 1_000_000,
}
_WEIGHT_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*(kg|公斤|千克|斤|克|g|吨|t)(?![a-z])")


def unit_weight_g(unit: str | None) -> int | None:
    """The grams one unit of a product weighs, read from its unit; None when the unit is not a weight."""
    text = unicodedata.normalize("NFKC", unit or "").strip().lower()
    if text in _WEIGHTS_G:
        return _WEIGHTS_G[text]
    match = _WEIGHT_IN_TEXT.search(text)
    if match is None:
        return None
    weight = Decimal(match[1]) * _WEIGHTS_G[match[2]]
    return int(weight) if weight == weight.to_integral_value() and weight > 0 else None
