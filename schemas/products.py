"""Schemas of poverty-alleviation products (扶贫产品) and their certification steps."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate
from stdnum import ean

from adapters.errors import Coded
from schemas.base import BaseSchema, BasisPoints, CountyCode, Fen, ObjectIdField, PageArgsSchema
from schemas.operators import ActorSchema
from service.certification import STATUSES
from service.products import CATEGORIES, CHANNELS, SORTS

_SKU = validate.Regexp(r"^\S{1,64}$", error=Coded("product.bad_sku", "1–64 characters without spaces."))


def _gtin13(value: str) -> None:
    """A GTIN-13 (EAN-13, the "69 code" of Chinese products) with a correct check digit."""
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        raise ValidationError(Coded("product.barcode_digits", "Must be 13 digits (GTIN-13)."))
    if not ean.is_valid(value):
        raise ValidationError(Coded("product.barcode_check", "The check digit is wrong (GTIN-13)."))


class ChannelSkuSchema(BaseSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    sku = fields.String(required=True, validate=_SKU)


class BenefitRateEntrySchema(BaseSchema):
    benefit_rate_bp = fields.Integer()
    valid_from = fields.DateTime()


class StatusChangeSchema(BaseSchema):
    at = fields.DateTime()
    by = fields.Nested(ActorSchema)
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String()
    # The step taken (submit, reject, object...); absent on entries an edit wrote.
    action = fields.String()
    reason = fields.String(allow_none=True)
    township_review_note = fields.String(allow_none=True)
    publicity_ends_at = fields.DateTime()
    certificate_no = fields.String()


class CertificateSchema(BaseSchema):
    number = fields.String()
    certified_at = fields.DateTime()
    valid_until = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)


class ProductSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    operator_id = ObjectIdField()
    county_code = fields.String(metadata={"description": "The operator's county."})
    name = fields.String()
    category = fields.String()
    spec = fields.String(allow_none=True)
    unit = fields.String()
    price_fen = fields.Integer()
    origin_county_code = fields.String(allow_none=True)
    brand = fields.String(allow_none=True)
    barcode = fields.String(allow_none=True)
    annual_output = fields.Integer(allow_none=True)
    annual_output_unit = fields.String(allow_none=True)
    annual_value_fen = fields.Integer(allow_none=True)
    benefit_rate_bp = fields.Integer(metadata={"description": "The rate in force now."})
    benefit_rate_history = fields.List(fields.Nested(BenefitRateEntrySchema))
    channel_skus = fields.List(fields.Nested(ChannelSkuSchema))
    status = fields.String(
        metadata={"description": "Effective status: certified past valid_until reads expired."}
    )
    status_history = fields.List(fields.Nested(StatusChangeSchema))
    township_review_note = fields.String(allow_none=True)
    publicity_ends_at = fields.DateTime(allow_none=True)
    certificate_no = fields.String(allow_none=True)
    certified_at = fields.DateTime(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    certificates = fields.List(fields.Nested(CertificateSchema))
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class _ProductFieldsSchema(BaseSchema):
    spec = fields.String(validate=validate.Length(max=100), allow_none=True)
    origin_county_code = CountyCode(allow_none=True)
    brand = fields.String(validate=validate.Length(max=100), allow_none=True)
    barcode = fields.String(validate=_gtin13, allow_none=True)
    annual_output = fields.Integer(
        strict=True,
        validate=validate.Range(min=0),
        allow_none=True,
        metadata={"description": "Whole units of annual_output_unit."},
    )
    annual_output_unit = fields.String(validate=validate.Length(min=1, max=20), allow_none=True)
    annual_value_fen = Fen(validate=validate.Range(min=0), allow_none=True)
    benefit_rate_valid_from = fields.Date(
        metadata={"description": "The Asia/Shanghai day a benefit rate takes effect; default today."}
    )
    channel_skus = fields.List(fields.Nested(ChannelSkuSchema))


class ProductCreateSchema(_ProductFieldsSchema):
    operator_id = ObjectIdField(
        metadata={"description": "Required for staff; an enterprise's own by default."}
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    unit = fields.String(required=True, validate=validate.Length(min=1, max=20))
    price_fen = Fen(required=True, validate=validate.Range(min=1))
    benefit_rate_bp = BasisPoints(required=True)


class ProductPatchSchema(_ProductFieldsSchema):
    operator_id = ObjectIdField()
    name = fields.String(validate=validate.Length(min=1, max=100))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    unit = fields.String(validate=validate.Length(min=1, max=20))
    price_fen = Fen(validate=validate.Range(min=1))
    benefit_rate_bp = BasisPoints()


class ProductTransitionSchema(BaseSchema):
    reason = fields.String(validate=validate.Length(max=500))


class ProductApproveSchema(ProductTransitionSchema):
    township_review_note = fields.String(
        validate=validate.Length(max=1000),
        metadata={"description": "镇办初审意见, recorded with the approval."},
    )


class ProductQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    operator_id = ObjectIdField()
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    expiring_within_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    publicity_ended = fields.Boolean(
        metadata={"description": "true: publicizing products past their publicity period (ready to certify)."}
    )
    q = fields.String(validate=validate.Length(min=1, max=100))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    sku = fields.String(validate=_SKU)
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(SORTS))
