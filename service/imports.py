"""Sales import runs (销售数据导入记录): one runner for every channel's file adapter.

A run streams an uploaded export through its channel's adapter (adapters/),
resolves the buyer units the source names (the 832 platform's 采购单位) to
canteens, and hands the lines to the ledger's one ingest path, which matches,
validates, de-duplicates and stores them. Each run is recorded in
``import_runs`` before the file is read — so a crash leaves a trace — and
updated at the end with its counts, its first row errors and its outcome. An
export is one file, or several read together (淘宝's order report and item
report); each file's size and SHA-256 are computed while it streams: it is read
once, never held whole. A dry run also keeps its files (service/pending_uploads.py),
and :func:`confirm_run` imports exactly those bytes for real, once, as a new run
linked to the dry run. The API, the CLI and the pages call :func:`run_import` and
:func:`confirm_run`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta
from itertools import islice
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database

from adapters.base import REGISTRY, Adapter, RowError, SaleLine, Skipped
from adapters.common import parse_export, require_file_count
from adapters.errors import FileRefused
from service import (
    access,
    audit,
    canteens,
    ledger,
    operators,
    pending_uploads,
    spreadsheets,
    status_mappings,
    storage,
)
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import utcnow
from service.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed, refused_file
from service.ledger import IngestResult, IngestScope

log = logging.getLogger(__name__)

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"
STATUSES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)
# A running import touches its run this often; one silent for much longer has lost its process.
HEARTBEAT_SECONDS = 15
HEARTBEAT_TIMEOUT_SECONDS = 300
INTERRUPTED_MESSAGE = (
    "The import stopped before it finished (the service restarted or its process died). "
    "Import the same file again: lines already stored are recognised, nothing is counted twice."
)
# Lines whose buyer names are looked up together, in one query per batch.
BUYER_BATCH = 1000
# How many distinct unknown buyer names a run keeps, to show staff which canteens to register.
MAX_KEPT_BUYER_NAMES = 50
PROGRESS_EVERY = 500
# Lines handed to the ledger at a time: a run's counts are those of the batches written.
INGEST_BATCH = ledger.BATCH_SIZE
READ_CHUNK = 64 * 1024
COUNT_FIELDS = ("rows", "inserted", "updated", "unchanged", "skipped", "rejected", "unmatched")

Progress = Callable[[int, int], None]


# Streaming the source -----------------------------------------------------------------------------


class HashingReader(io.RawIOBase):
    """A read-only view of a byte stream that counts and hashes every byte as it passes.

    Not seekable on purpose: a reader that needs to seek (openpyxl) spools it to a
    temporary file instead, so every byte still passes here exactly once.
    """

    def __init__(self, source: IO[bytes]):
        self._source = source
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.exhausted = False
        # Where a dry run keeps the bytes it reads (pending_uploads.Keeper), else None.
        self.keep: Callable[[bytes], None] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._take(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _take(self, size: int) -> bytes:
        data = self._source.read(size)
        if not data:
            self.exhausted = True
            return b""
        self._sha256.update(data)
        self.size += len(data)
        if self.keep is not None:
            self.keep(data)
        return data

    def drain(self) -> None:
        """Read what the adapter left unread, so the digest and size cover the whole file."""
        while not self.exhausted:
            self._take(READ_CHUNK)

    @property
    def sha256(self) -> str | None:
        return self._sha256.hexdigest() if self.exhausted else None


# Who imports where --------------------------------------------------------------------------------


def resolve_adapter(name: str) -> Adapter:
    adapter = REGISTRY.get(name)
    if adapter is None:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise ValidationFailed(
            f"No importer for channel {name!r}.", details={"channel": [f"Unknown channel; known: {known}."]}
        )
    return adapter


def import_scope(db: Database, actor: Principal, county_code: str | None = None) -> IngestScope:
    """Where the actor's import writes: a staff member's county, or an enterprise's own products.

    Staff of several counties (and admins) name the county; an enterprise imports its own
    shop exports into its operator's county, and the ledger rejects lines of other operators.
    """
    if actor.role == CANTEEN:
        raise Forbidden("Canteen accounts cannot import sales.")
    if actor.role == ENTERPRISE:
        operator = operators.find_operator(db, actor.operator_id) if actor.operator_id else None
        if operator is None:
            raise Forbidden("This account is not bound to a market operator.")
        if county_code is not None and county_code != operator["county_code"]:
            raise Forbidden(f"Your operator's sales are imported into county {operator['county_code']}.")
        return IngestScope(operator["county_code"], operator_id=operator["_id"])
    if not actor.is_staff:
        raise Forbidden("Only county staff, admins and enterprises may import sales.")
    if county_code is None:
        if actor.is_admin or len(actor.county_codes) != 1:
            raise ValidationFailed(
                "Name the county the sales belong to.", details={"county_code": ["Required."]}
            )
        county_code = actor.county_codes[0]
    access.require_county(actor, county_code)
    return IngestScope(county_code)


# Lines on their way to the ledger -----------------------------------------------------------------


@dataclass
class _Tally:
    """What the runner itself saw, beside what the ledger counts."""

    items: int = 0
    # The layout of the export the adapter recognised from its header (None for sources of one layout).
    layout: str | None = None
    layout_title: str | None = None
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    unknown_buyer_lines: int = 0
    unknown_buyer_names: set[str] = field(default_factory=set)

    def skip(self, reason: Any) -> None:
        key = str(reason) if reason else "skipped"
        self.skipped_reasons[key] = self.skipped_reasons.get(key, 0) + 1


class _BuyerNames:
    """Buyer unit names to canteen ids, looked up batch by batch and remembered for the run."""

    def __init__(self, db: Database, county_code: str, tally: _Tally):
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
    tally: _Tally,
    sources: _Sources,
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
    tally: _Tally,
    result: IngestResult,
    *,
    dry_run: bool,
    run_id: ObjectId,
    actor: str | None,
) -> None:
    """Hand the lines to the ledger a batch at a time; the run's counts and skipped reasons are
    those of whole batches, so a run that fails part-way says exactly what it wrote."""
    for batch in _batches(lines, INGEST_BATCH):
        ledger.ingest(
            db, batch, scope, dry_run=dry_run, run_id=run_id, actor=actor, rebuild=False, result=result
        )
        for item in batch:
            if isinstance(item, Skipped):
                tally.skip(item.reason)
    # The rebuild an ingest ends with: the partitions written, and any the county has left dirty.
    ledger.ingest(db, (), scope, dry_run=dry_run, run_id=run_id, result=result)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _rebuild_quietly(db: Database, result: IngestResult, run_id: ObjectId) -> None:
    """After a failure, bring the partitions the run wrote up to date; a second failure is logged
    and leaves them dirty for the next ingest or rebuild, never hiding the first."""
    try:
        ledger.rebuild_partitions(db, result.partitions)
    except Exception:
        log.exception("rebuild after a failed sales import failed", extra={"import_run_id": str(run_id)})


# The run ------------------------------------------------------------------------------------------

Source = tuple[IO[bytes], str]


class _Sources:
    """The files of one export, each counted and hashed as it streams."""

    def __init__(self, files: Sequence[Source]):
        self.files = [(HashingReader(stream), filename) for stream, filename in files]

    @property
    def size(self) -> int:
        return sum(reader.size for reader, _ in self.files)

    @property
    def filenames(self) -> str:
        return ", ".join(filename for _, filename in self.files)

    def buffered(self) -> list[Source]:
        return [
            (io.BufferedReader(reader, buffer_size=READ_CHUNK), filename) for reader, filename in self.files
        ]

    def drain(self) -> None:
        for reader, _ in self.files:
            reader.drain()

    def keep(self, keeper: pending_uploads.Keeper) -> None:
        for position, (reader, _) in enumerate(self.files):
            reader.keep = keeper.writer(position)

    def drain_quietly(self) -> None:
        for reader, _ in self.files:
            _drain_quietly(reader)

    def described(self) -> list[dict[str, Any]]:
        return [
            # Size unknown (None) until the file has been read.
            {"filename": filename, "size": reader.size or None, "sha256": reader.sha256}
            for reader, filename in self.files
        ]


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
    return _import(db, actor, adapter, scope, given, dry_run=dry_run, progress=progress)


def _import(
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
    sources = _Sources(given)
    started = time.monotonic()
    run = _start(db, actor, adapter, scope, sources, dry_run, run_id=run_id, dry_run_id=dry_run_id)
    keeper = pending_uploads.Keeper(db, run["_id"], len(given)) if dry_run else None
    if keeper is not None:
        sources.keep(keeper)
    tally = _Tally()
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
            _Heartbeat(db, run["_id"], progress),
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
        message = error.message if isinstance(error, ServiceError) else f"{type(error).__name__}: {error}"
        _finish(db, run, FAILED, result, tally, sources, started, message)
        if isinstance(error, ServiceError):
            error.details = {**error.details, "import_run_id": str(run["_id"])}
        else:
            log.exception("sales import failed", extra={"import_run_id": str(run["_id"])})
        if error is not raised:
            raise error from raised
        raise
    if progress is not None:
        progress(tally.items, sources.size)
    finished = _finish(db, run, SUCCEEDED, result, tally, sources, started, kept_until=kept_until)
    if not dry_run and (finished["inserted"] or finished["updated"]):
        confirming = f" (confirming dry run {dry_run_id})" if dry_run_id else ""
        audit.record(
            db,
            actor,
            "sales.import",
            entity_kind="import_run",
            entity_id=run["_id"],
            county_code=scope.county_code,
            note=f"{adapter.name} {sources.filenames}{confirming}: {summary(finished)}",
        )
    log.info("sales import", extra={"import_run_id": str(run["_id"]), **_counts(result)})
    return finished


class _Heartbeat:
    """The progress callback of a run: forwards progress, and every HEARTBEAT_SECONDS marks the run
    alive, so a run whose process died is told apart from a long one (:func:`mark_interrupted`)."""

    def __init__(self, db: Database, run_id: ObjectId, progress: Progress | None):
        self.db, self.run_id, self.progress = db, run_id, progress
        self.last = time.monotonic()

    def __call__(self, items: int, size: int) -> None:
        if time.monotonic() - self.last >= HEARTBEAT_SECONDS:
            self.last = time.monotonic()
            self.db[storage.IMPORT_RUNS].update_one(
                {"_id": self.run_id, "status": RUNNING}, {"$set": {"heartbeat_at": utcnow()}}
            )
        if self.progress is not None:
            self.progress(items, size)


def mark_interrupted(db: Database, *, all_running: bool = False) -> int:
    """Mark as interrupted the runs whose process died: every running run when this process owns the
    whole database (the embedded default at start-up), else those silent past the heartbeat timeout.
    Returns how many. Safe to call from every worker at once: it only touches dead runs."""
    query: dict[str, Any] = {"status": RUNNING}
    if not all_running:
        cutoff = utcnow() - timedelta(seconds=HEARTBEAT_TIMEOUT_SECONDS)
        query["$or"] = [{"heartbeat_at": {"$lt": cutoff}}, {"heartbeat_at": None}]
    update = {"$set": {"status": INTERRUPTED, "error": INTERRUPTED_MESSAGE, "finished_at": utcnow()}}
    marked = db[storage.IMPORT_RUNS].update_many(query, update).modified_count
    if marked:
        log.warning("%d sales import run(s) marked interrupted: their process stopped mid-import", marked)
    return marked


def _discard_quietly(keeper: pending_uploads.Keeper) -> None:
    try:
        keeper.discard()
    except Exception:  # the files expire on their own; the run's failure is what matters
        log.warning("could not delete a failed dry run's kept files", exc_info=True)


def _drain_quietly(source: HashingReader) -> None:
    try:
        source.drain()
    except Exception:  # the upload itself broke off; the run records the digest as unknown
        log.warning("could not read the rest of a failed import's file", exc_info=True)


def _start(
    db: Database,
    actor: Principal,
    adapter: Adapter,
    scope: IngestScope,
    sources: _Sources,
    dry_run: bool,
    *,
    run_id: ObjectId | None = None,
    dry_run_id: ObjectId | None = None,
) -> dict[str, Any]:
    files = sources.described()
    run: dict[str, Any] = {
        "_id": run_id or ObjectId(),
        "channel": adapter.channel,
        "adapter": adapter.name,
        "layout": None,
        "layout_title": None,
        "county_code": scope.county_code,
        "operator_id": scope.operator_id,
        "dry_run": dry_run,
        "status": RUNNING,
        # The first file, as runs of one file always recorded it; ``files`` lists every file.
        "source": files[0],
        "files": files,
        "started_by": actor.as_actor(),
        "started_at": utcnow(),
        "heartbeat_at": utcnow(),
        "finished_at": None,
        "duration_ms": None,
        "error": None,
        # A dry run's kept files, and the real run that imported them; a real run's dry run.
        "kept_until": None,
        "confirmed_run_id": None,
        "dry_run_id": dry_run_id,
    }
    db[storage.IMPORT_RUNS].insert_one(run)
    return run


def _counts(result: IngestResult) -> dict[str, int]:
    return {name: getattr(result, name) for name in COUNT_FIELDS}


def _finish(
    db: Database,
    run: dict[str, Any],
    status: str,
    result: IngestResult,
    tally: _Tally,
    sources: _Sources,
    started: float,
    error: str | None = None,
    *,
    kept_until: Any = None,
) -> dict[str, Any]:
    files = sources.described()
    outcome = {
        "status": status,
        "layout": tally.layout,
        "layout_title": tally.layout_title,
        **_counts(result),
        "error_count": result.error_count,
        "errors": result.errors,
        "errors_truncated": result.error_count > len(result.errors),
        "skipped_reasons": [
            {"reason": reason, "rows": rows} for reason, rows in sorted(tally.skipped_reasons.items())
        ],
        "unknown_buyers": len(tally.unknown_buyer_names),
        "unknown_buyer_lines": tally.unknown_buyer_lines,
        "unknown_buyer_names": sorted(tally.unknown_buyer_names)[:MAX_KEPT_BUYER_NAMES],
        "source": files[0],
        "files": files,
        "finished_at": utcnow(),
        "duration_ms": int((time.monotonic() - started) * 1000),
        "error": error,
        "kept_until": kept_until,
    }
    db[storage.IMPORT_RUNS].update_one({"_id": run["_id"]}, {"$set": outcome})
    return {**run, **outcome}


def summary(run: dict[str, Any]) -> str:
    """One line of counts, as the CLI prints it and the audit log notes it."""
    counts = ", ".join(f"{name} {run.get(name, 0)}" for name in COUNT_FIELDS)
    if run.get("unknown_buyers"):
        counts += f", unknown buyers {run['unknown_buyers']} ({run['unknown_buyer_lines']} lines)"
    return counts


# Reading runs -------------------------------------------------------------------------------------

_LIST_FIELDS = {"errors": 0, "unknown_buyer_names": 0}


RUN_NOT_IN_SCOPE = "No import run of yours has this id."


def _visibility(actor: Principal) -> dict[str, Any]:
    """Staff see their counties' runs, an enterprise the runs of its own operator."""
    if actor.role == ENTERPRISE:
        if actor.operator_id is None:
            # Never {"operator_id": None}: that would match every staff-run import.
            raise Forbidden("This account is not bound to a market operator.")
        return {"operator_id": actor.operator_id}
    if actor.role == CANTEEN:
        raise Forbidden("Canteen accounts cannot see sales imports.")
    return access.county_filter(actor)


