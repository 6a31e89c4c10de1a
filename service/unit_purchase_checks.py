"""Checking one unit purchase (单位采购校验) against its unit, its pairing and the catalogue.

A checked purchase becomes the unit's record and, unless a channel already sold it, the ledger
``SaleLine`` to ingest: channel ``unit_purchase``; external_id ``unit:<unit id>:<order id>``; buyer
type "unit" with the buying unit as buyer unit (never a canteen, so no canteen's quota moves);
occurred_at = the end of the local (Asia/Shanghai) purchase day in UTC, or now for a purchase dated
today, as canteen purchases do. The line goes to the ledger of the unit's county, the county it buys
from; a catalogued product must be of that county.

A 帮助销售 (helped sale) whose order id names an order line a channel already brought into that
county's ledger (the same id, or the id of one of its items, ``<order>-<item>``) is recorded and
flagged ``double_counted``: the reports show it once, and it is not handed to the ledger again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from stdnum.cn import uscc as uscc_number

from adapters.base import CHANNELS, SaleLine
from service import operators, pairings, product_lookups, storage
from service.access import Principal
from service.clock import end_of_local_day, utcnow
from service.errors import Coded
from service.purchase_fields import MAX_REFERENCE_LENGTH, check_date, check_lengths, printable_reference
from service.purchase_ledger import PENDING
from service.unit_purchase_inputs import HELPED, PurchaseInput, unit_weight_g

LEDGER_CHANNEL = "unit_purchase"
# A kilogram figure may differ this much from quantity × the product's unit weight (rounding).
WEIGHT_TOLERANCE_BP = 100
_OTHER_CHANNELS = [channel for channel in CHANNELS if channel != LEDGER_CHANNEL]
_PRODUCT_FIELDS = {
    "name": 1,
    "unit": 1,
    "county_code": 1,
    "operator_id": 1,
    "barcode": 1,
    "certificate_numbers": 1,
}


def external_id(unit_id: ObjectId, order_id: str) -> str:
    return f"unit:{unit_id}:{order_id}"


class Lookups:
    """Units, pairings, products, suppliers and channel orders a batch needs, one query per kind."""

    def __init__(self, db: Database, actor: Principal, county_code: str | None = None):
        self.db = db
        self.actor = actor
        self.county_code = county_code
        self.units: dict[ObjectId, dict[str, Any]] = {}
        self.units_by_name: dict[str, dict[str, Any]] = {}
        self.pairings: dict[ObjectId, list[dict[str, Any]]] = {}
        self.products: dict[ObjectId, dict[str, Any]] = {}
        self.by_code: dict[str, dict[str, Any]] = {}
        self.operators: dict[ObjectId, dict[str, Any]] = {}
        self.by_uscc: dict[str, dict[str, Any]] = {}
        # Order ids a channel already brought into a county's ledger: {(county, order id)}.
        self.channel_orders: set[tuple[str, str]] = set()

    def load(self, purchases: Iterable[PurchaseInput]) -> None:
        purchases = list(purchases)
        units = self.db[storage.BUYING_UNITS]
        ids = {p.unit_id for p in purchases if p.unit_id is not None}
        names = {p.unit_name for p in purchases if p.unit_name}
        conditions: list[dict[str, Any]] = []
        if ids:
            conditions.append({"_id": {"$in": sorted(ids)}})
        if names and self.county_code is not None:
            conditions.append({"county_code": self.county_code, "name": {"$in": sorted(names)}})
        for unit in units.find({"$or": conditions}) if conditions else []:
            self.units[unit["_id"]] = unit
            if unit["county_code"] == self.county_code:
                self.units_by_name[unit["name"]] = unit
        for pairing in self.db[storage.PAIRINGS].find({"unit_id": {"$in": sorted(self.units)}}):
            self.pairings.setdefault(pairing["unit_id"], []).append(pairing)

        product_ids = {p.product_id for p in purchases if p.product_id is not None}
        codes = {p.product_code for p in purchases if p.product_code}
        product_ids |= {ObjectId(code) for code in codes if ObjectId.is_valid(code) and len(code) == 24}
        for product in product_lookups.matching(
            self.db, _PRODUCT_FIELDS, ids=product_ids, barcodes=codes, certificate_numbers=codes
        ):
            self.products[product["_id"]] = product
            self.by_code[str(product["_id"])] = product
            if product.get("barcode"):
                self.by_code[product["barcode"]] = product
            for number in product.get("certificate_numbers") or []:
                self.by_code[number] = product
        usccs = {p.supplier_uscc for p in purchases if p.supplier_uscc}
        owners = {product["operator_id"] for product in self.products.values()}
        for operator in operators.matching(
            self.db, {"name": 1, "uscc": 1, "county_code": 1}, ids=owners, usccs=usccs
        ):
            self.operators[operator["_id"]] = operator
            if operator.get("uscc"):
                self.by_uscc[operator["uscc"]] = operator
        self._load_channel_orders([p for p in purchases if p.mode == HELPED and p.order_id])

    def _load_channel_orders(self, helped: list[PurchaseInput]) -> None:
        """Channel lines of the helped orders: the order id itself, or one of its items (``<id>-<item>``)."""
        by_county: dict[str, set[str]] = {}
        for purchase in helped:
            unit = self.unit_for(purchase)
            if unit is not None:
                by_county.setdefault(unit["county_code"], set()).add(purchase.order_id)
        for county, orders in sorted(by_county.items()):
            wanted = sorted(orders)
            # "-" sorts just before "."; a range per order finds its items on the ledger's key index.
            items = [{"external_id": {"$gte": f"{order}-", "$lt": f"{order}."}} for order in wanted]
            query = {
                "county_code": county,
                "channel": {"$in": _OTHER_CHANNELS},
                "$or": [{"external_id": {"$in": wanted}}, *items],
            }
            for line in self.db[storage.SALES].find(query, {"external_id": 1}):
                found = line["external_id"]
                for order in wanted:
                    if found == order or found.startswith(f"{order}-"):
                        self.channel_orders.add((county, order))

    def unit_for(self, purchase: PurchaseInput) -> dict[str, Any] | None:
        if purchase.unit_id is not None:
            return self.units.get(purchase.unit_id)
        return self.units_by_name.get(purchase.unit_name or "")

    def product_for(self, purchase: PurchaseInput) -> dict[str, Any] | None:
        if purchase.product_id is not None:
            return self.products.get(purchase.product_id)
        return self.by_code.get(purchase.product_code or "")


@dataclass
class Prepared:
    """A checked purchase: the record to store and, unless a channel already sold it, its ledger line."""

    purchase: PurchaseInput
    document: dict[str, Any]
    line: SaleLine | None
    scope_county: str


@dataclass
class FileState:
    """What earlier rows of the same upload said."""

    rows_by_key: dict[tuple[ObjectId, str], int] = field(default_factory=dict)


def unit_problem(actor: Principal, unit: Mapping[str, Any] | None, name: str | None = None) -> str | None:
    """Why the actor may not log for a unit (missing and another county's alike), or None."""
    if unit is not None and actor.sees_county(unit["county_code"]):
        return None
    if name:
        return Coded(
            "unit_purchase.unknown_unit", f"No buying unit of this county is named {name}.", name=name
        )
    return Coded("buying_unit.not_in_scope", "No buying unit of yours has this id.")


def prepare(
    purchase: PurchaseInput, lookups: Lookups, actor: Principal, *, source: dict[str, Any]
) -> tuple[Prepared | None, dict[str, str]]:
    """Check one purchase; the record and line, or the problems by field."""
    errors: dict[str, str] = {}
    unit = lookups.unit_for(purchase)
    problem = unit_problem(actor, unit, purchase.unit_name if purchase.unit_id is None else None)
    if problem:
        errors["unit_id" if purchase.unit_id is not None else "unit_name"] = problem
        return None, errors
    assert unit is not None
    purchase.unit_id = unit["_id"]
    _check_order(purchase, errors)
    check_date(purchase.date, errors)
    if purchase.quantity is not None and purchase.quantity <= 0:
        errors["quantity"] = Coded("unit_purchase.quantity_not_positive", "The quantity must be above zero.")
    if purchase.amount_fen is not None and purchase.amount_fen <= 0:
        errors["amount_fen"] = Coded("unit_purchase.amount_not_positive", "The amount must be above zero.")
    check_lengths(purchase, ("description", "quantity_unit"), errors)
    product, supplier = _product_and_supplier(purchase, unit, lookups, errors)
    pairing = _pairing(purchase, unit, lookups, errors)
    if errors or purchase.date is None:
        return None, errors
    assert pairing is not None and purchase.quantity is not None and purchase.amount_fen is not None

    county = unit["county_code"]
    double_counted = purchase.mode == HELPED and (county, purchase.order_id) in lookups.channel_orders
    key = external_id(unit["_id"], purchase.order_id)
    document = {
        "county_code": county,
        "unit_id": unit["_id"],
        "unit_name": unit["name"],
        "pairing_id": pairing["_id"],
        "mode": purchase.mode,
        "date": purchase.date.isoformat(),
        "month": purchase.date.strftime("%Y-%m"),
        "product_id": product["_id"] if product else None,
        "product_name": product["name"] if product else None,
        "operator_id": supplier["_id"] if supplier else None,
        "supplier_uscc": purchase.supplier_uscc or (supplier or {}).get("uscc"),
        "description": purchase.description,
        "quantity": purchase.quantity,
        "quantity_unit": purchase.quantity_unit or (product or {}).get("unit"),
        "weight_g": purchase.weight_g,
        "amount_fen": purchase.amount_fen,
        "evidence_no": purchase.evidence_no,
        "order_id": purchase.order_id,
        "external_id": None if double_counted else key,
        "double_counted": double_counted,
        "ledger_status": PENDING,
        "fingerprint": purchase.fingerprint(),
        "source": source,
        "created_by": actor.as_actor(),
        "created_at": utcnow(),
    }
    line = None
    if not double_counted:
        occurred_at = min(end_of_local_day(purchase.date) - timedelta(milliseconds=1), utcnow())
        line = SaleLine(
            channel=LEDGER_CHANNEL,
            external_id=key,
            occurred_at=occurred_at,
            quantity=purchase.quantity,
            amount_fen=purchase.amount_fen,
            title=purchase.description or (product["name"] if product else None),
            product_id=str(product["_id"]) if product else None,
            buyer_type="unit",
            buyer_unit_id=str(unit["_id"]),
            row=purchase.row,
        )
    return Prepared(purchase, document, line, county), {}


def _check_order(purchase: PurchaseInput, errors: dict[str, str]) -> None:
    order = purchase.order_id
    if not order:
        errors["order_id"] = Coded(
            "unit_purchase.order_required",
            "The order id (订单号: order, invoice or contract number) is required.",
        )
    elif not printable_reference(order):
        errors["order_id"] = Coded(
            "unit_purchase.bad_order",
            f"An order id has 1–{MAX_REFERENCE_LENGTH} printable characters.",
            most=MAX_REFERENCE_LENGTH,
        )
    evidence = purchase.evidence_no
    if evidence and not printable_reference(evidence):
        errors["evidence_no"] = Coded(
            "unit_purchase.bad_evidence",
            f"An evidence number has 1–{MAX_REFERENCE_LENGTH} printable characters.",
            most=MAX_REFERENCE_LENGTH,
        )


def _product_and_supplier(
    purchase: PurchaseInput, unit: Mapping[str, Any], lookups: Lookups, errors: dict[str, str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The catalogued product, or a supplier by USCC with a description; and the weight's sense."""
    field_name = purchase.product_field
    product = lookups.product_for(purchase)
    named = purchase.product_id is not None or purchase.product_code
    if named and product is None:
        errors[field_name] = Coded(
            "unit_purchase.unknown_product", "No product of the catalogue has this id or code."
        )
        return None, None
    supplier = None
    if purchase.supplier_uscc:
        supplier = lookups.by_uscc.get(purchase.supplier_uscc)
        if supplier is None and not uscc_number.is_valid(purchase.supplier_uscc):
            errors["supplier_uscc"] = Coded(
                "unit_purchase.bad_uscc",
                f"{purchase.supplier_uscc} is not a valid unified social credit code (统一社会信用代码).",
                uscc=purchase.supplier_uscc,
            )
    if product is None:
        if not purchase.supplier_uscc:
            errors[field_name] = Coded(
                "unit_purchase.product_or_supplier",
                "Name a catalogued product, or the supplier's unified social credit code with a description.",
            )
        elif not purchase.description:
            errors["description"] = Coded(
                "unit_purchase.description_required", "Describe a product that is not in the catalogue."
            )
        return None, supplier
    owner = lookups.operators.get(product["operator_id"])
    if purchase.supplier_uscc and (owner or {}).get("uscc") != purchase.supplier_uscc:
        errors["supplier_uscc"] = Coded(
            "unit_purchase.other_supplier",
            f"The product {product['name']} is sold by another supplier.",
            product=product["name"],
        )
    if product["county_code"] != unit["county_code"]:
        errors[field_name] = Coded(
            "unit_purchase.product_other_county",
            f"The product is of county {product['county_code']}, not {unit['county_code']}.",
            product_county=product["county_code"],
            county_code=unit["county_code"],
        )
    _check_weight(purchase, product, errors)
    return product, owner


def _check_weight(purchase: PurchaseInput, product: Mapping[str, Any], errors: dict[str, str]) -> None:
    """A kilogram figure must agree with quantity × the product's unit weight, when its unit is one."""
    per_unit = unit_weight_g(product.get("unit"))
    if purchase.weight_g is None or per_unit is None or purchase.quantity is None or purchase.quantity <= 0:
        return
    expected = purchase.quantity * per_unit
    if abs(purchase.weight_g - expected) * 10000 > max(expected * WEIGHT_TOLERANCE_BP, 10000):
        expected_kg = f"{expected / 1000:g}"
        errors["kg"] = Coded(
            "unit_purchase.weight_mismatch",
            f"{purchase.quantity} × {product['unit']} weighs {expected_kg} kg, not the figure given.",
            quantity=purchase.quantity,
            unit=product["unit"],
            expected_kg=expected_kg,
        )


def _pairing(
    purchase: PurchaseInput, unit: Mapping[str, Any], lookups: Lookups, errors: dict[str, str]
) -> dict[str, Any] | None:
    """The pairing the purchase counts under: the one named, or the unit's only one in force that day."""
    own = lookups.pairings.get(unit["_id"], [])
    named = purchase.pairing_id
    if (
        named is None
        and purchase.pairing
        and ObjectId.is_valid(purchase.pairing)
        and len(purchase.pairing) == 24
    ):
        named = ObjectId(purchase.pairing)
    field_name = "pairing_id" if purchase.row is None else "pairing"
    if named is not None:
        candidates = [pairing for pairing in own if pairing["_id"] == named]
        if not candidates:
            errors[field_name] = Coded(
                "unit_purchase.unknown_pairing", "The unit has no pairing with this id."
            )
            return None
    else:
        kinds = {label: kind for kind, label in pairings.KINDS.items()}
        kind = kinds.get(purchase.pairing or "", purchase.pairing)
        if kind and kind not in pairings.KINDS:
            errors[field_name] = Coded(
                "unit_purchase.bad_pairing_kind",
                f"{purchase.pairing!r}: write one of {'、'.join(pairings.KINDS.values())}, or a pairing id.",
                value=purchase.pairing,
                choices="、".join(pairings.KINDS.values()),
            )
            return None
        candidates = [pairing for pairing in own if kind is None or pairing["kind"] == kind]
    if purchase.date is None:
        return None
    in_force = [pairing for pairing in candidates if pairings.in_force_on(pairing, purchase.date)]
    if len(in_force) == 1:
        return in_force[0]
    day = purchase.date.isoformat()
    if not in_force:
        errors[field_name] = Coded(
            "unit_purchase.pairing_not_in_force",
            f"No pairing of the unit {'named ' if named else ''}is in force on {day}.",
            date=day,
        )
    else:
        errors[field_name] = Coded(
            "unit_purchase.pairing_ambiguous",
            f"{len(in_force)} pairings of the unit are in force on {day}; name one.",
            count=len(in_force),
            date=day,
        )
    return None
