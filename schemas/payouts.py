"""Schemas of the payout ledger (到户资金), its report beside the estimates, and control totals (账实相符)."""

from __future__ import annotations

from marshmallow import fields, validate

from adapters.base import CHANNELS
from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, Fen, ObjectIdField, PageArgsSchema
from schemas.households import ImportFileSchema, ImportResultSchema
from schemas.reports import Month
from service.payout_report import BY
from service.payouts import KINDS, MAX_VOUCHER, METHODS, PERIOD

_KIND_HELP = "; ".join(f"{code} {label}" for code, label in KINDS.items())
_METHOD_HELP = "; ".join(f"{code} {label}" for code, label in METHODS.items())


def Period(**kwargs) -> fields.String:
    """The period a payout is for: a month (YYYY-MM) or a whole year (YYYY)."""
    return fields.String(
        validate=validate.Regexp(
            PERIOD, error=Coded("payout.bad_period", "A period is a month (YYYY-MM) or a year (YYYY).")
        ),
        **kwargs,
    )


class PayoutSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    operator_id = ObjectIdField()
    county_code = fields.String(metadata={"description": "The operator's county."})
    household_id = ObjectIdField()
    household_no = fields.String()
    head_name = fields.String(allow_none=True, metadata={"description": "Masked (张*) for enterprises."})
    kind = fields.String(metadata={"description": _KIND_HELP})
    kind_label = fields.String()
    amount_fen = Fen()
    paid_on = fields.Date(metadata={"description": "The day it was paid (Asia/Shanghai)."})
    method = fields.String(metadata={"description": _METHOD_HELP})
    method_label = fields.String()
    voucher_no = fields.String()
    period = fields.String(metadata={"description": "The month (YYYY-MM) or year (YYYY) paid for."})
    created_at = fields.DateTime()


class PayoutCreateSchema(BaseSchema):
    operator_id = ObjectIdField(
        metadata={"description": "Required for staff; an enterprise's own by default."}
    )
    household_id = ObjectIdField(
        required=True,
        metadata={"description": "A household the operator has a benefit link with in the period."},
    )
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={"description": _KIND_HELP})
    amount_fen = Fen(required=True, validate=validate.Range(min=1), metadata={"description": "More than 0."})
    paid_on = fields.Date(required=True, metadata={"description": "Not after today (Asia/Shanghai)."})
    method = fields.String(
        required=True, validate=validate.OneOf(METHODS), metadata={"description": _METHOD_HELP}
    )
    voucher_no = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_VOUCHER),
        metadata={"description": "Used once per operator."},
    )
    period = Period(required=True, metadata={"description": "The month (YYYY-MM) or year (YYYY) paid for."})


class PayoutQueryArgsSchema(PageArgsSchema):
    operator_id = ObjectIdField()
    household_id = ObjectIdField()
    county_code = CountyCode(metadata={"description": "The operator's county."})
    from_month = Month(
        data_key="from", metadata={"description": "Payouts for periods ending in or after it."}
    )
    to_month = Month(
        data_key="to", metadata={"description": "Payouts for periods beginning in or before it."}
    )


class PayoutImportFormSchema(BaseSchema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class PayoutImportRequestSchema(ImportFileSchema, PayoutImportFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class PayoutImportResultSchema(ImportResultSchema):
    skipped = fields.Integer(metadata={"description": "The template's example row."})


# Estimated beside paid ---------------------------------------------------------------------------------


class PayoutReportQueryArgsSchema(BaseSchema):
    county_code = CountyCode(metadata={"description": "One of your counties (default: all of them)."})
    operator_id = ObjectIdField(
        metadata={"description": "Only this operator (an enterprise: always its own)."}
    )
    household_id = ObjectIdField()
    from_month = Month(data_key="from", metadata={"description": "First month, YYYY-MM (default: January)."})
    to_month = Month(data_key="to", metadata={"description": "Last month, inclusive (default: this month)."})
    by = fields.String(
        load_default="month",
        validate=validate.OneOf(BY),
        metadata={"description": "month: a row a month, except years paid as a whole; year: a row a year."},
    )


class PayoutReportRowSchema(BaseSchema):
    household_id = ObjectIdField()
    household_no = fields.String(allow_none=True)
    head_name = fields.String(allow_none=True)
    operator_id = ObjectIdField()
    operator_name = fields.String(allow_none=True)
    period = fields.String(metadata={"description": "A month (YYYY-MM) or a year (YYYY)."})
    estimated_fen = Fen(metadata={"description": "The household's share of the operator's pools."})
    paid_fen = Fen()
    difference_fen = Fen(metadata={"description": "estimated_fen − paid_fen."})
    payouts = fields.Integer()


class PayoutReportSchema(BaseSchema):
    from_month = fields.String(data_key="from")
    to_month = fields.String(data_key="to")
    county_codes = fields.List(fields.String(), allow_none=True)
    operator_id = ObjectIdField(allow_none=True)
    by = fields.String()
    estimated_fen = Fen()
    paid_fen = Fen()
    difference_fen = Fen()
    rows = fields.List(fields.Nested(PayoutReportRowSchema))
    never_paid = fields.List(
        fields.Nested(PayoutReportRowSchema), metadata={"description": "Estimated, no payout."}
    )
    unlinked = fields.List(
        fields.Nested(PayoutSchema), metadata={"description": "Payouts whose period no benefit link covers."}
    )


# Control totals ------------------------------------------------------------------------------------------


class ControlTotalSetSchema(BaseSchema):
    amount_fen = Fen(
        required=True, metadata={"description": "The outside figure of the month's sales, in fen."}
    )
    source = fields.String(
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "Where it comes from (结算单号, 日报...)."},
    )


class ControlTotalQueryArgsSchema(BaseSchema):
    county_code = CountyCode()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    from_month = Month(data_key="from")
    to_month = Month(data_key="to")


class ControlTotalSchema(BaseSchema):
    id = ObjectIdField(attribute="_id", dump_only=True)
    county_code = fields.String()
    channel = fields.String()
    channel_label = fields.String()
    month = fields.String()
    amount_fen = Fen(metadata={"description": "The outside figure."})
    source = fields.String(allow_none=True)
    ledger_fen = Fen(metadata={"description": "The ledger's sales of the channel, county and month."})
    difference_fen = Fen(metadata={"description": "ledger_fen − amount_fen; verify reports any but 0."})
    version = fields.Integer()
    updated_at = fields.DateTime(allow_none=True)


class ControlTotalListSchema(BaseSchema):
    items = fields.List(fields.Nested(ControlTotalSchema))


class ControlTotalImportFormSchema(BaseSchema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check and count only; store nothing."}
    )


class ControlTotalImportRequestSchema(ImportFileSchema, ControlTotalImportFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class ControlTotalImportResultSchema(ImportResultSchema):
    skipped = fields.Integer(metadata={"description": "The template's example row."})
