"""The append-only audit log: who changed what, when, from what to what.

Entries are only ever inserted; no code path updates or deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bson import ObjectId
from flask import g, has_request_context
from pymongo.database import Database

from service import access, storage
from service.access import Principal
from service.clock import end_of_local_day, start_of_local_day, utcnow

# Fields never copied into the log (secrets, and PII the log must not hold).
_REDACTED = {"password_hash", "id_number_hash", "secret_hash", "token_hash"}
# Bookkeeping that changes with every write, or is derived from a field the change already shows.
BOOKKEEPING = frozenset(
    {
        "_id",
        "version",
        "created_at",
        "created_by",
        "updated_at",
        "status_history",
        "channel_sku_keys",
        "certificate_numbers",
        "fingerprint",
        "declared_at",
        "declared_by",
        "decided_at",
        "decided_by",
        "ended_at",
        "ended_by",
        "requested_by",
        "updated_by",
        "stats",
    }
)


def _snapshot(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    return {key: value for key, value in document.items() if key not in _REDACTED}


def record(
    db: Database,
    actor: Principal,
    action: str,
    *,
    entity_kind: str,
    entity_id: Any,
    county_code: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    entry = {
        "at": utcnow(),
        "actor": actor.as_actor(),
        "action": action,
        "entity": {"kind": entity_kind, "id": entity_id},
        "county_code": county_code,
        "before": _snapshot(before),
        "after": _snapshot(after),
        "note": note,
        "request_id": g.get("request_id") if has_request_context() else None,
    }
    db[storage.AUDIT_LOG].insert_one(entry)


def list_entries(
    db: Database,
    principal: Principal,
    *,
    county_code: str | None = None,
    username: str | None = None,
    entity_kind: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Newest first; ``since`` through ``until`` are whole Asia/Shanghai days, both included."""
    query: dict[str, Any] = dict(access.county_filter(principal))
    if county_code is not None:
        access.require_county(principal, county_code)
        query["county_code"] = county_code
    if username is not None:
        query["actor.username"] = username
    if entity_kind is not None:
        query["entity.kind"] = entity_kind
    if entity_id is not None:
        query["entity.id"] = ObjectId(entity_id) if ObjectId.is_valid(entity_id) else entity_id
    if action is not None:
        query["action"] = action
    if since is not None or until is not None:
        query["at"] = {
            **({"$gte": start_of_local_day(since)} if since is not None else {}),
            **({"$lt": end_of_local_day(until)} if until is not None else {}),
        }
    collection = db[storage.AUDIT_LOG]
    total = collection.count_documents(query)
    cursor = collection.find(query).sort([("at", -1), ("_id", -1)])
    items = list(cursor.skip((page - 1) * per_page).limit(per_page))
    return items, total


def changed_fields(entry: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """An update's changed fields as (name, before, after); nested records by dotted name ("plan.year").

    A creation or a removal changes no field: the whole record is new or gone.
    """
    before, after = _flat(entry.get("before") or {}), _flat(entry.get("after") or {})
    if not before or not after:
        return []
    return [
        (name, before.get(name), after.get(name))
        for name in {**before, **after}
        if BOOKKEEPING.isdisjoint(name.split(".")) and before.get(name) != after.get(name)
    ]


def _flat(snapshot: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in snapshot.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
