"""County staff's product pages: the catalogue, one product's page, and its form on an operator's behalf.

Products are registered and edited on behalf of operators without a computer (the enterprise's
form, shared through product_forms). An enterprise may open its own products' page too, where it
takes the certification steps its role allows (certification_pages).
"""

from __future__ import annotations

from datetime import date, datetime

from flask import redirect, render_template, url_for

from schemas.products import ChannelSkuSchema, ProductQueryArgsSchema
from service import (
    certification,
    operators,
    product_listing,
    products,
    report_figures,
    reports,
    sales,
    unmatched,
)
from service.access import ENTERPRISE, STAFF, allow
from service.clock import local_date, utcnow
from service.errors import ServiceError
from service.storage import get_db
from service.web import product_forms
from service.web.certification_pages import ACTION_LABELS
from service.web.core import (
    PageBlueprint,
    current_principal,
    fail,
    form_values,
    joined,
    list_page,
    ok,
    operator_options,
    period_report,
    read_form,
    refusal_line,
    send_sheets,
    wants_xlsx,
    with_operator_names,
)
from service.web.formatting import label, percent_bp
from service.xlsx import DATE, DATETIME, FEN, INTEGER, TEXT, Column, Sheet

bp = PageBlueprint("product_pages", __name__)

LATEST_SALES = 50


def _day(moment: datetime | None) -> date | None:
    return local_date(moment) if moment else None


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


@bp.route("/products/", endpoint="products")
@allow(*STAFF)
def product_list():
    return list_page(
        product_listing.list_products,
        ProductQueryArgsSchema(),
        PRODUCT_COLUMNS,
        ("products.xlsx", "扶贫产品"),
        "web/catalogue/products.html",
        decorate=with_operator_names,
        operator_options=operator_options(),
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
    # The ledger pages by import order; the page lists those lines by when they were sold.
    latest = sorted(
        sales.list_sales(db, principal, product_id=product_id, per_page=LATEST_SALES)["items"],
        key=lambda line: line["occurred_at"],
        reverse=True,
    )
    if wants_xlsx():
        return send_sheets(
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
    ranking, period_errors = period_report(
        reports.product_ranking, operator_id=product["operator_id"], limit=report_figures.MAX_LIMIT
    )
    figures = next((row for row in ranking["items"] if row["product_id"] == product_id), None)
    # Each role edits through its own form view (the same form): staff on the operator's behalf.
    edit_view = "enterprise_pages.edit_product" if principal.role == ENTERPRISE else ".edit_product"
    return render_template(
        "web/catalogue/product.html",
        product=product,
        operator=operator,
        latest_sales=latest,
        ranking=ranking,
        figures=figures,
        period_errors=period_errors,
        actions=certification.allowed_actions(product["status"], principal.role),
        publicity_over=certification.publicity_over(product.get("publicity_ends_at"), utcnow()),
        returned=certification.last_return(product["status"], product["status_history"]),
        editable=certification.editable(product["status"]),
        reason_required={action: step.reason_required for action, step in certification.TRANSITIONS.items()},
        action_labels=ACTION_LABELS,
        edit_url=url_for(edit_view, product_id=product_id),
        is_staff=principal.is_staff,
        channel_options=[(code, label(code, "channel")) for code in products.CHANNELS],
    )


@bp.route("/products/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_product():
    """Register a draft product on behalf of an operator of the staff's counties."""
    return product_forms.new_product(operator_options=operator_options(status=operators.ACTIVE))


@bp.route("/products/<objectid:product_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit_product(product_id):
    """Edit a product on its operator's behalf; staff may also start a benefit rate in the past."""
    return product_forms.edit_product(product_id, on_behalf=True)


@bp.route("/products/<objectid:product_id>/skus", methods=["POST"])
@allow(*STAFF)
def add_channel_sku(product_id):
    """Map a channel SKU to the product as the unmatched-sales API does (no re-review), then re-match."""
    back = redirect(url_for(".product", product_id=product_id))
    data, errors = read_form(ChannelSkuSchema(), form_values(("channel", "sku")))
    if errors:
        fail(f"渠道商品编码：{joined(errors)}")
        return back
    try:
        result = unmatched.map_sku(get_db(), current_principal(), data["channel"], data["sku"], product_id)
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        fail(refusal_line(error))
        return back
    ok(
        f"已添加{label(data['channel'], 'channel')}商品编码 {data['sku']}，"
        f"重新匹配上 {result['matched']} 条未匹配的销售。"
    )
    return back
