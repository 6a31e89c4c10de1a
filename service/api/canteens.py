"""Unit canteens (单位食堂): the units and their plans, their purchases, and the county progress report."""

from __future__ import annotations

from flask import request

from schemas.base import page_of
from schemas.canteens import (
    Canteen832OrdersFormSchema,
    Canteen832OrdersResultSchema,
    CanteenCreateSchema,
    CanteenPatchSchema,
    CanteenPlanPutSchema,
    CanteenPurchaseCreateSchema,
    CanteenPurchaseImportFormSchema,
    CanteenPurchaseImportResultSchema,
    CanteenPurchaseLineArgsSchema,
    CanteenPurchaseLineSchema,
    CanteenPurchaseQueryArgsSchema,
    CanteenPurchaseSchema,
    CanteenQueryArgsSchema,
    CanteenQuotaSchema,
    CanteenReportArgsSchema,
    CanteenReportSchema,
    CanteenRollupSchema,
    CanteenSchema,
    QuotaArgsSchema,
)
from schemas.households import ImportFileSchema
from service import (
    canteen_832_orders,
    canteen_progress,
    canteen_purchase_upload,
    canteen_purchases,
    canteen_rollups,
    canteens,
    xlsx,
)
from service.access import CANTEEN, STAFF, allow
from service.api.openapi import IF_MATCH_OPTIONAL, IF_MATCH_REQUIRED, XLSX_ALTERNATIVE, XLSX_TEMPLATE
from service.canteen_sheets import QUOTA_COLUMNS
from service.clock import today_local
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "canteens",
    __name__,
    url_prefix="/api/v1/canteens",
    description="Unit canteens (单位食堂) and their yearly reserved-share plans (财库〔2021〕19号).",
)
purchases_blp = Blueprint(
    "canteen_purchases",
    __name__,
    url_prefix="/api/v1/canteen-purchases",
    description="Canteen purchases, one by one or by monthly upload; each is also a sales ledger line.",
)
reports_blp = Blueprint(
    "canteen_reports",
    __name__,
    url_prefix="/api/v1/reports/canteens",
    description="Every canteen of a county with its progress against the reserved share.",
)
BLUEPRINTS = (blp, purchases_blp, reports_blp)
CanteenPageSchema = page_of(CanteenSchema, "CanteenPageSchema")
CanteenPurchasePageSchema = page_of(CanteenPurchaseSchema, "CanteenPurchasePageSchema")
CanteenPurchaseLinePageSchema = page_of(CanteenPurchaseLineSchema, "CanteenPurchaseLinePageSchema")


# Canteens -------------------------------------------------------------------------------------------


