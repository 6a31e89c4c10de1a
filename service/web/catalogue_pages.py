"""County staff's catalogue pages: product review, products, operators, households, benefit links.

An enterprise may open its own products' page too. Every rule and every scope check stays in the
service functions these views call, with the same arguments the API routes pass them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import marshmallow as ma
from flask import redirect, render_template, request, url_for

from schemas.benefit_links import BenefitLinkQueryArgsSchema
from schemas.households import HouseholdQueryArgsSchema
from schemas.operators import OperatorQueryArgsSchema
from schemas.products import ProductApproveSchema, ProductQueryArgsSchema, ProductTransitionSchema
from schemas.reports import HouseholdIncomeQueryArgsSchema
from service import benefit_links, certification, households, operators, products, reports, sales, xlsx
from service.access import ENTERPRISE, STAFF, allow
from service.certification import COUNTY_APPROVED, PUBLICIZING, SUBMITTED
from service.clock import local_date, today_local
from service.errors import ServiceError
from service.storage import get_db
from service.vocabulary import MECHANISMS
from service.web.core import (
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    fail,
    form_values,
    load_form,
    ok,
    page_number,
    query_args,
    service_error_fields,
    wants_xlsx,
)
from service.web.formatting import label, local_datetime, percent_bp
from service.xlsx import DATE, DATETIME, FEN, INTEGER, TEXT, Column, Sheet

bp = PageBlueprint("catalogue_pages", __name__)

# The certification queue: products waiting for a county step.
REVIEW_STATUSES = (SUBMITTED, COUNTY_APPROVED, PUBLICIZING)
PER_PAGE = 50
LATEST_SALES = 50

ACTION_LABELS = {
    "submit": "提交认定申请",
    "approve": "县级审定通过",
    "reject": "退回",
    "publicize": "开始公示",
    "object": "登记异议",
    "certify": "认定",
    "revoke": "撤销认定",
}
LINK_STATES = {"pending": "未开始", "active": "有效", "ended": "已结束"}

Lister = Callable[..., tuple[list[dict[str, Any]], int]]


# Shared by the views ----------------------------------------------------------------------------


def _with_operator_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (already visible to the caller) with the name of the operator each names."""
    names = operators.names_of(get_db(), (row["operator_id"] for row in rows))
    return [{**row, "operator_name": names.get(row["operator_id"])} for row in rows]


def _list_page(
    list_rows: Lister,
    schema: ma.Schema,
    columns: list[Column],
    download: tuple[str, str],
    template: str,
    decorate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = list,
    **context: Any,
):
    """A filtered, paged list page; with ?format=xlsx, all its filtered rows as a workbook."""
    args, errors = query_args(schema)
    if wants_xlsx():
        filename, title = download
        return download_table(columns, decorate(all_rows(list_rows, **args)), filename, title)
    page = page_number()
    items, total = list_rows(get_db(), current_principal(), **{**args, "page": page})
    return render_template(
        template,
        items=decorate(items),
        total=total,
        page=page,
        per_page=args["per_page"],
        args=request.args,
        errors=errors,
        **context,
    )


def _period_report(report: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any):
    """A report over the page's ``from``/``to`` months (read as the API reads them): (report, errors).

    A bad period is shown above the report, which then covers the current year.
    """
    period, errors = query_args(HouseholdIncomeQueryArgsSchema())
    try:
        return report(get_db(), current_principal(), *args, **period, **kwargs), errors
    except ServiceError as error:
        if error.status != 422:
            raise
        return report(get_db(), current_principal(), *args, **kwargs), service_error_fields(error)


def _send_sheets(sheets: Iterable[Sheet], filename: str):
    return xlsx.send_xlsx(xlsx.write_xlsx(sheets), filename)


def _day(moment: datetime | None) -> date | None:
    return local_date(moment) if moment else None


def _link_state(link: Mapping[str, Any]) -> str:
    """Whether a link is active today, not yet started or ended (its days are inclusive)."""
    today = today_local()
    if link["valid_from"] > today:
        return "pending"
    if link["valid_to"] is not None and link["valid_to"] < today:
        return "ended"
    return "active"