def list_runs(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Import runs, newest first, without their row errors."""
    mark_interrupted(db)
    conditions: list[dict[str, Any]] = [_visibility(actor)]
    if county_code is not None:
        if actor.role != ENTERPRISE:
            access.require_county(actor, county_code)
        conditions.append({"county_code": county_code})
    if channel is not None:
        conditions.append({"channel": channel})
    if status is not None:
        conditions.append({"status": status})
    query = {"$and": [condition for condition in conditions if condition]}
    if not query["$and"]:
        query = {}
    collection = db[storage.IMPORT_RUNS]
    total = collection.count_documents(query)
    cursor = (
        collection.find(query, _LIST_FIELDS)
        .sort([("started_at", -1), ("_id", -1)])
        .skip((page - 1) * per_page)
        .limit(per_page)
    )
    return list(cursor), total


def get_run(db: Database, actor: Principal, run_id: ObjectId) -> dict[str, Any]:
    """One run with its kept row errors; a missing run and another tenant's answer alike (admins: 404)."""
    mark_interrupted(db)
    # The scope is part of the query, so "not yours" and "no such run" cost and say the same.
    query = {"_id": run_id, **_visibility(actor)}
    run = db[storage.IMPORT_RUNS].find_one(query)
    if run is None:
        raise NotFound("No such import run.") if actor.is_admin else Forbidden(RUN_NOT_IN_SCOPE)
    return run


# Confirming a dry run -----------------------------------------------------------------------------

# How long a confirmation waits for the run another request has just claimed to be recorded.
CLAIM_WAIT_SECONDS = 5.0
CLAIM_POLL_SECONDS = 0.05


class NotConfirmable(Conflict):
    code = "not_confirmable"


class DryRunFilesGone(ServiceError):
    status, code = 410, "dry_run_files_gone"


class ConfirmationInProgress(Conflict):
    code = "confirmation_in_progress"


@dataclass(frozen=True)
class Confirmation:
    """A confirmed dry run's real run; ``created`` is False when an earlier confirmation made it."""

    run: dict[str, Any]
    created: bool


def confirm_run(
    db: Database, actor: Principal, run_id: ObjectId, *, progress: Progress | None = None
) -> Confirmation:
    """Import a successful dry run's kept files for real, as a new run linked to the dry run.

    Only who may import into the dry run's scope confirms it (another tenant's run answers as a
    missing one), and the confirmation reads the lines the dry run read: an enterprise's dry run
    stays limited to its own products whoever confirms it. Each file is checked against the dry
    run's SHA-256. The dry run is claimed atomically, so it is imported once: a second
    confirmation, also at the same moment from another process, answers with the first one's run
    (still running, perhaps). A confirmation that failed or was interrupted may be made again.
    """
    dry_run = get_run(db, actor, run_id)
    scope = _confirmation_scope(db, actor, dry_run)
    _require_confirmable(dry_run)
    adapter = resolve_adapter(dry_run["adapter"])
    earlier = _earlier_confirmation(db, dry_run)
    if earlier is not None:
        return Confirmation(earlier, created=False)
    files = [
        {"filename": file.get("filename"), "sha256": file.get("sha256")}
        for file in dry_run.get("files") or [dry_run["source"]]
    ]
    # The files are read back before the claim, so a claim is recorded as a run at once.
    with pending_uploads.kept_files(db, dry_run["_id"], files) as kept:
        if kept is None:
            # Deleted by a confirmation that finished meanwhile, or gone.
            earlier = _earlier_confirmation(db, db[storage.IMPORT_RUNS].find_one({"_id": dry_run["_id"]}))
            if earlier is not None:
                return Confirmation(earlier, created=False)
            raise DryRunFilesGone(
                f"The files of dry run {dry_run['_id']} are no longer kept (a dry run keeps them for "
                f"{pending_uploads.KEPT_FOR_HOURS} hours, up to {pending_uploads.MAX_KEPT_MIB} MiB): "
                "import the files again.",
                details={"dry_run_id": str(dry_run["_id"])},
            )
        claimed = _claim(db, dry_run)
        if isinstance(claimed, dict):
            return Confirmation(claimed, created=False)
        try:
            real = _import(
                db,
                actor,
                adapter,
                scope,
                kept,
                dry_run=False,
                progress=progress,
                run_id=claimed,
                dry_run_id=dry_run["_id"],
            )
        except Exception:
            _release_quietly(db, dry_run["_id"], claimed)
            raise
    pending_uploads.discard(db, dry_run["_id"])
    db[storage.IMPORT_RUNS].update_one({"_id": dry_run["_id"]}, {"$set": {"kept_until": None}})
    return Confirmation(real, created=True)


def _confirmation_scope(db: Database, actor: Principal, dry_run: dict[str, Any]) -> IngestScope:
    scope = import_scope(db, actor, dry_run["county_code"])
    if scope.operator_id is None and dry_run.get("operator_id") is not None:
        # Staff confirming an enterprise's dry run import the lines it checked, its own products only.
        scope = replace(scope, operator_id=dry_run["operator_id"])
    return scope


def _require_confirmable(run: dict[str, Any]) -> None:
    if not run["dry_run"]:
        raise NotConfirmable(
            f"Import run {run['_id']} is not a dry run: its sales are in the ledger already.",
            details={"run_id": str(run["_id"])},
        )
    if run["status"] != SUCCEEDED:
        raise NotConfirmable(
            f"Dry run {run['_id']} is {run['status']}: only a dry run that succeeded can be confirmed.",
            details={"dry_run_id": str(run["_id"])},
        )


def _earlier_confirmation(db: Database, dry_run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The real run of a confirmation made before, unless it failed or was interrupted."""
    current = (dry_run or {}).get("confirmed_run_id")
    if current is None:
        return None
    confirmed = db[storage.IMPORT_RUNS].find_one({"_id": current})
    return confirmed if confirmed is not None and confirmed["status"] in (RUNNING, SUCCEEDED) else None


def _claim(db: Database, dry_run: dict[str, Any]) -> ObjectId | dict[str, Any]:
    """The id of the real run this confirmation may record, or the run an earlier one recorded.

    The claim is a compare-and-set of the dry run's ``confirmed_run_id`` from the value read, so of
    two confirmations at once exactly one wins; a claim whose run failed, was interrupted, or was
    never recorded (its process died at once) is taken over the same way.
    """
    runs = db[storage.IMPORT_RUNS]
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        current = dry_run.get("confirmed_run_id")
        if current is not None:
            earlier = _earlier_confirmation(db, dry_run)
            if earlier is not None:
                return earlier
            recorded = runs.find_one({"_id": current}, {"_id": 1})
            if recorded is None and not _claim_abandoned(dry_run):
                # Claimed an instant ago: its run is being recorded.
                if time.monotonic() >= deadline:
                    raise ConfirmationInProgress(
                        f"Dry run {dry_run['_id']} is being confirmed; read it again in a moment.",
                        details={"dry_run_id": str(dry_run["_id"])},
                    )
                time.sleep(CLAIM_POLL_SECONDS)
                dry_run = runs.find_one({"_id": dry_run["_id"]}) or dry_run
                continue
        new_id = ObjectId()
        won = runs.find_one_and_update(
            {"_id": dry_run["_id"], "dry_run": True, "confirmed_run_id": current},
            {"$set": {"confirmed_run_id": new_id, "confirmed_at": utcnow()}},
            projection={"_id": 1},
        )
        if won is not None:
            return new_id
        dry_run = runs.find_one({"_id": dry_run["_id"]}) or dry_run


def _claim_abandoned(dry_run: dict[str, Any]) -> bool:
    claimed_at = dry_run.get("confirmed_at")
    if claimed_at is None:
        return True
    if claimed_at.tzinfo is None:
        claimed_at = claimed_at.replace(tzinfo=UTC)
    return utcnow() - claimed_at > timedelta(seconds=HEARTBEAT_TIMEOUT_SECONDS)


def _release_quietly(db: Database, dry_run_id: ObjectId, claimed: ObjectId) -> None:
    """Give up a failed confirmation's claim, so the dry run can be confirmed again."""
    try:
        db[storage.IMPORT_RUNS].update_one(
            {"_id": dry_run_id, "confirmed_run_id": claimed},
            {"$set": {"confirmed_run_id": None, "confirmed_at": None}},
        )
    except Exception:  # the failed run's status frees the claim anyway
        log.warning("could not release a failed confirmation's claim", exc_info=True)
