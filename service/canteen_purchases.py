"""Canteen purchases (食堂采购): logged one by one or by monthly upload, and handed to the sales ledger.

Each purchase is kept twice, on purpose:

- the canteen's own record in ``canteen_purchases``, unique per (canteen_id, invoice_no), and
- a ledger ``SaleLine`` (channel ``canteen``, or ``p832`` when bought on the 832 platform), found
  again by the canteen's quota through its buyer unit (``service.canteen_purchase_checks`` says
  how a purchase becomes its line).

This module logs one purchase and lists them; a purchase is read by ``canteen_purchase_inputs``,
checked by ``canteen_purchase_checks``, and a monthly file is imported by ``canteen_purchase_upload``.

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

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.base import SaleLine
from service import access, audit, canteens, ledger, storage
from service.access import CANTEEN, Principal
from service.canteen_purchase_checks import (
    P832_CHANNEL,
    PENDING,
    RECORDED,
    FileState,
    Lookups,
    Prepared,
    canteen_for,
    prepare,
)
from service.canteen_purchase_inputs import PurchaseInput, from_api
from service.clock import utcnow
from service.errors import Conflict, Forbidden, ValidationFailed, validation_summary
from service.ledger import IngestResult, IngestScope

# A pending claim younger than this may still be in flight; an older one is a crash to complete.
PENDING_GRACE = timedelta(minutes=2)
# Ledger error fields, as this module's fields.
_LEDGER_FIELDS = {"occurred_at": "date", "external_id": "invoice_no", "sku": "product_code"}


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


def conflict_message(existing: Mapping[str, Any]) -> str:
    return (
        f"Invoice {existing['invoice_no']} is already logged for this canteen "
        f"(dated {existing['date']}, {existing['amount_fen']} fen)."
    )


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware returns naive UTC datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def resumable(existing: Mapping[str, Any], purchase: PurchaseInput) -> bool:
    """A pending claim left by a crash, for the very same purchase, may be completed."""
    return (
        existing.get("ledger_status") == PENDING
        and existing.get("fingerprint") == purchase.fingerprint()
        and utcnow() - _aware(existing["created_at"]) >= PENDING_GRACE
    )


def ingest_items(
    db: Database, items: list[Prepared], *, dry_run: bool
) -> tuple[dict[int, dict[str, Any]], set]:
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


def ledger_problem(item: Prepared, error: Mapping[str, Any]) -> tuple[str, str]:
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
    resuming = existing is not None and resumable(existing, purchase)
    if existing is not None and not resuming:
        raise Conflict(
            conflict_message(existing), details={"invoice_no": ["Already logged for this canteen."]}
        )
    item, errors = prepare(purchase, canteen, lookups, actor, FileState(), source={"kind": "api"})
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
    rejected, partitions = ingest_items(db, [item], dry_run=False)
    if rejected:
        collection.delete_one({"_id": item.document["_id"], "ledger_status": PENDING})
        name, message = ledger_problem(item, rejected[0])
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
