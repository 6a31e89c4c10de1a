"""Households on the poverty register (建档立卡贫困户)."""

from __future__ import annotations

from schemas.base import page_of
from schemas.households import (
    HouseholdCreateSchema,
    HouseholdImportFormSchema,
    HouseholdImportRequestSchema,
    HouseholdLookupSchema,
    HouseholdPatchSchema,
    HouseholdQueryArgsSchema,
    HouseholdSchema,
    ImportFileSchema,
    ImportResultSchema,
    multipart_body,
)
from service import households
from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE, STAFF, allow
from service.api.openapi import IF_MATCH_REQUIRED
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "households",
    __name__,
    url_prefix="/api/v1/households",
    description="The household register (建档立卡贫困户); ID numbers are never shown in full.",
)
HouseholdPageSchema = page_of(HouseholdSchema, "HouseholdPageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(HouseholdQueryArgsSchema, location="query")
@blp.response(200, HouseholdPageSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def list_households(args):
    """Staff: their counties' households. Enterprises: households ever linked to their operator, masked."""
    items, total = households.list_households(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(HouseholdCreateSchema)
@blp.response(201, HouseholdSchema)
@allow(*STAFF)
def create_household(data):
    """Register a household; the same person cannot head two (409)."""
    return with_etag(households.create_household(get_db(), principal(), data), 201)


@blp.route("/<objectid:household_id>", methods=["GET"])
@blp.response(200, HouseholdSchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def get_household(household_id):
    return with_etag(households.get_household(get_db(), principal(), household_id))


@blp.route("/<objectid:household_id>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(HouseholdPatchSchema)
@blp.response(200, HouseholdSchema)
@allow(*STAFF)
def update_household(changes, household_id):
    """Change village, head, members or status; send If-Match with the ETag you read."""
    version = expected_version(household_id)
    return with_etag(households.update_household(get_db(), principal(), household_id, version, changes))


@blp.route("/lookup", methods=["POST"])
@blp.arguments(HouseholdLookupSchema)
@blp.response(200, HouseholdSchema)
@allow(*STAFF)
def lookup_household(data):
    """The household headed by an ID number (POST, so the number stays out of URLs and access logs)."""
    return with_etag(households.lookup_household(get_db(), principal(), data["id_number"]))


@blp.route("/import", methods=["POST"])
@blp.arguments(HouseholdImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(HouseholdImportRequestSchema))
@blp.response(200, ImportResultSchema)
@allow(*STAFF)
def import_households(form, files):
    """Upsert from the county's spreadsheet (multipart: file; optional county_code, dry_run).

    Columns 户编号, 村代码, 户主姓名, 身份证号, 家庭人口数, 户类型 (未脱贫/已脱贫/脱贫监测户/边缘户),
    and optionally 脱贫年度.
    Rejected rows are listed with the file's row numbers (header = row 1); re-importing changes nothing.
    """
    upload = files["file"]
    return households.import_households(get_db(), principal(), upload.stream, upload.filename or "", **form)


import_households.accepts_files = True
