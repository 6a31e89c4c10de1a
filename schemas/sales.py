"""Schemas of sale lines and ledger maintenance."""

from __future__ import annotations

from marshmallow import fields, validate

from adapters.base import CHANNELS
from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, Fen, ObjectIdField

MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error=Coded("period.bad_month", "A month as YYYY-MM."))


class BuyerSchema(BaseSchema):
    type = fields.String()
    unit_id = ObjectIdField(allow_none=True)
    name = fields.String(allow_none=True)


class RawLineSchema(BaseSchema):
    sku = fields.String(allow_none=True)
    barcode = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    product_id = fields.String(allow_none=True)


class SaleSchema(BaseSchema):
    id = ObjectIdField(attribute="_id")
    county_code = fields.String()
    channel = fields.String()
    external_id = fields.String()
    occurred_at = fields.DateTime()
    day = fields.String()
    month = fields.String()
    product_id = ObjectIdField(allow_none=True)
    operator_id = ObjectIdField(allow_none=True)
    matched = fields.Boolean()
    quantity = fields.Integer()
    unit_price_fen = Fen(allow_none=True)
    amount_fen = Fen()
    refund_of = fields.String(allow_none=True)
    buyer = fields.Nested(BuyerSchema)
    raw = fields.Nested(RawLineSchema)
    certified = fields.Boolean()
    benefit_rate_bp = fields.Integer()
    poor_income_fen = Fen()


class ReplacedBySchema(BaseSchema):
    import_run_id = ObjectIdField(allow_none=True)
    actor = fields.String(allow_none=True)
    source = fields.String(allow_none=True, metadata={"description": "The channel of the new version."})


class SaleVersionSchema(BaseSchema):
    """A version of a line that a later import replaced, as it was stored then."""

    id = fields.String(attribute="_id")
    line = fields.Nested(SaleSchema, attribute="previous")
    written_by_run_id = ObjectIdField(attribute="previous.import_run_id", allow_none=True)
    written_at = fields.DateTime(attribute="previous.updated_at", allow_none=True)
    replaced_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "Null when the process that replaced it stopped before saying so."},
    )
    replaced_by = fields.Nested(ReplacedBySchema, allow_none=True)


class SaleVersionsSchema(BaseSchema):
    sale = fields.Nested(SaleSchema)
    versions = fields.List(fields.Nested(SaleVersionSchema), metadata={"description": "Newest first."})


class SalePageSchema(BaseSchema):
    items = fields.List(fields.Nested(SaleSchema))
    next_after = ObjectIdField(
        allow_none=True, metadata={"description": "Pass as `after` for the next page."}
    )


class SaleQueryArgsSchema(BaseSchema):
    county_code = CountyCode()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    month = fields.String(validate=MONTH)
    operator_id = ObjectIdField()
    product_id = ObjectIdField()
    matched = fields.Boolean()
    certified = fields.Boolean()
    after = ObjectIdField()
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class LedgerScopeArgsSchema(BaseSchema):
    county_code = CountyCode()


class VerifyArgsSchema(LedgerScopeArgsSchema):
    from_month = fields.String(data_key="from", validate=MONTH)
    to_month = fields.String(data_key="to", validate=MONTH)


class RebuildResultSchema(BaseSchema):
    rebuilt = fields.List(fields.Dict())


class DifferenceSchema(BaseSchema):
    county_code = fields.String()
    month = fields.String()
    what = fields.String()
    stored = fields.Raw(allow_none=True)
    expected = fields.Raw(allow_none=True)


class VerifyResultSchema(BaseSchema):
    partitions_checked = fields.Integer()
    differences = fields.List(fields.Nested(DifferenceSchema))
