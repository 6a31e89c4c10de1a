"""Checking one canteen purchase (食堂采购校验) against the rules and the catalogue.

A checked purchase becomes the canteen's record and the ledger ``SaleLine`` to ingest: channel
``canteen``, or ``p832`` when bought on the 832 platform; external_id
``canteen:<canteen id>:<invoice no>``; buyer type "unit" with the canteen as buyer unit;
occurred_at = the END of the local (Asia/Shanghai) purchase day in UTC, or now for a purchase
dated today (the ledger refuses the future): a purchase carries only its date, and a product
certified during that day was certified on it, so the day is judged by its end. The line goes to
the ledger of the county that SOLD the product (the product's county; for a product not in the
catalogue, the supplier's county if it is registered, else the canteen's); the canteen's quota
finds it again through the buyer unit. A return takes its product, channel and county from the
purchase it reverses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from stdnum.cn import uscc as uscc_number

from adapters.base import SaleLine
from service import access, operators, product_lookups, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.canteen_purchase_inputs import PurchaseInput
from service.certification import certified_at
from service.clock import end_of_local_day, utcnow
from service.errors import Coded, Forbidden, ValidationFailed
from service.purchase_fields import MAX_REFERENCE_LENGTH, check_date, check_lengths, printable_reference
from service.purchase_ledger import PENDING

CANTEEN_CHANNEL, P832_CHANNEL = "canteen", "p832"
_BARCODE = re.compile(r"^\d{13}$")


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
        found = product_lookups.matching(
            self.db,
            _PRODUCT_FIELDS,
            ids=ids,
            sku_keys=keys,
            barcodes=barcodes,
            certificate_numbers=certificates,
        )
        for product in found:
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
        for operator in operators.matching(self.db, _OPERATOR_FIELDS, ids=operator_ids, usccs=usccs):
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
    return Coded(
        "canteen_purchase.bad_uscc",
        f"{value} is not a valid unified social credit code (统一社会信用代码) of a known supplier.",
        uscc=value,
    )


def prepare(
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
        errors["invoice_no"] = Coded(
            "canteen_purchase.invoice_required", "The invoice number (发票号) is required."
        )
    elif not printable_reference(invoice):
        errors["invoice_no"] = Coded(
            "canteen_purchase.bad_invoice",
            f"An invoice number has 1–{MAX_REFERENCE_LENGTH} printable characters.",
            most=MAX_REFERENCE_LENGTH,
        )
    elif invoice in state.rows_by_invoice:
        errors["invoice_no"] = Coded(
            "canteen_purchase.invoice_twice_in_file",
            f"Invoice {invoice} is also on row {state.rows_by_invoice[invoice]} of this file.",
            invoice_no=invoice,
            other_row=state.rows_by_invoice[invoice],
        )
    day = purchase.date
    check_date(day, errors)
    check_lengths(purchase, ("product_name", "unit"), errors)

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
        errors["quantity"] = Coded(
            "canteen_purchase.quantity_not_positive",
            "The quantity must be above zero; a return has a negative quantity and names the invoice "
            "it reverses (refund_of_invoice_no / 原发票号).",
        )
    if purchase.amount_fen is not None and purchase.amount_fen <= 0:
        errors["amount_fen"] = Coded(
            "canteen_purchase.amount_not_positive",
            "The amount must be above zero (a return names the invoice it reverses).",
        )

    operator = None
    if purchase.operator_id is not None:
        operator = lookups.operators.get(purchase.operator_id)
        if operator is None:
            errors["operator_id"] = Coded(
                "canteen_purchase.unknown_supplier", "No registered supplier (market operator) has this id."
            )
    elif purchase.operator_uscc:
        operator = lookups.by_uscc.get(purchase.operator_uscc)
        if operator is None and (problem := _check_uscc(purchase.operator_uscc)):
            errors["operator_uscc"] = problem

    product = lookups.product_for(purchase)
    if purchase.product_id is not None and product is None:
        errors["product_id"] = Coded(
            "canteen_purchase.unknown_product", "No product of the catalogue has this id."
        )
    if product is None and not (purchase.product_code or purchase.sku or purchase.product_name):
        errors[purchase.product_field] = Coded(
            "canteen_purchase.product_required", "Name the product: its catalogue id or code, SKU, or name."
        )
    if product is not None:
        owner = lookups.operators.get(product["operator_id"])
        if operator is not None and operator["_id"] != product["operator_id"]:
            errors["operator_id" if purchase.operator_id else "operator_uscc"] = Coded(
                "canteen_purchase.other_supplier",
                f"The product {product['name']} is sold by another supplier"
                + (f" ({owner['uscc']})." if owner and owner.get("uscc") else "."),
                product=product["name"],
            )
        elif operator is None and purchase.operator_uscc and owner and owner.get("uscc"):
            errors["operator_uscc"] = Coded(
                "canteen_purchase.sold_by",
                f"The product {product['name']} is sold by supplier {owner['uscc']}.",
                product=product["name"],
                uscc=owner["uscc"],
            )
        operator = operator or owner
    elif operator is None and not purchase.operator_uscc and "operator_id" not in errors:
        errors["operator_uscc"] = Coded(
            "canteen_purchase.supplier_required",
            "A product not in the catalogue needs its supplier's unified social credit code.",
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
        errors["refund_of_invoice_no"] = Coded(
            "canteen_purchase.return_of_itself", "A return cannot reverse its own invoice."
        )
        return None
    if original is None:
        errors["refund_of_invoice_no"] = Coded(
            "canteen_purchase.no_original",
            f"This canteen has no purchase with invoice {original_no}.",
            invoice_no=original_no,
        )
        return None
    if original.get("refund_of_invoice_no"):
        errors["refund_of_invoice_no"] = Coded(
            "canteen_purchase.original_is_return",
            f"Invoice {original_no} is itself a return.",
            invoice_no=original_no,
        )
        return None
    quantity, amount = purchase.quantity, purchase.amount_fen
    if quantity is not None and quantity > 0:
        errors["quantity"] = Coded(
            "canteen_purchase.return_quantity", "A return has a negative (or zero) quantity."
        )
    if amount is not None and amount >= 0:
        errors["amount_fen"] = Coded("canteen_purchase.return_amount", "A return has a negative amount.")
    if purchase.date is not None and purchase.date.isoformat() < original["date"]:
        errors["date"] = Coded(
            "canteen_purchase.return_before_purchase",
            f"The return is dated before the purchase it reverses ({original['date']}).",
            date=original["date"],
        )
    if purchase.product_id is not None and purchase.product_id != original.get("product_id"):
        errors["product_id"] = Coded(
            "canteen_purchase.return_other_product",
            f"Invoice {original_no} was for another product.",
            invoice_no=original_no,
        )
    if purchase.via_832 is not None and purchase.via_832 != original["via_832"]:
        errors["via_832"] = Coded(
            "canteen_purchase.return_via_832"
            if original["via_832"]
            else "canteen_purchase.return_not_via_832",
            f"Invoice {original_no} was {'' if original['via_832'] else 'not '}bought on the 832 platform.",
            invoice_no=original_no,
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
            errors["amount_fen"] = Coded(
                "canteen_purchase.returns_exceed",
                f"Returns against invoice {original_no} would exceed the purchase "
                f"({original['quantity']} units, {original['amount_fen']} fen).",
                invoice_no=original_no,
                quantity=original["quantity"],
                amount_fen=original["amount_fen"],
            )
    if errors:
        return None
    product = lookups.products.get(original["product_id"]) if original.get("product_id") else None
    operator = lookups.operators.get(original["operator_id"]) if original.get("operator_id") else None
    return product, operator, original["channel"], original["sale_county_code"]


def remember(state: FileState, lookups: Lookups, item: Prepared) -> None:
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
        raise Forbidden(
            Coded("canteen_purchase.enterprise_refused", "Enterprise accounts cannot log canteen purchases.")
        )
    if actor.role == CANTEEN:
        if canteen_id is not None and canteen_id != actor.canteen_id:
            raise Forbidden(
                Coded("canteen_purchase.other_canteen", "You may act only for your own canteen."),
                details={"canteen_id": [Coded("field.not_yours", "Not yours.")]},
            )
        canteen_id = actor.canteen_id
    elif canteen_id is None:
        raise ValidationFailed(
            Coded("canteen_purchase.canteen_required", "Name the canteen (canteen_id)."),
            details={"canteen_id": [Coded("field.required", "Required for staff.")]},
        )
    canteen = db[storage.CANTEENS].find_one({"_id": canteen_id})
    if canteen is None:
        raise ValidationFailed(
            Coded("canteen.not_in_scope", "No such canteen."),
            details={"canteen_id": [Coded("canteen.not_in_scope", "No such canteen.")]},
        )
    access.require_canteen(actor, canteen["_id"], canteen["county_code"])
    return canteen
