"""Partition marks and leases: which county-months of the ledger need recomputing, and who may.

A county-month's marker (collection ``ledger_partitions``) says whether its derived figures are
dirty, whole (``full``: a correction of rates, links or SKU mappings) or only some operator-months
(``dirty_groups``: what ingests wrote), and counts each mark in ``generation`` so a rebuild cleans it
only if nothing was marked while it worked. The same marker carries the lease a rebuild holds.
Ingests, catalogue and link changes mark; ``service.ledger`` rebuilds.
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


def release_clean(db: Database, county_code: str, month: str, owner: str, generation: int) -> bool:
    """Clean the partition and free the lease in one step, only if no ingest marked it meanwhile."""
    released = db[storage.LEDGER_PARTITIONS].update_one(
        {**_lease_filter(county_code, month, owner), "generation": generation},
        {
            "$set": {"dirty": False, "full": False, "dirty_groups": [], "rebuilt_at": utcnow()},
            "$unset": {"lease": ""},
        },
    )
    return released.matched_count == 1


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
