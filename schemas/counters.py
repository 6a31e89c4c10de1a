"""Schemas of special counters (专柜), pavilions (专馆) and zones (专区), and of their event pushes."""

from __future__ import annotations

from marshmallow import fields, validate

from adapters.counter import CABINET_NO
from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, PageArgsSchema
from service.counters import KINDS, MAX_LOCATION_LENGTH, MAX_NAME_LENGTH, STATUSES

_KIND_HELP = "; ".join(f"{code} {label}" for code, label in KINDS.items())
_NAME = validate.Length(min=1, max=MAX_NAME_LENGTH)
_LOCATION = validate.Length(max=MAX_LOCATION_LENGTH)


class CounterStatsSchema(BaseSchema):
    """Events received so far, by outcome."""

    accepted = fields.Integer()
    duplicate = fields.Integer()
    unmatched = fields.Integer()
    uncertified = fields.Integer()
    rejected = fields.Integer()


class CounterSchema(BaseSchema):
    cabinet_no = fields.String(metadata={"description": "扶贫网机柜编号, unique."})
    name = fields.String()
    kind = fields.String(metadata={"description": _KIND_HELP + "; the ledger channel of its events."})
    location = fields.String(allow_none=True)
    county_code = fields.String()
    active = fields.Boolean(metadata={"description": "An inactive cabinet's pushes are refused."})
    secret_issued_at = fields.DateTime()
    last_push_at = fields.DateTime(allow_none=True)
    stats = fields.Nested(CounterStatsSchema)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CounterWithSecretSchema(CounterSchema):
    secret = fields.String(
        metadata={"description": "The push signing secret, shown only here: store it in the cabinet now."}
    )


class CounterCreateSchema(BaseSchema):
    cabinet_no = fields.String(
        required=True,
        validate=validate.Regexp(
            CABINET_NO, error=Coded("counter.bad_cabinet_no", "1–64 letters, digits, '-' or '_'.")
        ),
        metadata={"description": "扶贫网机柜编号."},
    )
    name = fields.String(required=True, validate=_NAME)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={"description": _KIND_HELP})
    location = fields.String(validate=_LOCATION, allow_none=True)
    county_code = CountyCode(required=True)


class CounterPatchSchema(BaseSchema):
    name = fields.String(validate=_NAME)
    location = fields.String(validate=_LOCATION, allow_none=True)
    active = fields.Boolean()


class CounterQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    kind = fields.String(validate=validate.OneOf(KINDS))
    active = fields.Boolean()
    q = fields.String(
        validate=validate.Length(min=1, max=MAX_NAME_LENGTH),
        metadata={"description": "Part of the cabinet number, name or location."},
    )


class CounterEventOutcomeSchema(BaseSchema):
    index = fields.Integer(metadata={"description": "The event's position in the pushed array (from 0)."})
    event_id = fields.String(allow_none=True)
    status = fields.String(
        metadata={
            "description": "accepted; duplicate (seen before, ignored); unmatched (no catalogue product has "
            "the SKU/barcode) or uncertified (not a certified product) — both stored and flagged; "
            "rejected (not stored, see message)."
        }
    )
    message = fields.String(allow_none=True)


class CounterPushCountsSchema(BaseSchema):
    accepted = fields.Integer()
    duplicate = fields.Integer()
    unmatched = fields.Integer()
    uncertified = fields.Integer()
    rejected = fields.Integer()


class CounterPushResultSchema(BaseSchema):
    cabinet_no = fields.String()
    received = fields.Integer()
    counts = fields.Nested(CounterPushCountsSchema)
    events = fields.List(fields.Nested(CounterEventOutcomeSchema))


# The request body of a push, for the OpenAPI document (the route reads the raw bytes for the HMAC).
EVENT_JSON_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["event_id", "cabinet_no", "type", "quantity", "amount_fen", "occurred_at"],
        "properties": {
            "event_id": {"type": "string", "maxLength": 200},
            "cabinet_no": {"type": "string"},
            "type": {"type": "string", "enum": ["sale", "refund"]},
            "sku": {"type": "string"},
            "barcode": {"type": "string", "description": "GTIN-13"},
            "quantity": {"type": "integer", "minimum": 1},
            "amount_fen": {"type": "integer", "minimum": 0},
            "occurred_at": {"type": "string", "format": "date-time", "description": "With a UTC offset."},
            "refund_of": {
                "type": "string",
                "nullable": True,
                "description": "For a refund: the sale's event_id.",
            },
        },
    },
}

assert set(STATUSES) == set(CounterPushCountsSchema().fields)
