"""Sales imports (销售数据导入): one runner for every channel's file adapter.

A run streams an uploaded export through its channel's adapter (adapters/),
resolves the buyer units the source names (the 832 platform's 采购单位) to
canteens, and hands the lines to the ledger's one ingest path, which matches,
validates, de-duplicates and stores them. The run is recorded (service/import_runs.py)
before the file is read and at its end. An export is one file, or several read
together (淘宝's order report and item report), each counted and hashed as it
streams (service/import_sources.py). A dry run also keeps its files
(service/pending_uploads.py) to be confirmed (service/import_confirm.py). The API,
the CLI and the pages call :func:`run_import`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database

from adapters.base import REGISTRY, Adapter, RowError, SaleLine, Skipped
from adapters.common import parse_export, require_file_count
from adapters.errors import Coded, FileRefused
from service import (
    access,
    audit,
    batching,
    canteens,
    import_runs,
    ledger,
    ledger_rebuilds,
    ledger_session,
    operators,
    pending_uploads,
    spreadsheets,
    status_mappings,
)
from service.access import CANTEEN, ENTERPRISE, Principal
from service.errors import Forbidden, ServiceError, ValidationFailed, refused_file
from service.import_runs import FAILED, SUCCEEDED, Progress, Tally
from service.import_sources import Source, Sources
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope

log = logging.getLogger(__name__)

# Lines whose buyer names are looked up together, in one query per batch.
BUYER_BATCH = 1000
PROGRESS_EVERY = 500
# Lines handed to the ledger at a time: a run's counts are those of the batches written.
INGEST_BATCH = ledger.BATCH_SIZE


# Who imports where --------------------------------------------------------------------------------


def resolve_adapter(name: str) -> Adapter:
    adapter = REGISTRY.get(name)
    if adapter is None:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise ValidationFailed(
            Coded("import.unknown_channel", f"No importer for channel {name!r}.", channel=name),
            details={"channel": [Coded("import.choose_channel", f"Unknown channel; known: {known}.")]},
        )
    return adapter


def import_scope(db: Database, actor: Principal, county_code: str | None = None) -> IngestScope:
    """Where the actor's import writes: a staff member's county, or an enterprise's own products.

    Staff of several counties (and admins) name the county; an enterprise imports its own
    shop exports into its operator's county, and the ledger rejects lines of other operators.
    """
    if actor.role == CANTEEN:
        raise Forbidden(Coded("import.canteen_refused", "Canteen accounts cannot import sales."))
    if actor.role == ENTERPRISE:
        operator = operators.find_operator(db, actor.operator_id) if actor.operator_id else None
        if operator is None:
            raise Forbidden(Coded("account.no_operator", "This account is not bound to a market operator."))
        if county_code is not None and county_code != operator["county_code"]:
            raise Forbidden(
                Coded(
                    "import.own_county",
                    f"Your operator's sales are imported into county {operator['county_code']}.",
                    county_code=operator["county_code"],
                )
            )
        return IngestScope(operator["county_code"], operator_id=operator["_id"])
    if not actor.is_staff:
        raise Forbidden(
            Coded("import.refused", "Only county staff, admins and enterprises may import sales.")
        )
    if county_code is None:
        if actor.is_admin or len(actor.county_codes) != 1:
            raise ValidationFailed(
                Coded("import.county_required", "Name the county the sales belong to."),
                details={"county_code": [Coded("import.county_required", "Required.")]},
            )
        county_code = actor.county_codes[0]
    access.require_county(actor, county_code)
    return IngestScope(county_code)


# Lines on their way to the ledger -----------------------------------------------------------------


class _BuyerNames:
    """Buyer unit names to canteen ids, looked up batch by batch and remembered for the run."""

    def __init__(self, db: Database, county_code: str, tally: Tally):
        self.db = db
        self.county_code = county_code
        self.tally = tally
        self.known: dict[str, str | None] = {}

    def _look_up(self, names: set[str]) -> None:
        found = canteens.find_canteens_by_names(self.db, names, self.county_code)
        elsewhere = names - found.keys()
        if elsewhere:
            # Units of other counties buy here too (高校食堂定向采购); a name unique nationwide is enough.
            found.update(canteens.find_canteens_by_names(self.db, elsewhere))
        for name in names:
            self.known[name] = str(found[name]["_id"]) if name in found else None

    def resolve(self, batch: list[SaleLine | RowError]) -> Iterator[SaleLine | RowError]:
        wanted = {
            canteens.clean_name(item.buyer_name)
            for item in batch
            if isinstance(item, SaleLine) and item.buyer_name and item.buyer_unit_id is None
        }
        wanted = {name for name in wanted if name and name not in self.known}
        if wanted:
            self._look_up(wanted)
        for item in batch:
            if isinstance(item, SaleLine) and item.buyer_name and item.buyer_unit_id is None:
                name = canteens.clean_name(item.buyer_name)
                unit_id = self.known.get(name)
                if unit_id is not None:
                    item = replace(item, buyer_unit_id=unit_id, buyer_type="unit")
                else:
                    self.tally.unknown_buyer_lines += 1
                    self.tally.unknown_buyer_names.add(name)
            yield item


def _prepared(
    items: Iterable[Any],
    buyers: _BuyerNames,
    tally: Tally,
    sources: Sources,
    progress: Progress,
) -> Iterator[SaleLine | RowError | Skipped]:
    """The adapter's output as the ledger takes it, buyers resolved (skipped rows pass through:
    the ledger counts them with the rest, so a run's counts are those of the batches it wrote)."""
    batch: list[SaleLine | RowError | Skipped] = []
    for item in items:
        tally.items += 1
        if not isinstance(item, (SaleLine, RowError, Skipped)):
            if not hasattr(item, "row"):
                raise TypeError(f"The adapter yielded {type(item).__name__}, not a SaleLine or RowError.")
            # A row the adapter skipped on purpose (a cancelled or unpaid order): counted, not stored.
            item = Skipped(item.row, getattr(item, "reason", None) or "skipped")
        batch.append(item)
        if len(batch) >= BUYER_BATCH:
            yield from buyers.resolve(batch)
            batch = []
        if tally.items % PROGRESS_EVERY == 0:
            progress(tally.items, sources.size)
    yield from buyers.resolve(batch)


