"""Schemas of unit canteens (单位食堂), their yearly plans, purchases and reserved-share progress."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, Fen, ObjectIdField, PageArgsSchema
from schemas.households import ImportErrorSchema
from schemas.operators import ActorSchema
from service.canteen_modes import MAX_CONTRACTOR_LENGTH, MAX_SHARED_UNITS
from service.canteen_plans import FIRST_PLAN_YEAR, FLOOR_RATIO_BP, MAX_APPROVAL_LENGTH
from service.canteen_progress import QUOTA_STATUSES
from service.canteen_quota import MODES, REASONS
from service.canteens import MAX_NAME_LENGTH, UNIT_TYPES
from service.products import CHANNELS
from service.purchase_fields import MAX_REFERENCE_LENGTH, MAX_TEXT_LENGTH

_UNIT_TYPE_HELP = "; ".join(f"{code} {label}" for code, label in UNIT_TYPES.items())
_YEAR = validate.Range(min=FIRST_PLAN_YEAR, max=2100)
_TEXT = validate.Length(max=200)
_MODE_HELP = (
    "As the 832 system counts canteens: "
    + "; ".join(f"{code} {label}" for code, label in MODES.items())
    + ". none has no quota (不作要求); shared: one unit reports for the others (shared_unit_ids); "
    "outsourced: the unit still reserves, its contractor buys."
)
_STATUS_HELP = "; ".join(f"{code} {label}" for code, label in QUOTA_STATUSES.items())
_REASON_HELP = "Why it counts or not: " + "; ".join(f"{code} {label}" for code, label in REASONS.items())


# Canteens ----------------------------------------------------------------------------------------


class CanteenPlanSchema(BaseSchema):
    year = fields.Integer()
    food_total_fen = Fen(metadata={"description": "年度食堂食材采购总额, in fen."})
    reserve_ratio_bp = fields.Integer(
        metadata={"description": "Reserved share in basis points (1000 = 10%)."}
    )
    ratio_approval = fields.String(
        allow_none=True,
        metadata={"description": "From 2021: the approval that allowed a share below 10% (else null)."},
    )
    target_fen = Fen(metadata={"description": "food_total_fen × reserve_ratio_bp / 10000, rounded up."})
    union_total_fen = Fen(
        allow_none=True, metadata={"description": "工会: the union's yearly purchases, in fen."}
    )
    union_ratio_bp = fields.Integer(
        allow_none=True, metadata={"description": "工会: the union's own share, in basis points."}
    )
    union_target_fen = Fen(
        allow_none=True, metadata={"description": "union_total_fen × union_ratio_bp / 10000, rounded up."}
    )
    declared_at = fields.DateTime()
    declared_by = fields.Nested(ActorSchema)
    declared_late = fields.Boolean(metadata={"description": "Declared after 20 February of the year."})


class CanteenSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    name = fields.String(
        metadata={"description": "Exact, unique within the county (the 832 importer matches it)."}
    )
    unit_type = fields.String(metadata={"description": _UNIT_TYPE_HELP})
    county_code = fields.String()
    address = fields.String(allow_none=True)
    contact = fields.String(allow_none=True)
    mode = fields.String(metadata={"description": _MODE_HELP})
    contractor = fields.String(
        allow_none=True, metadata={"description": "外包食堂: the contractor that buys."}
    )
    parent_id = ObjectIdField(
        allow_none=True,
        metadata={"description": "The supervising budget unit (主管预算单位), a canteen unit."},
    )
    shared_unit_ids = fields.List(
        ObjectIdField(), metadata={"description": "合用食堂: the units this canteen reports for."}
    )
    plans = fields.List(fields.Nested(CanteenPlanSchema))
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class _CanteenSetupSchema(BaseSchema):
    """What a canteen's registration and its changes share: where it is and how it reports."""

    address = fields.String(validate=_TEXT, allow_none=True)
    mode = fields.String(
        validate=validate.OneOf(MODES), metadata={"description": _MODE_HELP + " Staff only."}
    )
    contractor = fields.String(
        validate=validate.Length(max=MAX_CONTRACTOR_LENGTH),
        allow_none=True,
        metadata={"description": "Outsourced canteens only: the contractor (承包方)."},
    )
    parent_id = ObjectIdField(
        allow_none=True,
        metadata={
            "description": "Staff only: the supervising budget unit, a canteen unit of the same county."
        },
    )
    shared_unit_ids = fields.List(
        ObjectIdField(),
        validate=validate.Length(max=MAX_SHARED_UNITS),
        metadata={"description": "Staff only, shared canteens: the units of the same county it reports for."},
    )


