"""Sales import run records (销售数据导入记录): starting, finishing, heartbeat, interruption, reading.

Each run is recorded in ``import_runs`` before its file is read — so a crash leaves a trace — and
updated at the end with its counts, its first row errors and its outcome. A running import touches
its run every ``HEARTBEAT_SECONDS``; one silent for much longer lost its process and is marked
interrupted. Staff read their counties' runs, an enterprise those of its own operator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from adapters.base import Adapter
from adapters.errors import Coded, code_of
from service import access, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import utcnow
from service.errors import Forbidden, NotFound
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope

log = logging.getLogger(__name__)

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"
STATUSES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)
# A running import touches its run this often; one silent for much longer has lost its process.
HEARTBEAT_SECONDS = 15
HEARTBEAT_TIMEOUT_SECONDS = 300
INTERRUPTED_MESSAGE = Coded(
    "import.interrupted",
    "The import stopped before it finished (the service restarted or its process died). "
    "Import the same file again: lines already stored are recognised, nothing is counted twice.",
)
# How many distinct unknown buyer names a run keeps, to show staff which canteens to register.
MAX_KEPT_BUYER_NAMES = 50
COUNT_FIELDS = ("rows", "inserted", "updated", "unchanged", "skipped", "rejected", "unmatched")

Progress = Callable[[int, int], None]


@dataclass
class Tally:
    """What the runner itself saw, beside what the ledger counts."""

    items: int = 0
    # The layout of the export the adapter recognised from its header (None for sources of one layout).
    layout: str | None = None
    layout_title: str | None = None
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    # Each reason's code and values, so a page says it in Chinese.
    skipped_codes: dict[str, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)
    unknown_buyer_lines: int = 0
    unknown_buyer_names: set[str] = field(default_factory=set)

    def skip(self, reason: Any) -> None:
        key = str(reason) if reason else "skipped"
        self.skipped_codes.setdefault(key, code_of(reason))
        self.skipped_reasons[key] = self.skipped_reasons.get(key, 0) + 1


def _skipped(reason: str, rows: int, code: str | None, params: dict[str, Any]) -> dict[str, Any]:
    found = {"reason": reason, "rows": rows}
    return {**found, "code": code, "params": params} if code else found


def start(
    db: Database,
    actor: Principal,
    adapter: Adapter,
    scope: IngestScope,
    files: list[dict[str, Any]],
    dry_run: bool,
    *,
    run_id: ObjectId | None = None,
    dry_run_id: ObjectId | None = None,
) -> dict[str, Any]:
    """Record a run as running, before its files are read."""
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


def counts(result: IngestResult) -> dict[str, int]:
    return {name: getattr(result, name) for name in COUNT_FIELDS}


def finish(
    db: Database,
    run: dict[str, Any],
    status: str,
    result: IngestResult,
    tally: Tally,
    files: list[dict[str, Any]],
    started: float,
    error: str | None = None,
    *,
    kept_until: Any = None,
) -> dict[str, Any]:
    """Record a run's outcome: its counts, kept row errors, unknown buyers and files."""
    outcome = {
        "status": status,
        "layout": tally.layout,
        "layout_title": tally.layout_title,
        **counts(result),
        "error_count": result.error_count,
        "errors": result.errors,
        "errors_truncated": result.error_count > len(result.errors),
        "skipped_reasons": [
            _skipped(reason, rows, *tally.skipped_codes.get(reason, (None, {})))
            for reason, rows in sorted(tally.skipped_reasons.items())
        ],
        "unknown_buyers": len(tally.unknown_buyer_names),
        "unknown_buyer_lines": tally.unknown_buyer_lines,
        "unknown_buyer_names": sorted(tally.unknown_buyer_names)[:MAX_KEPT_BUYER_NAMES],
        "source": files[0],
        "files": files,
        "finished_at": utcnow(),
        "duration_ms": int((time.monotonic() - started) * 1000),
        "error": None if error is None else str(error),
        # The code of a coded error, so a page says it in Chinese.
        "error_code": code_of(error)[0],
        "error_params": code_of(error)[1],
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


class Heartbeat:
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
    update = {
        "$set": {
            "status": INTERRUPTED,
            "error": str(INTERRUPTED_MESSAGE),
            "error_code": INTERRUPTED_MESSAGE.code,
            "finished_at": utcnow(),
        }
    }
    marked = db[storage.IMPORT_RUNS].update_many(query, update).modified_count
    if marked:
        log.warning("%d sales import run(s) marked interrupted: their process stopped mid-import", marked)
    return marked


# Reading runs -------------------------------------------------------------------------------------

_LIST_FIELDS = {"errors": 0, "unknown_buyer_names": 0}


RUN_NOT_IN_SCOPE = Coded("import.run_not_in_scope", "No import run of yours has this id.")


def _visibility(actor: Principal) -> dict[str, Any]:
    """Staff see their counties' runs, an enterprise the runs of its own operator."""
    if actor.role == ENTERPRISE:
        if actor.operator_id is None:
            # Never {"operator_id": None}: that would match every staff-run import.
            raise Forbidden(Coded("account.no_operator", "This account is not bound to a market operator."))
        return {"operator_id": actor.operator_id}
    if actor.role == CANTEEN:
        raise Forbidden(Coded("import.canteen_refused", "Canteen accounts cannot see sales imports."))
    return access.county_filter(actor)


def list_runs(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    rejected_within_days: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Import runs, newest first, without row errors (rejected_within_days: recent runs rejecting rows)."""
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
    if rejected_within_days is not None:
        since = utcnow() - timedelta(days=rejected_within_days)
        conditions.append({"rejected": {"$gt": 0}, "started_at": {"$gte": since}})
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
        raise (
            NotFound(Coded("import.run_not_in_scope", "No such import run."))
            if actor.is_admin
            else Forbidden(RUN_NOT_IN_SCOPE)
        )
    return run
