"""Special counters (专柜), pavilions (专馆) and zones (专区): the cabinet registry and its event pushes.

County staff register each smart cabinet under its 扶贫网机柜编号 (``cabinet_no``, the
document's ``_id``); the service issues a random secret, shown once, that the cabinet
uses to sign its pushes. A push is a JSON array of sale/refund events (see
adapters/counter.py); each event becomes a ledger line of the cabinet's county, with the
cabinet's kind as channel and ``<cabinet_no>:<event_id>`` as external id (event ids are unique
per cabinet only), so a repeated push or the operator's daily export of the same events never
counts twice, and two cabinets' equal event ids never collide.

About the secret: verifying an HMAC needs the secret itself, so it is stored as issued
(encryption at rest is out of scope here); it is returned only by create and
rotate-secret, never by reads, never written to the audit log and never logged.

Pushes are authenticated by the signature alone (the route is ``@public``: a cabinet is
not a user and has no bearer token). Every failure — unknown or inactive cabinet, bad
signature, stale timestamp — gets the same 401, so the answer tells nothing about which
cabinet numbers exist. A replayed push inside the 300 s window is harmless: its events
are duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.base import RowError, SaleLine
from adapters.counter import CABINET_NO, parse_event
from service import access, audit, ledger, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import BadRequest, Coded, Conflict, Forbidden, NotFound, PreconditionFailed, Unauthorized
from service.ingest_scope import IngestScope

log = logging.getLogger(__name__)

KINDS = {"counter": "专柜", "pavilion": "专馆", "zone": "专区"}
EDITABLE = ("name", "location", "active")
MAX_NAME_LENGTH = 100
MAX_LOCATION_LENGTH = 200
# How far a push's timestamp may be from our clock, either way.
MAX_CLOCK_SKEW_SECONDS = 300
MAX_EVENTS_PER_PUSH = 1000
SIGNATURE_PREFIX = "sha256="
# Per-event outcomes of a push, in the order they are reported.
STATUSES = ("accepted", "duplicate", "unmatched", "uncertified", "rejected")
_UNAUTHENTICATED = Coded("counter.unauthenticated", "The push could not be authenticated.")
# Compared against when the cabinet is unknown, so both paths do the same work.
_DECOY_SECRET = secrets.token_urlsafe(32)


# Registry ---------------------------------------------------------------------------------------


def present(counter: Mapping[str, Any]) -> dict[str, Any]:
    """A cabinet as reads show it: everything but the secret."""
    shown = {key: value for key, value in counter.items() if key != "secret"}
    shown["cabinet_no"] = counter["_id"]
    shown.setdefault("stats", {})
    return shown


def _issued(counter: Mapping[str, Any]) -> dict[str, Any]:
    """The one response that carries the secret (create, rotate-secret)."""
    return {**present(counter), "secret": counter["secret"]}


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def load_counter(db: Database, cabinet_no: str) -> dict[str, Any]:
    counter = db[storage.COUNTERS].find_one({"_id": cabinet_no}) if CABINET_NO.match(cabinet_no) else None
    if counter is None:
        raise NotFound(Coded("counter.not_found", "No such cabinet."))
    return counter


def _visible(db: Database, actor: Principal, cabinet_no: str) -> dict[str, Any]:
    counter = load_counter(db, cabinet_no)
    access.require_county(actor, counter["county_code"])
    return counter


def get_counter(db: Database, actor: Principal, cabinet_no: str) -> dict[str, Any]:
    return present(_visible(db, actor, cabinet_no))


def list_counters(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Cabinets of the staff member's counties (admins: all), by cabinet number."""
    query: dict[str, Any] = dict(access.county_filter(actor))
    if county_code is not None:
        access.require_county(actor, county_code)
        query["county_code"] = county_code
    if kind is not None:
        query["kind"] = kind
    if active is not None:
        query["active"] = active
    if q:
        pattern = {"$regex": re.escape(q.strip())}
        query["$or"] = [{"_id": pattern}, {"name": pattern}, {"location": pattern}]
    found, total = storage.page_of(db[storage.COUNTERS], query, [("_id", 1)], page, per_page)
    return [present(counter) for counter in found], total


