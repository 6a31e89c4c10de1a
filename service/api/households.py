"""Households on the poverty register (建档立卡贫困户)."""

from __future__ import annotations

from schemas.base import page_of
from schemas.households import (
    CategoryEntrySchema,
    CategoryHistorySchema,
    HouseholdCreateSchema,
    HouseholdImportFormSchema,
    HouseholdImportRequestSchema,
    HouseholdLookupSchema,
    HouseholdPatchSchema,
    HouseholdQueryArgsSchema,
    HouseholdSchema,
    ImportFileSchema,
    ImportResultSchema,
    TargetingGapArgsSchema,
    multipart_body,
)
from service import household_category_changes, household_register, households
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


@blp.route("/targeting-gaps", methods=["GET"])
@blp.arguments(TargetingGapArgsSchema, location="query")
@blp.response(200, HouseholdPageSchema)
@allow(*STAFF)
def targeting_gaps(args):
    """Monitored households (监测对象) that no benefit link reaches today (帮扶未覆盖)."""
    items, total = household_category_changes.targeting_gaps(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/<objectid:household_id>/categories", methods=["GET"])
@blp.response(200, CategoryHistorySchema)
@allow(ADMIN, COUNTY_STAFF, ENTERPRISE)
def category_history(household_id):
    """The household's categories over time (户类型, 监测对象类别, 风险消除) and today's."""
    return with_etag(household_category_changes.category_history(get_db(), principal(), household_id))


@blp.route("/<objectid:household_id>/categories", methods=["POST"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(CategoryEntrySchema)
@blp.response(200, CategoryHistorySchema)
@allow(*STAFF)
def change_category(data, household_id):
    """Record a dated category change (in force from valid_from; replaces the same day's); If-Match required.

    A day before the household's registration or after today is refused (400, naming the field).
    """
    version = expected_version(household_id)
    changed = household_category_changes.change_category(get_db(), principal(), household_id, version, data)
    return with_etag(changed)


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
    and optionally 脱贫年度. Or the national monitoring system's export (a file with 监测对象类别): 户编号,
    户类型 (脱贫户/一般农户), 监测对象类别, and optionally 识别监测时间, 风险是否已消除, 风险消除方式,
    消除监测时间; it records the categories of households already registered (边缘户 and 脱贫监测户 read as
    边缘易致贫户 and 脱贫不稳定户).
    Rejected rows are listed with the file's row numbers (header = row 1); re-importing changes nothing.
    """
    upload = files["file"]
    return household_register.import_households(
        get_db(), principal(), upload.stream, upload.filename or "", **form
    )


import_households.accepts_files = True
