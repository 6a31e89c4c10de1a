"""Schemas of a county's order-status mappings (订单状态映射) and the statuses left to map."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import BaseSchema, ObjectIdField
from schemas.operators import ActorSchema
from service.status_mappings import MAX_STATUS_CHARS, OUTCOMES, mappable_channels

OUTCOME_HELP = (
    "sale: counted as a sale; pending: not yet a sale, counted when a later export is imported; "
    "zeroed: a refund, the line kept with amount 0; skipped: never a sale."
)


class StatusMappingSetSchema(BaseSchema):
    channel = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        # Documented, and checked by the service with its own message (service/status_mappings.py).
        metadata={
            "description": "The ledger channel whose export writes the status.",
            "enum": mappable_channels(),
        },
    )
    status = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "maxLength": MAX_STATUS_CHARS,
            "pattern": r"\S",
            "description": "The status as the export writes it (订单状态 or 售后状态); compared with "
            "full-width punctuation folded and spaces removed. At most 40 characters.",
        },
    )
    outcome = fields.String(
        required=True, validate=validate.OneOf(OUTCOMES), metadata={"description": OUTCOME_HELP}
    )


class StatusMappingSchema(BaseSchema):
    id = ObjectIdField(attribute="_id")
    county_code = fields.String()
    channel = fields.String()
    status = fields.String(
        metadata={"description": "As compared (full-width punctuation folded, no spaces)."}
    )
    outcome = fields.String(metadata={"description": OUTCOME_HELP})
    created_by = fields.Nested(ActorSchema)
    created_at = fields.DateTime()
    updated_by = fields.Nested(ActorSchema)
    updated_at = fields.DateTime()


class UnmappedStatusSchema(BaseSchema):
    channel = fields.String()
    status = fields.String(metadata={"description": "As the export wrote it."})
    headers = fields.List(fields.String(), metadata={"description": "The columns it was seen in."})
    rows = fields.Integer(metadata={"description": "Rows set aside for it, summed over the runs read."})
    runs = fields.Integer()
    last_seen_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the latest such run started."}
    )
    last_run_id = ObjectIdField(allow_none=True)


class StatusMappingListSchema(BaseSchema):
    county_code = fields.String()
    items = fields.List(fields.Nested(StatusMappingSchema))
    unmapped = fields.List(
        fields.Nested(UnmappedStatusSchema),
        metadata={
            "description": "Unknown statuses the county's recent import runs set aside, most rows first."
        },
    )
    recent_runs = fields.Integer(metadata={"description": "How many of the latest import runs were read."})