def create_counter(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Register a cabinet (staff of its county); the response is the only one showing its secret."""
    if not actor.is_staff:
        raise Forbidden(Coded("counter.staff_only", "Only county staff and admins may register cabinets."))
    access.require_county(actor, data["county_code"])
    now = utcnow()
    counter = {
        "_id": data["cabinet_no"],
        "name": data["name"].strip(),
        "kind": data["kind"],
        "location": data.get("location"),
        "county_code": data["county_code"],
        "active": True,
        "secret": new_secret(),
        "secret_issued_at": now,
        "stats": {},
        "last_push_at": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    try:
        db[storage.COUNTERS].insert_one(counter)
    except DuplicateKeyError:
        raise Conflict(
            Coded(
                "counter.cabinet_taken",
                f"Cabinet {data['cabinet_no']} is already registered.",
                cabinet_no=data["cabinet_no"],
            ),
            details={"cabinet_no": [Coded("field.already_registered", "Already registered.")]},
        ) from None
    audit.record(
        db,
        actor,
        "counter.create",
        entity_kind="counter",
        entity_id=counter["_id"],
        county_code=counter["county_code"],
        after=present(counter),
    )
    return _issued(counter)


def update_counter(
    db: Database,
    actor: Principal,
    cabinet_no: str,
    changes: Mapping[str, Any],
    expected_version: Callable[[str], int],
) -> dict[str, Any]:
    """Rename, relocate, or (de)activate a cabinet; ``expected_version`` reads the caller's If-Match."""
    before = _visible(db, actor, cabinet_no)
    expected = expected_version(before["_id"])
    update = {name: changes[name] for name in EDITABLE if name in changes}
    if "name" in update:
        update["name"] = update["name"].strip()
    if expected != before["version"]:
        raise PreconditionFailed("The cabinet changed since you read it; read it again.")
    update["updated_at"] = utcnow()
    after = db[storage.COUNTERS].find_one_and_update(
        {"_id": before["_id"], "version": expected},
        {"$set": update, "$inc": {"version": 1}},
        return_document=True,
    )
    if after is None:
        raise PreconditionFailed("The cabinet changed since you read it; read it again.")
    audit.record(
        db,
        actor,
        "counter.update",
        entity_kind="counter",
        entity_id=before["_id"],
        county_code=before["county_code"],
        before=present(before),
        after=present(after),
    )
    return present(after)


def rotate_secret(db: Database, actor: Principal, cabinet_no: str) -> dict[str, Any]:
    """Issue a new secret (shown once); the old one stops working at once."""
    before = _visible(db, actor, cabinet_no)
    now = utcnow()
    after = db[storage.COUNTERS].find_one_and_update(
        {"_id": before["_id"]},
        {
            "$set": {"secret": new_secret(), "secret_issued_at": now, "updated_at": now},
            "$inc": {"version": 1},
        },
        return_document=True,
    )
    audit.record(
        db,
        actor,
        "counter.rotate_secret",
        entity_kind="counter",
        entity_id=before["_id"],
        county_code=before["county_code"],
        note="A new push secret was issued.",
    )
    return _issued(after)


# Push authentication ----------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + raw body): what a cabinet sends."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def authenticate_push(
    db: Database,
    cabinet_no: str,
    timestamp: str | None,
    provided: str | None,
    body: bytes,
    now: float | None = None,
) -> dict[str, Any]:
    """The active cabinet that signed this body, or one and the same 401 for every failure."""
    counter = db[storage.COUNTERS].find_one({"_id": cabinet_no}) if CABINET_NO.match(cabinet_no) else None
    usable = counter is not None and counter.get("active", False)
    secret = counter["secret"] if usable else _DECOY_SECRET
    timestamp = (timestamp or "").strip()
    fresh = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
    if fresh:
        current = time.time() if now is None else now
        fresh = abs(current - int(timestamp)) <= MAX_CLOCK_SKEW_SECONDS
    expected = signature(secret, timestamp, body).encode()
    # Constant-time, and computed even when the cabinet is unknown: no timing oracle either.
    matches = hmac.compare_digest(expected, (provided or "").strip().lower().encode("utf-8", "replace"))
    if counter is None or not (usable and fresh and matches):
        log.info("counter push refused", extra={"cabinet_no": cabinet_no[:64]})
        raise Unauthorized(_UNAUTHENTICATED)
    return counter


