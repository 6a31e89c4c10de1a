"""Canteen purchases (食堂采购): logged one by one or by monthly upload, and handed to the sales ledger.

Each purchase is kept twice, on purpose:

- the canteen's own record in ``canteen_purchases``, unique per (canteen_id, invoice_no), and
- a ledger ``SaleLine``: channel ``canteen``, or ``p832`` when bought on the 832 platform;
  external_id ``canteen:<canteen id>:<invoice no>``; buyer type "unit" with the canteen as
  buyer unit; occurred_at = the END of the local (Asia/Shanghai) purchase day in UTC, or now for
  a purchase dated today (the ledger refuses the future): a purchase carries only its date, and a
  product certified during that day was certified on it, so the day is judged by its end. The
  line goes to the ledger of the county that SOLD the product (the product's county; for a
  product not in the catalogue, the supplier's county if it is registered, else the canteen's);
  the canteen's quota finds it again through the buyer unit.

Write order, so that nothing is ever counted twice: the record first claims the invoice number
(``ledger_status: pending``; the unique index refuses a second claim, so a duplicate invoice
never reaches the ledger), then the line is ingested, then the record is marked ``recorded``. A
line the ledger rejects has its claim removed. A crash between the two steps leaves a pending
record; submitting the same details again (after ``PENDING_GRACE``) completes it, and the
ledger's own de-duplication on external_id makes that retry idempotent.

Records are never edited: a return is a new record with a negative quantity and amount that
names the invoice it reverses (``refund_of_invoice_no``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from bson import ObjectId
from pymongo import InsertOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError
from stdnum.cn import uscc as uscc_number

from adapters.base import SaleLine
from service import access, audit, canteens, ledger, storage, tabular
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import end_of_local_day, today_local, utcnow
from service.errors import Conflict, Forbidden, ValidationFailed, validation_summary
from service.ledger import IngestResult, IngestScope
from service.products import certified_at

log = logging.getLogger(__name__)

CANTEEN_CHANNEL, P832_CHANNEL = "canteen", "p832"
PENDING, RECORDED = "pending", "recorded"
# A pending claim younger than this may still be in flight; an older one is a crash to complete.
PENDING_GRACE = timedelta(minutes=2)
# 财库〔2019〕27号 started canteen reservation; earlier dates are typos.
FIRST_DAY = date(2019, 1, 1)
MAX_INVOICE_LENGTH = 64
MAX_TEXT_LENGTH = 100
IMPORT_BATCH = 500

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
# The template's example row carries an invoice number starting with this; imports skip such rows.
EXAMPLE_MARK = "示例"
_YES = {"是", "Y", "YES", "TRUE", "1", "√"}
_NO = {"否", "N", "NO", "FALSE", "0"}
_BARCODE = re.compile(r"^\d{13}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Ledger error fields, as this module's fields.
_LEDGER_FIELDS = {"occurred_at": "date", "external_id": "invoice_no", "sku": "product_code"}


# Inputs --------------------------------------------------------------------------------------------


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


def clean_code(value: Any) -> str | None:
    """An identifier as typed: full-width folded, blanks removed; None when empty."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip(" \t\r\n\u3000\u00a0")
    return text or None


