"""Unit purchases (单位采购): a buying unit's purchases and helped sales, logged one by one or imported,
and handed to the sales ledger.

Each purchase is kept twice, as canteen purchases are: the unit's own record in ``unit_purchases``,
unique per (unit_id, order_id), and a ledger ``SaleLine`` of channel ``unit_purchase`` — except a helped
sale a channel already brought into the ledger, which is recorded and flagged ``double_counted``
(``service.unit_purchase_checks`` says how a purchase becomes its line).

Write order, so that nothing is ever counted twice: the record first claims the order id
(``ledger_status: pending``; the unique index refuses a second claim), then the line is ingested,
then the record is marked ``recorded``. A line the ledger rejects has its claim removed. A crash in
between leaves a pending claim; the same details submitted again (after ``PENDING_GRACE``) complete
it, and the ledger's de-duplication on external_id makes that retry idempotent. Records are never
edited. A file is imported by ``service.unit_purchase_upload``.
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
from service import access, audit, buying_units, ledger, ledger_rebuilds, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Coded, Conflict, Forbidden, NotFound, ValidationFailed, validation_summary
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope
from service.unit_purchase_checks import PENDING, RECORDED, Lookups, Prepared, prepare
from service.unit_purchase_inputs import PurchaseInput, from_api

# A pending claim younger than this may still be in flight; an older one is a crash to complete.
PENDING_GRACE = timedelta(minutes=2)
ALREADY_LOGGED = Coded("unit_purchase.order_used", "Already logged for this unit.")
# Ledger error fields, as this module's fields.
_LEDGER_FIELDS = {"occurred_at": "date", "external_id": "order_id", "sku": "product_id"}


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


def order_logged(existing: Mapping[str, Any]) -> Coded:
    return Coded(
        "unit_purchase.duplicate_order",
        f"Order {existing['order_id']} is already logged for this unit "
        f"(dated {existing['date']}, {existing['amount_fen']} fen).",
        order_id=existing["order_id"],
        date=existing["date"],
        amount_fen=existing["amount_fen"],
    )


# Handing over to the ledger ---------------------------------------------------------------------------


def ingest_items(
    db: Database, items: list[Prepared], *, dry_run: bool
) -> tuple[dict[int, dict[str, Any]], set]:
    """Hand the items' lines to the ledger, county by county; the rejections by item index, and the
    partitions written. Items without a line (double-counted helped sales) are passed over."""
    by_county: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        if item.line is not None:
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


def _with_row(line: SaleLine | None, row: int) -> SaleLine:
    assert line is not None
    return SaleLine(**{**{name: getattr(line, name) for name in SaleLine.__slots__}, "row": row})


def ledger_problem(item: Prepared, error: Mapping[str, Any]) -> tuple[str, str]:
    name = _LEDGER_FIELDS.get(error.get("field") or "", error.get("field") or "order_id")
    if name == "product_id":
        name = item.purchase.product_field
    code = error.get("code") or "row.invalid"
    return name, Coded(
        code, f"The sales ledger refused the line: {error['message']}", **(error.get("params") or {})
    )


def mark_recorded(db: Database, ids: list[ObjectId]) -> datetime:
    recorded_at = utcnow()
    if ids:
        db[storage.UNIT_PURCHASES].update_many(
            {"_id": {"$in": ids}}, {"$set": {"ledger_status": RECORDED, "recorded_at": recorded_at}}
        )
    return recorded_at


def drop_claims(db: Database, ids: list[ObjectId]) -> None:
    """Undo the claims of purchases the ledger refused (only while still pending)."""
    if ids:
        db[storage.UNIT_PURCHASES].delete_many({"_id": {"$in": ids}, "ledger_status": PENDING})


# Logging one ------------------------------------------------------------------------------------------


def unit_for_log(db: Database, actor: Principal, unit_id: ObjectId) -> dict[str, Any]:
    """The unit a purchase is logged for; a refusal names the field (missing and not yours alike)."""
    try:
        return buying_units.visible_unit(db, actor, unit_id)
    except (Forbidden, NotFound) as error:
        error.details = {"unit_id": [buying_units.UNIT_NOT_IN_SCOPE]}
        raise


def log_purchase(
    db: Database, actor: Principal, data: Mapping[str, Any], *, rebuild: bool = True
) -> dict[str, Any]:
    """Log one purchase or helped sale of a unit and hand it to the ledger; 409 on a known order id."""
    unit = unit_for_log(db, actor, data["unit_id"])
    purchase = from_api(data)
    lookups = Lookups(db, actor, unit["county_code"])
    lookups.load([purchase])
    item, errors = prepare(purchase, lookups, actor, source={"kind": "api"})
    collection = db[storage.UNIT_PURCHASES]
    existing = collection.find_one({"unit_id": unit["_id"], "order_id": purchase.order_id})
    resuming = existing is not None and resumable(existing, purchase)
    if existing is not None and not resuming:
        raise Conflict(order_logged(existing), details={"order_id": [ALREADY_LOGGED]})
    if item is None:
        details = {name: [message] for name, message in errors.items()}
        raise ValidationFailed(validation_summary(details), details=details)
    if resuming:
        item.document = {**existing}
    else:
        try:
            item.document["_id"] = collection.insert_one(item.document).inserted_id
        except DuplicateKeyError:
            raise Conflict(
                Coded(
                    "unit_purchase.order_logged",
                    f"Order {purchase.order_id} is already logged for this unit.",
                    order_id=purchase.order_id,
                ),
                details={"order_id": [ALREADY_LOGGED]},
            ) from None
    # If the ledger raises, the claim stays pending: the same submission completes it later.
    rejected, partitions = ingest_items(db, [item], dry_run=False)
    if rejected:
        drop_claims(db, [item.document["_id"]])
        name, message = ledger_problem(item, rejected[0])
        raise ValidationFailed(message, details={name: [message]})
    recorded_at = mark_recorded(db, [item.document["_id"]])
    if rebuild:
        ledger_rebuilds.rebuild_partitions(db, partitions)
    record = {**item.document, "ledger_status": RECORDED, "recorded_at": recorded_at}
    audit.record(
        db,
        actor,
        "unit_purchase.create",
        entity_kind="unit_purchase",
        entity_id=record["_id"],
        county_code=record["county_code"],
        after=record,
    )
    return record


# Reading ----------------------------------------------------------------------------------------------


def list_purchases(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    unit_id: ObjectId | None = None,
    pairing_id: ObjectId | None = None,
    mode: str | None = None,
    from_date: Any = None,
    to_date: Any = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Purchases of the staff member's counties, newest first."""
    conditions = access.staff_conditions(actor, county_code)
    conditions.append({"ledger_status": RECORDED})
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if unit_id is not None:
        buying_units.visible_unit(db, actor, unit_id)
        conditions.append({"unit_id": unit_id})
    if pairing_id is not None:
        conditions.append({"pairing_id": pairing_id})
    if mode is not None:
        conditions.append({"mode": mode})
    if from_date is not None:
        conditions.append({"date": {"$gte": from_date.isoformat()}})
    if to_date is not None:
        conditions.append({"date": {"$lte": to_date.isoformat()}})
    query = {"$and": conditions}
    return storage.page_of(db[storage.UNIT_PURCHASES], query, [("date", -1), ("_id", -1)], page, per_page)
