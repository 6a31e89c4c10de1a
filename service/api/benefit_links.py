"""Benefit links (带贫关系) between market operators and registered households."""

from __future__ import annotations

from schemas.base import page_of
from schemas.benefit_links import (
    BenefitLinkCreateSchema,
    BenefitLinkEndSchema,
    BenefitLinkImportFormSchema,
    BenefitLinkImportRequestSchema,
    BenefitLinkPatchSchema,
    BenefitLinkQueryArgsSchema,
    BenefitLinkSchema,
)
from schemas.households import ImportFileSchema, ImportResultSchema, multipart_body
from service import benefit_links
from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE, STAFF, allow
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "benefit_links",
    __name__,
    url_prefix="/api/v1/benefit-links",
    description="Which operator benefits which household, how and when; ended, never deleted.",
)
BenefitLinkPageSchema = page_of(BenefitLinkSchema, "BenefitLinkPageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(BenefitLinkQueryArgsSchema, location="query")
@blp.response(200, BenefitLinkPageSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def list_links(args):
    """Staff: links of their counties' operators or households. Enterprises: their operator's, masked."""
    items, total = benefit_links.list_links(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(BenefitLinkCreateSchema)
@blp.response(201, BenefitLinkSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def create_link(data):
    """Link a household (by household_id or household_no); overlapping periods for one pair are 409."""
    return with_etag(benefit_links.create_link(get_db(), principal(), data), 201)


@blp.route("/<objectid:link_id>", methods=["GET"])
@blp.response(200, BenefitLinkSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def get_link(link_id):
    return with_etag(benefit_links.get_link(get_db(), principal(), link_id))


@blp.route("/<objectid:link_id>", methods=["PATCH"])
@blp.arguments(BenefitLinkPatchSchema)
@blp.response(200, BenefitLinkSchema)
@allow(*STAFF)
def update_link(changes, link_id):
    """Change the weight or mechanism (If-Match required); past months change on the next rebuild."""
    version = expected_version(link_id)
    return with_etag(benefit_links.update_link(get_db(), principal(), link_id, version, changes))


@blp.route("/<objectid:link_id>/end", methods=["POST"])
@blp.arguments(BenefitLinkEndSchema)
@blp.response(200, BenefitLinkSchema)
@allow(*STAFF)
def end_link(data, link_id):
    """End a link after its last day (valid_to, inclusive); links are never deleted."""
    return with_etag(benefit_links.end_link(get_db(), principal(), link_id, data["valid_to"], data["reason"]))


@blp.route("/import", methods=["POST"])
@blp.arguments(BenefitLinkImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(BenefitLinkImportRequestSchema))
@blp.response(200, ImportResultSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def import_links(form, files):
    """Create or update links from a spreadsheet (multipart: file; optional dry_run).

    Columns 经营主体统一社会信用代码, 户编号, 带贫方式 (label or code), 权重, 开始日期, 结束日期 (optional).
    Keyed by operator, household and start date, so re-importing changes nothing.
    """
    upload = files["file"]
    return benefit_links.import_links(get_db(), principal(), upload.stream, upload.filename or "", **form)


import_links.accepts_files = True