class CanteenCreateSchema(_CanteenSetupSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_LENGTH))
    unit_type = fields.String(
        required=True, validate=validate.OneOf(UNIT_TYPES), metadata={"description": _UNIT_TYPE_HELP}
    )
    county_code = CountyCode(required=True)
    contact = fields.String(
        validate=_TEXT, allow_none=True, metadata={"description": "Contact person and phone."}
    )


class CanteenPatchSchema(_CanteenSetupSchema):
    name = fields.String(
        validate=validate.Length(min=1, max=MAX_NAME_LENGTH), metadata={"description": "Staff only."}
    )
    unit_type = fields.String(validate=validate.OneOf(UNIT_TYPES))
    county_code = CountyCode(metadata={"description": "Staff only."})
    contact = fields.String(validate=_TEXT, allow_none=True)


class CanteenQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    unit_type = fields.String(validate=validate.OneOf(UNIT_TYPES))
    q = fields.String(
        validate=validate.Length(min=1, max=MAX_NAME_LENGTH), metadata={"description": "Part of the name."}
    )


class CanteenPlanPutSchema(BaseSchema):
    food_total_fen = Fen(
        required=True,
        validate=validate.Range(min=1),
        metadata={"description": "年度食堂食材采购总额: the year's total canteen food purchases, in fen."},
    )
    reserve_ratio_bp = fields.Integer(
        strict=True,
        load_default=FLOOR_RATIO_BP,
        validate=validate.Range(
            min=1, max=10000, error=Coded("canteen.ratio_range", "From 1 to 10000 basis points.")
        ),
        metadata={
            "description": (
                "Reserved share in basis points: from 2021 at least 1000 (the 10% floor of 财库〔2021〕19号) "
                "unless ratio_approval is given; 1500 is encouraged; no floor before 2021."
            )
        },
    )
    ratio_approval = fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_APPROVAL_LENGTH),
        metadata={
            "description": "The reference of the approval allowing a share below 10% (适当放宽预留比例)."
        },
    )
    union_total_fen = Fen(
        validate=validate.Range(min=1),
        metadata={"description": "工会: the union's yearly purchases, in fen (with union_ratio_bp)."},
    )
    union_ratio_bp = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=10000),
        metadata={"description": "工会: the union's own share, in basis points (with union_total_fen)."},
    )


# Progress against the reserved share ---------------------------------------------------------------


class QuotaArgsSchema(BaseSchema):
    year = fields.Integer(validate=_YEAR, metadata={"description": "Default: this year (Asia/Shanghai)."})


class CanteenRefSchema(BaseSchema):
    canteen_id = ObjectIdField()
    name = fields.String()