def from_api(data: Mapping[str, Any]) -> PurchaseInput:
    """A purchase from a validated API body (schemas.canteens.CanteenPurchaseCreateSchema)."""
    uscc = clean_code(data.get("operator_uscc"))
    return PurchaseInput(
        date=data["date"],
        operator_uscc=uscc.upper() if uscc else None,
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


def _whole_number(text: str) -> int | None:
    value = unicodedata.normalize("NFKC", text or "").strip().replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def from_row(row: tabular.Row) -> tuple[PurchaseInput, dict[str, str]]:
    """A purchase from an upload row, and the cells that could not be read, by field."""
    errors: dict[str, str] = {}
    purchase = PurchaseInput(row=row.number)
    text = row.get(COLUMNS["date"])
    try:
        purchase.date = tabular.parse_local_date(text)
    except ValueError as error:
        errors["date"] = str(error)
    for name in ("product_code", "invoice_no", "operator_uscc", "refund_of_invoice_no"):
        if COLUMNS[name] in row.imprecise:
            errors[name] = (
                "Excel stored this as a number and lost its last digits; "
                "format the column as text and enter it again."
            )
    uscc = clean_code(row.get(COLUMNS["operator_uscc"]))
    purchase.operator_uscc = uscc.upper() if uscc else None
    purchase.product_code = clean_code(row.get(COLUMNS["product_code"]))
    purchase.product_name = clean_text(row.get(COLUMNS["product_name"]))
    purchase.unit = clean_text(row.get(COLUMNS["unit"]))
    purchase.invoice_no = clean_code(row.get(COLUMNS["invoice_no"])) or ""
    purchase.refund_of_invoice_no = clean_code(row.get(COLUMNS["refund_of_invoice_no"]))
    quantity = row.get(COLUMNS["quantity"])
    purchase.quantity = _whole_number(quantity)
    if purchase.quantity is None:
        errors["quantity"] = f"{quantity!r} is not a whole number." if quantity else "The quantity is empty."
    try:
        purchase.amount_fen = tabular.parse_yuan_to_fen(row.get(COLUMNS["amount_fen"]))
    except ValueError as error:
        errors["amount_fen"] = str(error)
    flag = unicodedata.normalize("NFKC", row.get(COLUMNS["via_832"])).strip().upper()
    if flag in _YES:
        purchase.via_832 = True
    elif flag in _NO:
        purchase.via_832 = False
    elif flag:
        errors["via_832"] = f"{row.get(COLUMNS['via_832'])!r}: write 是 or 否."
    return purchase, errors


# Look-ups --------------------------------------------------------------------------------------------

_PRODUCT_FIELDS = {
    "name": 1,
    "unit": 1,
    "county_code": 1,
    "operator_id": 1,
    "certificates": 1,
    "channel_sku_keys": 1,
    "barcode": 1,
    "certificate_numbers": 1,
}
_OPERATOR_FIELDS = {"name": 1, "uscc": 1, "county_code": 1}


def sale_channel(via_832: bool | None) -> str:
    return P832_CHANNEL if via_832 else CANTEEN_CHANNEL


def _sku_keys(purchase: PurchaseInput) -> list[str]:
    """Channel SKU keys to try, in order: the named channel, then the sale's own channel.

    Trying the sale channel too means the ledger (which matches on it) can never find a
    product this module did not.
    """
    own = sale_channel(purchase.via_832)
    keys = []
    if purchase.sku:
        if purchase.sku_channel:
            keys.append(f"{purchase.sku_channel}:{purchase.sku}")
        keys.append(f"{own}:{purchase.sku}")
    if purchase.product_code:
        keys.append(f"{own}:{purchase.product_code}")
    return list(dict.fromkeys(keys))


class Lookups:
    """Products, operators and this canteen's earlier purchases a batch needs, one query per kind."""

    def __init__(self, db: Database, canteen: Mapping[str, Any]):
        self.db = db
        self.canteen = canteen
        self.products: dict[ObjectId, dict[str, Any]] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.by_barcode: dict[str, dict[str, Any]] = {}
        self.by_certificate: dict[str, dict[str, Any]] = {}
        self.operators: dict[ObjectId, dict[str, Any]] = {}
        self.by_uscc: dict[str, dict[str, Any]] = {}
        self.purchases: dict[str, dict[str, Any]] = {}
        # Returns already recorded against an invoice: {original invoice: {return invoice: (qty, fen)}}.
        self.returns: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)

    def load(self, purchases: Iterable[PurchaseInput], state: FileState | None = None) -> None:
        purchases = list(purchases)
        invoices = {p.invoice_no for p in purchases if p.invoice_no}
        originals = {p.refund_of_invoice_no for p in purchases if p.refund_of_invoice_no}
        collection = self.db[storage.CANTEEN_PURCHASES]
        for record in collection.find(
            {"canteen_id": self.canteen["_id"], "invoice_no": {"$in": sorted(invoices | originals)}}
        ):
            self.purchases[record["invoice_no"]] = record
        if originals:
            for record in collection.find(
                {"canteen_id": self.canteen["_id"], "refund_of_invoice_no": {"$in": sorted(originals)}},
                {"invoice_no": 1, "refund_of_invoice_no": 1, "quantity": 1, "amount_fen": 1},
            ):
                self.returns[record["refund_of_invoice_no"]][record["invoice_no"]] = (
                    record["quantity"],
                    record["amount_fen"],
                )

        ids, keys, barcodes, certificates = set(), set(), set(), set()
        for purchase in purchases:
            if purchase.product_id is not None:
                ids.add(purchase.product_id)
            keys.update(_sku_keys(purchase))
            code = purchase.product_code
            if code:
                if ObjectId.is_valid(code) and len(code) == 24:
                    ids.add(ObjectId(code))
                if _BARCODE.match(code):
                    barcodes.add(code)
                certificates.add(code)
        earlier = list(self.purchases.values()) + [
            state.documents[number] for number in originals if state is not None and number in state.documents
        ]
        ids.update(r["product_id"] for r in earlier if r.get("product_id") is not None)
        conditions = []
        if ids:
            conditions.append({"_id": {"$in": sorted(ids)}})
        if keys:
            conditions.append({"channel_sku_keys": {"$in": sorted(keys)}})
        if barcodes:
            conditions.append({"barcode": {"$in": sorted(barcodes)}})
        if certificates:
            conditions.append({"certificate_numbers": {"$in": sorted(certificates)}})
        if conditions:
            for product in self.db[storage.PRODUCTS].find({"$or": conditions}, _PRODUCT_FIELDS):
                self.products[product["_id"]] = product
                for key in product.get("channel_sku_keys") or []:
                    self.by_key[key] = product
                if product.get("barcode"):
                    self.by_barcode[product["barcode"]] = product
                for number in product.get("certificate_numbers") or []:
                    self.by_certificate[number] = product

        operator_ids = {p.operator_id for p in purchases if p.operator_id is not None}
        operator_ids.update(product["operator_id"] for product in self.products.values())
        usccs = {p.operator_uscc for p in purchases if p.operator_uscc}
        conditions = []
        if operator_ids:
            conditions.append({"_id": {"$in": sorted(operator_ids)}})
        if usccs:
            conditions.append({"uscc": {"$in": sorted(usccs)}})
        if conditions:
            for operator in self.db[storage.OPERATORS].find({"$or": conditions}, _OPERATOR_FIELDS):
                self.operators[operator["_id"]] = operator
                if operator.get("uscc"):
                    self.by_uscc[operator["uscc"]] = operator

    def product_for(self, purchase: PurchaseInput) -> dict[str, Any] | None:
        """The catalogue product: by id or channel SKU; a file's 产品编号 also by barcode or certificate."""
        if purchase.product_id is not None:
            return self.products.get(purchase.product_id)
        code = purchase.product_code
        if code and ObjectId.is_valid(code) and len(code) == 24 and ObjectId(code) in self.products:
            return self.products[ObjectId(code)]
        if code and code in self.by_barcode:
            return self.by_barcode[code]
        if code and code in self.by_certificate:
            return self.by_certificate[code]
        for key in _sku_keys(purchase):
            if key in self.by_key:
                return self.by_key[key]
        return None


