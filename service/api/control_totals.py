"""Control totals (账实相符): a channel's figure for a county and month from outside the ledger."""

from __future__ import annotations

from adapters.base import CHANNELS
from schemas.households import ImportFileSchema, multipart_body
from schemas.payouts import (
    ControlTotalImportFormSchema,
    ControlTotalImportRequestSchema,
    ControlTotalImportResultSchema,
    ControlTotalListSchema,
    ControlTotalQueryArgsSchema,
    ControlTotalSchema,
    ControlTotalSetSchema,
)
from service import control_totals, xlsx
from service.access import STAFF, allow
from service.api.openapi import XLSX_TEMPLATE
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "control_totals",
    __name__,
    url_prefix="/api/v1/control-totals",
    description="Outside figures (settlement statements, daily totals) the ledger's sales must equal.",
)


@blp.route("", methods=["GET"])
@blp.arguments(ControlTotalQueryArgsSchema, location="query")
@blp.response(200, ControlTotalListSchema)
@allow(*STAFF)
def list_control_totals(args):
    """The figures of your counties, newest month first, each beside the ledger's sales."""
    return {"items": control_totals.list_control_totals(get_db(), principal(), **args)}


@blp.route(f"/<county_code>/<any({','.join(CHANNELS)}):channel>/<month>", methods=["PUT"])
@blp.arguments(ControlTotalSetSchema)
@blp.response(200, ControlTotalSchema)
@allow(*STAFF)
def set_control_total(data, county_code, channel, month):
    """Enter or replace the figure of a month that has begun (YYYY-MM, Asia/Shanghai); audited."""
    return control_totals.set_control_total(get_db(), principal(), county_code, channel, month, **data)


@blp.route("/import", methods=["POST"])
@blp.arguments(ControlTotalImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(ControlTotalImportRequestSchema))
@blp.response(200, ControlTotalImportResultSchema)
@allow(*STAFF)
def import_control_totals(form, files):
    """Figures from a spreadsheet in the template's columns (multipart: file; optional dry_run).

    Columns 县区代码, 渠道 (name or code), 月份 (YYYY-MM), 金额(元), 来源 (optional). Keyed by county,
    channel and month: re-importing a file changes nothing, a changed amount replaces the figure.
    """
    upload = files["file"]
    return control_totals.import_control_totals(
        get_db(), principal(), upload.stream, upload.filename or "", **form
    )


import_control_totals.accepts_files = True


@blp.route("/template", methods=["GET"])
@blp.doc(**XLSX_TEMPLATE)
@allow(*STAFF)
def control_total_template():
    """The upload template: the columns, one example row (skipped on import) and a sheet of notes."""
    return xlsx.send_xlsx(control_totals.template(), control_totals.TEMPLATE_FILENAME)