def _ingest(
    db: Database,
    lines: Iterable[SaleLine | RowError | Skipped],
    scope: IngestScope,
    tally: Tally,
    result: IngestResult,
    *,
    dry_run: bool,
    run_id: ObjectId,
    actor: str | None,
) -> None:
    """Hand the lines to the ledger a batch at a time; the run's counts and skipped reasons are
    those of whole batches, so a run that fails part-way says exactly what it wrote."""
    # One ticket per county-month for the whole run, its differences handed over once at the end.
    with ledger_session.session(db):
        for batch in batching.batched(lines, INGEST_BATCH):
            ledger.ingest(
                db, batch, scope, dry_run=dry_run, run_id=run_id, actor=actor, rebuild=False, result=result
            )
            for item in batch:
                if isinstance(item, Skipped):
                    tally.skip(item.reason)
    # The rebuild an ingest ends with: the partitions written, and any the county has left dirty.
    ledger.ingest(db, (), scope, dry_run=dry_run, run_id=run_id, result=result)


def _rebuild_quietly(db: Database, result: IngestResult, run_id: ObjectId) -> None:
    """After a failure, bring the partitions the run wrote up to date; a second failure is logged
    and leaves them dirty for the next ingest or rebuild, never hiding the first."""
    try:
        ledger_rebuilds.rebuild_partitions(db, result.partitions)
    except Exception:
        log.exception("rebuild after a failed sales import failed", extra={"import_run_id": str(run_id)})


# The run ------------------------------------------------------------------------------------------


