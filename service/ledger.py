"""The sales ledger's one ingest path, for every source.

Every source — file adapters, the open-platform pull, counter pushes, canteen
purchases — hands canonical ``SaleLine`` values to :func:`ingest`, which
matches them to products (service/catalogue_match.py), validates them
(service/sale_lines.py), de-duplicates them on (county_code, channel,
external_id) and writes them in batches (service/ledger_writes.py). Derived
collections (daily sales rollups, operator pools, household income) are kept
per county-month partition. Before its sales are written, an ingest opens a
ticket on each county-month it writes, listing the operator-months of each line
written and of the version it replaced, so a crash in between leaves them to be
recomputed by the next ingest or ``flask --app service ledger rebuild``; once
written, exactly over the versions it read, it hands over the differences they
make (service/ledger_session.py, service/ledger_deltas.py), and the partition's
rebuild applies them, holding the partition's lease (service/ledger_rebuilds.py):
a counter push costs the same in a month of ten thousand lines as in one of a
million.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from adapters.base import RowError, SaleLine, Skipped
from service import (
    batching,
    ingest_scope,
    ledger_rebuilds,
    ledger_session,
    ledger_writes,
    partitions,
    sale_lines,
)
from service.catalogue_match import Catalogue
from service.clock import utcnow
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope

BATCH_SIZE = 5000


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
    with ledger_session.session(db) as session:
        for batch in batching.batched(lines, batch_size):
            _ingest_batch(
                db, batch, scope, catalogue, result, session, dry_run=dry_run, run_id=run_id, actor=actor
            )
    if rebuild and not dry_run:
        # Also repair what an earlier crash or a catalogue change left dirty in this county.
        ledger_rebuilds.rebuild_partitions(
            db, result.partitions | set(partitions.dirty_partitions(db, [scope.county_code]))
        )
    return result


def _ingest_batch(
    db: Database,
    batch: list[SaleLine | RowError | Skipped],
    scope: IngestScope,
    catalogue: Catalogue,
    result: IngestResult,
    session: ledger_session.Session,
    *,
    dry_run: bool,
    run_id: ObjectId | None,
    actor: str | None,
) -> None:
    now = utcnow()
    accepted: dict[tuple[str, str], tuple[SaleLine, dict[str, Any] | None]] = {}
    readable = [item for item in batch if isinstance(item, SaleLine)]
    catalogue.load(line for line in readable if sale_lines.validate_line(line, now) is None)
    for item in batch:
        result.rows += 1
        if isinstance(item, RowError):
            result.reject(item)
            continue
        if isinstance(item, Skipped):
            result.skipped += 1
            continue
        problem = sale_lines.validate_line(item, now)
        if problem is not None:
            result.reject(problem)
            continue
        product = catalogue.match(item)
        problem = ingest_scope.scope_problem(item, product, scope)
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
    existing = ledger_writes.existing_lines(db, scope.county_code, accepted)
    pending: list[ledger_writes.Pending] = []
    groups: ledger_writes.Groups = defaultdict(set)
    for key, (line, product) in accepted.items():
        stored = existing.get(key)
        if stored is not None and ingest_scope.owned_by_another(stored, scope):
            result.reject(RowError(line.row, "external_id", ingest_scope.FOREIGN_LINE))
            continue
        if product is None:
            result.unmatched += 1
        if stored is not None and stored.get("fingerprint") == sale_lines.fingerprint(line):
            result.unchanged += 1
            continue
        document = sale_lines.line_document(line, scope, product)
        document["import_run_id"] = run_id
        document["updated_at"] = now
        ledger_writes.add_group(groups, document)
        if stored is None:
            result.inserted += 1
        else:
            result.updated += 1
            ledger_writes.add_group(groups, stored)
        pending.append(ledger_writes.Pending(line, document, stored, new=stored is None))
    if dry_run or not pending:
        return
    # Tickets first: a crash after the sales are written still leaves the operator-months to rebuild.
    session.before_write(groups)
    try:
        exact = ledger_writes.write(db, pending, scope, result, groups, run_id=run_id, actor=actor)
    except BaseException:
        session.not_exact(groups)
        raise
    if exact:
        session.written((item.stored, item.document) for item in pending)
    else:
        session.not_exact(groups)
    session.after_write(groups)
    result.partitions |= set(groups)