# Checking one purchase -------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A checked purchase: the record to store and the ledger line to ingest."""

    purchase: PurchaseInput
    document: dict[str, Any]
    line: SaleLine
    scope_county: str


@dataclass
class FileState:
    """What earlier rows of the same upload said (duplicates, and returns of rows above)."""

    rows_by_invoice: dict[str, int] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)


def _check_uscc(value: str) -> str | None:
    if uscc_number.is_valid(value):
        return None
    return f"{value} is not a valid unified social credit code (统一社会信用代码) of a known supplier."


def _prepare(
    purchase: PurchaseInput,
    canteen: Mapping[str, Any],
    lookups: Lookups,
    actor: Principal,
    state: FileState,
    *,
    source: dict[str, Any],
) -> tuple[Prepared | None, dict[str, str]]:
    """Check one purchase against the rules and the catalogue; the record and line, or the problems."""
    errors: dict[str, str] = {}
    invoice = purchase.invoice_no
    if not invoice:
        errors["invoice_no"] = "The invoice number (发票号) is required."
    elif len(invoice) > MAX_INVOICE_LENGTH or _CONTROL.search(invoice):
        errors["invoice_no"] = f"An invoice number has 1–{MAX_INVOICE_LENGTH} printable characters."
    elif invoice in state.rows_by_invoice:
        errors["invoice_no"] = (
            f"Invoice {invoice} is also on row {state.rows_by_invoice[invoice]} of this file."
        )
    today = today_local()
    day = purchase.date
    if day is not None and day > today:
        errors["date"] = f"{day} is in the future (today is {today} in Asia/Shanghai)."
    elif day is not None and day < FIRST_DAY:
        errors["date"] = f"{day} is before {FIRST_DAY}; check the year."
    for name in ("product_name", "unit"):
        value = getattr(purchase, name)
        if value is not None and len(value) > MAX_TEXT_LENGTH:
            errors[name] = f"At most {MAX_TEXT_LENGTH} characters."

    if purchase.refund_of_invoice_no:
        facts = _return_facts(purchase, lookups, state, errors)
    else:
        facts = _purchase_facts(purchase, canteen, lookups, errors)
    if errors or facts is None or day is None:
        return None, errors

    product, operator, channel, scope_county = facts
    occurred_at = min(end_of_local_day(day) - timedelta(milliseconds=1), utcnow())
    certified = product is not None and certified_at(product, occurred_at)
    external_id = f"canteen:{canteen['_id']}:{invoice}"
    raw_code = purchase.product_code or purchase.sku
    raw_name, uscc = purchase.product_name, purchase.operator_uscc
    if purchase.refund_of_invoice_no:
        # A return names its product as the purchase did, matched or not.
        original = _original(purchase, lookups, state) or {}
        raw_code = raw_code or original.get("product_code")
        raw_name = raw_name or original.get("product_name")
        uscc = uscc or original.get("operator_uscc")
    document = {
        "canteen_id": canteen["_id"],
        "county_code": canteen["county_code"],
        "date": day.isoformat(),
        "year": day.year,
        "month": day.strftime("%Y-%m"),
        "operator_id": operator["_id"] if operator else None,
        "operator_uscc": uscc or (operator or {}).get("uscc"),
        "operator_name": (operator or {}).get("name"),
        "product_id": product["_id"] if product else None,
        "product_name": product["name"] if product else raw_name,
        "product_code": raw_code,
        "quantity": purchase.quantity,
        "unit": purchase.unit or (product or {}).get("unit"),
        "amount_fen": purchase.amount_fen,
        "invoice_no": invoice,
        "refund_of_invoice_no": purchase.refund_of_invoice_no,
        "via_832": channel == P832_CHANNEL,
        "channel": channel,
        "sale_county_code": scope_county,
        "external_id": external_id,
        "matched": product is not None,
        "certified": certified,
        "counted_for_quota": certified or channel == P832_CHANNEL,
        "ledger_status": PENDING,
        "fingerprint": purchase.fingerprint(),
        "source": source,
        "created_by": actor.as_actor(),
        "created_at": utcnow(),
    }
    line = SaleLine(
        channel=channel,
        external_id=external_id,
        occurred_at=occurred_at,
        quantity=purchase.quantity,
        amount_fen=purchase.amount_fen,
        sku=None if product else raw_code,
        title=raw_name or (product["name"] if product else None),
        product_id=str(product["_id"]) if product else None,
        refund_of=(
            f"canteen:{canteen['_id']}:{purchase.refund_of_invoice_no}"
            if purchase.refund_of_invoice_no
            else None
        ),
        buyer_type="unit",
        buyer_unit_id=str(canteen["_id"]),
        row=purchase.row,
    )
    return Prepared(purchase, document, line, scope_county), {}


