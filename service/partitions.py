"""Partition marks, tickets and leases: which county-months of the ledger need work, and who may do it.

A county-month's marker (collection ``ledger_partitions``) says whether its derived figures are
dirty, and what must be done to them:

- ``full``: recompute it whole (a correction of rates, links or SKU mappings);
- ``dirty_groups``: recompute these operator-months from the lines (a write whose effect is unknown);
- ``tickets``: one per ingest at work in the county-month, listing the operator-months it writes;
  once ``ready``, its differences (``service.ledger_deltas``) are applied instead of recomputing.

``generation`` counts each mark, so a rebuild cleans the marker only if nothing was marked while it
worked. The same marker carries the lease a rebuild holds, and while the holder writes, ``applying``
names what it is changing, so a holder that dies mid-write leaves those operator-months to be
recomputed. Ingests, catalogue and link changes mark; ``service.ledger_rebuilds`` rebuilds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import storage
from service.clock import local_month, utcnow


def partition_id(county_code: str, month: str) -> str:
    return f"{county_code}:{month}"


def mark_dirty(db: Database, partitions: Iterable[tuple[str, str]]) -> None:
    """These county-months need rebuilding whole (a correction: rates, links, SKU mappings)."""
    now = utcnow()
    operations = [
        UpdateOne(
            {"_id": partition_id(county_code, month)},
            {
                "$set": {
                    "county_code": county_code,
                    "month": month,
                    "dirty": True,
                    "full": True,
                    "dirty_at": now,
                },
                "$inc": {"generation": 1},
            },
            upsert=True,
        )
        for county_code, month in sorted(set(partitions))
    ]
    if operations:
        db[storage.LEDGER_PARTITIONS].bulk_write(operations, ordered=True)


def mark_groups_dirty(db: Database, groups: Mapping[tuple[str, str], Iterable[ObjectId | None]]) -> None:
    """These operator-months need recomputing: listed on their partition's marker, which turns dirty."""
    now = utcnow()
    operations = [
        UpdateOne(
            {"_id": partition_id(county_code, month)},
            {
                "$set": {"county_code": county_code, "month": month, "dirty": True, "dirty_at": now},
                "$setOnInsert": {"full": False},
                "$addToSet": {"dirty_groups": {"$each": sorted(set(operator_ids), key=str)}},
                "$inc": {"generation": 1},
            },
            upsert=True,
        )
        for (county_code, month), operator_ids in sorted(groups.items())
        if operator_ids
    ]
    if operations:
        db[storage.LEDGER_PARTITIONS].bulk_write(operations, ordered=True)


def needs_full(marker: dict[str, Any]) -> bool:
    # A marker written before operator-months were tracked has no "full": dirty meant rebuild it all.
    return bool(marker.get("full", marker.get("dirty", False)))


