"""Special counters (专柜), pavilions (专馆) and zones (专区): the cabinet registry and event pushes."""

from __future__ import annotations

from flask import request

from schemas.base import page_of
from schemas.counters import (
    EVENT_JSON_SCHEMA,
    CounterCreateSchema,
    CounterPatchSchema,
    CounterPushResultSchema,
    CounterQueryArgsSchema,
    CounterSchema,
    CounterWithSecretSchema,
)
from service import counters
from service.access import STAFF, allow, public
from service.api.openapi import IF_MATCH_REQUIRED
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "counters",
    __name__,
    url_prefix="/api/v1/counters",
    description="Smart cabinets (专柜/专馆/专区): registered by county staff, pushing signed sale events.",
)
CounterPageSchema = page_of(CounterSchema, "CounterPageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(CounterQueryArgsSchema, location="query")
@blp.response(200, CounterPageSchema)
@allow(*STAFF)
def list_counters(args):
    """Cabinets of the caller's counties, by cabinet number (secrets are never shown)."""
    items, total = counters.list_counters(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(CounterCreateSchema)
@blp.response(201, CounterWithSecretSchema)
@allow(*STAFF)
def create_counter(data):
    """Register a cabinet; the response carries its push secret, shown this once."""
    return with_etag(counters.create_counter(get_db(), principal(), data), 201)


@blp.route("/<cabinet_no>", methods=["GET"])
@blp.response(200, CounterSchema)
@allow(*STAFF)
def get_counter(cabinet_no):
    return with_etag(counters.get_counter(get_db(), principal(), cabinet_no))


@blp.route("/<cabinet_no>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(CounterPatchSchema)
@blp.response(200, CounterSchema)
@allow(*STAFF)
def update_counter(changes, cabinet_no):
    """Rename, relocate or (de)activate a cabinet (send If-Match)."""
    return with_etag(counters.update_counter(get_db(), principal(), cabinet_no, changes, expected_version))


@blp.route("/<cabinet_no>/rotate-secret", methods=["POST"])
@blp.response(200, CounterWithSecretSchema)
@allow(*STAFF)
def rotate_secret(cabinet_no):
    """Issue a new push secret (shown this once); the old one stops working at once."""
    return with_etag(counters.rotate_secret(get_db(), principal(), cabinet_no))


@blp.route("/<cabinet_no>/events", methods=["POST"])
@blp.doc(
    security=[],
    parameters=[
        {
            "in": "header",
            "name": "X-Counter-Timestamp",
            "required": True,
            "schema": {"type": "string"},
            "description": "Unix seconds; refused if more than 300 s from the server's clock.",
        },
        {
            "in": "header",
            "name": "X-Counter-Signature",
            "required": True,
            "schema": {"type": "string"},
            "description": 'sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>',
        },
    ],
    requestBody={"required": True, "content": {"application/json": {"schema": EVENT_JSON_SCHEMA}}},
)
@blp.response(200, CounterPushResultSchema)
@public
def push_events(cabinet_no):
    """A cabinet's sale and refund events, signed with its secret; each event's outcome is reported.

    Public because a cabinet is a device, not a user: it holds no bearer token, and the
    HMAC over the raw body (checked in service.counters) is its authentication. Any
    authentication failure is the same 401.
    """
    return counters.receive_events(
        get_db(),
        cabinet_no,
        timestamp=request.headers.get("X-Counter-Timestamp"),
        signature_header=request.headers.get("X-Counter-Signature"),
        # The JSON check before the view read the body with cache=True: these are the exact bytes signed.
        body=request.get_data(cache=True),
    )