def run_import(
    db: Database,
    actor: Principal,
    channel_name: str,
    files: IO[bytes] | Sequence[Source],
    filename: str | None = None,
    *,
    county_code: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import one channel export into the ledger and return the recorded run.

    The export is one stream with its ``filename``, or the files of one export as (stream,
    filename) pairs in any order (淘宝's order report and item report). Row problems are
    counted and kept in the run (the first 1,000); a problem with the files as a whole (missing
    columns, a report without its other half, unreadable, a broken upload) fails the run and is
    raised with the run's id in its details; what the run wrote before it failed stays, counted in
    the run and already in the reports. A dry run does everything but write sales; the run is
    recorded.
    """
    given: list[Source] = [(files, filename)] if filename is not None else list(files)  # type: ignore[list-item]
    adapter = resolve_adapter(channel_name)
    try:
        require_file_count(adapter, len(given))
    except FileRefused as error:
        raise refused_file(error) from error
    scope = import_scope(db, actor, county_code)
    return import_into(db, actor, adapter, scope, given, dry_run=dry_run, progress=progress)


def import_into(
    db: Database,
    actor: Principal,
    adapter: Adapter,
    scope: IngestScope,
    given: Sequence[Source],
    *,
    dry_run: bool,
    progress: Progress | None,
    run_id: ObjectId | None = None,
    dry_run_id: ObjectId | None = None,
) -> dict[str, Any]:
    sources = Sources(given)
    started = time.monotonic()
    run = import_runs.start(
        db, actor, adapter, scope, sources.described(), dry_run, run_id=run_id, dry_run_id=dry_run_id
    )
    keeper = pending_uploads.Keeper(db, run["_id"], len(given)) if dry_run else None
    if keeper is not None:
        sources.keep(keeper)
    tally = Tally()
    result = IngestResult()
    kept_until = None
    try:
        parsed = parse_export(
            adapter,
            sources.buffered(),
            limits=spreadsheets.read_limits(),
            **status_mappings.parse_options(db, scope.county_code, adapter),
        )
        tally.layout = getattr(parsed, "layout", None)
        tally.layout_title = getattr(parsed, "layout_title", None)
        lines = _prepared(
            parsed,
            _BuyerNames(db, scope.county_code, tally),
            tally,
            sources,
            import_runs.Heartbeat(db, run["_id"], progress),
        )
        _ingest(db, lines, scope, tally, result, dry_run=dry_run, run_id=run["_id"], actor=actor.username)
        sources.drain()
        if keeper is not None:
            kept_until = keeper.finish()
    except BaseException as raised:
        # A file the adapter refused fails the run as the service's validation error.
        error = refused_file(raised) if isinstance(raised, FileRefused) else raised
        if isinstance(error, Exception):
            sources.drain_quietly()
            if keeper is not None:
                _discard_quietly(keeper)
            if not dry_run:
                _rebuild_quietly(db, result, run["_id"])
        message = (
            Coded(error.code, error.message, **error.params)
            if isinstance(error, ServiceError)
            else f"{type(error).__name__}: {error}"
        )
        import_runs.finish(db, run, FAILED, result, tally, sources.described(), started, message)
        if isinstance(error, ServiceError):
            error.details = {**error.details, "import_run_id": str(run["_id"])}
        else:
            log.exception("sales import failed", extra={"import_run_id": str(run["_id"])})
        if error is not raised:
            raise error from raised
        raise
    if progress is not None:
        progress(tally.items, sources.size)
    finished = import_runs.finish(
        db, run, SUCCEEDED, result, tally, sources.described(), started, kept_until=kept_until
    )
    if not dry_run and (finished["inserted"] or finished["updated"]):
        confirming = f" (confirming dry run {dry_run_id})" if dry_run_id else ""
        audit.record(
            db,
            actor,
            "sales.import",
            entity_kind="import_run",
            entity_id=run["_id"],
            county_code=scope.county_code,
            note=f"{adapter.name} {sources.filenames}{confirming}: {import_runs.summary(finished)}",
        )
    log.info("sales import", extra={"import_run_id": str(run["_id"]), **import_runs.counts(result)})
    return finished


def _discard_quietly(keeper: pending_uploads.Keeper) -> None:
    try:
        keeper.discard()
    except Exception:  # the files expire on their own; the run's failure is what matters
        log.warning("could not delete a failed dry run's kept files", exc_info=True)