class CanteenQuotaSchema(BaseSchema):
    canteen_id = ObjectIdField()
    name = fields.String()
    unit_type = fields.String()
    county_code = fields.String()
    year = fields.Integer()
    plan = fields.Nested(CanteenPlanSchema, allow_none=True)
    target_fen = Fen(allow_none=True, metadata={"description": "The reserved amount; null without a plan."})
    qualifying_fen = Fen(
        metadata={
            "description": (
                "What counts toward the reserved share: from 2021 purchases through the 832 platform only; "
                "before, certified products bought anywhere and anything bought via 832."
            )
        }
    )
    remaining_fen = Fen(allow_none=True)
    progress_bp = fields.Integer(
        allow_none=True, metadata={"description": "qualifying ÷ target, rounded down."}
    )
    days_elapsed = fields.Integer(metadata={"description": "Days of the year gone by, today included."})
    days_in_year = fields.Integer()
    forecast_fen = Fen(
        allow_none=True,
        metadata={
            "description": "At the current pace: qualifying ÷ days elapsed × days in year (past: actual)."
        },
    )
    forecast_bp = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": _STATUS_HELP})
    mode = fields.String(metadata={"description": _MODE_HELP})
    contractor = fields.String(allow_none=True)
    parent_id = ObjectIdField(allow_none=True)
    reported_by = fields.Nested(
        CanteenRefSchema,
        allow_none=True,
        metadata={"description": "合并填报: the canteen that reports for this unit."},
    )
    shared_unit_ids = fields.List(ObjectIdField())
    union_target_fen = Fen(
        allow_none=True, metadata={"description": "The union's own share (工会); null unless set."}
    )
    union_fen = Fen(metadata={"description": "The union's purchases, apart from the canteen's."})
    union_qualifying_fen = Fen(metadata={"description": "The union's purchases that count toward its share."})
    union_progress_bp = fields.Integer(allow_none=True)
    purchases_fen = Fen(
        metadata={"description": "Every purchase of the unit in the ledger, qualifying or not."}
    )
    via_832_fen = Fen(metadata={"description": "Counted, bought on the 832 platform."})
    certified_other_fen = Fen(
        metadata={"description": "Counted, certified products bought outside the 832 platform (before 2021)."}
    )
    not_counted_fen = Fen(
        metadata={"description": "purchases_fen − qualifying_fen: the lines that do not count."}
    )
    lines = fields.Integer(
        metadata={"description": "The ledger lines added up: those the purchase list shows."}
    )
    p832_only = fields.Boolean(
        metadata={"description": "From 2021 only purchases through the 832 platform count."}
    )


class CanteenReportArgsSchema(BaseSchema):
    county_code = CountyCode(required=True)
    year = fields.Integer(validate=_YEAR, metadata={"description": "Default: this year (Asia/Shanghai)."})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "xlsx")))


class CanteenReportTotalsSchema(BaseSchema):
    canteens = fields.Integer()
    with_plan = fields.Integer()
    met = fields.Integer()
    behind = fields.Integer()
    not_required = fields.Integer(
        metadata={"description": "Units with no share of their own (no canteen, or reported for)."}
    )
    target_fen = Fen()
    qualifying_fen = Fen()
    purchases_fen = Fen()
    union_target_fen = Fen()
    union_qualifying_fen = Fen()


class CanteenReportSchema(BaseSchema):
    county_code = fields.String()
    year = fields.Integer()
    generated_at = fields.DateTime()
    items = fields.List(fields.Nested(CanteenQuotaSchema))
    totals = fields.Nested(CanteenReportTotalsSchema)


# Purchases ------------------------------------------------------------------------------------------


class CanteenPurchaseSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    canteen_id = ObjectIdField()
    county_code = fields.String(metadata={"description": "The canteen's county."})
    date = fields.String(metadata={"description": "Purchase date (YYYY-MM-DD, Asia/Shanghai)."})
    operator_id = ObjectIdField(allow_none=True)
    operator_uscc = fields.String(allow_none=True)
    operator_name = fields.String(allow_none=True)
    product_id = ObjectIdField(allow_none=True)
    product_name = fields.String(allow_none=True)
    product_code = fields.String(allow_none=True, metadata={"description": "The SKU or code as given."})
    quantity = fields.Integer()
    unit = fields.String(allow_none=True)
    amount_fen = Fen()
    invoice_no = fields.String()
    refund_of_invoice_no = fields.String(allow_none=True)
    via_832 = fields.Boolean()
    channel = fields.String(metadata={"description": "The ledger channel: canteen, or p832."})
    sale_county_code = fields.String(
        metadata={"description": "The county whose sales ledger holds the line."}
    )
    external_id = fields.String(
        metadata={"description": "The ledger line's id: canteen:<canteen id>:<invoice no>."}
    )
    matched = fields.Boolean(metadata={"description": "The product was found in the catalogue."})
    certified = fields.Boolean(
        metadata={"description": "Certified on the purchase date, as the ledger line says now."}
    )
    counted_for_quota = fields.Boolean(
        metadata={
            "description": "Counts toward the reserved share, judged from the ledger line as it is now."
        }
    )
    quota_reason = fields.String(allow_none=True, metadata={"description": _REASON_HELP})
    message = fields.String(
        allow_none=True, metadata={"description": "Why it does not count, when it does not."}
    )
    ledger_status = fields.String(
        metadata={"description": "recorded; pending only after an interrupted write."}
    )
    created_by = fields.Nested(ActorSchema)
    created_at = fields.DateTime()


