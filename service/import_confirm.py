"""Confirming a dry run (确认导入): importing its kept files for real, once, as a new run.

A dry run keeps its files (service/pending_uploads.py); :func:`confirm_run` checks each against
the dry run's SHA-256, claims the dry run atomically so it is imported once whichever process
asks, and imports exactly those bytes as a real run linked to the dry run. The API, the CLI and
the pages call it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import import_runs, imports, pending_uploads, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Conflict, ServiceError
from service.ingest_scope import IngestScope

log = logging.getLogger(__name__)

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
    db: Database, actor: Principal, run_id: ObjectId, *, progress: import_runs.Progress | None = None
) -> Confirmation:
    """Import a successful dry run's kept files for real, as a new run linked to the dry run.

    Only who may import into the dry run's scope confirms it (another tenant's run answers as a
    missing one), and the confirmation reads the lines the dry run read: an enterprise's dry run
    stays limited to its own products whoever confirms it. Each file is checked against the dry
    run's SHA-256. The dry run is claimed atomically, so it is imported once: a second
    confirmation, also at the same moment from another process, answers with the first one's run
    (still running, perhaps). A confirmation that failed or was interrupted may be made again.
    """
    dry_run = import_runs.get_run(db, actor, run_id)
    scope = _confirmation_scope(db, actor, dry_run)
    _require_confirmable(dry_run)
    adapter = imports.resolve_adapter(dry_run["adapter"])
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
            real = imports.import_into(
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
    scope = imports.import_scope(db, actor, dry_run["county_code"])
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
    if run["status"] != import_runs.SUCCEEDED:
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
    return (
        confirmed
        if confirmed is not None and confirmed["status"] in (import_runs.RUNNING, import_runs.SUCCEEDED)
        else None
    )


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
    return utcnow() - claimed_at > timedelta(seconds=import_runs.HEARTBEAT_TIMEOUT_SECONDS)


def _release_quietly(db: Database, dry_run_id: ObjectId, claimed: ObjectId) -> None:
    """Give up a failed confirmation's claim, so the dry run can be confirmed again."""
    try:
        db[storage.IMPORT_RUNS].update_one(
            {"_id": dry_run_id, "confirmed_run_id": claimed},
            {"$set": {"confirmed_run_id": None, "confirmed_at": None}},
        )
    except Exception:  # the failed run's status frees the claim anyway
        log.warning("could not release a failed confirmation's claim", exc_info=True)
