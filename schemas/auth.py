"""Schemas of login, tokens, users and the audit log."""

from __future__ import annotations

from marshmallow import fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from service.access import ROLES
from service.accounts import MIN_PASSWORD_LENGTH

# Documented here, checked in one place (service/accounts.py) with its own message.
PASSWORD_RULE = {"minLength": MIN_PASSWORD_LENGTH}


class LoginSchema(BaseSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class UserSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    county_codes = fields.List(fields.String())
    operator_id = ObjectIdField(allow_none=True)
    canteen_id = ObjectIdField(allow_none=True)
    unit_id = ObjectIdField(allow_none=True)
    active = fields.Boolean()
    created_at = fields.DateTime()


class TokenSchema(BaseSchema):
    token = fields.String()
    expires_in = fields.Integer(metadata={"description": "Seconds until the token expires."})
    user = fields.Nested(UserSchema)


class UserCreateSchema(BaseSchema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9_.@-]{3,64}$", error=Coded("account.bad_username", "3–64 letters, digits or _.@-")
        ),
    )
    display_name = fields.String(validate=validate.Length(max=100))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=256), metadata=PASSWORD_RULE
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    county_codes = fields.List(CountyCode())
    operator_id = ObjectIdField()
    canteen_id = ObjectIdField()
    unit_id = ObjectIdField(metadata={"description": "A unit account's buying unit."})


class UserPatchSchema(BaseSchema):
    display_name = fields.String(validate=validate.Length(max=100))
    password = fields.String(load_only=True, validate=validate.Length(max=256), metadata=PASSWORD_RULE)
    active = fields.Boolean()


class PasswordChangeSchema(BaseSchema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    new_password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=256), metadata=PASSWORD_RULE
    )


class UserQueryArgsSchema(PageArgsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    q = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Part of the username or display name."}
    )


class AuditEntrySchema(BaseSchema):
    id = ObjectIdField(attribute="_id")
    at = fields.DateTime()
    actor = fields.Dict()
    action = fields.String()
    entity = fields.Dict()
    county_code = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    note = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


class AuditQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    username = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "The account that made the change."}
    )
    entity_kind = fields.String(
        validate=validate.Length(max=40), metadata={"description": "The kind of record: product, operator, …"}
    )
    entity_id = fields.String(validate=validate.Length(max=40), metadata={"description": "The record's id."})
    action = fields.String(validate=validate.Length(max=60))
    since = fields.Date(metadata={"description": "First day (Asia/Shanghai), included."})
    until = fields.Date(metadata={"description": "Last day (Asia/Shanghai), included."})
