"""Schemas of market operators (市场经营主体)."""

from __future__ import annotations

from marshmallow import fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from service.operators import BENEFIT_MECHANISMS, KINDS, SORTS, STATUSES

_PHONE = validate.Regexp(
    r"^\+?[0-9][0-9 -]{4,19}$", error=Coded("operator.bad_phone", "Digits, spaces and '-', 5–20 characters.")
)


class ActorSchema(BaseSchema):
    user_id = ObjectIdField(allow_none=True)
    username = fields.String()
    role = fields.String()


class OperatorStatusChangeSchema(BaseSchema):
    at = fields.DateTime()
    by = fields.Nested(ActorSchema)
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String()
    reason = fields.String(allow_none=True)


class OperatorSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    name = fields.String()
    uscc = fields.String(allow_none=True, metadata={"description": "统一社会信用代码 (GB 32100)."})
    uscc_checksum_override = fields.Boolean(
        metadata={"description": "True when staff saved a real code that fails the check character."}
    )
    kind = fields.String()
    county_code = fields.String()
    address = fields.String(allow_none=True)
    legal_rep = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    is_leading_enterprise = fields.Boolean(metadata={"description": "龙头企业."})
    benefit_mechanisms = fields.List(fields.String())
    status = fields.String()
    status_history = fields.List(fields.Nested(OperatorStatusChangeSchema))
    linked_households = fields.Integer(metadata={"description": "带贫户数: households linked now."})
    linked_people = fields.Integer(metadata={"description": "带贫人数: members of those households."})
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class OperatorCreateSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    uscc = fields.String(required=True, validate=validate.Length(min=1, max=40))
    uscc_checksum_override = fields.Boolean(
        load_default=False,
        metadata={"description": "Staff only: save a real USCC whose check character fails (audited)."},
    )
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    county_code = CountyCode(required=True)
    address = fields.String(validate=validate.Length(max=200), allow_none=True)
    legal_rep = fields.String(validate=validate.Length(max=50), allow_none=True)
    contact_phone = fields.String(validate=_PHONE, allow_none=True)
    is_leading_enterprise = fields.Boolean(load_default=False)
    benefit_mechanisms = fields.List(fields.String(validate=validate.OneOf(BENEFIT_MECHANISMS)))


class OperatorPatchSchema(BaseSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    uscc = fields.String(validate=validate.Length(min=1, max=40))
    uscc_checksum_override = fields.Boolean()
    kind = fields.String(validate=validate.OneOf(KINDS))
    county_code = CountyCode()
    address = fields.String(validate=validate.Length(max=200), allow_none=True)
    legal_rep = fields.String(validate=validate.Length(max=50), allow_none=True)
    contact_phone = fields.String(validate=_PHONE, allow_none=True)
    is_leading_enterprise = fields.Boolean()
    benefit_mechanisms = fields.List(fields.String(validate=validate.OneOf(BENEFIT_MECHANISMS)))


class OperatorSuspendSchema(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class OperatorReactivateSchema(BaseSchema):
    reason = fields.String(validate=validate.Length(max=500))


class OperatorQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    q = fields.String(validate=validate.Length(min=1, max=100))
    is_leading_enterprise = fields.Boolean()
    sort = fields.String(load_default="name", validate=validate.OneOf(SORTS))
