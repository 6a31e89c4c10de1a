"""Schemas of households (建档立卡贫困户) and of spreadsheet import results."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from service.household_categories import (
    CATEGORY_LABELS,
    HOUSEHOLD_TYPES,
    MONITORING_CATEGORIES,
    REMOVAL_METHODS,
)
from service.households import MAX_MEMBERS, MAX_NAME_LENGTH, STATUSES

_STATUS_HELP = "; ".join(f"{code} {label}" for code, label in STATUSES.items())
_CATEGORY_HELP = "Today's: " + "; ".join(f"{code} {label}" for code, label in CATEGORY_LABELS.items())
_REGISTERED_HELP = "登记日期 (Asia/Shanghai); category changes may not precede it."
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
    registered_on = fields.Date(
        allow_none=True, metadata={"description": "登记日期; null when not recorded."}
    )
    category = fields.String(allow_none=True, metadata={"description": _CATEGORY_HELP})
    categories = fields.List(fields.Nested(lambda: CategoryEntrySchema()))
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
    registered_on = fields.Date(allow_none=True, metadata={"description": _REGISTERED_HELP})


class HouseholdPatchSchema(BaseSchema):
    village_code = fields.String()
    head_name = fields.String(validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    id_number = fields.String(
        load_only=True, validate=validate.Length(max=40), metadata={"description": _ID_NUMBER_HELP}
    )
    members = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_MEMBERS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    exit_year = fields.Integer(strict=True, allow_none=True)
    registered_on = fields.Date(allow_none=True, metadata={"description": _REGISTERED_HELP})


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


class CategoryEntrySchema(BaseSchema):
    """A household's category from one day on (every field is the whole state from that day)."""

    valid_from = fields.Date(
        required=True, metadata={"description": "The day it takes effect (Asia/Shanghai)."}
    )
    household_type = fields.String(
        required=True,
        validate=validate.OneOf(HOUSEHOLD_TYPES),
        metadata={"description": "; ".join(f"{code} {label}" for code, label in HOUSEHOLD_TYPES.items())},
    )
    monitoring_category = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.OneOf(MONITORING_CATEGORIES),
        metadata={
            "description": "; ".join(f"{code} {label}" for code, label in MONITORING_CATEGORIES.items())
        },
    )
    identified_on = fields.Date(allow_none=True, load_default=None, metadata={"description": "识别监测时间"})
    risk_removed_on = fields.Date(
        allow_none=True, load_default=None, metadata={"description": "风险消除: not monitored from this day."}
    )
    removal_method = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.OneOf(REMOVAL_METHODS),
        metadata={"description": "; ".join(f"{code} {label}" for code, label in REMOVAL_METHODS.items())},
    )
    household_type_label = fields.String(dump_only=True)
    monitoring_category_label = fields.String(dump_only=True, allow_none=True)
    removal_method_label = fields.String(dump_only=True, allow_none=True)


class CategoryHistorySchema(BaseSchema):
    household_id = ObjectIdField(attribute="_id", dump_only=True)
    registered_on = fields.Date()
    recorded = fields.Boolean(
        metadata={"description": "False: no change recorded yet; the history is derived from the status."}
    )
    category = fields.String(allow_none=True, metadata={"description": _CATEGORY_HELP})
    items = fields.List(fields.Nested(CategoryEntrySchema))
    version = fields.Integer()


class TargetingGapArgsSchema(PageArgsSchema):
    county_code = CountyCode()


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
