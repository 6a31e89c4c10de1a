"""The payout ledger (到户资金): payouts logged or imported, and the estimated share beside what was paid."""

from __future__ import annotations

from schemas.base import page_of
from schemas.households import ImportFileSchema, multipart_body
from schemas.payouts import (
    PayoutCreateSchema,
    PayoutImportFormSchema,
    PayoutImportRequestSchema,
    PayoutImportResultSchema,
    PayoutQueryArgsSchema,
    PayoutReportQueryArgsSchema,
    PayoutReportSchema,
    PayoutSchema,
)
from service import payout_report, payouts, xlsx
from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE, allow
from service.api.openapi import XLSX_TEMPLATE
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

ROLES = (ADMIN, COUNTY_STAFF, ENTERPRISE)

blp = Blueprint(
    "payouts",
    __name__,
    url_prefix="/api/v1/payouts",
    description="What operators actually paid linked households (到户资金); never edited.",
)
report_blp = Blueprint(
    "payout_report",
    __name__,
    url_prefix="/api/v1/reports/payouts",
    description="The estimated share (测算收益) beside what was paid, per household, operator and period.",
)
BLUEPRINTS = (blp, report_blp)
PayoutPageSchema = page_of(PayoutSchema, "PayoutPageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(PayoutQueryArgsSchema, location="query")
@blp.response(200, PayoutPageSchema)
@allow(*ROLES)
def list_payouts(args):
    """Enterprises: their operator's payouts. Staff: those of their counties' operators. Newest first."""
    items, total = payouts.list_payouts(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(PayoutCreateSchema)
@blp.response(201, PayoutSchema)
@allow(*ROLES)
def log_payout(data):
    """Log a payout to a household the operator has a benefit link with during the period.

    A household without such a link (or unknown, or out of scope) is a 422 on household_id; a voucher
    number the operator already used is a 409 on voucher_no; a day after today a 422 on paid_on.
    """
    return payouts.log_payout(get_db(), principal(), data), 201


@blp.route("/import", methods=["POST"])
@blp.arguments(PayoutImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(PayoutImportRequestSchema))
@blp.response(200, PayoutImportResultSchema)
@allow(*ROLES)
def import_payouts(form, files):
    """Payouts from a spreadsheet in the template's columns (multipart: file; optional dry_run).

    Columns 经营主体统一社会信用代码, 户编号, 类型, 金额(元), 支付日期, 支付方式, 凭证号, 所属期. Keyed by
    operator and voucher number, so re-importing changes nothing.
    """
    upload = files["file"]
    return payouts.import_payouts(get_db(), principal(), upload.stream, upload.filename or "", **form)


import_payouts.accepts_files = True


@blp.route("/template", methods=["GET"])
@blp.doc(**XLSX_TEMPLATE)
@allow(*ROLES)
def payout_template():
    """The upload template: the columns, one example row (skipped on import) and a sheet of notes."""
    return xlsx.send_xlsx(payouts.template(), payouts.TEMPLATE_FILENAME)


@report_blp.route("", methods=["GET"])
@report_blp.arguments(PayoutReportQueryArgsSchema, location="query")
@report_blp.response(200, PayoutReportSchema)
@allow(*ROLES)
def payout_report_view(args):
    """Estimated (household_income), paid and their difference; estimates never paid; unlinked payouts."""
    return payout_report.payout_report(get_db(), principal(), **args)
