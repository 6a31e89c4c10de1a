"""Schemas of sales import runs and of the unmatched-SKU report."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import fields, validate

from adapters.base import CHANNELS, REGISTRY
from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, Fen, ObjectIdField, PageArgsSchema, page_of
from schemas.operators import ActorSchema
from schemas.products import ChannelSkuSchema
from schemas.reports import Month
from service.import_runs import STATUSES
from service.unmatched import BARCODE, MAX_SEARCH_CHARS, NAME

# The most files one export is (淘宝's order report and item report).
MAX_EXPORT_FILES = 2


class ImportRunFileSchema(BaseSchema):
    file = fields.List(
        Upload(),
        required=True,
        validate=validate.Length(
            min=1,
            max=MAX_EXPORT_FILES,
            error=Coded(
                "import.file_count",
                f"An export is one file, or for 淘宝 two (订单报表, 宝贝报表); at most {MAX_EXPORT_FILES}.",
                most=MAX_EXPORT_FILES,
            ),
        ),
        metadata={
            "description": "The channel's export as its adapter reads it (xlsx, CSV or JSON lines): one "
            "`file` part, or for 淘宝 (taobao) two `file` parts, the order report (订单报表) and the "
            "item report (宝贝报表) of one export, in either order."
        },
    )


class ImportRunFormSchema(BaseSchema):
    channel = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        # Documented here; the runner refuses an unknown importer with its own message.
        metadata={
            "description": "The importer (adapter) name.",
            "enum": sorted(name for name, adapter in REGISTRY.items() if adapter.media),
        },
    )
    county_code = CountyCode(
        metadata={"description": "The county the sales belong to; required for admins and staff of several."}
    )
    dry_run = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Check and count only; store no sales (the run is recorded). The files are "
            "kept to be confirmed (POST /api/v1/imports/{id}/confirm)."
        },
    )


class ImportRunRequestSchema(ImportRunFileSchema, ImportRunFormSchema):
    """The whole multipart body, for the API docs (the route parses it as form plus files)."""


class ImportRunQueryArgsSchema(PageArgsSchema):
    county_code = CountyCode()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    rejected_within_days = fields.Integer(
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "Only runs started in the last days that rejected rows."},
    )


class ImportSourceSchema(BaseSchema):
    filename = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True, metadata={"description": "Bytes read."})
    sha256 = fields.String(
        allow_none=True, metadata={"description": "Of the whole file, computed while streaming."}
    )


class ImportRowErrorSchema(BaseSchema):
    row = fields.Integer(allow_none=True, metadata={"description": "The file's row number (header = row 1)."})
    field = fields.String(allow_none=True)
    message = fields.String()


class SkippedReasonSchema(BaseSchema):
    reason = fields.String()
    rows = fields.Integer()


class ImportRunSchema(BaseSchema):
    id = ObjectIdField(attribute="_id")
    channel = fields.String()
    adapter = fields.String()
    layout = fields.String(
        allow_none=True,
        metadata={
            "description": "The layout (version) of the export its header was recognised as, e.g. jd-pop-30."
        },
    )
    layout_title = fields.String(allow_none=True, metadata={"description": "The layout, for people."})
    county_code = fields.String()
    operator_id = ObjectIdField(
        allow_none=True, metadata={"description": "Set when an enterprise imported its own shop's export."}
    )
    dry_run = fields.Boolean()
    status = fields.String(
        metadata={
            "description": "running, succeeded, failed, or interrupted "
            "(its process stopped mid-import: import the file again)."
        }
    )
    error = fields.String(allow_none=True, metadata={"description": "Why the run failed."})
    source = fields.Nested(
        ImportSourceSchema, metadata={"description": "The file imported (of several, the first)."}
    )
    files = fields.List(
        fields.Nested(ImportSourceSchema),
        metadata={"description": "Every file of the export, in the order given (淘宝: two)."},
    )
    started_by = fields.Nested(ActorSchema)
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    rows = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    skipped = fields.Integer(
        metadata={"description": "Rows skipped by status, and duplicates within the file."}
    )
    rejected = fields.Integer()
    unmatched = fields.Integer(metadata={"description": "Lines stored without a matching product."})
    error_count = fields.Integer(metadata={"description": "All row errors, kept or not."})
    errors = fields.List(
        fields.Nested(ImportRowErrorSchema),
        metadata={"description": "The first 1,000 row errors (only when reading one run)."},
    )
    errors_truncated = fields.Boolean()
    skipped_reasons = fields.List(fields.Nested(SkippedReasonSchema))
    unknown_buyers = fields.Integer(
        metadata={"description": "Buyer units named in the file that match no canteen (warning)."}
    )
    unknown_buyer_lines = fields.Integer()
    unknown_buyer_names = fields.List(fields.String(), metadata={"description": "The first 50, by name."})
    kept_until = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "A dry run's files are kept until then, to be confirmed "
            "(POST /api/v1/imports/{id}/confirm); null when none are kept."
        },
    )
    confirmed_run_id = ObjectIdField(
        allow_none=True, metadata={"description": "A confirmed dry run's real run."}
    )
    dry_run_id = ObjectIdField(
        allow_none=True, metadata={"description": "The dry run this run confirmed, if it confirmed one."}
    )


ImportRunPageSchema = page_of(ImportRunSchema, "ImportRunPageSchema")


class UnmatchedQueryArgsSchema(BaseSchema):
    county_code = CountyCode(metadata={"description": "One of your counties (required for admins)."})
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    q = fields.String(
        validate=validate.Length(max=MAX_SEARCH_CHARS),
        metadata={"description": "Only SKUs whose raw SKU, barcode or title contains this text (any case)."},
    )
    product_q = fields.String(
        validate=validate.Length(max=MAX_SEARCH_CHARS),
        metadata={"description": "Suggest only the county's products whose name contains this text."},
    )
    from_month = Month(data_key="from", metadata={"description": "First month, YYYY-MM (default: January)."})
    to_month = Month(data_key="to", metadata={"description": "Last month, inclusive (default: this month)."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class UnmatchedSuggestionSchema(BaseSchema):
    product_id = ObjectIdField()
    name = fields.String()
    spec = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    barcode = fields.String(allow_none=True)
    status = fields.String(
        metadata={"description": "The product's status now; certified or not, it may be mapped."}
    )
    certified = fields.Boolean()
    operator_id = ObjectIdField()
    operator_name = fields.String(allow_none=True)
    reason = fields.String(
        validate=validate.OneOf([BARCODE, NAME]),
        metadata={
            "description": "barcode: the lines carry the product's barcode (ranked first); name: alike names."
        },
    )
    similarity_pct = fields.Integer(metadata={"description": "0–100; 100 for a barcode."})


class UnmatchedSkuSchema(BaseSchema):
    county_code = fields.String()
    channel = fields.String()
    sku = fields.String(allow_none=True)
    barcode = fields.String(allow_none=True, metadata={"description": "Only when the lines carry no SKU."})
    barcodes = fields.List(fields.String(), metadata={"description": "Every barcode the lines carried."})
    lines = fields.Integer()
    quantity = fields.Integer()
    sales_fen = Fen(metadata={"description": "Net of refunds."})
    first_seen = fields.DateTime()
    last_seen = fields.DateTime()
    sample_title = fields.String(allow_none=True)
    suggestions = fields.List(
        fields.Nested(UnmatchedSuggestionSchema),
        metadata={"description": "The county's products most likely to be this SKU, best first."},
    )


class UnmatchedReportSchema(BaseSchema):
    county_codes = fields.List(fields.String())
    channel = fields.String(allow_none=True)
    q = fields.String(allow_none=True)
    from_month = fields.String(
        data_key="from", metadata={"description": "The period, by Asia/Shanghai month."}
    )
    to_month = fields.String(data_key="to")
    groups = fields.Integer(metadata={"description": "SKUs (or barcodes) found, on every page."})
    lines = fields.Integer()
    sales_fen = Fen(
        metadata={"description": "Unmatched sales of the period net of refunds: the dashboard's figure."}
    )
    truncated = fields.Boolean()
    page = fields.Integer()
    per_page = fields.Integer()
    items = fields.List(fields.Nested(UnmatchedSkuSchema), metadata={"description": "This page's SKUs."})


class UnmatchedMapSchema(ChannelSkuSchema):
    product_id = ObjectIdField(required=True)


class UnmatchedMappedSchema(BaseSchema):
    product_id = ObjectIdField()
    county_code = fields.String()
    channel = fields.String()
    sku = fields.String()
    product_version = fields.Integer()


class UnmatchedMapResultSchema(BaseSchema):
    mapped = fields.List(fields.Nested(UnmatchedMappedSchema))
    county_codes = fields.List(
        fields.String(), metadata={"description": "The counties matched again, once each."}
    )
    unmatched_before = fields.Integer()
    matched = fields.Integer(
        metadata={
            "description": "Unmatched lines of the county now matched (by this or another catalogue change)."
        }
    )
    partitions_rebuilt = fields.Integer()
