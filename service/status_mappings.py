"""A county's own reading of a channel's order statuses (订单状态映射): what an unknown status means.

Each export adapter knows the statuses its platform writes (adapters/common.py); a row whose status
none of its tables knows is set aside, and the import run lists it by its status. County staff
decide what such a status means for their county — a sale, not yet a sale, a refund (kept at 0) or
never a sale — and the importer reads it as if the adapter's own table said so; importing the file
again then counts the rows it had set aside. A status the adapter already knows cannot be
mapped: the built-in tables are the same for every county. Every change is audited.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.base import REGISTRY, Adapter
from adapters.common import ExportAdapter, Outcome, status_key, unknown_status
from adapters.quoting import QUOTED_CELL_CHARS
from adapters.tabular import Row
from service import access, audit, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Coded, Forbidden, NotFound, ValidationFailed

OUTCOMES = tuple(outcome.value for outcome in Outcome)
# A run quotes a status up to this length; a longer one could never be read back from the run.
MAX_STATUS_CHARS = QUOTED_CELL_CHARS
# How many of the county's latest import runs are read for statuses nobody has mapped yet.
RECENT_RUNS = 200
_NO_ROW = Row(0, {})


class StatusAlreadyKnown(ValidationFailed):
    """The channel's importer already knows the status; its built-in meaning is not overridden."""

    code = "status_already_known"


class StatusMappingNotFound(NotFound):
    code = "status_mapping_not_found"


# Channels and what their importers already know ---------------------------------------------------


def _export_adapters(channel: str) -> list[ExportAdapter]:
    return [
        adapter
        for adapter in REGISTRY.values()
        if isinstance(adapter, ExportAdapter) and adapter.channel == channel
    ]


def mappable_channels() -> list[str]:
    """Channels whose importers read an order-status column (the only ones a mapping can apply to)."""
    return sorted({adapter.channel for adapter in REGISTRY.values() if isinstance(adapter, ExportAdapter)})


def built_in_outcome(channel: str, status: str) -> Outcome | None:
    """What the channel's importers make of the status on their own (None when none knows it)."""
    for adapter in _export_adapters(channel):
        for layout in adapter.declared_layouts():
            for table in (layout.statuses, layout.after_sale):
                outcome = table.outcome_of(status) if table is not None else None
                if outcome is not None:
                    return outcome
        # Rules written in code rather than in a table (京东's "(删除)…" orders).
        outcome, reason = adapter.outcome(status, None, _NO_ROW)
        if reason != unknown_status(adapter.status_header(_NO_ROW), status):
            return outcome
    return None


# Reading ------------------------------------------------------------------------------------------


_COUNTY_CODE = re.compile(r"^[0-9]{6}$")


def _require_staff_of(actor: Principal, county_code: str) -> None:
    if not actor.is_staff:
        raise Forbidden(
            Coded(
                "status_mapping.staff_only",
                "Only county staff and admins may see or change order-status mappings.",
            )
        )
    access.require_county(actor, county_code)
    if not _COUNTY_CODE.match(county_code):
        raise ValidationFailed(
            Coded("status_mapping.bad_county", "Not a county code."),
            details={"county_code": [Coded("field.county_code", "Must be a 6-digit county code.")]},
        )


def outcomes_for(db: Database, county_code: str, channel: str) -> dict[str, Outcome]:
    """The county's mapped statuses of the channel, as the importer takes them (``extra_statuses``)."""
    found = db[storage.STATUS_MAPPINGS].find(
        {"county_code": county_code, "channel": channel}, {"status": 1, "outcome": 1}
    )
    return {item["status"]: Outcome(item["outcome"]) for item in found if item["outcome"] in OUTCOMES}


def parse_options(db: Database, county_code: str, adapter: Adapter) -> dict[str, Any]:
    """The keyword arguments of ``adapter.parse`` for an import into the county: its mapped statuses,
    for adapters that read an order-status column (the others take none)."""
    if not isinstance(adapter, ExportAdapter):
        return {}
    return {"extra_statuses": outcomes_for(db, county_code, adapter.channel)}


_UNKNOWN = re.compile(r"^(?P<header>[^:]+): unknown status (?P<quoted>'.*'|\".*\")$")


def read_unknown_status(reason: str) -> tuple[str, str] | None:
    """The column and status of a run's skipped reason that names an unknown status, else None.

    A status the run had to cut short (longer than it quotes) is None too: it cannot be mapped.
    """
    match = _UNKNOWN.match(reason)
    if match is None:
        return None
    try:
        status = ast.literal_eval(match["quoted"])
    except (ValueError, SyntaxError):
        return None
    if not isinstance(status, str) or len(status) > MAX_STATUS_CHARS:
        return None
    return match["header"], status


