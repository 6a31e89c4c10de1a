"""Handing logged purchases to the sales ledger: canteen purchases (食堂采购) and unit purchases (单位采购).

Each purchase is kept twice, on purpose: its buyer's own record (unique per buyer and reference:
an invoice number, an order id) and a ledger ``SaleLine``. Write order, so that nothing is ever
counted twice: the record first claims its reference (``ledger_status: pending``; the unique index
refuses a second claim, so a duplicate never reaches the ledger), then the line is ingested, then the
record is marked ``recorded``. A line the ledger rejects has its claim removed. A crash between the
two steps leaves a pending claim; the same details submitted again (after ``PENDING_GRACE``) complete
it, and the ledger's own de-duplication on external_id makes that retry idempotent.

A logged purchase here is any checked item with ``purchase`` (its ``fingerprint()``), ``document``
(the record), ``line`` (the SaleLine, or None when the purchase is kept but not handed over) and
``scope_county`` (the ledger it goes to).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.base import SaleLine
from service import ledger, ledger_rebuilds, registers
from service.clock import utcnow
from service.errors import Coded, Conflict, ValidationFailed
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope

PENDING, RECORDED = "pending", "recorded"
# A pending claim younger than this may still be in flight; an older one is a crash to complete.
PENDING_GRACE = timedelta(minutes=2)
# Why the ledger refused an item's line: the field it names and the message.
Problem = Callable[[Any, Mapping[str, Any]], tuple[str, Coded]]


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware returns naive UTC datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def resumable(existing: Mapping[str, Any], purchase: Any) -> bool:
    """A pending claim left by a crash, for the very same purchase, may be completed."""
    return (
        existing.get("ledger_status") == PENDING
        and existing.get("fingerprint") == purchase.fingerprint()
        and utcnow() - _aware(existing["created_at"]) >= PENDING_GRACE
    )


def ledger_problem(
    error: Mapping[str, Any], fields: Mapping[str, str], default: str, product_field: str
) -> tuple[str, Coded]:
    """The field (in the purchase's words) and message of a line the ledger refused."""
    name = fields.get(error.get("field") or "", error.get("field") or default)
    if name == "sku":
        name = product_field
    # The ledger's own code says why, so the page gives its reason.
    code = error.get("code") or "row.invalid"
    return name, Coded(
        code, f"The sales ledger refused the line: {error['message']}", **(error.get("params") or {})
    )


def ingest_items(
    db: Database, items: Sequence[Any], *, dry_run: bool
) -> tuple[dict[int, dict[str, Any]], set]:
    """Hand the items' lines to the ledger, county by county; the rejections by item index, and the
    partitions written. Items without a line are passed over."""
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


def _with_row(line: SaleLine, row: int) -> SaleLine:
    return SaleLine(**{**{name: getattr(line, name) for name in SaleLine.__slots__}, "row": row})


def settle(collection: Collection, refused: list[ObjectId], accepted: list[dict[str, Any]]) -> datetime:
    """Remove the claims of lines the ledger refused (only while pending); mark the others recorded."""
    if refused:
        collection.delete_many({"_id": {"$in": refused}, "ledger_status": PENDING})
    recorded = {"ledger_status": RECORDED, "recorded_at": utcnow()}
    if accepted:
        collection.update_many(
            {"_id": {"$in": [document["_id"] for document in accepted]}}, {"$set": recorded}
        )
        for document in accepted:
            document.update(recorded)
    return recorded["recorded_at"]


def log_one(
    db: Database,
    collection: Collection,
    item: Any,
    existing: Mapping[str, Any] | None,
    *,
    taken: Conflict,
    problem: Problem,
    rebuild: bool,
) -> dict[str, Any]:
    """Claim one checked purchase (or resume its pending claim), hand it to the ledger, mark it recorded.

    ``taken`` is raised when another writer claimed the same reference meanwhile; with ``rebuild``
    the touched county-months of the ledger are rebuilt at once.
    """
    if existing is not None:
        item.document = {**existing}
    else:
        try:
            item.document["_id"] = collection.insert_one(item.document).inserted_id
        except DuplicateKeyError:
            raise taken from None
    # If the ledger raises, the claim stays pending: the same submission completes it later.
    rejected, partitions = ingest_items(db, [item], dry_run=False)
    if rejected:
        settle(collection, [item.document["_id"]], [])
        name, message = problem(item, rejected[0])
        raise ValidationFailed(message, details={name: [message]})
    settle(collection, [], [item.document])
    if rebuild:
        ledger_rebuilds.rebuild_partitions(db, partitions)
    return item.document


def hand_written(
    db: Database,
    collection: Collection,
    prepared: Mapping[int, Any],
    written: list[registers.Write],
    *,
    dry_run: bool,
    problem: Problem,
) -> tuple[list[Any], dict[int, dict[str, Coded]], set]:
    """Hand the rows an import claimed to the ledger: the items kept, the refusals by file row (their
    claims removed), and the partitions to rebuild."""
    items = []
    for write in written:
        item = prepared[write.row]
        item.document = write.document
        items.append(item)
    rejected, partitions = ingest_items(db, items, dry_run=dry_run)
    kept = [item for index, item in enumerate(items) if index not in rejected]
    if not dry_run:
        settle(
            collection, [items[index].document["_id"] for index in rejected], [item.document for item in kept]
        )
    refused = {written[index].row: dict([problem(items[index], error)]) for index, error in rejected.items()}
    return kept, refused, partitions