def _with_link_states(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**link, "state": _link_state(link)} for link in _with_operator_names(links)]


def _operator_options() -> list[tuple[str, str]]:
    """The operators the caller sees, for a filter's drop-down."""
    found = all_rows(operators.list_operators, limit=1_000, sort="name")
    return [(str(operator["_id"]), operator["name"]) for operator in found]


# Download columns -------------------------------------------------------------------------------

PRODUCT_COLUMNS = [
    Column("产品名称", "name", TEXT, width=24),
    Column("经营主体", "operator_name", TEXT, width=24),
    Column("品类", lambda row: label(row["category"], "category"), TEXT),
    Column("规格", "spec", TEXT),
    Column("单位", "unit", TEXT),
    Column("价格（元）", "price_fen", FEN),
    Column("带贫比例", lambda row: percent_bp(row["benefit_rate_bp"]), TEXT),
    Column("状态", lambda row: label(row["status"], "status"), TEXT),
    Column("公示截止", "publicity_ends_at", DATETIME),
    Column("证书编号", "certificate_no", TEXT, width=22),
    Column("有效期至", lambda row: _day(row.get("valid_until")), DATE),
    Column("县代码", "county_code", TEXT),
]
REVIEW_COLUMNS = [
    Column("产品名称", "name", TEXT, width=24),
    Column("经营主体", "operator_name", TEXT, width=24),
    Column("品类", lambda row: label(row["category"], "category"), TEXT),
    Column("状态", lambda row: label(row["status"], "status"), TEXT),
    Column("进入当前状态", "waiting_since", DATETIME),
    Column("公示截止", "publicity_ends_at", DATETIME),
    Column("带贫比例", lambda row: percent_bp(row["benefit_rate_bp"]), TEXT),
]
OPERATOR_COLUMNS = [
    Column("名称", "name", TEXT, width=28),
    Column("统一社会信用代码", "uscc", TEXT, width=22),
    Column("类型", lambda row: label(row["kind"], "operator_kind"), TEXT),
    Column("县代码", "county_code", TEXT),
    Column("龙头企业", "is_leading_enterprise"),
    Column("带贫方式", lambda row: "、".join(label(code, "mechanism") for code in row["benefit_mechanisms"])),
    Column("状态", lambda row: label(row["status"], "operator_status"), TEXT),
    Column("带贫户数", "linked_households", INTEGER),
    Column("带贫人数", "linked_people", INTEGER),
]
HOUSEHOLD_COLUMNS = [
    Column("户编号", "household_no", TEXT, width=20),
    Column("户主", "head_name", TEXT),
    Column("身份证号（已脱敏）", "id_number_masked", TEXT, width=22),
    Column("县代码", "county_code", TEXT),
    Column("乡镇代码", "township_code", TEXT),
    Column("村代码", "village_code", TEXT, width=16),
    Column("家庭人口", "members", INTEGER),
    Column("户类型", lambda row: label(row["status"], "household_status"), TEXT),
    Column("脱贫年度", "exit_year", INTEGER),
]
LINK_COLUMNS = [
    Column("户编号", "household_no", TEXT, width=20),
    Column("户主", "head_name", TEXT),
    Column("经营主体", "operator_name", TEXT, width=24),
    Column("带贫方式", lambda row: label(row["mechanism"], "mechanism"), TEXT, width=22),
    Column("权重", "weight", INTEGER),
    Column("开始日期", "valid_from", DATE),
    Column("结束日期", "valid_to", DATE),
    Column("状态", lambda row: LINK_STATES[row["state"]], TEXT),
    Column("结束原因", "end_reason", TEXT),
]
HISTORY_COLUMNS = [
    Column("时间", "at", DATETIME),
    Column("操作人", lambda row: (row.get("by") or {}).get("username"), TEXT),
    Column("原状态", lambda row: label(row.get("from"), "status"), TEXT),
    Column("新状态", lambda row: label(row["to"], "status"), TEXT),
    Column("理由", "reason", TEXT, width=30),
    Column("镇办初审意见", "township_review_note", TEXT, width=30),
    Column("公示截止", "publicity_ends_at", DATETIME),
    Column("证书编号", "certificate_no", TEXT, width=22),
]
CERTIFICATE_COLUMNS = [
    Column("证书编号", "number", TEXT, width=22),
    Column("认定时间", "certified_at", DATETIME),
    Column("有效期至", lambda row: _day(row["valid_until"]), DATE),
    Column("提前终止时间", "ended_at", DATETIME),
    Column("终止原因", "end_reason", TEXT),
]
RATE_COLUMNS = [
    Column("生效时间", "valid_from", DATETIME),
    Column("带贫比例", lambda row: percent_bp(row["benefit_rate_bp"]), TEXT),
]
SALE_COLUMNS = [
    Column("时间", "occurred_at", DATETIME),
    Column("渠道", lambda row: label(row["channel"], "channel"), TEXT),
    Column("订单号", "external_id", TEXT, width=24),
    Column("购买方", lambda row: (row.get("buyer") or {}).get("name"), TEXT),
    Column("数量", "quantity", INTEGER),
    Column("金额（元）", "amount_fen", FEN),
    Column("销售时已认定", "certified"),
    Column("带贫比例", lambda row: percent_bp(row.get("benefit_rate_bp")), TEXT),
    Column("带贫收益（元）", "poor_income_fen", FEN),
]
CHANNEL_COLUMNS = [
    Column("渠道", "channel_label", TEXT),
    Column("销售额（元）", "sales_fen", FEN),
    Column("认定产品销售额（元）", "certified_sales_fen", FEN),
    Column("带贫收益（元）", "poor_income_fen", FEN),
    Column("数量", "quantity", INTEGER),
    Column("笔数", "lines", INTEGER),
]
INCOME_COLUMNS = [
    Column("月份", "month", TEXT),
    Column("经营主体", "operator_name", TEXT, width=24),
    Column("收益池（元）", "pool_fen", FEN),
    Column("本户权重×有效天数", "weighted", INTEGER),
    Column("合计权重×有效天数", "total_weighted", INTEGER),
    Column("本户分得（元）", "share_fen", FEN),
    Column("计算说明", "explanation", TEXT, width=60),
]
INCOME_SOURCE_COLUMNS = [
    Column("月份", "month", TEXT),
    Column("经营主体", "operator_name", TEXT, width=24),
    Column("产品", "product_name", TEXT, width=24),
    Column("渠道", "channel_label", TEXT),
    Column("销售额（元）", "sales_fen", FEN),
    Column("带贫收益（元）", "poor_income_fen", FEN),
    Column("笔数", "lines", INTEGER),
]