@blp.route("", methods=["GET"])
@blp.arguments(CanteenQueryArgsSchema, location="query")
@blp.response(200, CanteenPageSchema)
@allow(*STAFF)
def list_canteens(args):
    """Canteens of the caller's counties, by name."""
    items, total = canteens.list_canteens(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(CanteenCreateSchema)
@blp.response(201, CanteenSchema)
@allow(*STAFF)
def create_canteen(data):
    """Register a canteen unit; its name must be unique within the county (409)."""
    return with_etag(canteens.create_canteen(get_db(), principal(), data), 201)


@blp.route("/<objectid:canteen_id>", methods=["GET"])
@blp.response(200, CanteenSchema)
@allow(*STAFF, CANTEEN)
def get_canteen(canteen_id):
    return with_etag(canteens.get_canteen(get_db(), principal(), canteen_id))


@blp.route("/<objectid:canteen_id>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(CanteenPatchSchema)
@blp.response(200, CanteenSchema)
@allow(*STAFF, CANTEEN)
def update_canteen(changes, canteen_id):
    """Edit a canteen (If-Match required); only staff change its name or county."""
    version = expected_version(canteen_id)
    return with_etag(canteens.update_canteen(get_db(), principal(), canteen_id, version, changes))


@blp.route("/<objectid:canteen_id>/plans/<int:year>", methods=["PUT"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(CanteenPlanPutSchema)
@blp.response(200, CanteenSchema)
@allow(*STAFF, CANTEEN)
def put_plan(data, canteen_id, year):
    """Declare or replace the year's plan: food_total_fen and reserve_ratio_bp (default 1000 = 10%).

    If-Match is optional: with it a concurrent edit is a 412; without it only this year's plan is replaced.
    """
    version = expected_version(canteen_id) if request.headers.get("If-Match") else None
    return with_etag(canteens.set_plan(get_db(), principal(), canteen_id, year, data, version))


@blp.route("/<objectid:canteen_id>/quota", methods=["GET"])
@blp.arguments(QuotaArgsSchema, location="query")
@blp.response(200, CanteenQuotaSchema)
@allow(*STAFF, CANTEEN)
def get_quota(args, canteen_id):
    """Progress against the reserved share: qualifying ÷ target, and a forecast at the current pace."""
    return canteen_progress.canteen_quota(get_db(), principal(), canteen_id, args.get("year"))


@blp.route("/<objectid:canteen_id>/rollup", methods=["GET"])
@blp.arguments(QuotaArgsSchema, location="query")
@blp.response(200, CanteenRollupSchema)
@allow(*STAFF, CANTEEN)
def get_rollup(args, canteen_id):
    """A supervising budget unit (主管预算单位) with every unit below it: plans, progress and their sums."""
    return canteen_rollups.unit_rollup(get_db(), principal(), canteen_id, args.get("year"))


@blp.route("/<objectid:canteen_id>/purchase-lines", methods=["GET"])
@blp.arguments(CanteenPurchaseLineArgsSchema, location="query")
@blp.response(200, CanteenPurchaseLinePageSchema)
@allow(*STAFF, CANTEEN)
def list_purchase_lines(args, canteen_id):
    """Every ledger line the canteen bought in the year (logged or imported from 832), with its verdict.

    All pages together add up to the quota's purchases_fen and qualifying_fen, to the fen.
    """
    year = args.pop("year", None) or today_local().year
    items, total = canteen_purchases.purchase_lines(get_db(), principal(), canteen_id, year, **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


# Purchases --------------------------------------------------------------------------------------------


@purchases_blp.route("", methods=["GET"])
@purchases_blp.arguments(CanteenPurchaseQueryArgsSchema, location="query")
@purchases_blp.response(200, CanteenPurchasePageSchema)
@allow(*STAFF, CANTEEN)
def list_purchases(args):
    """A canteen's own purchases, or (staff) those of their counties' canteens; newest first."""
    items, total = canteen_purchases.list_purchases(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@purchases_blp.route("", methods=["POST"])
@purchases_blp.arguments(CanteenPurchaseCreateSchema)
@purchases_blp.response(201, CanteenPurchaseSchema)
@allow(*STAFF, CANTEEN)
def log_purchase(data):
    """Log a purchase (or a return with refund_of_invoice_no); 409 when the invoice is already logged.

    A product not in the catalogue, or not certified on the date, is kept but does not count
    toward the reserved share unless bought via 832: see counted_for_quota and message.
    """
    return canteen_purchases.log_purchase(get_db(), principal(), data)


@purchases_blp.route("/import", methods=["POST"])
@purchases_blp.arguments(CanteenPurchaseImportFormSchema, location="form")
@purchases_blp.arguments(ImportFileSchema, location="files")
@purchases_blp.response(200, CanteenPurchaseImportResultSchema)
@allow(*STAFF, CANTEEN)
def import_purchases(form, files):
    """Monthly upload (multipart: file; dry_run; staff: canteen_id) in the template's columns.

    Rejected rows are listed with the file's row numbers (header = row 1); re-importing changes nothing.
    """
    upload = files["file"]
    return canteen_purchase_upload.import_purchases(
        get_db(), principal(), upload.stream, upload.filename or "", **form
    )


import_purchases.accepts_files = True


@purchases_blp.route("/832-orders", methods=["POST"])
@purchases_blp.arguments(Canteen832OrdersFormSchema, location="form")
@purchases_blp.arguments(ImportFileSchema, location="files")
@purchases_blp.response(200, Canteen832OrdersResultSchema)
@allow(*STAFF, CANTEEN)
def import_832_orders(form, files):
    """The canteen's own 832 order export (multipart: file; union; dry_run; staff: canteen_id).

    Every order line becomes the canteen's purchase (its union's with union=true), the same line the
    county's import of the platform's export writes; an order already another unit's is refused.
    """
    upload = files["file"]
    return canteen_832_orders.import_orders(
        get_db(), principal(), upload.stream, upload.filename or "", **form
    )


import_832_orders.accepts_files = True


@purchases_blp.route("/template", methods=["GET"])
@purchases_blp.doc(**XLSX_TEMPLATE)
@allow(*STAFF, CANTEEN)
def purchase_template():
    """The upload template: the columns, one example row (skipped on import) and a sheet of notes."""
    return xlsx.send_xlsx(
        canteen_purchase_upload.purchase_template(), canteen_purchase_upload.TEMPLATE_FILENAME
    )


# County report -----------------------------------------------------------------------------------------


@reports_blp.route("", methods=["GET"])
@reports_blp.doc(**XLSX_ALTERNATIVE)
@reports_blp.arguments(CanteenReportArgsSchema, location="query")
@reports_blp.response(200, CanteenReportSchema)
@allow(*STAFF)
def county_canteens(args):
    """Every canteen of a county with its progress in the year (format=xlsx for a workbook)."""
    report = canteen_progress.county_quota_report(
        get_db(), principal(), args["county_code"], args.get("year")
    )
    if args["format"] == "xlsx":
        data = xlsx.rows_to_xlsx(QUOTA_COLUMNS, report["items"], title=f"{report['year']}年食堂预留份额")
        return xlsx.send_xlsx(data, f"canteens-{report['county_code']}-{report['year']}.xlsx")
    return report
