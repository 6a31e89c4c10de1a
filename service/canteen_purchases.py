"""Canteen purchases (食堂采购): logged one by one or by monthly upload, and handed to the sales ledger.

Each purchase is kept twice, on purpose:

- the canteen's own record in ``canteen_purchases``, unique per (canteen_id, invoice_no), and
- a ledger ``SaleLine`` (channel ``canteen``, or ``p832`` when bought on the 832 platform), found
  again by the canteen's quota through its buyer unit (``service.canteen_purchase_checks`` says
  how a purchase becomes its line).

This module logs one purchase and lists them; a purchase is read by ``canteen_purchase_inputs``,
checked by ``canteen_purchase_checks``, and a monthly file is imported by ``canteen_purchase_upload``.

The write order that never counts a purchase twice (claim, ledger, recorded) is
``service.purchase_ledger``'s.

Records are never edited: a return is a new record with a negative quantity and amount that
names the invoice it reverses (``refund_of_invoice_no``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import (
    access,
    audit,
    canteen_quota,
    canteens,
    operators,
    product_lookups,
    purchase_ledger,
    storage,
)
from service.access import CANTEEN, Principal
from service.canteen_purchase_checks import FileState, Lookups, Prepared, canteen_for, prepare
from service.canteen_purchase_inputs import from_api
from service.errors import Coded, Conflict, Forbidden, ValidationFailed, invalid_fields
from service.purchase_ledger import resumable

ALREADY_LOGGED = Coded("canteen_purchase.invoice_used", "Already logged for this canteen.")
# Ledger error fields, as this module's fields.
_LEDGER_FIELDS = {"occurred_at": "date", "external_id": "invoice_no"}


# Presenting -----------------------------------------------------------------------------------------

# Why a purchase does not count, in the API's words (the pages show canteen_quota.REASONS).
_NOT_COUNTED_MESSAGES = {
    canteen_quota.NOT_VIA_832: (
        f"From {canteen_quota.P832_ONLY_FROM} only purchases through the 832 platform count toward the "
        "reserved share (预留份额): the purchase is kept, but does not count."
    ),
    canteen_quota.NOT_IN_CATALOGUE: (
        "The product is not in the catalogue: the purchase is kept, but does not count toward the "
        "reserved share (预留份额) unless bought on the 832 platform."
    ),
    canteen_quota.NOT_CERTIFIED: (
        "The product was not a certified poverty-alleviation product on the purchase date: the purchase "
        "is kept, but does not count toward the reserved share."
    ),
}


def present(record: Mapping[str, Any], line: Mapping[str, Any] | None) -> dict[str, Any]:
    """A record with its ledger line's verdict as the line is now (after rematches, certifications)."""
    shown = {**record}
    shown.pop("counted_for_quota", None)
    if line is None:
        # A claim whose line is not yet in the ledger counts nothing.
        return {**shown, "counted_for_quota": False, "quota_reason": None, "message": None}
    counts, reason = canteen_quota.line_qualification(line)
    return {
        **shown,
        "matched": bool(line.get("matched")),
        "certified": bool(line.get("certified")),
        "product_id": line.get("product_id") or record.get("product_id"),
        "counted_for_quota": counts,
        "quota_reason": reason,
        "message": None if counts else _NOT_COUNTED_MESSAGES.get(reason),
    }


