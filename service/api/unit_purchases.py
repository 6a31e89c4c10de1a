"""Unit purchases (单位采购: 直接采购, 帮助销售, 食堂, 工会, 832), their import, and the buyers report."""

from __future__ import annotations

from schemas.base import page_of
from schemas.households import ImportFileSchema, multipart_body
from schemas.unit_purchases import (
    BuyersReportArgsSchema,
    BuyersReportSchema,
    UnitPurchaseCreateSchema,
    UnitPurchaseImportFormSchema,
    UnitPurchaseImportRequestSchema,
    UnitPurchaseImportResultSchema,
    UnitPurchaseQueryArgsSchema,
    UnitPurchaseSchema,
)
from service import buyer_reports, buyer_workbook, unit_purchase_upload, unit_purchases, xlsx
from service.access import STAFF, allow
from service.api.openapi import XLSX_ALTERNATIVE, XLSX_TEMPLATE
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "unit_purchases",
    __name__,
    url_prefix="/api/v1/unit-purchases",
    description="Buying units' purchases and helped sales; each not sold through a channel is a ledger line.",
)
reports_blp = Blueprint(
    "buyer_reports",
    __name__,
    url_prefix="/api/v1/reports/buyers",
    description="帮扶单位直接购买、帮助销售、扶持脱贫人口: by pairing, partner region and unit.",
)
BLUEPRINTS = (blp, reports_blp)
UnitPurchasePageSchema = page_of(UnitPurchaseSchema, "UnitPurchasePageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(UnitPurchaseQueryArgsSchema, location="query")
@blp.response(200, UnitPurchasePageSchema)
@allow(*STAFF)
def list_purchases(args):
    """Purchases of the caller's counties' units, newest first."""
    items, total = unit_purchases.list_purchases(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(UnitPurchaseCreateSchema)
@blp.response(201, UnitPurchaseSchema)
@allow(*STAFF)
def log_purchase(data):
    """Log a purchase or helped sale; 409 when the unit already logged the order id.

    A helped sale whose order id a channel already brought into the ledger is kept, flagged
    double_counted, and not added to the ledger again.
    """
    return unit_purchases.log_purchase(get_db(), principal(), data)


@blp.route("/import", methods=["POST"])
@blp.arguments(UnitPurchaseImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(UnitPurchaseImportRequestSchema))
@blp.response(200, UnitPurchaseImportResultSchema)
@allow(*STAFF)
def import_purchases(form, files):
    """Import purchases in the template's columns (multipart: file; county_code; dry_run).

    Rejected rows are listed with the file's row numbers (header = row 1) and none of them is stored;
    re-importing changes nothing.
    """
    upload = files["file"]
    return unit_purchase_upload.import_purchases(
        get_db(), principal(), upload.stream, upload.filename or "", **form
    )


import_purchases.accepts_files = True


@blp.route("/template", methods=["GET"])
@blp.doc(**XLSX_TEMPLATE)
@allow(*STAFF)
def purchase_template():
    """The import template: the columns, one example row (skipped on import) and a sheet of notes."""
    return xlsx.send_xlsx(unit_purchase_upload.purchase_template(), unit_purchase_upload.TEMPLATE_FILENAME)


@reports_blp.route("", methods=["GET"])
@reports_blp.doc(**XLSX_ALTERNATIVE)
@reports_blp.arguments(BuyersReportArgsSchema, location="query")
@reports_blp.response(200, BuyersReportSchema)
@allow(*STAFF)
def buyers(args):
    """Direct purchases, helped sales and people benefited in a period (format=xlsx for a workbook)."""
    report = buyer_reports.buyers_report(
        get_db(), principal(), args["county_code"], args.get("from_date"), args.get("to_date")
    )
    if args["format"] != "xlsx":
        return report
    return xlsx.send_xlsx(buyer_workbook.workbook(report), buyer_workbook.filename(report))
