"""The enterprise portal: its operator, its products, links, sales and income.

Every view calls the service function the matching API route calls, with the session's
principal, so the enterprise sees and changes only its own operator's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from flask import redirect, render_template, request, url_for

from schemas.benefit_links import BenefitLinkQueryArgsSchema
from schemas.operators import OperatorCreateSchema, OperatorPatchSchema
from schemas.products import ProductQueryArgsSchema
from schemas.reports import ReportQueryArgsSchema
from service import (
    benefit_links,
    certification,
    operators,
    product_listing,
    report_downloads,
    report_figures,
    reports,
    xlsx,
)
from service.access import ENTERPRISE, allow
from service.clock import local_date
from service.errors import ServiceError
from service.storage import get_db
from service.web import product_forms
from service.web.core import (
    PageBlueprint,
    current_principal,
    form_status,
    form_values,
    list_page,
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
from service.web.formatting import OPERATOR_KIND_LABELS, label, percent_bp
from service.web.product_forms import category_options, product_url

bp = PageBlueprint("enterprise_pages", __name__, url_prefix="/enterprise")

PER_PAGE = 50

PROFILE_FIELDS = ("name", "uscc", "kind", "address", "legal_rep", "contact_phone", "benefit_mechanisms")
PROFILE_REQUIRED = tuple(
    name for name, field in OperatorCreateSchema().fields.items() if field.required and name in PROFILE_FIELDS
)
PROFILE_NULLABLE = tuple(name for name in PROFILE_FIELDS if OperatorPatchSchema().fields[name].allow_none)

# The sales page's downloadable reports: name → extra report arguments.
SALES_REPORTS = {"monthly": {}, "products": {"limit": report_figures.MAX_LIMIT}, "households": {}}


# Home ---------------------------------------------------------------------------------------


@bp.route("/")
@allow(ENTERPRISE)
def home():
    db, principal = get_db(), current_principal()
    return render_template(
        "web/enterprise/home.html",
        operator=operators.get_operator(db, principal, principal.operator_id),
        certification=reports.certification_status(db, principal),
        horizons=reports.EXPIRY_HORIZONS_DAYS,
        summary=reports.summary(db, principal),
        product_url=product_url,
    )


# Profile ------------------------------------------------------------------------------------


def profile_form_values(operator: Mapping[str, Any]) -> dict[str, Any]:
    return {name: operator.get(name) for name in PROFILE_FIELDS}


def submitted_profile() -> dict[str, Any]:
    values = form_values((*PROFILE_FIELDS, "benefit_mechanisms[]"))  # the checkboxes send a list
    for name in PROFILE_NULLABLE:
        values.setdefault(name, None)
    values.setdefault("benefit_mechanisms", [])
    return values


@bp.route("/profile", methods=["GET", "POST"])
@allow(ENTERPRISE)
def profile():
    db, principal = get_db(), current_principal()
    operator = operators.get_operator(db, principal, principal.operator_id)
    if request.method == "GET":
        return render_profile(operator, profile_form_values(operator), operator["version"], {})
    values = submitted_profile()
    version = submitted_version()
    changes, errors = load_form(OperatorPatchSchema(), values)
    errors = merge_errors(missing_required(values, PROFILE_REQUIRED), errors)
    if not errors:
        # Only what changed is sent: an unchanged USCC staff saved past its check is not checked again.
        changes = {name: value for name, value in changes.items() if value != operator.get(name)}
        try:
            operators.update_operator(db, principal, operator["_id"], version, changes)
        except ServiceError as error:
            errors = service_error_fields(error)
        else:
            ok("主体信息已保存。")
            return redirect(url_for(".profile"))
    return render_profile(operator, values, version, errors), form_status(errors)


def render_profile(operator: Mapping[str, Any], values: Mapping[str, Any], version: Any, errors: dict):
    return render_template(
        "web/enterprise/profile.html",
        operator=operator,
        values=values,
        version=version,
        errors=errors,
        kind_options=[(kind, OPERATOR_KIND_LABELS.get(kind, kind)) for kind in operators.KINDS],
        mechanism_options=[(code, label(code, "mechanism")) for code in operators.BENEFIT_MECHANISMS],
    )


# Products -----------------------------------------------------------------------------------


PRODUCT_COLUMNS = (
    xlsx.Column("产品名称", "name", xlsx.TEXT, width=24),
    xlsx.Column("品类", lambda row: label(row.get("category"), "category")),
    xlsx.Column("规格", "spec", xlsx.TEXT),
    xlsx.Column("单位", "unit", xlsx.TEXT),
    xlsx.Column("价格（元）", "price_fen", xlsx.FEN),
    xlsx.Column("带贫比例", lambda row: percent_bp(row.get("benefit_rate_bp")), xlsx.TEXT),
    xlsx.Column("条形码", "barcode", xlsx.TEXT, width=16),
    xlsx.Column("认定状态", lambda row: label(row.get("status"), "status")),
    xlsx.Column("认定证书编号", "certificate_no", xlsx.TEXT, width=20),
    xlsx.Column("有效期至", lambda row: row.get("valid_until") and local_date(row["valid_until"]), xlsx.DATE),
)


@bp.route("/products", endpoint="products")
@allow(ENTERPRISE)
def product_list():
    return list_page(
        product_listing.list_products,
        ProductQueryArgsSchema(),
        PRODUCT_COLUMNS,
        ("my-products.xlsx", "我的产品"),
        "web/enterprise/products.html",
        status_options=[(status, label(status, "status")) for status in certification.STATUSES],
        category_options=category_options(),
        editable=certification.EDITABLE_STATUSES,
        product_url=product_url,
    )


@bp.route("/products/new", methods=["GET", "POST"])
@allow(ENTERPRISE)
def new_product():
    return product_forms.new_product()


@bp.route("/products/<objectid:product_id>/edit", methods=["GET", "POST"])
@allow(ENTERPRISE)
def edit_product(product_id: ObjectId):
    return product_forms.edit_product(product_id)


# Benefit links ------------------------------------------------------------------------------


LINK_COLUMNS = (
    xlsx.Column("户编号", "household_no", xlsx.TEXT, width=22),
    xlsx.Column("户主", "head_name", xlsx.TEXT),
    xlsx.Column("户籍县", "household_county_code", xlsx.TEXT),
    xlsx.Column("带贫方式", lambda row: label(row.get("mechanism"), "mechanism"), width=20),
    xlsx.Column("权重", "weight", xlsx.INTEGER),
    xlsx.Column("起始日", "valid_from", xlsx.DATE),
    xlsx.Column("截止日", "valid_to", xlsx.DATE),
    xlsx.Column("结束原因", "end_reason", xlsx.TEXT),
)


@bp.route("/links")
@allow(ENTERPRISE)
def links():
    return list_page(
        benefit_links.list_links,
        BenefitLinkQueryArgsSchema(),
        LINK_COLUMNS,
        ("benefit-links.xlsx", "带贫关系"),
        "web/enterprise/links.html",
        mechanism_options=[(code, label(code, "mechanism")) for code in operators.BENEFIT_MECHANISMS],
    )


# Sales and household income -----------------------------------------------------------------


def monthly_chart(items: list[Mapping[str, Any]]) -> dict[str, Any]:
    """An ECharts option: sales and household income per month (yuan, as exact decimal strings)."""
    totals: dict[str, list[int]] = {}
    for row in items:
        month = totals.setdefault(row["month"], [0, 0])
        month[0] += row["sales_fen"]
        month[1] += row["poor_income_fen"]
    months = sorted(totals)
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["销售额（元）", "带贫收益（元）"]},
        "xAxis": {"type": "category", "data": months},
        "yAxis": {"type": "value"},
        "series": [
            {"name": "销售额（元）", "type": "bar", "data": [xlsx.yuan_text(totals[m][0]) for m in months]},
            {"name": "带贫收益（元）", "type": "bar", "data": [xlsx.yuan_text(totals[m][1]) for m in months]},
        ],
    }


@bp.route("/sales")
@allow(ENTERPRISE)
def sales():
    db, principal = get_db(), current_principal()
    period, errors = query_args(ReportQueryArgsSchema())
    period = {name: period[name] for name in ("from_month", "to_month") if name in period}
    if wants_xlsx():
        name = request.args.get("report", "")
        name = name if name in SALES_REPORTS else "monthly"
        return xlsx.send_xlsx(*report_downloads.export(db, principal, name, **period, **SALES_REPORTS[name]))
    page = page_number()
    try:
        monthly = reports.monthly(db, principal, **period)
        ranking = reports.product_ranking(db, principal, **period, **SALES_REPORTS["products"])
        households = reports.household_list(db, principal, page=page, per_page=PER_PAGE, **period)
    except ServiceError as error:
        errors = merge_errors(errors, service_error_fields(error))
        monthly = ranking = households = None
    return render_template(
        "web/enterprise/sales.html",
        errors=errors,
        monthly=monthly,
        monthly_option=monthly_chart(monthly["items"]) if monthly else None,
        ranking=ranking,
        households=households,
        page=page,
        per_page=PER_PAGE,
        product_url=product_url,
    )