Facts = tuple[dict[str, Any] | None, dict[str, Any] | None, str, str]


def _purchase_facts(
    purchase: PurchaseInput, canteen: Mapping[str, Any], lookups: Lookups, errors: dict[str, str]
) -> Facts | None:
    """Product, supplier, channel and ledger county of a purchase (not a return)."""
    if purchase.quantity is not None and purchase.quantity <= 0:
        errors["quantity"] = (
            "The quantity must be above zero; a return has a negative quantity and names the invoice "
            "it reverses (refund_of_invoice_no / 原发票号)."
        )
    if purchase.amount_fen is not None and purchase.amount_fen <= 0:
        errors["amount_fen"] = "The amount must be above zero (a return names the invoice it reverses)."

    operator = None
    if purchase.operator_id is not None:
        operator = lookups.operators.get(purchase.operator_id)
        if operator is None:
            errors["operator_id"] = "No registered supplier (market operator) has this id."
    elif purchase.operator_uscc:
        operator = lookups.by_uscc.get(purchase.operator_uscc)
        if operator is None and (problem := _check_uscc(purchase.operator_uscc)):
            errors["operator_uscc"] = problem

    product = lookups.product_for(purchase)
    if purchase.product_id is not None and product is None:
        errors["product_id"] = "No product of the catalogue has this id."
    if product is None and not (purchase.product_code or purchase.sku or purchase.product_name):
        errors[purchase.product_field] = "Name the product: its catalogue id or code, SKU, or name."
    if product is not None:
        owner = lookups.operators.get(product["operator_id"])
        if operator is not None and operator["_id"] != product["operator_id"]:
            errors["operator_id" if purchase.operator_id else "operator_uscc"] = (
                f"The product {product['name']} is sold by another supplier"
                + (f" ({owner['uscc']})." if owner and owner.get("uscc") else ".")
            )
        elif operator is None and purchase.operator_uscc and owner and owner.get("uscc"):
            errors["operator_uscc"] = f"The product {product['name']} is sold by supplier {owner['uscc']}."
        operator = operator or owner
    elif operator is None and not purchase.operator_uscc and "operator_id" not in errors:
        errors["operator_uscc"] = (
            "A product not in the catalogue needs its supplier's unified social credit code."
        )
    if errors:
        return None
    if product is not None:
        county = product["county_code"]
    elif operator is not None:
        county = operator["county_code"]
    else:
        county = canteen["county_code"]
    return product, operator, sale_channel(purchase.via_832), county