# Products ---------------------------------------------------------------------------------------


def _waiting_since(product: Mapping[str, Any]) -> datetime:
    """When the product entered its current status (the last step of its history)."""
    history = product.get("status_history") or []
    return history[-1]["at"] if history else product["created_at"]


@bp.route("/products/review")
@allow(*STAFF)
def review_queue():
    """Products waiting for a county step, the longest-waiting first."""
    waiting = {
        status: all_rows(products.list_products, status=status, sort="created_at")
        for status in REVIEW_STATUSES
    }
    wanted = request.args.get("status")
    queue = [
        {**product, "waiting_since": _waiting_since(product)}
        for status in ((wanted,) if wanted in waiting else REVIEW_STATUSES)
        for product in waiting[status]
    ]
    queue.sort(key=lambda product: product["waiting_since"])
    if wants_xlsx():
        return download_table(REVIEW_COLUMNS, _with_operator_names(queue), "product-review.xlsx", "产品审核")
    page = page_number()
    return render_template(
        "web/catalogue/review.html",
        items=_with_operator_names(queue[(page - 1) * PER_PAGE : page * PER_PAGE]),
        total=len(queue),
        page=page,
        per_page=PER_PAGE,
        counts={status: len(found) for status, found in waiting.items()},
        wanted=wanted,
    )


@bp.route("/products/", endpoint="products")
@allow(*STAFF)
def product_list():
    return _list_page(
        products.list_products,
        ProductQueryArgsSchema(),
        PRODUCT_COLUMNS,
        ("products.xlsx", "扶贫产品"),
        "web/catalogue/products.html",
        decorate=_with_operator_names,
        operator_options=_operator_options(),
        categories=products.CATEGORIES,
        statuses=certification.STATUSES,
    )


