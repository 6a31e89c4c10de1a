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
    BenefitLinkRequestCreateSchema,
    BenefitLinkRequestQueryArgsSchema,
    BenefitLinkRequestRejectSchema,
    BenefitLinkRequestSchema,
    BenefitLinkSchema,
)
from schemas.households import ImportFileSchema, ImportResultSchema, multipart_body
from service import benefit_links, link_register, link_requests
from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE, STAFF, allow
from service.api.openapi import IF_MATCH_REQUIRED
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
BenefitLinkRequestPageSchema = page_of(BenefitLinkRequestSchema, "BenefitLinkRequestPageSchema")


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
    """Link a household (by household_id or household_no); overlapping periods for one pair are 409.

    An enterprise links households of its operator's county; one of another county is requested
    (``/requests``). A number outside the caller's scope is answered as an unknown one.
    """
    return with_etag(benefit_links.create_link(get_db(), principal(), data), 201)


@blp.route("/<objectid:link_id>", methods=["GET"])
@blp.response(200, BenefitLinkSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def get_link(link_id):
    return with_etag(benefit_links.get_link(get_db(), principal(), link_id))


@blp.route("/<objectid:link_id>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
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
    return link_register.import_links(get_db(), principal(), upload.stream, upload.filename or "", **form)


import_links.accepts_files = True


# Links across counties, requested by an enterprise and decided by the household's county ----------


@blp.route("/requests", methods=["GET"])
@blp.arguments(BenefitLinkRequestQueryArgsSchema, location="query")
@blp.response(200, BenefitLinkRequestPageSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def list_requests(args):
    """Enterprises: their own requests. Staff: requests naming households of their counties."""
    items, total = link_requests.list_requests(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/requests", methods=["POST"])
@blp.arguments(BenefitLinkRequestCreateSchema)
@blp.response(202, BenefitLinkRequestSchema)
@allow(ENTERPRISE)
def request_link(data):
    """Ask for a link to a household of another county, by its number; its county's staff decide.

    Every request is accepted as pending, whether or not the number is registered anywhere.
    """
    return link_requests.request_link(get_db(), principal(), data)


@blp.route("/requests/<objectid:request_id>", methods=["GET"])
@blp.response(200, BenefitLinkRequestSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def get_request(request_id):
    return link_requests.get_request(get_db(), principal(), request_id)


@blp.route("/requests/<objectid:request_id>/approve", methods=["POST"])
@blp.response(200, BenefitLinkRequestSchema)
@allow(*STAFF)
def approve_request(request_id):
    """Staff of the household's county store the requested link (link_id)."""
    return link_requests.approve(get_db(), principal(), request_id)


@blp.route("/requests/<objectid:request_id>/reject", methods=["POST"])
@blp.arguments(BenefitLinkRequestRejectSchema)
@blp.response(200, BenefitLinkRequestSchema)
@allow(*STAFF)
def reject_request(data, request_id):
    return link_requests.reject(get_db(), principal(), request_id, data["reason"])
