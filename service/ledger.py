"""The sales ledger: one ingest path for every source, and the derived figures kept from it.

Every source — file adapters, the open-platform pull, counter pushes, canteen
purchases — hands canonical ``SaleLine`` values to :func:`ingest`, which
matches them to products, validates them, de-duplicates them on
(county_code, channel, external_id) and writes them in batches. Derived
collections (daily sales rollups, operator pools, household income) are kept
per county-month partition. An ingest marks the operator-months it touches
(those of each line written and of the version it replaced) dirty on the
partition's marker *before* its sales are written, so a crash in between leaves
them dirty and the next ingest or ``flask --app service ledger rebuild`` repairs
them, and again *after*, so a rebuild that summed the ledger before the write
cannot clean them; then only those operator-months are recomputed. Corrections
(rates, certification, benefit links, SKU mappings) mark the whole partition.
All of it runs holding the partition's lease (see :func:`rebuild_partition`), so
work on one partition never interleaves, in one process or across several.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from adapters.base import BUYER_TYPES, CHANNELS, RowError, SaleLine, Skipped
from adapters.quoting import row_message
from service import attribution, certification, ledger_rollups, partitions, sale_versions, storage
from service.access import ENTERPRISE, Principal
from service.clock import local_date, local_month, utcnow

BATCH_SIZE = 5000
DUPLICATE_KEY = 11000
MAX_KEPT_ERRORS = 1000
# Sources' clocks drift; a line a few minutes "in the future" is not an error.
FUTURE_TOLERANCE = timedelta(minutes=10)


# Set inside deferred_rebuilds(): ingests leave their partitions dirty for one rebuild at the end.
_deferring: contextvars.ContextVar[bool] = contextvars.ContextVar("deferring_rebuilds", default=False)


@contextlib.contextmanager
def deferred_rebuilds(db: Database) -> Iterator[None]:
    """Many ingests (a bulk load), one rebuild per touched county-month at the end."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)
    rebuild(db)


@dataclass
class IngestResult:
    """What one ingest did, line by line counted."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    unmatched: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    partitions: set[tuple[str, str]] = field(default_factory=set)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        self.add_error(error)

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append({**error.as_dict(), "message": row_message(error.message)})

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "unmatched": self.unmatched,
            "errors": self.error_count,
        }


@dataclass(frozen=True)
class IngestScope:
    """Where an ingest writes: one county, and for an enterprise, only its own operator's products."""

    county_code: str
    operator_id: ObjectId | None = None

    @classmethod
    def for_actor(cls, actor: Principal, county_code: str) -> IngestScope:
        return cls(county_code, actor.operator_id if actor.role == ENTERPRISE else None)


# Validation ---------------------------------------------------------------------------------------


def validate_line(line: SaleLine, now: datetime) -> RowError | None:
    """Checks that need no database: the shape and sense of one canonical line."""

    def error(field_name: str, message: str) -> RowError:
        return RowError(line.row, field_name, message)

    if line.channel not in CHANNELS:
        return error("channel", f"Unknown channel {line.channel!r}.")
    if not line.external_id or len(line.external_id) > 200:
        return error("external_id", "An order or event id of 1–200 characters is required.")
    if line.occurred_at.tzinfo is None:
        return error("occurred_at", "The time has no time zone.")
    if line.occurred_at > now + FUTURE_TOLERANCE:
        return error("occurred_at", "The date is in the future.")
    if type(line.quantity) is not int or type(line.amount_fen) is not int:
        return error("amount_fen", "Quantity and amount must be whole numbers (amounts in fen).")
    is_refund = line.refund_of is not None
    if (line.quantity < 0 or line.amount_fen < 0) and not is_refund:
        return error("quantity", "A negative quantity or amount is only allowed for a refund.")
    if is_refund and (line.quantity > 0 or line.amount_fen > 0):
        return error("amount_fen", "A refund carries a negative (or zero) quantity and amount.")
    if line.unit_price_fen is not None and line.unit_price_fen < 0:
        return error("unit_price_fen", "The unit price cannot be negative.")
    if line.buyer_type not in BUYER_TYPES:
        return error("buyer_type", f"Unknown buyer type {line.buyer_type!r}.")
    if line.product_id is not None and not ObjectId.is_valid(line.product_id):
        return error("product_id", "Not a valid product id.")
    if line.buyer_unit_id is not None and not ObjectId.is_valid(line.buyer_unit_id):
        return error("buyer_unit_id", "Not a valid unit id.")
    return None