@bp.route("/products/<objectid:product_id>")
@allow(*STAFF, ENTERPRISE)
def product(product_id):
    """The product, its certification and rate history, its sales, and the steps the caller may take."""
    db, principal = get_db(), current_principal()
    product = products.get_product(db, principal, product_id)
    operator = operators.get_operator(db, principal, product["operator_id"])
    latest = sales.list_sales(db, principal, product_id=product_id, per_page=LATEST_SALES)["items"]
    if wants_xlsx():
        return _send_sheets(
            [
                Sheet("认定记录", HISTORY_COLUMNS, product["status_history"]),
                Sheet("证书", CERTIFICATE_COLUMNS, product["certificates"]),
                Sheet("带贫比例", RATE_COLUMNS, product["benefit_rate_history"]),
                Sheet("最近销售", SALE_COLUMNS, latest),
            ],
            f"product-{product_id}.xlsx",
        )
    # The product's figures in the period come from its operator's product ranking (which holds
    # at most MAX_LIMIT products: far more than one operator registers).
    ranking, period_errors = _period_report(
        reports.product_ranking, operator_id=product["operator_id"], limit=reports.MAX_LIMIT
    )
    figures = next((row for row in ranking["items"] if row["product_id"] == product_id), None)
    can_edit = principal.role == ENTERPRISE
    return render_template(
        "web/catalogue/product.html",
        product=product,
        operator=operator,
        latest_sales=latest,
        ranking=ranking,
        figures=figures,
        period_errors=period_errors,
        actions=certification.allowed_actions(product["status"], principal.role),
        reason_required={action: step.reason_required for action, step in certification.TRANSITIONS.items()},
        action_labels=ACTION_LABELS,
        can_edit=can_edit,
        is_staff=principal.is_staff,
    )


def _done_message(action: str, product: Mapping[str, Any]) -> str:
    if action == "publicize":
        return f"已进入公示，公示期至 {local_datetime(product['publicity_ends_at'])}。"
    if action == "certify":
        valid_until = local_datetime(product["valid_until"])
        return f"已认定，证书编号 {product['certificate_no']}，有效期至 {valid_until}。"
    return {
        "submit": "已提交认定申请。",
        "approve": "已审核通过。",
        "reject": "已退回申请人。",
        "object": "已登记异议，产品退回申请人修改。",
        "revoke": "已撤销认定。",
    }[action]


def _refusal(error: ServiceError, action: str) -> str:
    """Why the service refused the step, in Chinese (the service speaks English)."""
    details = error.details if isinstance(error.details, Mapping) else {}
    step = ACTION_LABELS[action]
    if "reason" in details:
        return f"“{step}”必须填写理由。"
    if "publicity_ends_at" in details:
        ends = details["publicity_ends_at"]
        until = local_datetime(datetime.fromisoformat(ends)) if ends else "—"
        return f"公示期尚未结束（{until} 结束），公示期满后才能认定。"
    if "allowed" in details and error.status == 409:
        return f"产品当前状态为“{label(details.get('status'), 'status')}”，不能{step}。"
    if "allowed" in details:
        return f"您的账号不能对这个产品执行“{step}”。"
    if error.status == 412:
        return "产品刚刚被他人修改，请查看最新状态后再操作。"
    if "operator_id" in details:
        return "经营主体已暂停，产品不能继续推进认定。"
    return " ".join(message for messages in service_error_fields(error).values() for message in messages)


@bp.route("/products/<objectid:product_id>/transition", methods=["POST"])
@allow(*STAFF, ENTERPRISE)
def transition(product_id):
    """One certification step from the product page; a refusal is flashed there and nothing changes."""
    action = request.form.get("action", "")
    back = redirect(url_for(".product", product_id=product_id))
    if action not in certification.TRANSITIONS:
        fail("请选择要执行的操作。")
        return back
    schema = ProductApproveSchema() if action == "approve" else ProductTransitionSchema()
    data, errors = load_form(schema, form_values(schema.fields))
    if errors:
        fail(" ".join(message for messages in errors.values() for message in messages))
        return back
    try:
        after = products.transition(get_db(), current_principal(), product_id, action, **data)
    except ServiceError as error:
        fail(_refusal(error, action))
        return back
    ok(_done_message(action, after))
    return back


