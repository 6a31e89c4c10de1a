"""Schemas of buying units (采购单位) and their pairings (结对帮扶关系) with a county."""

from __future__ import annotations

import re

from marshmallow import fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, ObjectIdField, PageArgsSchema
from service.buying_units import KINDS, MAX_NAME_LENGTH
from service.pairings import KINDS as PAIRING_KINDS

_TEXT = validate.Length(min=1, max=100)
_KIND_HELP = "; ".join(f"{code} {label}" for code, label in KINDS.items())
_PAIRING_HELP = "; ".join(f"{code} {label}" for code, label in PAIRING_KINDS.items())


def RegionCode(**kwargs) -> fields.String:
    """A 6-digit region code (GB/T 2260) of a province, city or county."""
    return CountyCode(**kwargs)


def VillageCode(**kwargs) -> fields.String:
    return fields.String(
        validate=validate.Regexp(
            re.compile(r"^\d{12}$"), error=Coded("field.village_code", "A 12-digit village code.")
        ),
        **kwargs,
    )


class BuyingUnitSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    name = fields.String()
    kind = fields.String(metadata={"description": _KIND_HELP})
    region_code = fields.String(metadata={"description": "Where the unit is (6-digit GB/T 2260 code)."})
    uscc = fields.String(allow_none=True)
    county_code = fields.String(metadata={"description": "The county it buys from, whose staff keep it."})
    canteen_ids = fields.List(ObjectIdField(), metadata={"description": "Canteens of that county it owns."})
    parent_unit_id = ObjectIdField(
        allow_none=True, metadata={"description": "The unit supervising it (its clerk sees this one too)."}
    )
    contact = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class BuyingUnitCreateSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={"description": _KIND_HELP})
    region_code = RegionCode(required=True, metadata={"description": "Where the unit is."})
    uscc = fields.String(
        validate=validate.Length(min=1, max=40),
        allow_none=True,
        metadata={"description": "统一社会信用代码, checked (GB 32100)."},
    )
    county_code = CountyCode(required=True, metadata={"description": "The county it buys from."})
    canteen_ids = fields.List(ObjectIdField(), validate=validate.Length(max=100))
    parent_unit_id = ObjectIdField(allow_none=True, metadata={"description": "A unit of the same county."})
    contact = fields.String(validate=_TEXT, allow_none=True)


class BuyingUnitPatchSchema(BaseSchema):
    name = fields.String(validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    kind = fields.String(validate=validate.OneOf(KINDS))
    region_code = RegionCode()
    uscc = fields.String(validate=validate.Length(min=1, max=40), allow_none=True)
    canteen_ids = fields.List(ObjectIdField(), validate=validate.Length(max=100))
    parent_unit_id = ObjectIdField(allow_none=True, metadata={"description": "A unit of the same county."})
    contact = fields.String(validate=_TEXT, allow_none=True)


class BuyingUnitQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    kind = fields.String(validate=validate.OneOf(KINDS))
    q = fields.String(
        validate=validate.Length(min=1, max=MAX_NAME_LENGTH), metadata={"description": "Part of the name."}
    )


class PairingSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    county_code = fields.String()
    unit_id = ObjectIdField()
    kind = fields.String(metadata={"description": _PAIRING_HELP})
    partner_region_code = fields.String(metadata={"description": "The partner region it counts for."})
    valid_from = fields.String(metadata={"description": "First day (YYYY-MM-DD, Asia/Shanghai)."})
    valid_to = fields.String(allow_none=True, metadata={"description": "Last day, inclusive; null: open."})
    village_code = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class PairingCreateSchema(BaseSchema):
    unit_id = ObjectIdField(required=True)
    kind = fields.String(
        required=True, validate=validate.OneOf(PAIRING_KINDS), metadata={"description": _PAIRING_HELP}
    )
    partner_region_code = RegionCode(allow_none=True, metadata={"description": "Default: the unit's region."})
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(allow_none=True, metadata={"description": "Not before valid_from; null: open."})
    village_code = VillageCode(
        allow_none=True, metadata={"description": "企业结对: the village, of the county."}
    )
    note = fields.String(validate=_TEXT, allow_none=True)


class PairingPatchSchema(BaseSchema):
    kind = fields.String(validate=validate.OneOf(PAIRING_KINDS))
    partner_region_code = RegionCode()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    village_code = VillageCode(allow_none=True)
    note = fields.String(validate=_TEXT, allow_none=True)


class PairingQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    unit_id = ObjectIdField()
    kind = fields.String(validate=validate.OneOf(PAIRING_KINDS))
    on = fields.Date(metadata={"description": "Only pairings in force on this day."})