def fingerprint(line: SaleLine) -> str:
    """A digest of what the source said about a line; equal digests mean nothing changed."""
    parts = (
        line.occurred_at.isoformat(timespec="milliseconds"),
        line.quantity,
        line.amount_fen,
        line.unit_price_fen,
        line.sku,
        line.barcode,
        line.title,
        line.product_id,
        line.refund_of,
        line.buyer_type,
        line.buyer_unit_id,
        line.buyer_name,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


# Matching -----------------------------------------------------------------------------------------


class Catalogue:
    """Products by id, channel SKU and barcode, loaded batch by batch with one query each."""

    _FIELDS = {
        "operator_id": 1,
        "county_code": 1,
        "channel_sku_keys": 1,
        "barcode": 1,
        "certificates": 1,
        "benefit_rate_history": 1,
        "name": 1,
    }

    def __init__(self, db: Database):
        self.db = db
        self.by_id: dict[ObjectId, dict[str, Any]] = {}
        self.by_sku: dict[str, dict[str, Any]] = {}
        self.by_barcode: dict[str, dict[str, Any]] = {}
        self._asked: set[str] = set()

    def _remember(self, product: dict[str, Any]) -> None:
        self.by_id[product["_id"]] = product
        for key in product.get("channel_sku_keys") or []:
            self.by_sku[key] = product
        if product.get("barcode"):
            self.by_barcode[product["barcode"]] = product

    def load(self, lines: Iterable[SaleLine]) -> None:
        ids, skus, barcodes = set(), set(), set()
        for line in lines:
            if line.product_id and f"id:{line.product_id}" not in self._asked:
                ids.add(ObjectId(line.product_id))
            if line.sku and f"{line.channel}:{line.sku}" not in self._asked:
                skus.add(f"{line.channel}:{line.sku}")
            if line.barcode and f"bar:{line.barcode}" not in self._asked:
                barcodes.add(line.barcode)
        if not (ids or skus or barcodes):
            return
        self._asked.update({f"id:{i}" for i in ids} | skus | {f"bar:{b}" for b in barcodes})
        query = {
            "$or": [
                {"_id": {"$in": sorted(ids)}},
                {"channel_sku_keys": {"$in": sorted(skus)}},
                {"barcode": {"$in": sorted(barcodes)}},
            ]
        }
        for product in self.db[storage.PRODUCTS].find(query, self._FIELDS):
            self._remember(product)

    def match(self, line: SaleLine) -> dict[str, Any] | None:
        """The channel's SKU mapping first, then the barcode."""
        if line.product_id:
            return self.by_id.get(ObjectId(line.product_id))
        if line.sku and (product := self.by_sku.get(f"{line.channel}:{line.sku}")):
            return product
        if line.barcode:
            return self.by_barcode.get(line.barcode)
        return None


def attribute(product: dict[str, Any] | None, occurred_at: datetime, amount_fen: int) -> dict[str, Any]:
    """The line's catalogue-derived fields: what held at the time of the sale."""
    if product is None:
        return {
            "product_id": None,
            "operator_id": None,
            "matched": False,
            "certified": False,
            "benefit_rate_bp": 0,
            "poor_income_fen": 0,
        }
    certified = certification.certified_at(product, occurred_at)
    rate = certification.rate_at(product, occurred_at)
    return {
        "product_id": product["_id"],
        "operator_id": product["operator_id"],
        "matched": True,
        "certified": certified,
        "benefit_rate_bp": rate,
        "poor_income_fen": attribution.poor_income_fen(amount_fen, rate, certified),
    }


def line_document(line: SaleLine, scope: IngestScope, product: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "county_code": scope.county_code,
        "channel": line.channel,
        "external_id": line.external_id,
        "occurred_at": line.occurred_at,
        "day": local_date(line.occurred_at).isoformat(),
        "month": local_month(line.occurred_at),
        "quantity": line.quantity,
        "unit_price_fen": line.unit_price_fen,
        "amount_fen": line.amount_fen,
        "refund_of": line.refund_of,
        "buyer": {
            "type": line.buyer_type,
            "unit_id": ObjectId(line.buyer_unit_id) if line.buyer_unit_id else None,
            "name": line.buyer_name,
        },
        "raw": {"sku": line.sku, "barcode": line.barcode, "title": line.title, "product_id": line.product_id},
        "fingerprint": fingerprint(line),
        **attribute(product, line.occurred_at, line.amount_fen),
    }


# Ingest -------------------------------------------------------------------------------------------


def _batches(lines: Iterable[SaleLine], size: int) -> Iterator[list[SaleLine]]:
    iterator = iter(lines)
    while batch := list(islice(iterator, size)):
        yield batch


def ingest(
    db: Database,
    lines: Iterable[SaleLine | RowError | Skipped],
    scope: IngestScope,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    run_id: ObjectId | None = None,
    actor: str | None = None,
    rebuild: bool = True,
    result: IngestResult | None = None,
) -> IngestResult:
    """Match, validate, de-duplicate and store canonical lines in batches; then rebuild what changed.

    ``lines`` may interleave ``RowError`` values (rows an adapter could not read); they are
    counted and reported with the rest. A dry run does everything but write. A line replaced keeps
    its previous version (``service.sale_versions``), marked as replaced by ``run_id`` and ``actor``.
    """
    result = result or IngestResult()
    catalogue = Catalogue(db)
    for batch in _batches(lines, batch_size):
        _ingest_batch(db, batch, scope, catalogue, result, dry_run=dry_run, run_id=run_id, actor=actor)
    if rebuild and not dry_run:
        # Also repair what an earlier crash or a catalogue change left dirty in this county.
        rebuild_partitions(db, result.partitions | set(partitions.dirty_partitions(db, [scope.county_code])))
    return result


def rebuild_partitions(db: Database, county_months: Iterable[tuple[str, str]]) -> None:
    """Bring these county-months up to date now (only what their markers list), or, inside
    deferred_rebuilds(), once at its end."""
    if _deferring.get():
        return
    for county_code, month in sorted(set(county_months)):
        rebuild_partition(db, county_code, month, full=False)


def _ingest_batch(
    db: Database,
    batch: list[SaleLine | RowError | Skipped],
    scope: IngestScope,
    catalogue: Catalogue,
    result: IngestResult,
    *,
    dry_run: bool,
    run_id: ObjectId | None,
    actor: str | None,
) -> None:
    now = utcnow()
    accepted: dict[tuple[str, str], tuple[SaleLine, dict[str, Any] | None]] = {}
    readable = [item for item in batch if isinstance(item, SaleLine)]
    catalogue.load(line for line in readable if validate_line(line, now) is None)
    for item in batch:
        result.rows += 1
        if isinstance(item, RowError):
            result.reject(item)
            continue
        if isinstance(item, Skipped):
            result.skipped += 1
            continue
        problem = validate_line(item, now)
        if problem is not None:
            result.reject(problem)
            continue
        product = catalogue.match(item)
        problem = _scope_problem(item, product, scope)
        if problem is not None:
            result.reject(problem)
            continue
        key = (item.channel, item.external_id)
        if key in accepted:
            # The same line twice in one source: the later one wins, the earlier one is skipped.
            result.skipped += 1
        accepted[key] = (item, product)
    if not accepted:
        return
    existing = _existing_lines(db, scope.county_code, accepted)
    pending: list[_Pending] = []
    groups: Groups = defaultdict(set)
    for key, (line, product) in accepted.items():
        stored = existing.get(key)
        if stored is not None and _owned_by_another(stored, scope):
            result.reject(RowError(line.row, "external_id", FOREIGN_LINE))
            continue
        if product is None:
            result.unmatched += 1
        if stored is not None and stored.get("fingerprint") == fingerprint(line):
            result.unchanged += 1
            continue
        document = line_document(line, scope, product)
        document["import_run_id"] = run_id
        document["updated_at"] = now
        _add_group(groups, document)
        if stored is None:
            result.inserted += 1
        else:
            result.updated += 1
            _add_group(groups, stored)
        pending.append(_Pending(line, document, stored, new=stored is None))
    if dry_run or not pending:
        return
    # Dirty first: a crash after the sales are written still leaves the operator-months to rebuild.
    partitions.mark_groups_dirty(db, groups)
    _write(db, pending, scope, result, groups, run_id=run_id, actor=actor)
    # And dirty again after: a rebuild that read the mark above but summed the ledger before this
    # write can no longer clean them without these lines.
    partitions.mark_groups_dirty(db, groups)
    result.partitions |= set(groups)


# The operator-months an ingest touched, by county-month; ``None`` is the group of unmatched lines.
Groups = dict[tuple[str, str], set[ObjectId | None]]


def _add_group(groups: Groups, line: Mapping[str, Any]) -> None:
    groups[(line["county_code"], line["month"])].add(line.get("operator_id"))


# A line replaced meanwhile by another ingest is looked up and written again, at most this many times.
MAX_WRITE_ATTEMPTS = 5


@dataclass
class _Pending:
    """A line to write, over the stored version it was read as (None: not stored yet)."""

    line: SaleLine
    document: dict[str, Any]
    stored: dict[str, Any] | None
    new: bool


def _write(
    db: Database,
    pending: list[_Pending],
    scope: IngestScope,
    result: IngestResult,
    groups: Groups,
    *,
    run_id: ObjectId | None,
    actor: str | None,
) -> None:
    """Write a batch, each line over exactly the version this ingest read (or as new).

    A line another ingest inserted or changed meanwhile is looked up again, the operator-month of
    the version found is marked dirty, and the write is tried again over that version; so the
    operator-month of every version replaced is always rebuilt. An enterprise never replaces
    another operator's line. Each version replaced is kept first, and confirmed once replaced.
    """
    sales = db[storage.SALES]
    for _attempt in range(MAX_WRITE_ATTEMPTS):
        # Each attempt's writes carry their own id: the one way to tell afterwards which of them landed.
        write_id = uuid.uuid4().hex
        now = utcnow()
        kept = sale_versions.record(db, (item.stored for item in pending if item.stored is not None), now)
        trying = [item for item in pending if item.stored is None or item.stored["_id"] in kept]
        writes = [
            InsertOne({**item.document, "write_id": write_id, "created_at": item.document["updated_at"]})
            if item.stored is None
            else UpdateOne(_version_filter(item.stored), {"$set": {**item.document, "write_id": write_id}})
            for item in trying
        ]
        missed = len(trying) < len(pending)
        try:
            if writes:
                written = sales.bulk_write(writes, ordered=False)
                missed |= written.inserted_count + written.matched_count < len(writes)
        except BulkWriteError as error:
            failed = error.details.get("writeErrors", [])
            if not failed or any(entry.get("code") != DUPLICATE_KEY for entry in failed):
                raise
            missed = True
        _confirm_replaced(
            db, [item for item in trying if item.stored is not None], kept, write_id, missed, run_id, actor
        )
        if not missed:
            return
        pending = _replaced_meanwhile(db, pending, scope, result, groups)
        if not pending:
            return
    raise RuntimeError(f"sale lines kept changing under this ingest ({len(pending)} not written)")


def _confirm_replaced(
    db: Database,
    updated: list[_Pending],
    kept: dict[ObjectId, str],
    write_id: str,
    missed: bool,
    run_id: ObjectId | None,
    actor: str | None,
) -> None:
    """Confirm the kept versions this attempt's updates replaced: all of them, unless some missed."""
    if missed and updated:
        landed = sale_versions.landed(db, (item.stored for item in updated), write_id)
        updated = [item for item in updated if item.stored["_id"] in landed]
    sale_versions.confirm(
        db,
        {kept[item.stored["_id"]]: item.document for item in updated},
        write_id=write_id,
        run_id=run_id,
        actor=actor,
        now=utcnow(),
    )


def _version_filter(stored: dict[str, Any]) -> dict[str, Any]:
    """A line's shard key and the version read: the update misses if another ingest changed it."""
    return {
        **line_filter(stored),
        "fingerprint": stored.get("fingerprint"),
        "operator_id": stored.get("operator_id"),
        "month": stored["month"],
    }


def _replaced_meanwhile(
    db: Database,
    pending: list[_Pending],
    scope: IngestScope,
    result: IngestResult,
    groups: Groups,
) -> list[_Pending]:
    """The lines whose stored version is not what this ingest wrote, over the version now stored."""
    keys = {(item.document["channel"], item.document["external_id"]): None for item in pending}
    current = _existing_lines(db, scope.county_code, keys)
    again = []
    found: Groups = defaultdict(set)
    for item in pending:
        stored = current.get((item.document["channel"], item.document["external_id"]))
        if stored is not None and _same_version(stored, item.document):
            continue  # written: by this ingest, or the very same content by another
        if stored is not None and _owned_by_another(stored, scope):
            if item.new:
                result.inserted -= 1
            else:
                result.updated -= 1
            result.reject(RowError(item.line.row, "external_id", FOREIGN_LINE))
            continue
        if stored is not None:
            _add_group(found, stored)
        again.append(_Pending(item.line, item.document, stored, item.new))
    if found:
        partitions.mark_groups_dirty(db, found)
        for partition, operator_ids in found.items():
            groups[partition] |= operator_ids
    return again


def _same_version(stored: dict[str, Any], document: dict[str, Any]) -> bool:
    return all(stored.get(name) == document[name] for name in ("fingerprint", "operator_id", "month"))


# An enterprise changes only its own operator's lines: an order line already stored for another operator
# (or by staff, unmatched) is never overwritten from an enterprise's file.
FOREIGN_LINE = "This order line is already in the ledger and is not yours to change; ask county staff."


def _owned_by_another(stored: dict[str, Any], scope: IngestScope) -> bool:
    return scope.operator_id is not None and stored.get("operator_id") != scope.operator_id


def _scope_problem(line: SaleLine, product: dict[str, Any] | None, scope: IngestScope) -> RowError | None:
    if product is None:
        if scope.operator_id is not None:
            return RowError(line.row, "sku", "No product of yours has this SKU or barcode.")
        return None
    if scope.operator_id is not None and product["operator_id"] != scope.operator_id:
        return RowError(line.row, "sku", "This product belongs to another market operator.")
    if product["county_code"] != scope.county_code:
        return RowError(
            line.row,
            "sku",
            f"This product belongs to county {product['county_code']}, not {scope.county_code}.",
        )
    return None


# A sale line's natural key and the sales collection's shard key; every write names it, so a sharded
# cluster routes each update to one shard.
LINE_KEY = ("county_code", "channel", "external_id")


def line_filter(line: dict[str, Any]) -> dict[str, Any]:
    """The filter that updates one stored line: its shard key, and its ``_id`` where known."""
    key = {name: line[name] for name in LINE_KEY}
    return {**key, "_id": line["_id"]} if "_id" in line else key


def _existing_lines(
    db: Database, county_code: str, accepted: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """One query per channel for the whole batch, never one per line."""
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, external_id in accepted:
        by_channel[channel].append(external_id)
    found = {}
    for channel, external_ids in by_channel.items():
        cursor = db[storage.SALES].find(
            {"county_code": county_code, "channel": channel, "external_id": {"$in": external_ids}},
            {
                "county_code": 1,
                "channel": 1,
                "external_id": 1,
                "fingerprint": 1,
                "month": 1,
                "operator_id": 1,
            },
        )
        for document in cursor:
            found[(document["channel"], document["external_id"])] = document
    return found


# Rebuilds -----------------------------------------------------------------------------------------

# While ingests keep marking its partition, a holder rebuilds again, at most this many times; after
# that it leaves the partition dirty for the next ingest or ``ledger rebuild``.
MAX_ROUNDS = 20


def rebuild_partition(db: Database, county_code: str, month: str, *, full: bool = True) -> dict[str, int]:
    """Recompute one county-month from the raw ledger and the catalogue as they are now.

    With ``full=False``, only what its marker asks for: the operator-months ingests listed, or the
    whole partition if a correction marked it (``mark_dirty``). If another rebuild holds the
    partition, this one returns at once (``{"busy": 1}``) and leaves the partition dirty: the
    holder cleans it only if its generation did not change while it worked, and otherwise works
    again from the marker as it is then, so whatever was marked before this call is included.
    """
    owner = uuid.uuid4().hex
    marker = partitions.acquire_lease(db, county_code, month, owner)
    if marker is None:
        return {"busy": 1}
    counts: dict[str, int] = {}
    released = False
    try:
        for round_number in range(1, MAX_ROUNDS + 1):
            generation = marker["generation"]
            counts = _recompute(
                db, county_code, month, owner, marker, whole=full or partitions.needs_full(marker)
            )
            if partitions.release_clean(db, county_code, month, owner, generation):
                released = True
                return {**counts, "rounds": round_number} if round_number > 1 else counts
            # Marked again while we worked: the lines written meanwhile may be missing; once more.
            marker = partitions.renew_lease(db, county_code, month, owner)
            full = False
        return {**counts, "rounds": MAX_ROUNDS, "left_dirty": 1}
    except partitions.LeaseLost:
        released = True  # another rebuild holds it now and will finish the work
        return {**counts, "lease_lost": 1}
    finally:
        if not released:
            partitions.release(db, county_code, month, owner)


def _recompute(
    db: Database, county_code: str, month: str, owner: str, marker: dict[str, Any], *, whole: bool
) -> dict[str, int]:
    """One round under the lease: the whole partition, or the operator-months its marker lists."""
    refreshed = 0
    operator_ids: list[ObjectId | None] | None = None
    if whole:
        refreshed = _refresh_lines(db, county_code, month)
    else:
        operator_ids = list(marker.get("dirty_groups") or [])
        if not operator_ids:
            return {"groups": 0}
    derived = ledger_rollups.compute_partition(db, county_code, month, operator_ids)
    ledger_rollups.replace_partition(
        db,
        county_code,
        month,
        derived,
        before_write=lambda: partitions.renew_lease(db, county_code, month, owner),
        operator_ids=operator_ids,
    )
    sizes = {name: len(documents) for name, documents in derived.items()}
    if operator_ids is None:
        return {"lines_refreshed": refreshed, **sizes}
    return {"groups": len(operator_ids), **sizes}


def _refresh_lines(db: Database, county_code: str, month: str) -> int:
    """Bring each line's certification and rate up to date with the catalogue (effective-dated)."""
    sales = db[storage.SALES]
    lines = list(
        sales.find(
            {"county_code": county_code, "month": month, "matched": True},
            {
                **dict.fromkeys(LINE_KEY, 1),
                "product_id": 1,
                "occurred_at": 1,
                "amount_fen": 1,
                "certified": 1,
                "benefit_rate_bp": 1,
                "poor_income_fen": 1,
                "operator_id": 1,
            },
        )
    )
    product_ids = sorted({line["product_id"] for line in lines})
    catalogue = {
        product["_id"]: product
        for product in db[storage.PRODUCTS].find({"_id": {"$in": product_ids}}, Catalogue._FIELDS)
    }
    updates = []
    for line in lines:
        fields = attribute(catalogue.get(line["product_id"]), line["occurred_at"], line["amount_fen"])
        if any(line.get(name) != value for name, value in fields.items() if name != "matched"):
            updates.append(UpdateOne(line_filter(line), {"$set": fields}))
    if updates:
        sales.bulk_write(updates, ordered=False)
    return len(updates)


def rebuild(db: Database, county_codes: Iterable[str] | None = None, *, all_partitions: bool = False) -> list:
    """Bring the dirty partitions of the given counties up to date, or rebuild every one whole."""
    if all_partitions:
        county_months = ledger_rollups.all_partitions(db, county_codes)
    else:
        county_months = partitions.dirty_partitions(db, county_codes)
    return [
        (county, month, rebuild_partition(db, county, month, full=all_partitions))
        for county, month in county_months
    ]


def rematch(db: Database, county_codes: Iterable[str] | None = None) -> dict[str, int]:
    """Re-resolve unmatched lines against the catalogue as it is now (after a SKU is mapped)."""
    query: dict[str, Any] = {"matched": False}
    if county_codes is not None:
        query["county_code"] = {"$in": list(county_codes)}
    sales = db[storage.SALES]
    catalogue = Catalogue(db)
    matched = 0
    touched: set[tuple[str, str]] = set()
    fields = {
        "channel": 1,
        "external_id": 1,
        "raw": 1,
        "occurred_at": 1,
        "amount_fen": 1,
        "quantity": 1,
        "county_code": 1,
        "month": 1,
    }
    pending = list(sales.find(query, fields))
    for start in range(0, len(pending), BATCH_SIZE):
        chunk = pending[start : start + BATCH_SIZE]
        probes = [
            SaleLine(
                channel=doc["channel"],
                external_id=doc["external_id"],
                occurred_at=doc["occurred_at"],
                quantity=doc["quantity"],
                amount_fen=doc["amount_fen"],
                sku=doc["raw"].get("sku"),
                barcode=doc["raw"].get("barcode"),
                product_id=doc["raw"].get("product_id"),
            )
            for doc in chunk
        ]
        catalogue.load(probes)
        updates = []
        for doc, probe in zip(chunk, probes, strict=True):
            product = catalogue.match(probe)
            if product is None or product["county_code"] != doc["county_code"]:
                continue
            fields = attribute(product, doc["occurred_at"], doc["amount_fen"])
            updates.append(UpdateOne(line_filter(doc), {"$set": fields}))
            touched.add((doc["county_code"], doc["month"]))
        if updates:
            partitions.mark_dirty(db, touched)
            sales.bulk_write(updates, ordered=False)
            partitions.mark_dirty(db, touched)
            matched += len(updates)
    for county_code, month in sorted(touched):
        rebuild_partition(db, county_code, month)
    return {"unmatched_before": len(pending), "matched": matched, "partitions_rebuilt": len(touched)}
