"""The place register: townships and villages under their statistical codes, with their names."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from schemas.households import ImportFileSchema, ImportResultSchema
from service.places import LEVELS, MAX_NAME_LENGTH, URBAN_RURAL_CLASSES


class PlaceSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    code = fields.String(metadata={"description": "A township's 9 digits or a village's 12."})
    statistical_code = fields.String(metadata={"description": "The 12-digit code (统计用区划代码)."})
    level = fields.String(metadata={"description": "township (乡镇/街道) or village (村/社区)."})
    county_code = fields.String()
    township_code = fields.String()
    name = fields.String()
    urban_rural_code = fields.String(allow_none=True, metadata={"description": "城乡分类代码 (villages)."})
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PlaceQueryArgsSchema(PageArgsSchema):
    level = fields.String(validate=validate.OneOf(LEVELS))
    township_code = fields.String(validate=validate.Regexp(r"^\d{9}$"))


class PlaceSetSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    urban_rural_code = fields.String(
        allow_none=True,
        validate=validate.OneOf(tuple(URBAN_RURAL_CLASSES)),
        metadata={"description": "城乡分类代码, villages only: " + ", ".join(URBAN_RURAL_CLASSES)},
    )


class UnnamedCodeSchema(BaseSchema):
    code = fields.String()
    level = fields.String()
    households = fields.Integer(metadata={"description": "Households of the register under this code."})


class UnnamedCodeListSchema(BaseSchema):
    items = fields.List(fields.Nested(UnnamedCodeSchema))


class PlaceImportFormSchema(BaseSchema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class PlaceImportRequestSchema(ImportFileSchema, PlaceImportFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class PlaceImportResultSchema(ImportResultSchema):
    skipped = fields.Integer(metadata={"description": "Rows of the county itself or a larger division."})


class PlacePageImportFormSchema(PlaceImportFormSchema):
    """The upload page's form: the county the file is for, chosen on the page."""

    county_code = CountyCode(required=True)


class PlaceNameFormSchema(PlaceSetSchema):
    """The page's form naming one code of the county."""

    county_code = CountyCode(required=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^(\d{9}|\d{12})$"))