def present_all(db: Database, records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records with the verdicts of their ledger lines, read in one query."""
    if not records:
        return []
    lines = {
        (line["buyer"]["unit_id"], line["external_id"]): line
        for line in db[storage.SALES].find(
            {
                "buyer.unit_id": {"$in": sorted({record["canteen_id"] for record in records})},
                "external_id": {"$in": sorted(record["external_id"] for record in records)},
            }
        )
    }
    return [present(record, lines.get((record["canteen_id"], record["external_id"]))) for record in records]


# Writing ----------------------------------------------------------------------------------------------


def conflict_message(existing: Mapping[str, Any], advice: str = "") -> Coded:
    return Coded(
        "canteen_purchase.duplicate_invoice",
        f"Invoice {existing['invoice_no']} is already logged for this canteen "
        f"(dated {existing['date']}, {existing['amount_fen']} fen).{advice}",
        invoice_no=existing["invoice_no"],
        date=existing["date"],
        amount_fen=existing["amount_fen"],
    )


def ledger_problem(item: Prepared, error: Mapping[str, Any]) -> tuple[str, Coded]:
    # A file names its product in 产品编号 whatever it holds; a call, in the field it used.
    product_field = "product_code" if item.purchase.row is not None else item.purchase.product_field
    return purchase_ledger.ledger_problem(error, _LEDGER_FIELDS, "invoice_no", product_field)


def log_purchase(
    db: Database, actor: Principal, data: Mapping[str, Any], *, rebuild: bool = True
) -> dict[str, Any]:
    """Log one purchase (or return) of a canteen and hand it to the ledger; 409 on a known invoice.

    Each call rebuilds the touched county-month of the ledger, so the quota shows it at once.
    A caller logging many purchases in a row (the demo loader) passes ``rebuild=False`` and
    then calls ``ledger_rebuilds.rebuild(db)`` once, or works inside ``ledger_rebuilds.deferred_rebuilds``.
    """
    canteen = canteen_for(db, actor, data.get("canteen_id"))
    purchase = from_api(data)
    lookups = Lookups(db, canteen)
    lookups.load([purchase])
    existing = lookups.purchases.get(purchase.invoice_no)
    resuming = existing is not None and resumable(existing, purchase)
    if existing is not None and not resuming:
        raise Conflict(conflict_message(existing), details={"invoice_no": [ALREADY_LOGGED]})
    item, errors = prepare(purchase, canteen, lookups, actor, FileState(), source={"kind": "api"})
    if item is None:
        raise invalid_fields(errors)
    taken = Conflict(
        Coded(
            "canteen_purchase.invoice_logged",
            f"Invoice {purchase.invoice_no} is already logged for this canteen.",
            invoice_no=purchase.invoice_no,
        ),
        details={"invoice_no": [ALREADY_LOGGED]},
    )
    record = purchase_ledger.log_one(
        db,
        db[storage.CANTEEN_PURCHASES],
        item,
        existing if resuming else None,
        taken=taken,
        problem=ledger_problem,
        rebuild=rebuild,
    )
    audit.record(
        db,
        actor,
        "canteen_purchase.create",
        entity_kind="canteen_purchase",
        entity_id=record["_id"],
        county_code=canteen["county_code"],
        after=record,
    )
    return present_all(db, [record])[0]


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
                Coded("canteen_purchase.other_canteen", "You may see only your own canteen's purchases."),
                details={"canteen_id": [Coded("field.not_yours", "Not yours.")]},
            )
        if county_code is not None:
            raise Forbidden(
                Coded("canteen_purchase.canteen_by_county", "Canteen accounts cannot list by county."),
                details={"county_code": [Coded("field.staff_only", "Staff only.")]},
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
            raise ValidationFailed(
                Coded("period.month_needs_year", "A month needs its year."),
                details={"year": [Coded("field.required", "Required with month.")]},
            )
        conditions.append({"month": f"{year:04d}-{month:02d}"})
    elif year is not None:
        conditions.append({"year": year})
    query = {"$and": conditions} if conditions else {}
    collection = db[storage.CANTEEN_PURCHASES]
    total = collection.count_documents(query)
    cursor = (
        collection.find(query).sort([("date", -1), ("_id", -1)]).skip((page - 1) * per_page).limit(per_page)
    )
    return present_all(db, list(cursor)), total


def purchase_lines(
    db: Database,
    actor: Principal,
    canteen_id: ObjectId,
    year: int,
    *,
    month: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Every ledger line the canteen bought in a year, newest first, each with its verdict and source.

    The lines the quota adds up, whoever brought them in: the canteen's own purchases (本单位登记)
    and the 832 platform's orders imported for it (832平台导入); the sum of all pages equals the
    quota's figures to the fen.
    """
    canteen = canteens.visible_canteen(db, actor, canteen_id)
    query = canteen_quota.lines_query([canteen["_id"]], year, month)
    sales = db[storage.SALES]
    total = sales.count_documents(query)
    lines = list(
        sales.find(query).sort([("occurred_at", -1), ("_id", -1)]).skip((page - 1) * per_page).limit(per_page)
    )
    return _lines_shown(db, canteen, lines), total


def _lines_shown(
    db: Database, canteen: Mapping[str, Any], lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    prefix = f"{canteen_quota.LOGGED_PREFIX}{canteen['_id']}:"
    invoices = [
        line["external_id"].removeprefix(prefix) for line in lines if line["external_id"].startswith(prefix)
    ]
    records = {
        record["invoice_no"]: record
        for record in db[storage.CANTEEN_PURCHASES].find(
            {"canteen_id": canteen["_id"], "invoice_no": {"$in": sorted(invoices)}}
        )
    }
    product_names = product_lookups.names_by_id(db, (line["product_id"] for line in lines))
    operator_names = operators.names_by_id(db, (line["operator_id"] for line in lines))
    shown = []
    for line in lines:
        counts, reason = canteen_quota.line_qualification(line)
        source = canteen_quota.source_of(line, canteen["_id"])
        record = (
            records.get(line["external_id"].removeprefix(prefix)) if source == canteen_quota.LOGGED else None
        )
        record = record or {}
        shown.append(
            {
                "_id": line["_id"],
                "canteen_id": canteen["_id"],
                "date": line["day"],
                "month": line["month"],
                "source": source,
                "channel": line["channel"],
                "external_id": line["external_id"],
                "invoice_no": record.get("invoice_no"),
                "refund_of_invoice_no": record.get("refund_of_invoice_no"),
                "is_return": line.get("refund_of") is not None,
                "product_id": line.get("product_id"),
                "product_name": product_names.get(line.get("product_id"))
                or record.get("product_name")
                or line["raw"].get("title"),
                "product_code": record.get("product_code") or line["raw"].get("sku"),
                "operator_id": line.get("operator_id"),
                "operator_name": operator_names.get(line.get("operator_id")) or record.get("operator_name"),
                "operator_uscc": record.get("operator_uscc"),
                "quantity": line["quantity"],
                "unit": record.get("unit"),
                "amount_fen": line["amount_fen"],
                "matched": bool(line.get("matched")),
                "certified": bool(line.get("certified")),
                "counted_for_quota": counts,
                "quota_reason": reason,
                "sale_county_code": line["county_code"],
            }
        )
    return shown
