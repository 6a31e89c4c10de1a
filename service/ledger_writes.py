"""Writing a batch of sale lines, each over exactly the stored version its ingest read.

The version read is inside each update's filter, so a stale write can never win: a line another
ingest inserted or changed meanwhile is looked up again, the operator-month of the version found
is marked dirty, and the write is tried again over that version. Each version replaced is kept
first (``service.sale_versions``) and confirmed once replaced.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from adapters.base import RowError, SaleLine
from service import ingest_scope, partitions, sale_lines, sale_versions, storage
from service.clock import utcnow
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope

DUPLICATE_KEY = 11000


# The operator-months an ingest touched, by county-month; ``None`` is the group of unmatched lines.
Groups = dict[tuple[str, str], set[ObjectId | None]]


def add_group(groups: Groups, line: Mapping[str, Any]) -> None:
    groups[(line["county_code"], line["month"])].add(line.get("operator_id"))


# A line replaced meanwhile by another ingest is looked up and written again, at most this many times.
MAX_WRITE_ATTEMPTS = 5


@dataclass
class Pending:
    """A line to write, over the stored version it was read as (None: not stored yet)."""

    line: SaleLine
    document: dict[str, Any]
    stored: dict[str, Any] | None
    new: bool


def write(
    db: Database,
    pending: list[Pending],
    scope: IngestScope,
    result: IngestResult,
    groups: Groups,
    *,
    run_id: ObjectId | None,
    actor: str | None,
) -> bool:
    """Write a batch, each line over exactly the version this ingest read (or as new); True if
    every line landed at the first attempt, over exactly the version in its ``Pending``.

    A line another ingest inserted or changed meanwhile is looked up again, the operator-month of
    the version found is marked dirty, and the write is tried again over that version; so the
    operator-month of every version replaced is always rebuilt. An enterprise never replaces
    another operator's line. Each version replaced is kept first, and confirmed once replaced.
    """
    sales = db[storage.SALES]
    for attempt in range(MAX_WRITE_ATTEMPTS):
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
            return attempt == 0
        pending = _replaced_meanwhile(db, pending, scope, result, groups)
        if not pending:
            return False
    raise RuntimeError(f"sale lines kept changing under this ingest ({len(pending)} not written)")


def _confirm_replaced(
    db: Database,
    updated: list[Pending],
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


# What tells one version of a line from another: what the source said (fingerprint) and what the
# catalogue made of it (a correction's rebuild refreshes these without a new fingerprint).
VERSION_FIELDS = ("fingerprint", "operator_id", "product_id", "month", "certified", "poor_income_fen")


def _version_filter(stored: dict[str, Any]) -> dict[str, Any]:
    """A line's shard key and the version read: the update misses if anything changed it since."""
    return {**sale_lines.line_filter(stored), **{name: stored.get(name) for name in VERSION_FIELDS}}


def _replaced_meanwhile(
    db: Database,
    pending: list[Pending],
    scope: IngestScope,
    result: IngestResult,
    groups: Groups,
) -> list[Pending]:
    """The lines whose stored version is not what this ingest wrote, over the version now stored."""
    keys = {(item.document["channel"], item.document["external_id"]): None for item in pending}
    current = existing_lines(db, scope.county_code, keys)
    again = []
    found: Groups = defaultdict(set)
    for item in pending:
        stored = current.get((item.document["channel"], item.document["external_id"]))
        if stored is not None and _same_version(stored, item.document):
            continue  # written: by this ingest, or the very same content by another
        if stored is not None and ingest_scope.owned_by_another(stored, scope):
            if item.new:
                result.inserted -= 1
            else:
                result.updated -= 1
            result.reject(RowError(item.line.row, "external_id", ingest_scope.FOREIGN_LINE))
            continue
        if stored is not None:
            add_group(found, stored)
        again.append(Pending(item.line, item.document, stored, item.new))
    if found:
        partitions.mark_groups_dirty(db, found)
        for partition, operator_ids in found.items():
            groups[partition] |= operator_ids
    return again


def _same_version(stored: dict[str, Any], document: dict[str, Any]) -> bool:
    return all(stored.get(name) == document[name] for name in VERSION_FIELDS)


def existing_lines(
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
            # The version's key and what it counts for in the derived figures (ledger_deltas).
            {
                **dict.fromkeys(sale_lines.LINE_KEY, 1),
                **dict.fromkeys(VERSION_FIELDS, 1),
                **dict.fromkeys(("day", "matched", "buyer.unit_id", "amount_fen", "quantity"), 1),
            },
        )
        for document in cursor:
            found[(document["channel"], document["external_id"])] = document
    return found