def _original(purchase: PurchaseInput, lookups: Lookups, state: FileState) -> dict[str, Any] | None:
    """The purchase a return reverses: a row above in the same file, or a logged one."""
    number = purchase.refund_of_invoice_no
    return state.documents.get(number) or lookups.purchases.get(number)


def _return_facts(
    purchase: PurchaseInput, lookups: Lookups, state: FileState, errors: dict[str, str]
) -> Facts | None:
    """A return takes product, supplier, channel and ledger county from the purchase it reverses."""
    original_no = purchase.refund_of_invoice_no
    original = _original(purchase, lookups, state)
    if original_no == purchase.invoice_no:
        errors["refund_of_invoice_no"] = "A return cannot reverse its own invoice."
        return None
    if original is None:
        errors["refund_of_invoice_no"] = f"This canteen has no purchase with invoice {original_no}."
        return None
    if original.get("refund_of_invoice_no"):
        errors["refund_of_invoice_no"] = f"Invoice {original_no} is itself a return."
        return None
    quantity, amount = purchase.quantity, purchase.amount_fen
    if quantity is not None and quantity > 0:
        errors["quantity"] = "A return has a negative (or zero) quantity."
    if amount is not None and amount >= 0:
        errors["amount_fen"] = "A return has a negative amount."
    if purchase.date is not None and purchase.date.isoformat() < original["date"]:
        errors["date"] = f"The return is dated before the purchase it reverses ({original['date']})."
    if purchase.product_id is not None and purchase.product_id != original.get("product_id"):
        errors["product_id"] = f"Invoice {original_no} was for another product."
    if purchase.via_832 is not None and purchase.via_832 != original["via_832"]:
        errors["via_832"] = (
            f"Invoice {original_no} was {'' if original['via_832'] else 'not '}bought on the 832 platform."
        )
    if quantity is not None and amount is not None and not errors:
        earlier = [
            value
            for invoice, value in lookups.returns.get(original_no, {}).items()
            if invoice != purchase.invoice_no
        ]
        returned_quantity = -sum(q for q, _ in earlier) - quantity
        returned_fen = -sum(a for _, a in earlier) - amount
        if returned_quantity > original["quantity"] or returned_fen > original["amount_fen"]:
            errors["amount_fen"] = (
                f"Returns against invoice {original_no} would exceed the purchase "
                f"({original['quantity']} units, {original['amount_fen']} fen)."
            )
    if errors:
        return None
    product = lookups.products.get(original["product_id"]) if original.get("product_id") else None
    operator = lookups.operators.get(original["operator_id"]) if original.get("operator_id") else None
    return product, operator, original["channel"], original["sale_county_code"]


