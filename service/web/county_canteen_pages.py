"""County staff's view of the unit canteens: registration, yearly plans, purchases and progress.

Staff see the canteens of their counties (admins: all). Every scope check stays in the service
functions, called with the arguments the API routes pass them; a plan set here on a canteen's
behalf goes through the canteen's own plan form handling (``canteen_pages.submit_plan``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import marshmallow as ma
from bson import ObjectId
from flask import redirect, render_template, request, url_for

from schemas.canteens import CanteenCreateSchema, CanteenPatchSchema, CanteenQueryArgsSchema
from service import canteen_progress, canteen_purchases, canteens, xlsx
from service.access import STAFF, allow
from service.canteen_sheets import CANTEEN_LIST_COLUMNS, PLAN_COLUMNS, PURCHASE_LINE_COLUMNS
from service.errors import Conflict, ServiceError
from service.storage import get_db
from service.web.canteen_pages import (
    LINE_LABELS,
    PlanForm,
    plan_context,
    plan_form,
    plan_years,
    progress_bar,
    selected_year,
    submit_plan,
)
from service.web.core import (
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    form_status,
    form_values,
    load_form,
    merge_errors,
    missing_required,
    ok,
    page_number,
    query_args,
    service_error_fields,
    submitted_version,
    wants_xlsx,
)
from service.xlsx import Sheet

bp = PageBlueprint("county_canteen_pages", __name__, url_prefix="/canteens")

CANTEEN_FIELDS = ("name", "unit_type", "county_code", "address", "contact")
CANTEEN_REQUIRED = tuple(name for name, field in CanteenCreateSchema().fields.items() if field.required)
# Boxes an emptied input clears (None), rather than leaves unchanged as an absent API field would.
CANTEEN_NULLABLE = tuple(name for name, field in CanteenPatchSchema().fields.items() if field.allow_none)
NAME_TAKEN_MESSAGE = "本县已有同名的单位食堂：名称在县内须唯一（832 平台按名称匹配采购单位）。"
PER_PAGE = 50


# The canteens and their progress ----------------------------------------------------------------


def county_reports(counties: Iterable[str], year: int) -> dict[str, dict[str, Any]]:
    """The year's canteen report of each county (the API's /reports/canteens), by county code."""
    db, principal = get_db(), current_principal()
    return {
        county: canteen_progress.county_quota_report(db, principal, county, year)
        for county in sorted(set(counties))
    }


def with_quotas(rows: list[dict[str, Any]], reports: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The canteens, each with its progress as its county's report gives it, and its bar."""
    quotas = {item["canteen_id"]: item for report in reports.values() for item in report["items"]}
    return [{**row, "quota": quotas[row["_id"]], "bar": progress_bar(quotas[row["_id"]])} for row in rows]


@bp.route("/", endpoint="canteens")
@allow(*STAFF)
def canteen_list():
    """The canteens (search, unit type, county) with their progress in the year (?year=)."""
    db, principal = get_db(), current_principal()
    args, errors = query_args(CanteenQueryArgsSchema())
    year, year_errors = selected_year()
    status = request.args.get("status")
    status = status if status in canteen_progress.QUOTA_STATUSES else None
    if wants_xlsx():
        rows = all_rows(canteens.list_canteens, **args)
        rows = with_quotas(rows, county_reports((row["county_code"] for row in rows), year))
        title = f"{year}年单位食堂预留份额"
        rows = [{**row, **row["quota"]} for row in in_status(rows, status)]
        return download_table(CANTEEN_LIST_COLUMNS, rows, f"canteens-{year}.xlsx", title)
    args["page"] = page_number()
    if status is None:
        items, total = canteens.list_canteens(db, principal, **args)
    else:
        items, total = canteens_in_status(args, year, status)
    # The counties whose totals head the page: the one asked for, or all of the staff member's.
    shown = [args["county_code"]] if "county_code" in args else list(principal.county_codes)
    reports = county_reports([*shown, *(row["county_code"] for row in items)], year)
    return render_template(
        "web/county_canteens/canteens.html",
        items=with_quotas(items, reports),
        total=total,
        args=args,
        errors={**errors, **year_errors},
        year=year,
        years=plan_years(),
        totals=[reports[county] for county in shown],
        counties=principal.county_codes,
        unit_types=canteens.UNIT_TYPES,
        statuses=canteen_progress.QUOTA_STATUSES,
        status=status,
    )


def in_status(rows: list[dict[str, Any]], status: str | None) -> list[dict[str, Any]]:
    """The rows (with their quotas) whose progress is in this state; all of them without one."""
    return [row for row in rows if status is None or row["quota"]["status"] == status]


def canteens_in_status(args: Mapping[str, Any], year: int, status: str) -> tuple[list[dict[str, Any]], int]:
    """One page of the filtered canteens whose progress in the year is in this state, and their number."""
    rows = all_rows(canteens.list_canteens, **args)
    found = in_status(with_quotas(rows, county_reports((row["county_code"] for row in rows), year)), status)
    start = (args["page"] - 1) * args["per_page"]
    return found[start : start + args["per_page"]], len(found)


