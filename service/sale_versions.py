"""Previous versions of sale lines: what a re-import replaced, kept whole, with who replaced it and when.

A line is replaced only by the ledger's conditional update (over the version it read). Before that
update, the version it is about to replace is stored here under an ``_id`` made of the line's id and
that version's fingerprint and write id, so a retry, or another process replacing the same version,
finds the document already there instead of storing it twice. The document is stored unconfirmed:
only the writer whose update actually landed confirms it with who replaced it, when, and which run
wrote the new version. A writer that lost the race leaves it alone — neither marks nor deletes it —
because the winner, having read the same version, shares that very document and confirms it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from service import storage

DUPLICATE_KEY = 11000
# The fields of a stored line the ledger's update is conditional on.
VERSION_FIELDS = ("fingerprint", "operator_id", "month")


def version_id(previous: Mapping[str, Any]) -> str:
    """The one ``_id`` of a replaced version: the line, its fingerprint, and the write that stored it."""
    parts = [str(previous["_id"]), str(previous.get("fingerprint"))]
    if previous.get("write_id"):
        parts.append(previous["write_id"])
    return ":".join(parts)


def _whole_lines(db: Database, lines: Iterable[Mapping[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
    """Whole stored lines by id, one query per county and channel (the shard key's leading fields)."""
    by_key: dict[tuple[str, str], list[ObjectId]] = defaultdict(list)
    for line in lines:
        by_key[(line["county_code"], line["channel"])].append(line["_id"])
    found: dict[ObjectId, dict[str, Any]] = {}
    for (county_code, channel), ids in by_key.items():
        query = {"county_code": county_code, "channel": channel, "_id": {"$in": ids}}
        found.update((line["_id"], line) for line in db[storage.SALES].find(query))
    return found


def record(db: Database, stored: Iterable[Mapping[str, Any]], now: datetime) -> dict[ObjectId, str]:
    """Keep the versions about to be replaced, unconfirmed; their ``_id`` by line id.

    A line whose stored version is no longer the one read is left out: its update will miss.
    """
    stored = list(stored)
    whole = _whole_lines(db, stored)
    documents = []
    for read in stored:
        previous = whole.get(read["_id"])
        if previous is None or any(previous.get(name) != read.get(name) for name in VERSION_FIELDS):
            continue
        documents.append(
            {
                "_id": version_id(previous),
                "sale_id": previous["_id"],
                "county_code": previous["county_code"],
                "channel": previous["channel"],
                "external_id": previous["external_id"],
                "previous": previous,
                "confirmed": False,
                "recorded_at": now,
            }
        )
    if documents:
        try:
            db[storage.SALE_LINE_VERSIONS].insert_many(documents, ordered=False)
        except BulkWriteError as error:
            # Already kept: by an earlier attempt of this ingest or by another one over the same version.
            if any(entry.get("code") != DUPLICATE_KEY for entry in error.details.get("writeErrors", [])):
                raise
    return {document["sale_id"]: document["_id"] for document in documents}


def landed(db: Database, lines: Iterable[Mapping[str, Any]], write_id: str) -> set[ObjectId]:
    """Which of these lines' updates by write ``write_id`` happened (after some of the batch missed).

    An update happened if the line still carries its write id, or if a later replacement kept the
    version it wrote (every replacement keeps the version it replaces first).
    """
    lines = list(lines)
    current = _whole_lines(db, lines)
    happened = {sale_id for sale_id, line in current.items() if line.get("write_id") == write_id}
    others = [line["_id"] for line in lines if line["_id"] not in happened]
    if others:
        replaced_since = db[storage.SALE_LINE_VERSIONS].find(
            {"sale_id": {"$in": others}, "previous.write_id": write_id}, {"sale_id": 1}
        )
        happened |= {version["sale_id"] for version in replaced_since}
    return happened


def confirm(
    db: Database,
    replaced: Mapping[str, Mapping[str, Any]],
    *,
    write_id: str,
    run_id: ObjectId | None,
    actor: str | None,
    now: datetime,
) -> None:
    """Mark kept versions as replaced, by the new line documents (by version ``_id``) that replaced them."""
    updates = [
        UpdateOne(
            {"_id": key, "confirmed": False},
            {
                "$set": {
                    "confirmed": True,
                    "replaced_at": now,
                    "replaced_by": {
                        "import_run_id": run_id,
                        "actor": actor,
                        "source": document["channel"],
                        "write_id": write_id,
                        "fingerprint": document["fingerprint"],
                    },
                }
            },
        )
        for key, document in replaced.items()
    ]
    if updates:
        db[storage.SALE_LINE_VERSIONS].bulk_write(updates, ordered=False)


def history(db: Database, line: Mapping[str, Any], scope: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A line's replaced versions, newest first, as far as ``scope`` (a query on a line) lets them be seen.

    A version left unconfirmed counts as replaced once the line has moved on from it (its writer
    stopped between its update and the confirmation); one the line still holds was never replaced.
    """
    query = {
        "sale_id": line["_id"],
        "county_code": line["county_code"],
        **{f"previous.{name}": value for name, value in scope.items()},
    }
    # Versions kept in the same millisecond follow the times the versions themselves were written.
    found = (
        db[storage.SALE_LINE_VERSIONS].find(query).sort([("recorded_at", -1), ("previous.updated_at", -1)])
    )
    return [
        version
        for version in found
        if version["confirmed"] or version["previous"].get("write_id") != line.get("write_id")
    ]
