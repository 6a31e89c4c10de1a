"""Schemas of benefit links (带贫关系)."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from schemas.households import ImportFileSchema
from service.benefit_links import MAX_WEIGHT
from service.vocabulary import MECHANISMS

_MECHANISM_HELP = "; ".join(f"{code} {label}" for code, label in MECHANISMS.items())


class BenefitLinkSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    operator_id = ObjectIdField()
    household_id = ObjectIdField()
    household_no = fields.String()
    head_name = fields.String(
        allow_none=True, metadata={"description": "Masked (张*) for enterprise accounts."}
    )
    county_code = fields.String(metadata={"description": "The operator's county."})
    household_county_code = fields.String()
    mechanism = fields.String(metadata={"description": _MECHANISM_HELP})
    weight = fields.Integer()
    valid_from = fields.Date(metadata={"description": "First day (Asia/Shanghai)."})
    valid_to = fields.Date(
        allow_none=True, metadata={"description": "Last day, inclusive; null while open-ended."}
    )
    end_reason = fields.String(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class BenefitLinkCreateSchema(BaseSchema):
    operator_id = ObjectIdField(
        metadata={"description": "Required for staff; an enterprise's own by default."}
    )
    household_id = ObjectIdField(metadata={"description": "Either household_id or household_no."})
    household_no = fields.String(validate=validate.Length(min=1, max=32))
    mechanism = fields.String(
        required=True, validate=validate.OneOf(MECHANISMS), metadata={"description": _MECHANISM_HELP}
    )
    weight = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(min=1, max=MAX_WEIGHT),
        metadata={"description": "Kilograms bought, shares held, days worked…; shares income pro rata."},
    )
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(
        allow_none=True, metadata={"description": "Last day, inclusive; null = open-ended."}
    )


class BenefitLinkPatchSchema(BaseSchema):
    weight = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_WEIGHT))
    mechanism = fields.String(validate=validate.OneOf(MECHANISMS))


class BenefitLinkEndSchema(BaseSchema):
    valid_to = fields.Date(required=True, metadata={"description": "The last day the link is active."})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class BenefitLinkQueryArgsSchema(PageArgsSchema):
    operator_id = ObjectIdField()
    household_id = ObjectIdField()
    county_code = CountyCode(metadata={"description": "The operator's county."})
    mechanism = fields.String(validate=validate.OneOf(MECHANISMS))
    active_on = fields.Date(metadata={"description": "Only links active on this day."})


class BenefitLinkImportFormSchema(BaseSchema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class BenefitLinkImportRequestSchema(ImportFileSchema, BenefitLinkImportFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class BenefitLinkRequestCreateSchema(BaseSchema):
    household_no = fields.String(
        required=True, validate=validate.Length(min=1, max=32), metadata={"description": "户编号."}
    )
    mechanism = fields.String(
        required=True, validate=validate.OneOf(MECHANISMS), metadata={"description": _MECHANISM_HELP}
    )
    weight = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_WEIGHT))
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(
        allow_none=True, metadata={"description": "Last day, inclusive; null = open-ended."}
    )


class BenefitLinkRequestSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    operator_id = ObjectIdField()
    household_no = fields.String()
    household_id = ObjectIdField(metadata={"description": "Staff only; null for an unknown number."})
    household_county_code = fields.String(allow_none=True, metadata={"description": "Staff only."})
    county_code = fields.String(metadata={"description": "The operator's county; staff only."})
    mechanism = fields.String(metadata={"description": _MECHANISM_HELP})
    weight = fields.Integer()
    valid_from = fields.String(metadata={"description": "First day, YYYY-MM-DD."})
    valid_to = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending, approved or rejected."})
    link_id = ObjectIdField(allow_none=True, metadata={"description": "The link stored on approval."})
    decision_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    version = fields.Integer()


class BenefitLinkRequestQueryArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(("pending", "approved", "rejected")))


class BenefitLinkRequestRejectSchema(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