# Registering and editing a canteen --------------------------------------------------------------


def submitted_canteen(
    schema: ma.Schema,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, list[str]]]:
    """The canteen form: what was typed, and the API's data or the errors by field."""
    values = form_values(CANTEEN_FIELDS)
    data, errors = load_form(schema, {**dict.fromkeys(CANTEEN_NULLABLE), **values})
    errors = merge_errors(missing_required(values, CANTEEN_REQUIRED), errors)
    return values, (None if errors else data), errors


def canteen_refusal(error: ServiceError) -> dict[str, list[str]]:
    """The service's refusal as form errors; a name already used in the county is said on the name."""
    if isinstance(error, Conflict):
        return {"name": [NAME_TAKEN_MESSAGE]}
    return service_error_fields(error)


def render_canteen_form(
    canteen: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    errors: Mapping[str, list[str]],
    version: int | None = None,
):
    """The register form (no canteen) or the edit form; staff pick among their counties, admins type one."""
    return render_template(
        "web/county_canteens/canteen_form.html",
        canteen=canteen,
        values=values,
        errors=errors,
        version=version,
        unit_type_options=list(canteens.UNIT_TYPES.items()),
        county_options=[(code, code) for code in current_principal().county_codes],
    )


@bp.route("/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_canteen():
    principal = current_principal()
    if request.method == "GET":
        only_county = principal.county_codes[0] if len(principal.county_codes) == 1 else None
        return render_canteen_form(None, {"county_code": only_county}, {})
    values, data, errors = submitted_canteen(CanteenCreateSchema())
    if data is not None:
        try:
            created = canteens.create_canteen(get_db(), principal, data)
        except ServiceError as error:
            errors = canteen_refusal(error)
        else:
            ok(f"已登记单位食堂：{created['name']}。请为它申报年度计划，或由食堂账号自行申报。")
            return redirect(url_for(".canteen", canteen_id=created["_id"]))
    return render_canteen_form(None, values, errors), form_status(errors)


@bp.route("/<objectid:canteen_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit_canteen(canteen_id):
    db, principal = get_db(), current_principal()
    canteen = canteens.get_canteen(db, principal, canteen_id)
    if request.method == "GET":
        values = {name: canteen.get(name) for name in CANTEEN_FIELDS}
        return render_canteen_form(canteen, values, {}, canteen["version"])
    values, changes, errors = submitted_canteen(CanteenPatchSchema())
    version = submitted_version()
    if changes is not None:
        try:
            canteens.update_canteen(db, principal, canteen_id, version, changes)
        except ServiceError as error:
            errors = canteen_refusal(error)
        else:
            ok("单位食堂信息已保存。")
            return redirect(url_for(".canteen", canteen_id=canteen_id))
    return render_canteen_form(canteen, values, errors, version), form_status(errors)


# One canteen: facts, plans, progress, purchases -------------------------------------------------


@bp.route("/<objectid:canteen_id>")
@allow(*STAFF)
def canteen(canteen_id):
    year, year_errors = selected_year()
    return render_canteen(canteen_id, year, year_errors)


@bp.route("/<objectid:canteen_id>/plans", methods=["POST"])
@allow(*STAFF)
def set_plan(canteen_id):
    """Declare or change the canteen's plan of ?year= on its behalf (the same form as the canteen's)."""
    year, year_errors = selected_year()
    if year_errors:
        return render_canteen(canteen_id, year, year_errors)
    form = submit_plan(canteen_id, year)
    if form is None:
        return redirect(url_for(".canteen", canteen_id=canteen_id, year=year))
    return render_canteen(canteen_id, year, {}, form)


def render_canteen(
    canteen_id: ObjectId, year: int, year_errors: Mapping[str, list[str]], form: PlanForm | None = None
):
    db, principal = get_db(), current_principal()
    canteen = canteens.get_canteen(db, principal, canteen_id)
    if wants_xlsx():
        purchases = all_rows(canteen_purchases.purchase_lines, canteen_id=canteen_id, year=year)
        sheets = [
            Sheet("年度计划", PLAN_COLUMNS, canteen["plans"]),
            Sheet(f"{year}年采购", PURCHASE_LINE_COLUMNS, purchases),
        ]
        return xlsx.send_xlsx(xlsx.write_xlsx(sheets), f"canteen-{canteen_id}-{year}.xlsx")
    page = page_number()
    purchases, total = canteen_purchases.purchase_lines(
        db, principal, canteen_id, year, page=page, per_page=PER_PAGE
    )
    quota = canteen_progress.canteen_quota(db, principal, canteen_id, year)
    form = form or plan_form(canteen, year)
    return render_template(
        "web/county_canteens/canteen.html",
        **plan_context(canteen, year, year_errors, form),
        quota=quota,
        bar=progress_bar(quota),
        statuses=canteen_progress.QUOTA_STATUSES,
        purchases=purchases,
        total=total,
        **LINE_LABELS,
        page=page,
        per_page=PER_PAGE,
    ), form.status