def _remember(state: FileState, lookups: Lookups, item: Prepared) -> None:
    purchase = item.purchase
    state.rows_by_invoice[purchase.invoice_no] = purchase.row or 0
    state.documents[purchase.invoice_no] = item.document
    if purchase.refund_of_invoice_no:
        lookups.returns[purchase.refund_of_invoice_no][purchase.invoice_no] = (
            purchase.quantity,
            purchase.amount_fen,
        )


# Who logs for which canteen ---------------------------------------------------------------------------


def canteen_for(db: Database, actor: Principal, canteen_id: ObjectId | None) -> dict[str, Any]:
    """The canteen a call acts for: a canteen account's own; staff name one of their counties'."""
    if actor.role == ENTERPRISE:
        raise Forbidden("Enterprise accounts cannot log canteen purchases.")
    if actor.role == CANTEEN:
        if canteen_id is not None and canteen_id != actor.canteen_id:
            raise Forbidden("You may act only for your own canteen.", details={"canteen_id": ["Not yours."]})
        canteen_id = actor.canteen_id
    elif canteen_id is None:
        raise ValidationFailed(
            "Name the canteen (canteen_id).", details={"canteen_id": ["Required for staff."]}
        )
    canteen = db[storage.CANTEENS].find_one({"_id": canteen_id})
    if canteen is None:
        raise ValidationFailed("No such canteen.", details={"canteen_id": ["No such canteen."]})
    access.require_canteen(actor, canteen["_id"], canteen["county_code"])
    return canteen


# Presenting -----------------------------------------------------------------------------------------


def quota_message(record: Mapping[str, Any]) -> str | None:
    """Why a purchase does or does not count toward the reserved share, when it is not plain."""
    if record.get("refund_of_invoice_no"):
        return None
    if record["channel"] == P832_CHANNEL:
        if not record["matched"]:
            return "The product is not in the catalogue; the purchase counts as bought on the 832 platform."
        return None
    if not record["matched"]:
        return (
            "The product is not in the catalogue: the purchase is kept, but does not count toward the "
            "reserved share (预留份额) unless bought on the 832 platform."
        )
    if not record["certified"]:
        return (
            f"The product was not a certified poverty-alleviation product on {record['date']}: the purchase "
            "is kept, but does not count toward the reserved share."
        )
    return None


def present(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, "message": quota_message(record)}


# Writing ----------------------------------------------------------------------------------------------


def _conflict_message(existing: Mapping[str, Any]) -> str:
    return (
        f"Invoice {existing['invoice_no']} is already logged for this canteen "
        f"(dated {existing['date']}, {existing['amount_fen']} fen)."
    )


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware returns naive UTC datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _resumable(existing: Mapping[str, Any], purchase: PurchaseInput) -> bool:
    """A pending claim left by a crash, for the very same purchase, may be completed."""
    return (
        existing.get("ledger_status") == PENDING
        and existing.get("fingerprint") == purchase.fingerprint()
        and utcnow() - _aware(existing["created_at"]) >= PENDING_GRACE
    )