def unmapped_in(runs: Iterable[dict[str, Any]], mapped: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The unknown statuses the runs (newest first) set aside that are neither mapped nor known (pure)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        channel = run.get("channel")
        for skipped in run.get("skipped_reasons") or []:
            found = read_unknown_status(str(skipped.get("reason") or ""))
            if found is None or not channel:
                continue
            header, status = found
            key = (channel, status_key(status))
            if key in mapped:
                continue
            item = seen.get(key)
            if item is None:
                if built_in_outcome(channel, status) is not None:
                    continue  # the importer has learnt it since
                item = seen[key] = {
                    "channel": channel,
                    "status": status,
                    "headers": [],
                    "rows": 0,
                    "runs": 0,
                    "last_seen_at": run.get("started_at"),
                    "last_run_id": run.get("_id"),
                }
            if header not in item["headers"]:
                item["headers"].append(header)
            item["rows"] += int(skipped.get("rows") or 0)
            item["runs"] += 1
    return sorted(seen.values(), key=lambda item: (-item["rows"], item["channel"], item["status"]))


def list_mappings(db: Database, actor: Principal, county_code: str) -> dict[str, Any]:
    """The county's mappings by channel and status, and the unknown statuses its recent import runs
    set aside that nobody has mapped yet (most rows first), so staff see what to map."""
    _require_staff_of(actor, county_code)
    mappings = list(
        db[storage.STATUS_MAPPINGS]
        .find({"county_code": county_code})
        .sort([("channel", 1), ("status", 1), ("_id", 1)])
    )
    runs = (
        db[storage.IMPORT_RUNS]
        .find({"county_code": county_code}, {"channel": 1, "skipped_reasons": 1, "started_at": 1})
        .sort([("started_at", -1), ("_id", -1)])
        .limit(RECENT_RUNS)
    )
    mapped = {(item["channel"], item["status"]) for item in mappings}
    return {
        "county_code": county_code,
        "items": mappings,
        "unmapped": unmapped_in(runs, mapped),
        "recent_runs": RECENT_RUNS,
    }


# Changing -----------------------------------------------------------------------------------------


def _checked(channel: Any, status: Any, outcome: Any) -> tuple[str, str, str]:
    """The mapping's channel, status (as compared) and outcome, or ValidationFailed naming each bad one."""
    errors: dict[str, list[str]] = {}
    channels = mappable_channels()
    if channel not in channels:
        errors["channel"] = [
            Coded("field.one_of", f"Must be one of: {', '.join(channels)}.", choices=", ".join(channels))
        ]
    key = status_key(status) if isinstance(status, str) else ""
    if not key:
        errors["status"] = [Coded("field.required", "The status is empty.")]
    elif len(key) > MAX_STATUS_CHARS:
        errors["status"] = [
            Coded("field.length_max", f"Longer than {MAX_STATUS_CHARS} characters.", max=MAX_STATUS_CHARS)
        ]
    if outcome not in OUTCOMES:
        errors["outcome"] = [
            Coded("field.one_of", f"Must be one of: {', '.join(OUTCOMES)}.", choices=", ".join(OUTCOMES))
        ]
    if errors:
        raise ValidationFailed(
            Coded("status_mapping.invalid", "The order-status mapping is not valid."), details=errors
        )
    known = built_in_outcome(channel, key)
    if known is not None:
        message = (
            f"The {channel} importer already reads the status {key!r} (as {known.value}); "
            "only statuses it does not know can be mapped."
        )
        raise StatusAlreadyKnown(message, details={"status": [message]})
    return channel, key, outcome


def set_mapping(
    db: Database, actor: Principal, county_code: str, *, channel: Any, status: Any, outcome: Any
) -> dict[str, Any]:
    """Map a status of the channel to an outcome in the county (replacing its earlier outcome)."""
    _require_staff_of(actor, county_code)
    channel, status, outcome = _checked(channel, status, outcome)
    collection = db[storage.STATUS_MAPPINGS]
    key = {"county_code": county_code, "channel": channel, "status": status}
    current = collection.find_one(key)
    if current is not None and current["outcome"] == outcome:
        return current
    now = utcnow()
    update = {
        "$set": {"outcome": outcome, "updated_at": now, "updated_by": actor.as_actor()},
        "$setOnInsert": {"created_at": now, "created_by": actor.as_actor()},
    }
    try:
        before = collection.find_one_and_update(
            key, update, upsert=True, return_document=ReturnDocument.BEFORE
        )
    except DuplicateKeyError:
        # Another worker inserted the same mapping between our find and insert: update theirs.
        before = collection.find_one_and_update(key, update, return_document=ReturnDocument.BEFORE)
    after = collection.find_one(key)
    audit.record(
        db,
        actor,
        "status_mapping.set",
        entity_kind="status_mapping",
        entity_id=after["_id"],
        county_code=county_code,
        before=before,
        after=after,
        note=f"{channel} {status} → {outcome}",
    )
    return after


def delete_mapping(db: Database, actor: Principal, county_code: str, mapping_id: ObjectId) -> dict[str, Any]:
    """Remove a mapping of the county: rows of that status are set aside again from the next import."""
    _require_staff_of(actor, county_code)
    removed = db[storage.STATUS_MAPPINGS].find_one_and_delete({"_id": mapping_id, "county_code": county_code})
    if removed is None:
        raise StatusMappingNotFound("No such order-status mapping in this county.")
    audit.record(
        db,
        actor,
        "status_mapping.delete",
        entity_kind="status_mapping",
        entity_id=removed["_id"],
        county_code=county_code,
        before=removed,
        note=f"{removed['channel']} {removed['status']} (was {removed['outcome']})",
    )
    return removed
