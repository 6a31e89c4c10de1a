"""Schemas of unit purchases (单位采购: 直接采购, 帮助销售...), their import, and the buyers report."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import ValidationError, fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, Fen, ObjectIdField, PageArgsSchema
from schemas.households import ImportErrorSchema, ImportFileSchema
from schemas.operators import ActorSchema
from service.purchase_fields import MAX_REFERENCE_LENGTH, MAX_TEXT_LENGTH
from service.unit_purchase_inputs import MODES

_MODE_HELP = "; ".join(f"{code} {label}" for code, label in MODES.items())
_TEXT = validate.Length(min=1, max=MAX_TEXT_LENGTH)
MAX_KG = Decimal(10**9)


def _weight_in_range(value: Decimal) -> None:
    # A function, not validate.Range: the document would state a Decimal bound as a string.
    if not Decimal(0) < value <= MAX_KG:
        raise ValidationError(
            Coded("unit_purchase.bad_weight", f"Above 0 and at most {MAX_KG} kg.", most=str(MAX_KG))
        )


class UnitPurchaseSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    county_code = fields.String()
    unit_id = ObjectIdField()
    unit_name = fields.String()
    pairing_id = ObjectIdField()
    mode = fields.String(metadata={"description": _MODE_HELP})
    date = fields.String(metadata={"description": "Local date (Asia/Shanghai), YYYY-MM-DD."})
    product_id = ObjectIdField(allow_none=True)
    product_name = fields.String(allow_none=True)
    operator_id = ObjectIdField(allow_none=True)
    supplier_uscc = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    quantity = fields.Integer()
    quantity_unit = fields.String(allow_none=True)
    weight_g = fields.Integer(allow_none=True, metadata={"description": "The weight in grams, where known."})
    amount_fen = Fen()
    evidence_no = fields.String(allow_none=True)
    order_id = fields.String()
    external_id = fields.String(
        allow_none=True, metadata={"description": "Its sales-ledger line; null when double_counted."}
    )
    double_counted = fields.Boolean(
        metadata={"description": "A helped sale a channel already brought into the ledger: counted once."}
    )
    ledger_status = fields.String()
    created_by = fields.Nested(ActorSchema)
    created_at = fields.DateTime()
    recorded_at = fields.DateTime(allow_none=True)


class UnitPurchaseCreateSchema(BaseSchema):
    unit_id = ObjectIdField(required=True)
    mode = fields.String(required=True, validate=validate.OneOf(MODES), metadata={"description": _MODE_HELP})
    date = fields.Date(
        required=True, metadata={"description": "Local date (Asia/Shanghai), not in the future."}
    )
    product_id = ObjectIdField(metadata={"description": "A product of the catalogue, of the unit's county."})
    supplier_uscc = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Without product_id: the supplier's 统一社会信用代码 (with description)."},
    )
    description = fields.String(
        validate=_TEXT, metadata={"description": "Required for a product not in the catalogue."}
    )
    quantity = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=10**9))
    quantity_unit = fields.String(validate=_TEXT)
    kg = fields.Decimal(
        places=3,
        validate=_weight_in_range,
        metadata={"description": "The weight in kilograms where known; must agree with the product's unit."},
    )
    amount_fen = Fen(required=True, validate=validate.Range(min=1))
    pairing_id = ObjectIdField(
        metadata={"description": "The pairing it counts under (default: the unit's only one in force)."}
    )
    evidence_no = fields.String(
        validate=validate.Length(min=1, max=MAX_REFERENCE_LENGTH),
        metadata={"description": "Invoice or contract."},
    )
    order_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_REFERENCE_LENGTH),
        metadata={"description": "Unique per unit; for a helped sale, the channel's order id."},
    )


class UnitPurchaseQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    unit_id = ObjectIdField()
    pairing_id = ObjectIdField()
    mode = fields.String(validate=validate.OneOf(MODES))
    from_date = fields.Date(data_key="from")
    to_date = fields.Date(data_key="to")


class UnitPurchaseImportFormSchema(BaseSchema):
    county_code = CountyCode(
        metadata={"description": "The county whose units the file names (default: yours)."}
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class UnitPurchaseImportRequestSchema(ImportFileSchema, UnitPurchaseImportFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class UnitPurchaseImportResultSchema(BaseSchema):
    rows = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer(metadata={"description": "Always 0: purchases are never edited."})
    unchanged = fields.Integer(metadata={"description": "Orders already logged with the same details."})
    skipped = fields.Integer(metadata={"description": "The template's example row."})
    rejected = fields.Integer()
    double_counted = fields.Integer(metadata={"description": "Helped sales a channel already brought in."})
    dry_run = fields.Boolean()
    errors = fields.List(fields.Nested(ImportErrorSchema))
    errors_truncated = fields.Boolean()


# Buyers report -----------------------------------------------------------------------------------------


class BuyersReportArgsSchema(BaseSchema):
    county_code = CountyCode(required=True)
    from_date = fields.Date(data_key="from", metadata={"description": "First day (default: 1 January)."})
    to_date = fields.Date(data_key="to", metadata={"description": "Last day, inclusive (default: today)."})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "xlsx")))


class BuyerSumsSchema(BaseSchema):
    direct_fen = Fen(metadata={"description": "直接购买: every mode but helped."})
    helped_fen = Fen(metadata={"description": "帮助销售."})
    total_fen = Fen()
    double_counted_fen = Fen(
        metadata={"description": "Helped sales also imported from a channel (counted once)."}
    )
    lines = fields.Integer()


class BuyersByModeSchema(BaseSchema):
    mode = fields.String()
    label = fields.String()
    amount_fen = Fen()
    lines = fields.Integer()


class BuyersByPairingSchema(BuyerSumsSchema):
    pairing_id = ObjectIdField()
    kind = fields.String(allow_none=True)
    kind_label = fields.String()
    partner_region_code = fields.String(allow_none=True)
    unit_id = ObjectIdField(allow_none=True)
    unit_name = fields.String(allow_none=True)


class BuyersByRegionSchema(BuyerSumsSchema):
    partner_region_code = fields.String(allow_none=True)


class BuyersByUnitSchema(BuyerSumsSchema):
    unit_id = ObjectIdField()
    name = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)


class BuyersReportSchema(BuyerSumsSchema):
    county_code = fields.String()
    from_date = fields.Date(data_key="from")
    to_date = fields.Date(data_key="to")
    generated_at = fields.DateTime()
    weight_g = fields.Integer()
    people_benefited = fields.Integer(
        metadata={
            "description": "Members of households sharing in pools that held unit purchases (扶持脱贫人口)."
        }
    )
    by_mode = fields.List(fields.Nested(BuyersByModeSchema))
    by_pairing = fields.List(fields.Nested(BuyersByPairingSchema))
    by_region = fields.List(fields.Nested(BuyersByRegionSchema))
    by_unit = fields.List(fields.Nested(BuyersByUnitSchema))