def _ingest(db: Database, items: list[Prepared], *, dry_run: bool) -> tuple[dict[int, dict[str, Any]], set]:
    """Hand the lines to the ledger, county by county; the rejections by item index, and the partitions."""
    by_county: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_county[item.scope_county].append(index)
    rejected: dict[int, dict[str, Any]] = {}
    partitions: set = set()
    for county, indexes in sorted(by_county.items()):
        # Rows are the item indexes here, so each rejection maps back to exactly one item.
        lines = [_with_row(items[index].line, index) for index in indexes]
        result = ledger.ingest(
            db, lines, IngestScope(county), dry_run=dry_run, rebuild=False, result=IngestResult()
        )
        for error in result.errors:
            rejected[error["row"]] = error
        partitions |= result.partitions
    return rejected, partitions


def _with_row(line: SaleLine, row: int) -> SaleLine:
    return SaleLine(**{**{name: getattr(line, name) for name in SaleLine.__slots__}, "row": row})


def _ledger_problem(item: Prepared, error: Mapping[str, Any]) -> tuple[str, str]:
    name = _LEDGER_FIELDS.get(error.get("field") or "", error.get("field") or "invoice_no")
    if name == "product_code" and item.purchase.row is None:
        name = item.purchase.product_field
    return name, f"The sales ledger refused the line: {error['message']}"


def log_purchase(
    db: Database, actor: Principal, data: Mapping[str, Any], *, rebuild: bool = True
) -> dict[str, Any]:
    """Log one purchase (or return) of a canteen and hand it to the ledger; 409 on a known invoice.

    Each call rebuilds the touched county-month of the ledger, so the quota shows it at once.
    A caller logging many purchases in a row (the demo loader) passes ``rebuild=False`` and
    then calls ``ledger.rebuild(db)`` once, or works inside ``ledger.deferred_rebuilds``.
    """
    canteen = canteen_for(db, actor, data.get("canteen_id"))
    purchase = from_api(data)
    lookups = Lookups(db, canteen)
    lookups.load([purchase])
    existing = lookups.purchases.get(purchase.invoice_no)
    resuming = existing is not None and _resumable(existing, purchase)
    if existing is not None and not resuming:
        raise Conflict(
            _conflict_message(existing), details={"invoice_no": ["Already logged for this canteen."]}
        )
    item, errors = _prepare(purchase, canteen, lookups, actor, FileState(), source={"kind": "api"})
    if item is None:
        details = {name: [message] for name, message in errors.items()}
        raise ValidationFailed(validation_summary(details), details=details)
    collection = db[storage.CANTEEN_PURCHASES]
    if resuming:
        item.document = {**existing}
    else:
        try:
            item.document["_id"] = collection.insert_one(item.document).inserted_id
        except DuplicateKeyError:
            raise Conflict(
                f"Invoice {purchase.invoice_no} is already logged for this canteen.",
                details={"invoice_no": ["Already logged for this canteen."]},
            ) from None
    # If the ledger raises, the claim stays pending: the same submission completes it later.
    rejected, partitions = _ingest(db, [item], dry_run=False)
    if rejected:
        collection.delete_one({"_id": item.document["_id"], "ledger_status": PENDING})
        name, message = _ledger_problem(item, rejected[0])
        raise ValidationFailed(message, details={name: [message]})
    recorded_at = utcnow()
    collection.update_one(
        {"_id": item.document["_id"]}, {"$set": {"ledger_status": RECORDED, "recorded_at": recorded_at}}
    )
    if rebuild:
        ledger.rebuild_partitions(db, partitions)
    record = {**item.document, "ledger_status": RECORDED, "recorded_at": recorded_at}
    audit.record(
        db,
        actor,
        "canteen_purchase.create",
        entity_kind="canteen_purchase",
        entity_id=record["_id"],
        county_code=canteen["county_code"],
        after=record,
    )
    return present(record)


# Reading ----------------------------------------------------------------------------------------------