# Event ingest -----------------------------------------------------------------------------------


def _outcome(index: int, obj: Any, status: str, message: str | None = None) -> dict[str, Any]:
    event_id = obj.get("event_id") if isinstance(obj, dict) else None
    return {
        "index": index,
        "event_id": event_id if isinstance(event_id, str) else None,
        "status": status,
        "message": message,
    }


def _stored(db: Database, counter: Mapping[str, Any], event_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The cabinet's ledger lines with these event ids, by event id (one query)."""
    if not event_ids:
        return {}
    cursor = db[storage.SALES].find(
        {
            "county_code": counter["county_code"],
            "channel": counter["kind"],
            "external_id": {"$in": sorted(event_ids)},
        },
        {"external_id": 1, "matched": 1, "certified": 1},
    )
    return {sale["external_id"]: sale for sale in cursor}


def _status(sale: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """What became of a stored event: counted, or stored but flagged for the county to follow up."""
    if sale is None:
        return "rejected", "The event could not be stored."
    if not sale.get("matched"):
        return "unmatched", "No catalogue product has this SKU or barcode."
    if not sale.get("certified"):
        return "uncertified", "The product is not a certified poverty-alleviation product."
    return "accepted", None


def _events(body: bytes) -> list[Any]:
    try:
        events = json.loads(body)
    except ValueError as error:
        raise BadRequest(Coded("body.not_json", f"The body is not valid JSON: {error}.")) from None
    if not isinstance(events, list):
        raise BadRequest(Coded("counter.not_a_list", "The body must be a JSON array of events."))
    if len(events) > MAX_EVENTS_PER_PUSH:
        raise BadRequest(
            Coded(
                "counter.too_many_events",
                f"At most {MAX_EVENTS_PER_PUSH} events per push.",
                most=MAX_EVENTS_PER_PUSH,
            )
        )
    return events


def receive_events(
    db: Database,
    cabinet_no: str,
    *,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float | None = None,
) -> dict[str, Any]:
    """Authenticate a cabinet's push and put its events in the ledger; report each event's fate."""
    counter = authenticate_push(db, cabinet_no, timestamp, signature_header, body, now)
    events = _events(body)
    outcomes: dict[int, dict[str, Any]] = {}
    candidates: dict[int, SaleLine] = {}
    for index, obj in enumerate(events):
        parsed = parse_event(obj, index, channel=counter["kind"])
        if isinstance(parsed, RowError):
            outcomes[index] = _outcome(index, obj, "rejected", parsed.message)
        elif obj["cabinet_no"] != counter["_id"]:
            outcomes[index] = _outcome(
                index, obj, "rejected", f"The event is for cabinet {obj['cabinet_no']}."
            )
        else:
            candidates[index] = parsed

    # Seen before (an earlier push, the daily export, or earlier in this push): accepted and ignored.
    seen = _stored(db, counter, {line.external_id for line in candidates.values()})
    fresh: dict[int, SaleLine] = {}
    for index, line in candidates.items():
        if line.external_id in seen:
            outcomes[index] = _outcome(index, events[index], "duplicate", "Already received; ignored.")
        else:
            seen[line.external_id] = {}
            fresh[index] = line

    errors = ledger.ingest(db, fresh.values(), IngestScope(counter["county_code"])).errors if fresh else []
    for error in errors:
        outcomes[error["row"]] = _outcome(error["row"], events[error["row"]], "rejected", error["message"])
    stored = _stored(db, counter, {line.external_id for line in fresh.values()})
    for index, line in fresh.items():
        if index not in outcomes:
            outcomes[index] = _outcome(index, events[index], *_status(stored.get(line.external_id)))

    reported = [outcomes[index] for index in sorted(outcomes)]
    counts = Counter(outcome["status"] for outcome in reported)
    summary = {status: counts.get(status, 0) for status in STATUSES}
    increments = {f"stats.{status}": number for status, number in summary.items() if number}
    db[storage.COUNTERS].update_one(
        {"_id": counter["_id"]},
        {"$set": {"last_push_at": utcnow()}, **({"$inc": increments} if increments else {})},
    )
    log.info("counter push", extra={"cabinet_no": counter["_id"], **summary})
    return {"cabinet_no": counter["_id"], "received": len(events), "counts": summary, "events": reported}