class CanteenPurchaseLineSchema(BaseSchema):
    """A ledger line the canteen bought: one row of its purchase list."""

    id = ObjectIdField(attribute="_id", dump_only=True)
    canteen_id = ObjectIdField()
    date = fields.String(metadata={"description": "Local date (YYYY-MM-DD, Asia/Shanghai)."})
    source = fields.String(
        metadata={
            "description": "logged 本单位登记, imported 832平台导入, or recorded 其他渠道记入 "
            "(another channel's line naming the unit as buyer)."
        }
    )
    channel = fields.String(metadata={"description": "The ledger channel: canteen, or p832."})
    external_id = fields.String(metadata={"description": "The line's id: an invoice's, or the 832 order's."})
    invoice_no = fields.String(
        allow_none=True, metadata={"description": "Logged by the canteen: its invoice."}
    )
    refund_of_invoice_no = fields.String(allow_none=True)
    is_return = fields.Boolean(metadata={"description": "A return, with a negative amount."})
    product_id = ObjectIdField(allow_none=True)
    product_name = fields.String(allow_none=True)
    product_code = fields.String(allow_none=True)
    operator_id = ObjectIdField(allow_none=True)
    operator_name = fields.String(allow_none=True)
    operator_uscc = fields.String(allow_none=True)
    quantity = fields.Integer()
    unit = fields.String(allow_none=True)
    amount_fen = Fen()
    matched = fields.Boolean()
    certified = fields.Boolean()
    counted_for_quota = fields.Boolean()
    quota_reason = fields.String(metadata={"description": _REASON_HELP})
    sale_county_code = fields.String(metadata={"description": "The county whose ledger holds the line."})


class CanteenPurchaseLineArgsSchema(PageArgsSchema):
    year = fields.Integer(validate=_YEAR, metadata={"description": "Default: this year (Asia/Shanghai)."})
    month = fields.Integer(validate=validate.Range(min=1, max=12), metadata={"description": "1–12."})


class CanteenPurchaseCreateSchema(BaseSchema):
    canteen_id = ObjectIdField(
        metadata={"description": "Staff: the canteen; a canteen account logs for itself."}
    )
    date = fields.Date(
        required=True, metadata={"description": "Local date (Asia/Shanghai), not in the future."}
    )
    operator_uscc = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"description": "The supplier's 统一社会信用代码."}
    )
    operator_id = ObjectIdField(metadata={"description": "Or the supplier's id."})
    product_id = ObjectIdField(metadata={"description": "A product of the catalogue."})
    sku = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "Or a channel SKU."}
    )
    channel = fields.String(
        validate=validate.OneOf(CHANNELS),
        metadata={"description": "The SKU's channel (default: p832 when via_832, else canteen)."},
    )
    product_name = fields.String(
        validate=validate.Length(min=1, max=MAX_TEXT_LENGTH),
        metadata={"description": "Required for a product not in the catalogue."},
    )
    quantity = fields.Integer(
        strict=True, required=True, metadata={"description": "Whole units; negative only for a return."}
    )
    unit = fields.String(validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))
    amount_fen = Fen(required=True, metadata={"description": "Integer fen; negative only for a return."})
    invoice_no = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_REFERENCE_LENGTH),
        metadata={"description": "Unique per canteen (409 on a duplicate)."},
    )
    refund_of_invoice_no = fields.String(
        validate=validate.Length(min=1, max=MAX_REFERENCE_LENGTH),
        metadata={"description": "A return: the invoice of the purchase it reverses."},
    )
    via_832 = fields.Boolean(
        allow_none=True,
        metadata={"description": "Bought on the 832 platform (a return follows its purchase)."},
    )

    @validates_schema
    def _one_operator(self, data, **kwargs):
        if data.get("operator_uscc") and data.get("operator_id"):
            raise ValidationError(
                Coded("canteen_purchase.supplier_twice", "Give operator_uscc or operator_id, not both."),
                "operator_id",
            )
        if data.get("channel") and not data.get("sku"):
            raise ValidationError(
                Coded("product.channel_without_sku", "A channel only goes with a sku."), "channel"
            )