def list_purchases(
    db: Database,
    actor: Principal,
    *,
    canteen_id: ObjectId | None = None,
    county_code: str | None = None,
    year: int | None = None,
    month: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Purchases newest first: a canteen sees its own; staff those of their counties' canteens."""
    conditions: list[dict[str, Any]] = []
    if actor.role == CANTEEN:
        if canteen_id is not None and canteen_id != actor.canteen_id:
            raise Forbidden(
                "You may see only your own canteen's purchases.", details={"canteen_id": ["Not yours."]}
            )
        if county_code is not None:
            raise Forbidden(
                "Canteen accounts cannot list by county.", details={"county_code": ["Staff only."]}
            )
        conditions.append({"canteen_id": actor.canteen_id})
    else:
        conditions.extend(access.staff_conditions(actor, county_code))
        if county_code is not None:
            conditions.append({"county_code": county_code})
        if canteen_id is not None:
            canteen = canteens.load_canteen(db, canteen_id)
            access.require_canteen(actor, canteen["_id"], canteen["county_code"])
            conditions.append({"canteen_id": canteen_id})
    if month is not None:
        if year is None:
            raise ValidationFailed("A month needs its year.", details={"year": ["Required with month."]})
        conditions.append({"month": f"{year:04d}-{month:02d}"})
    elif year is not None:
        conditions.append({"year": year})
    query = {"$and": conditions} if conditions else {}
    collection = db[storage.CANTEEN_PURCHASES]
    total = collection.count_documents(query)
    cursor = (
        collection.find(query).sort([("date", -1), ("_id", -1)]).skip((page - 1) * per_page).limit(per_page)
    )
    return [present(record) for record in cursor], total


# Monthly upload -----------------------------------------------------------------------------------------


@dataclass
class PurchaseImport:
    """An upload's outcome: the shared import report plus what only purchases have."""

    report: tabular.ImportReport
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
    reader = tabular.read_rows(stream, filename, required=REQUIRED_COLUMNS)
    if COLUMNS["product_code"] not in reader.header and COLUMNS["product_name"] not in reader.header:
        reader.close()
        raise ValidationFailed(
            f"The file needs a {COLUMNS['product_code']} or {COLUMNS['product_name']} column.",
            details={"file": [f"Missing column {COLUMNS['product_code']} or {COLUMNS['product_name']}."]},
        )
    outcome = PurchaseImport(tabular.ImportReport(dry_run=dry_run))
    state = FileState()
    source = {"kind": "import", "file": filename or None}
    try:
        for batch in tabular.batched(reader, IMPORT_BATCH):
            _import_batch(db, actor, canteen, batch, outcome, state, source)
    finally:
        reader.close()
    if not dry_run:
        ledger.rebuild_partitions(db, outcome.partitions)
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
            if not _resumable(existing, purchase):
                outcome.reject(
                    purchase.row or 0,
                    {"invoice_no": _conflict_message(existing) + " Use a new invoice number, or a return."},
                )
                continue
        item, problems = _prepare(
            purchase, canteen, lookups, actor, state, source={**source, "row": purchase.row}
        )
        errors = {**problems, **errors}
        if errors or item is None:
            outcome.reject(purchase.row or 0, errors)
            continue
        _remember(state, lookups, item)
        if existing is not None:
            item.document = {**existing}
            resumed.append(item)
        else:
            new.append(item)
    if report.dry_run:
        rejected, _ = _ingest(db, new + resumed, dry_run=True)
        _count(outcome, new + resumed, rejected)
        return

    claimed = _claim(db, new, outcome)
    items = claimed + resumed
    rejected, partitions = _ingest(db, items, dry_run=False)
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
            name, message = _ledger_problem(item, rejected[index])
            outcome.reject(item.purchase.row or 0, {name: message})
            continue
        outcome.report.inserted += 1
        outcome.unmatched += not item.document["matched"]
        outcome.not_counted += not item.document["counted_for_quota"]


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
                {"invoice_no": f"Invoice {item.purchase.invoice_no} was logged by someone else meanwhile."},
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