# Operators --------------------------------------------------------------------------------------


@bp.route("/operators/", endpoint="operators")
@allow(*STAFF)
def operator_list():
    return _list_page(
        operators.list_operators,
        OperatorQueryArgsSchema(),
        OPERATOR_COLUMNS,
        ("operators.xlsx", "经营主体"),
        "web/catalogue/operators.html",
        kinds=operators.KINDS,
        statuses=operators.STATUSES,
    )


@bp.route("/operators/<objectid:operator_id>")
@allow(*STAFF)
def operator(operator_id):
    """An operator with its products, its benefit links and its sales in the period."""
    operator = operators.get_operator(get_db(), current_principal(), operator_id)
    catalogue = _with_operator_names(all_rows(products.list_products, operator_id=operator_id))
    links = _with_link_states(all_rows(benefit_links.list_links, operator_id=operator_id))
    summary, period_errors = _period_report(reports.summary, operator_id=operator_id)
    if wants_xlsx():
        return _send_sheets(
            [
                Sheet("产品", PRODUCT_COLUMNS, catalogue),
                Sheet("带贫关系", LINK_COLUMNS, links),
                Sheet("分渠道销售", CHANNEL_COLUMNS, summary["by_channel"]),
            ],
            f"operator-{operator_id}.xlsx",
        )
    return render_template(
        "web/catalogue/operator.html",
        operator=operator,
        catalogue=catalogue,
        links=links,
        summary=summary,
        period_errors=period_errors,
        link_states=LINK_STATES,
    )


# Households -------------------------------------------------------------------------------------


@bp.route("/households/", endpoint="households")
@allow(*STAFF)
def household_list():
    return _list_page(
        households.list_households,
        HouseholdQueryArgsSchema(),
        HOUSEHOLD_COLUMNS,
        ("households.xlsx", "脱贫户"),
        "web/catalogue/households.html",
        statuses=households.STATUSES,
    )


def _income_sources(income: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The products and channels behind each pool, one row each, for the download."""
    return [
        {"month": item["month"], "operator_name": item["operator_name"], **source}
        for item in income["items"]
        for source in item["sources"]
    ]


@bp.route("/households/<objectid:household_id>")
@allow(*STAFF)
def household(household_id):
    """A household (ID number masked), its links, and its income in the period with the working."""
    household = households.get_household(get_db(), current_principal(), household_id)
    income, period_errors = _period_report(reports.household_income, household_id)
    links = _with_link_states(all_rows(benefit_links.list_links, household_id=household_id))
    if wants_xlsx():
        return _send_sheets(
            [
                Sheet("收益计算", INCOME_COLUMNS, income["items"]),
                Sheet("收益来源", INCOME_SOURCE_COLUMNS, _income_sources(income)),
                Sheet("带贫关系", LINK_COLUMNS, links),
            ],
            f"household-{household['household_no']}.xlsx",
        )
    return render_template(
        "web/catalogue/household.html",
        household=household,
        income=income,
        links=links,
        period_errors=period_errors,
        link_states=LINK_STATES,
    )


# Benefit links ----------------------------------------------------------------------------------


@bp.route("/links/", endpoint="links")
@allow(*STAFF)
def link_list():
    return _list_page(
        benefit_links.list_links,
        BenefitLinkQueryArgsSchema(),
        LINK_COLUMNS,
        ("benefit-links.xlsx", "带贫关系"),
        "web/catalogue/links.html",
        decorate=_with_link_states,
        operator_options=_operator_options(),
        mechanisms=MECHANISMS,
        link_states=LINK_STATES,
    )


@bp.route("/links/<objectid:link_id>")
@allow(*STAFF)
def link(link_id):
    found = benefit_links.get_link(get_db(), current_principal(), link_id)
    return render_template(
        "web/catalogue/link.html", link=_with_link_states([found])[0], link_states=LINK_STATES
    )
