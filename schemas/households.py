"""Schemas of households (建档立卡贫困户) and of spreadsheet import results."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from service.households import MAX_MEMBERS, MAX_NAME_LENGTH, STATUSES

_STATUS_HELP = "; ".join(f"{code} {label}" for code, label in STATUSES.items())
_ID_NUMBER_HELP = "居民身份证号 of the head, write-only: stored only as a keyed hash and a masked form."


class HouseholdSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    household_no = fields.String(metadata={"description": "户编号 from the national system."})
    county_code = fields.String()
    township_code = fields.String()
    township_name = fields.String(
        allow_none=True, metadata={"description": "From the county's place register; null until named."}
    )
    village_code = fields.String()
    village_name = fields.String(
        allow_none=True, metadata={"description": "From the county's place register; null until named."}
    )
    head_name = fields.String(metadata={"description": "Masked (张*) for enterprise accounts."})
    id_number_masked = fields.String(
        metadata={"description": "360426********0071; staff only, absent for enterprise accounts."}
    )
    members = fields.Integer()
    status = fields.String(metadata={"description": _STATUS_HELP})
    exit_year = fields.Integer(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class HouseholdCreateSchema(BaseSchema):
    household_no = fields.String(required=True, validate=validate.Length(min=1, max=32))
    county_code = CountyCode(
        metadata={"description": "Optional; must match the village code's first 6 digits."}
    )
    village_code = fields.String(required=True, metadata={"description": "12-digit statistical code."})
    head_name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    id_number = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(max=40),
        metadata={"description": _ID_NUMBER_HELP},
    )
    members = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_MEMBERS))
    status = fields.String(
        required=True, validate=validate.OneOf(STATUSES), metadata={"description": _STATUS_HELP}
    )
    exit_year = fields.Integer(
        strict=True, allow_none=True, metadata={"description": "脱贫年度; required if exited."}
    )


class HouseholdPatchSchema(BaseSchema):
    village_code = fields.String()
    head_name = fields.String(validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    id_number = fields.String(
        load_only=True, validate=validate.Length(max=40), metadata={"description": _ID_NUMBER_HELP}
    )
    members = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_MEMBERS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    exit_year = fields.Integer(strict=True, allow_none=True)


class HouseholdQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    township_code = fields.String(
        validate=validate.Regexp(r"^\d{9}$", error=Coded("field.township_code", "A 9-digit township code."))
    )
    village_code = fields.String(
        validate=validate.Regexp(
            r"^\d{12}$", error=Coded("household.bad_village", "A 12-digit village code.")
        )
    )
    status = fields.String(validate=validate.OneOf(STATUSES))
    q = fields.String(
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Household number prefix, or part of the head's name (staff only)."},
    )


class HouseholdLookupSchema(BaseSchema):
    id_number = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(max=40),
        metadata={"description": _ID_NUMBER_HELP},
    )


class ImportFileSchema(BaseSchema):
    file = Upload(
        required=True, metadata={"description": "xlsx, or CSV in UTF-8 (with or without BOM) or GB18030/GBK."}
    )


class HouseholdImportFormSchema(BaseSchema):
    county_code = CountyCode(metadata={"description": "Refuse rows of villages outside this county."})
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class HouseholdImportRequestSchema(ImportFileSchema, HouseholdImportFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class ImportErrorSchema(BaseSchema):
    row = fields.Integer(metadata={"description": "The file's row number (header = row 1)."})
    field = fields.String()
    column = fields.String()
    message = fields.String()


class ImportResultSchema(BaseSchema):
    rows = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    dry_run = fields.Boolean()
    errors = fields.List(fields.Nested(ImportErrorSchema))
    errors_truncated = fields.Boolean(metadata={"description": "More row errors than listed."})


def multipart_body(schema: type[BaseSchema]) -> dict:
    """An OpenAPI requestBody for a multipart upload described by one schema (files and form fields)."""
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
