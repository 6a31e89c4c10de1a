"""Sales import runs, and the unmatched-SKU report with its mapping action."""

from __future__ import annotations

from flask import current_app

from schemas.households import multipart_body
from schemas.imports import (
    ImportRunFileSchema,
    ImportRunFormSchema,
    ImportRunPageSchema,
    ImportRunQueryArgsSchema,
    ImportRunRequestSchema,
    ImportRunSchema,
    UnmatchedMapResultSchema,
    UnmatchedMapSchema,
    UnmatchedQueryArgsSchema,
    UnmatchedReportSchema,
)
from service import import_confirm, import_runs, imports, report_cache, unmatched
from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE, STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "imports",
    __name__,
    url_prefix="/api/v1/imports",
    description="Sales imports (销售数据导入): a channel's export in, ledger lines out, each run recorded.",
)
unmatched_blp = Blueprint(
    "unmatched",
    __name__,
    url_prefix="/api/v1/reports/unmatched",
    description="Sales whose SKU matches no product (未匹配销售), for county staff to map.",
)
BLUEPRINTS = (blp, unmatched_blp)


@blp.route("", methods=["POST"])
@blp.arguments(ImportRunFormSchema, location="form")
@blp.arguments(ImportRunFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(ImportRunRequestSchema))
@blp.response(201, ImportRunSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def create_import(form, files):
    """Import a channel export (multipart: channel, file; optional county_code, dry_run).

    One `file` part, or for 淘宝 two: its order report (订单报表) and item report (宝贝报表), in
    either order. 201 with the recorded run, for dry runs too (a dry run is recorded, with
    dry_run true, but stores no sales). Row problems are counted in the run; files the importer
    cannot read at all (missing columns, a 淘宝 report without its other half, more files than
    the channel's export has) are 422, and the failed run's id, when a run was recorded, is in
    error.details.import_run_id. An enterprise imports its own shop's export: lines of other
    operators' products are rejected. A dry run keeps its files (24 hours, up to 64 MiB; see
    kept_until) to be imported for real by `POST /api/v1/imports/{id}/confirm`.
    """
    return imports.run_import(
        get_db(),
        principal(),
        form["channel"],
        [(upload.stream, upload.filename or "") for upload in files["file"]],
        county_code=form.get("county_code"),
        dry_run=form["dry_run"],
    )


create_import.accepts_files = True


@blp.route("", methods=["GET"])
@blp.arguments(ImportRunQueryArgsSchema, location="query")
@blp.response(200, ImportRunPageSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def list_imports(args):
    """Import runs, newest first, without row errors: staff see their counties', an enterprise its own."""
    items, total = import_runs.list_runs(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/<objectid:run_id>", methods=["GET"])
@blp.response(200, ImportRunSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def get_import(run_id):
    """One run with its first 1,000 row errors."""
    return import_runs.get_run(get_db(), principal(), run_id)


@blp.route("/<objectid:run_id>/confirm", methods=["POST"])
@blp.response(201, ImportRunSchema, description="The new run, which imported the dry run's files.")
@blp.alt_response(
    200,
    schema=ImportRunSchema,
    description="The dry run was confirmed before: the run that confirmation made (perhaps still running).",
    success=True,
)
@blp.alt_response(409, description="Not a dry run, or a dry run that did not succeed (not_confirmable).")
@blp.alt_response(
    410, description="The dry run's files are no longer kept (dry_run_files_gone): import them again."
)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def confirm_import(run_id):
    """Import a successful dry run's kept files for real, once, as a new run.

    A dry run keeps its files for 24 hours (up to 64 MiB); the new run reads exactly those bytes
    (each checked against the dry run's SHA-256), records `dry_run_id`, and the dry run records
    `confirmed_run_id`. Confirming again, also at the same moment, answers 200 with that run instead
    of importing twice; after a confirmation that failed (its run's id in error.details.import_run_id)
    the dry run can be confirmed again. Who may import into the dry run's county (an enterprise:
    its own runs) may confirm it; another tenant's run answers as a missing one.
    """
    confirmation = import_confirm.confirm_run(get_db(), principal(), run_id)
    return confirmation.run, 201 if confirmation.created else 200


@unmatched_blp.route("", methods=["GET"])
@unmatched_blp.arguments(UnmatchedQueryArgsSchema, location="query")
@unmatched_blp.response(200, UnmatchedReportSchema)
@allow(*STAFF)
def unmatched_report(args):
    """Unmatched sale lines of the period by channel and raw SKU (else barcode), biggest first.

    The period defaults as the dashboard's (this year so far) and its sales_fen is the dashboard's
    unmatched figure. `q` searches SKUs, barcodes and titles. Each item of the page carries its
    suggestions: the county's products (certified or not) with the lines' barcode first, then
    those of the most alike names, each with its operator, specification and status.
    """
    return unmatched.unmatched_report(get_db(), principal(), **args, cache=report_cache.for_app(current_app))


@unmatched_blp.route("/map", methods=["POST"])
@unmatched_blp.arguments(UnmatchedMapSchema(many=True), as_kwargs=False)
@unmatched_blp.response(200, UnmatchedMapResultSchema)
@allow(*STAFF)
def map_unmatched(mappings):
    """Map several channel SKUs to products of your counties at once (no re-review), then re-match.

    The body is a list of {channel, sku, product_id}, at most 200. Every row is checked before
    any is written: if one is refused (a product that is not one of your counties', a SKU another
    product holds, one SKU to two products) nothing is saved and the 422 (sku_mapping_refused)
    names each refused row in error.details.rows (row: its index from 0, code, message). Each
    mapping is audited; the counties' unmatched lines are then matched again once.
    """
    return unmatched.map_skus(get_db(), principal(), mappings)