def dirty_partitions(db: Database, county_codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    query: dict[str, Any] = {"dirty": True}
    if county_codes is not None:
        query["county_code"] = {"$in": list(county_codes)}
    return [
        (p["county_code"], p["month"])
        for p in db[storage.LEDGER_PARTITIONS].find(query).sort([("county_code", 1), ("month", 1)])
    ]


# A rebuild holds its partition's lease (on the partition's marker) while it reads the ledger and
# replaces the derived rows, so two rebuilds of one county-month never interleave, in one process or
# across many. A holder that died frees it when it expires.
LEASE_SECONDS = 120


class LeaseLost(RuntimeError):
    """The lease expired and another rebuild took it over: this one must not write."""


def _lease_filter(county_code: str, month: str, owner: str) -> dict[str, Any]:
    return {"_id": partition_id(county_code, month), "lease.owner": owner}


def acquire_lease(db: Database, county_code: str, month: str, owner: str) -> dict[str, Any] | None:
    """Take the partition's lease in one atomic step: the marker as it is now, or None if held."""
    markers = db[storage.LEDGER_PARTITIONS]
    key = partition_id(county_code, month)
    with contextlib.suppress(DuplicateKeyError):  # another process created the marker meanwhile
        markers.update_one(
            {"_id": key},
            {
                "$setOnInsert": {
                    "county_code": county_code,
                    "month": month,
                    "dirty": False,
                    "full": False,
                    "generation": 0,
                }
            },
            upsert=True,
        )
    now = utcnow()
    return markers.find_one_and_update(
        {"_id": key, "$or": [{"lease": None}, {"lease.expires_at": {"$lte": now}}]},
        {"$set": {"lease": {"owner": owner, "expires_at": now + timedelta(seconds=LEASE_SECONDS)}}},
        return_document=ReturnDocument.AFTER,
    )


def renew_lease(db: Database, county_code: str, month: str, owner: str) -> dict[str, Any]:
    """Extend the lease before writing; the marker as it is now. Raises LeaseLost if it was taken."""
    marker = db[storage.LEDGER_PARTITIONS].find_one_and_update(
        _lease_filter(county_code, month, owner),
        {"$set": {"lease.expires_at": utcnow() + timedelta(seconds=LEASE_SECONDS)}},
        return_document=ReturnDocument.AFTER,
    )
    if marker is None:
        raise LeaseLost(partition_id(county_code, month))
    return marker


def release_clean(
    db: Database, county_code: str, month: str, owner: str, generation: int, *, tickets_left: bool = False
) -> bool:
    """Clean the partition and free the lease in one step, only if no ingest marked it meanwhile.

    With ``tickets_left`` (ingests still writing), it stays dirty until their differences arrive."""
    released = db[storage.LEDGER_PARTITIONS].update_one(
        {**_lease_filter(county_code, month, owner), "generation": generation},
        {
            "$set": {"dirty": tickets_left, "full": False, "dirty_groups": [], "rebuilt_at": utcnow()},
            "$unset": {"lease": "", "applying": ""},
        },
    )
    return released.matched_count == 1


def begin_round(
    db: Database,
    county_code: str,
    month: str,
    owner: str,
    consumed: Iterable[str],
    applying: dict[str, Any],
) -> None:
    """Take the tickets this round absorbs off the marker and say what it is about to change."""
    unset = {f"tickets.{ticket}": "" for ticket in consumed}
    update: dict[str, Any] = {"$set": {"applying": {"owner": owner, **applying}}}
    if unset:
        update["$unset"] = unset
    if (
        db[storage.LEDGER_PARTITIONS]
        .update_one(_lease_filter(county_code, month, owner), update)
        .matched_count
    ):
        return
    raise LeaseLost(partition_id(county_code, month))


def next_round(db: Database, county_code: str, month: str, owner: str) -> dict[str, Any]:
    """The round's writes are done: renew the lease for another round; the marker as it is now."""
    marker = db[storage.LEDGER_PARTITIONS].find_one_and_update(
        _lease_filter(county_code, month, owner),
        {
            "$set": {"lease.expires_at": utcnow() + timedelta(seconds=LEASE_SECONDS)},
            "$unset": {"applying": ""},
        },
        return_document=ReturnDocument.AFTER,
    )
    if marker is None:
        raise LeaseLost(partition_id(county_code, month))
    return marker


# Tickets. An ingest opens one on each county-month it writes, before writing, and hands its
# differences over when done; the holder of the lease applies them, or, when it recomputes those
# operator-months from the lines anyway, takes the ticket off (and its owner then marks them dirty).
# A ticket not handed over within TICKET_SECONDS of its last sign of life is taken as abandoned.
TICKET_SECONDS = 300


def _ticket_groups(groups: Iterable[ObjectId | None]) -> list[ObjectId | None]:
    return sorted(set(groups), key=str)


def open_tickets(
    db: Database, ticket: str, groups: Mapping[tuple[str, str], Iterable[ObjectId | None]]
) -> None:
    """Open this ingest's ticket on each county-month, listing the operator-months it will write."""
    now = utcnow()
    operations = [
        UpdateOne(
            {"_id": partition_id(county_code, month)},
            {
                "$set": {
                    "county_code": county_code,
                    "month": month,
                    "dirty": True,
                    "dirty_at": now,
                    f"tickets.{ticket}.at": now,
                    f"tickets.{ticket}.ready": False,
                },
                "$setOnInsert": {"full": False},
                "$addToSet": {f"tickets.{ticket}.groups": {"$each": _ticket_groups(operator_ids)}},
                "$inc": {"generation": 1},
            },
            upsert=True,
        )
        for (county_code, month), operator_ids in sorted(groups.items())
    ]
    if operations:
        db[storage.LEDGER_PARTITIONS].bulk_write(operations, ordered=True)


def touch_ticket(
    db: Database, ticket: str, county_code: str, month: str, operator_ids: Iterable[ObjectId | None]
) -> bool:
    """Add operator-months to an open ticket and say it is alive; False if it was taken off."""
    touched = db[storage.LEDGER_PARTITIONS].update_one(
        {"_id": partition_id(county_code, month), f"tickets.{ticket}": {"$exists": True}},
        {
            "$set": {f"tickets.{ticket}.at": utcnow()},
            "$addToSet": {f"tickets.{ticket}.groups": {"$each": _ticket_groups(operator_ids)}},
        },
    )
    return touched.matched_count == 1


def ticket_ready(db: Database, ticket: str, county_code: str, month: str) -> bool:
    """Hand the ticket's differences over; False if it was taken off meanwhile."""
    handed = db[storage.LEDGER_PARTITIONS].update_one(
        {"_id": partition_id(county_code, month), f"tickets.{ticket}.ready": False},
        {"$set": {f"tickets.{ticket}.ready": True, "dirty": True}, "$inc": {"generation": 1}},
    )
    return handed.matched_count == 1


def drop_ticket(
    db: Database, ticket: str, county_code: str, month: str, operator_ids: Iterable[ObjectId | None]
) -> None:
    """The ingest gives its differences up: its operator-months are recomputed from the lines."""
    db[storage.LEDGER_PARTITIONS].update_one(
        {"_id": partition_id(county_code, month)},
        {
            "$set": {"county_code": county_code, "month": month, "dirty": True, "dirty_at": utcnow()},
            "$setOnInsert": {"full": False},
            "$unset": {f"tickets.{ticket}": ""},
            "$addToSet": {"dirty_groups": {"$each": _ticket_groups(operator_ids)}},
            "$inc": {"generation": 1},
        },
        upsert=True,
    )


def take_off_tickets(
    db: Database, county_code: str, month: str, owner: str, groups: set[Any] | None
) -> list[str]:
    """After recomputing these operator-months (None: all) from the lines, take off every ticket
    that writes any of them: a ticket still open learns it when its ingest hands over; one handed
    over meanwhile has its operator-months marked dirty, to be recomputed once more."""
    marker = renew_lease(db, county_code, month, owner)
    markers = db[storage.LEDGER_PARTITIONS]
    taken = []
    for ticket, entry in (marker.get("tickets") or {}).items():
        if groups is not None and not groups.intersection(entry.get("groups", [])):
            continue
        lease = _lease_filter(county_code, month, owner)
        if markers.update_one(
            {**lease, f"tickets.{ticket}.ready": False}, {"$unset": {f"tickets.{ticket}": ""}}
        ).matched_count:
            taken.append(ticket)
            continue
        if markers.update_one(
            {**lease, f"tickets.{ticket}.ready": True},
            {
                "$unset": {f"tickets.{ticket}": ""},
                "$addToSet": {"dirty_groups": {"$each": _ticket_groups(entry.get("groups", []))}},
                "$inc": {"generation": 1},
            },
        ).matched_count:
            taken.append(ticket)
            continue
        raise LeaseLost(partition_id(county_code, month))
    return taken


def abandon_tickets(db: Database) -> int:
    """At start-up of the one process that owns the data: every ticket not handed over is abandoned."""
    markers = db[storage.LEDGER_PARTITIONS]
    abandoned = 0
    for marker in markers.find({}, {"county_code": 1, "month": 1, "tickets": 1}):
        for ticket, entry in (marker.get("tickets") or {}).items():
            if not entry.get("ready"):
                drop_ticket(db, ticket, marker["county_code"], marker["month"], entry.get("groups", []))
                abandoned += 1
    return abandoned


def release(db: Database, county_code: str, month: str, owner: str) -> None:
    db[storage.LEDGER_PARTITIONS].update_one(
        _lease_filter(county_code, month, owner), {"$unset": {"lease": ""}}
    )


# Corrections of the catalogue and the links mark the months they reach, found in the derived rows.


def _partitions_since(db: Database, collection: str, match: dict[str, Any]) -> list[tuple[str, str]]:
    pipeline = [{"$match": match}, {"$group": {"_id": {"county_code": "$county_code", "month": "$month"}}}]
    return sorted(
        (g["_id"]["county_code"], g["_id"]["month"]) for g in storage.aggregate(db[collection], pipeline)
    )


def mark_product_changed(db: Database, product_id: ObjectId, since: datetime | None = None) -> int:
    """A product's rate, certification or operator changed: its months from ``since`` on are dirty."""
    match: dict[str, Any] = {"product_id": product_id}
    if since is not None:
        match["month"] = {"$gte": local_month(since)}
    partitions = _partitions_since(db, storage.SALES_DAILY, match)
    mark_dirty(db, partitions)
    return len(partitions)


def mark_operator_links_changed(db: Database, operator_id: ObjectId, since: datetime | None = None) -> int:
    """An operator's benefit links changed: the pools it had from ``since`` on must be shared again."""
    match: dict[str, Any] = {"operator_id": operator_id}
    if since is not None:
        match["month"] = {"$gte": local_month(since)}
    partitions = _partitions_since(db, storage.OPERATOR_POOLS, match)
    mark_dirty(db, partitions)
    return len(partitions)
