"""Bringing the ledger's derived figures up to date, county-month partition by partition, under its lease.

A rebuild does what the partition's marker asks for (``service.partitions``): it applies the
differences ingests handed over (``service.ledger_deltas``) and recomputes from the lines the
operator-months marked dirty, or the whole partition after a correction. It holds the partition's
lease so work on one partition never interleaves, in one process or across several, and cleans the
marker only if nothing was marked meanwhile. ``rematch`` re-resolves unmatched lines once a SKU is
mapped.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from adapters.base import SaleLine
from service import (
    ledger_deltas,
    ledger_rollups,
    ledger_session,
    partitions,
    product_lookups,
    sale_lines,
    storage,
)
from service.catalogue_match import Catalogue
from service.clock import utcnow

log = logging.getLogger(__name__)

# Unmatched lines re-resolved against the catalogue at a time.
REMATCH_BATCH = 5000

# Set inside deferred_rebuilds(): ingests leave their partitions dirty for one rebuild at the end.
_deferring: contextvars.ContextVar[bool] = contextvars.ContextVar("deferring_rebuilds", default=False)


@contextlib.contextmanager
def deferred_rebuilds(db: Database) -> Iterator[None]:
    """Many ingests (a bulk load) in one session, one rebuild per touched county-month at the end."""
    token = _deferring.set(True)
    try:
        with ledger_session.session(db):
            yield
    finally:
        _deferring.reset(token)
    rebuild(db)


def rebuild_partitions(db: Database, county_months: Iterable[tuple[str, str]]) -> None:
    """Bring these county-months up to date now (only what their markers list), or, inside
    deferred_rebuilds(), once at its end."""
    if _deferring.get():
        return
    for county_code, month in sorted(set(county_months)):
        rebuild_partition(db, county_code, month, full=False)


# While ingests keep marking its partition, a holder rebuilds again, at most this many times; after
# that it leaves the partition dirty for the next ingest or ``ledger rebuild``.
MAX_ROUNDS = 20


def rebuild_partition(db: Database, county_code: str, month: str, *, full: bool = True) -> dict[str, int]:
    """Bring one county-month up to date with the raw ledger and the catalogue as they are now.

    With ``full=False``, only what its marker asks for: the differences ingests handed over, the
    operator-months marked dirty, or the whole partition if a correction marked it (``mark_dirty``).
    If another rebuild holds the partition, this one returns at once (``{"busy": 1}``) and leaves
    it dirty: the holder cleans it only if its generation did not change while it worked, and
    otherwise works again from the marker as it is then, so whatever was marked or handed over
    before this call is included.
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
            counts, tickets_left = _round(
                db, county_code, month, owner, marker, whole=full or partitions.needs_full(marker)
            )
            if partitions.release_clean(db, county_code, month, owner, generation, tickets_left=tickets_left):
                released = True
                return {**counts, "rounds": round_number} if round_number > 1 else counts
            # Marked again while we worked: the lines written meanwhile may be missing; once more.
            marker = partitions.next_round(db, county_code, month, owner)
            full = False
        return {**counts, "rounds": MAX_ROUNDS, "left_dirty": 1}
    except partitions.LeaseLost:
        released = True  # another rebuild holds it now and will finish the work
        return {**counts, "lease_lost": 1}
    finally:
        if not released:
            partitions.release(db, county_code, month, owner)