class CanteenPurchaseQueryArgsSchema(PageArgsSchema):
    canteen_id = ObjectIdField(metadata={"description": "Staff: one canteen."})
    county_code = CountyCode(metadata={"description": "Staff: one county."})
    year = fields.Integer(validate=_YEAR)
    month = fields.Integer(
        validate=validate.Range(min=1, max=12), metadata={"description": "1–12; needs year."}
    )


class CanteenPurchaseImportFormSchema(BaseSchema):
    canteen_id = ObjectIdField(metadata={"description": "Staff: the canteen the file belongs to."})
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class CanteenPurchaseImportResultSchema(BaseSchema):
    rows = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer(metadata={"description": "Always 0: purchases are never edited."})
    unchanged = fields.Integer(metadata={"description": "Invoices already logged with the same details."})
    rejected = fields.Integer()
    skipped = fields.Integer(metadata={"description": "The template's example row."})
    unmatched = fields.Integer(metadata={"description": "New purchases of products not in the catalogue."})
    not_counted = fields.Integer(
        metadata={"description": "New purchases that do not count toward the reserved share."}
    )
    dry_run = fields.Boolean()
    errors = fields.List(fields.Nested(ImportErrorSchema))
    errors_truncated = fields.Boolean()


# A supervising unit's roll-up (主管预算单位) ----------------------------------------------------------


class CanteenRollupItemSchema(CanteenQuotaSchema):
    depth = fields.Integer(metadata={"description": "0 the supervising unit itself, 1 directly below it, …"})


class CanteenRollupTotalsSchema(BaseSchema):
    units = fields.Integer()
    met = fields.Integer()
    behind = fields.Integer()
    not_required = fields.Integer()
    target_fen = Fen()
    qualifying_fen = Fen()
    purchases_fen = Fen()
    via_832_fen = Fen()
    not_counted_fen = Fen()
    union_target_fen = Fen()
    union_qualifying_fen = Fen()
    progress_bp = fields.Integer(allow_none=True)


class CanteenRollupSchema(BaseSchema):
    canteen_id = ObjectIdField()
    name = fields.String()
    county_code = fields.String()
    year = fields.Integer()
    generated_at = fields.DateTime()
    items = fields.List(fields.Nested(CanteenRollupItemSchema))
    subordinates = fields.Nested(
        CanteenRollupTotalsSchema,
        metadata={"description": "The sum of the units below the supervising unit."},
    )
    totals = fields.Nested(
        CanteenRollupTotalsSchema,
        metadata={"description": "The sum of every item, the supervising unit included."},
    )


# A canteen's own 832 order export -------------------------------------------------------------------


class Canteen832OrdersFormSchema(BaseSchema):
    canteen_id = ObjectIdField(metadata={"description": "Staff: the canteen whose export this is."})
    union = fields.Boolean(
        load_default=False,
        metadata={"description": "The union's (工会) export: counts toward its own share."},
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class Canteen832OrdersResultSchema(BaseSchema):
    canteen_id = ObjectIdField()
    union = fields.Boolean()
    rows = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    skipped = fields.Integer(metadata={"description": "Cancelled orders."})
    rejected = fields.Integer()
    unmatched = fields.Integer(metadata={"description": "Lines of goods not (yet) in the catalogue."})
    dry_run = fields.Boolean()
    errors = fields.List(fields.Nested(ImportErrorSchema))
    errors_truncated = fields.Boolean()