def _round(
    db: Database, county_code: str, month: str, owner: str, marker: dict[str, Any], *, whole: bool
) -> tuple[dict[str, int], bool]:
    """One round under the lease: apply the differences handed over, recompute from the lines what
    the marker says must be (the whole partition, dirty operator-months, tickets abandoned, what a
    holder that died was changing); and whether tickets are still open."""
    tickets = marker.get("tickets") or {}
    ready = sorted(ticket for ticket, entry in tickets.items() if entry.get("ready"))
    abandoned_since = utcnow() - timedelta(seconds=partitions.TICKET_SECONDS)
    abandoned = sorted(
        ticket
        for ticket, entry in tickets.items()
        if not entry.get("ready") and _aware(entry["at"]) <= abandoned_since
    )
    # What a holder that died while writing was changing (this round's own is cleared between rounds).
    applying = marker.get("applying") or {}
    died = applying if applying.get("owner") not in (None, owner) else {}
    whole = whole or bool(died.get("whole"))
    scratch: set[Any] = set(marker.get("dirty_groups") or []) | set(died.get("groups", []))
    for ticket in abandoned:
        scratch |= set(tickets[ticket].get("groups", []))
    handed = {group for ticket in ready for group in tickets[ticket].get("groups", [])}
    partitions.begin_round(
        db,
        county_code,
        month,
        owner,
        [*ready, *abandoned],
        {"whole": whole, "groups": sorted(scratch | handed, key=str)},
    )

    def before_write() -> None:
        partitions.renew_lease(db, county_code, month, owner)

    counts: dict[str, int] = {}
    if whole:
        counts["lines_refreshed"] = _refresh_lines(db, county_code, month)
        counts.update(_recompute(db, county_code, month, None, before_write))
    elif scratch:
        counts.update(_recompute(db, county_code, month, scratch, before_write))
        counts["groups"] = len(scratch)
    if ready:
        deltas = {} if whole else ledger_deltas.summed(ledger_deltas.kept(db, county_code, month, ready))
        deltas = ledger_deltas.without_operators(deltas, scratch)
        try:
            if deltas:
                counts.update(ledger_deltas.apply(db, county_code, month, deltas, before_write))
        except ledger_deltas.Inconsistent:
            # The stored rows did not hold what the differences assume: recompute from the lines.
            log.warning("ledger deltas of %s %s did not fit; recomputing from the lines", county_code, month)
            scratch |= ledger_deltas.operators_of(deltas)
            counts.update(
                _recompute(db, county_code, month, ledger_deltas.operators_of(deltas), before_write)
            )
        counts["deltas"] = len(ready)
    taken = []
    if whole or scratch:
        taken = partitions.take_off_tickets(db, county_code, month, owner, None if whole else scratch)
    ledger_deltas.discard(db, county_code, month, [*ready, *abandoned, *taken])
    left = partitions.renew_lease(db, county_code, month, owner).get("tickets") or {}
    if not counts:
        counts["groups"] = 0
    return counts, bool(left)


def _aware(moment: datetime) -> datetime:
    # Servers hand datetimes back naive unless the client is tz_aware; they are always UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _recompute(
    db: Database,
    county_code: str,
    month: str,
    operator_ids: set[Any] | None,
    before_write: Callable[[], None],
) -> dict[str, int]:
    """Recompute the whole partition (None) or these operator-months of it from the lines."""
    groups = None if operator_ids is None else sorted(operator_ids, key=str)
    derived = ledger_rollups.compute_partition(db, county_code, month, groups)
    ledger_rollups.replace_partition(
        db, county_code, month, derived, before_write=before_write, operator_ids=groups
    )
    return {name: len(documents) for name, documents in derived.items()}


def _refresh_lines(db: Database, county_code: str, month: str) -> int:
    """Bring each line's certification and rate up to date with the catalogue (effective-dated)."""
    sales = db[storage.SALES]
    lines = list(
        sales.find(
            {"county_code": county_code, "month": month, "matched": True},
            {
                **dict.fromkeys(sale_lines.LINE_KEY, 1),
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
    catalogue = product_lookups.documents_by_id(db, product_ids, Catalogue.FIELDS)
    updates = []
    for line in lines:
        fields = sale_lines.attribute(
            catalogue.get(line["product_id"]), line["occurred_at"], line["amount_fen"]
        )
        if any(line.get(name) != value for name, value in fields.items() if name != "matched"):
            updates.append(UpdateOne(sale_lines.line_filter(line), {"$set": fields}))
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
    for start in range(0, len(pending), REMATCH_BATCH):
        chunk = pending[start : start + REMATCH_BATCH]
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
            fields = sale_lines.attribute(product, doc["occurred_at"], doc["amount_fen"])
            updates.append(UpdateOne(sale_lines.line_filter(doc), {"$set": fields}))
            touched.add((doc["county_code"], doc["month"]))
        if updates:
            partitions.mark_dirty(db, touched)
            sales.bulk_write(updates, ordered=False)
            partitions.mark_dirty(db, touched)
            matched += len(updates)
    for county_code, month in sorted(touched):
        rebuild_partition(db, county_code, month)
    return {"unmatched_before": len(pending), "matched": matched, "partitions_rebuilt": len(touched)}
