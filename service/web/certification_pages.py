"""County staff's certification queue, and the certification steps taken from a product's page.

A product moves through the county's steps (submitted, county-approved, publicized, certified) only
through the service's transition; these pages list what waits for a step and take one, flashing
the service's refusal in Chinese when a step is not allowed. An enterprise submits its own products
from the same product page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from flask import redirect, render_template, request, url_for

from schemas.products import ProductApproveSchema, ProductTransitionSchema
from service import certification, operators, product_listing, products
from service.access import ENTERPRISE, STAFF, allow
from service.clock import end_of_local_day, local_date, start_of_local_day, today_local, utcnow
from service.errors import ServiceError
from service.storage import get_db
from service.web import formatting, messages
from service.web.core import (
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    fail,
    form_values,
    joined,
    load_form,
    ok,
    page_number,
    wants_xlsx,
    with_operator_names,
)
from service.web.formatting import label, local_datetime, percent_bp
from service.xlsx import DATETIME, TEXT, Column

bp = PageBlueprint("certification_pages", __name__)

# The certification queue: products waiting for a county step.
REVIEW_STATUSES = certification.AWAITING_COUNTY
PER_PAGE = 50

ACTION_LABELS = formatting.ACTION_LABELS

REVIEW_COLUMNS = [
    Column("产品名称", "name", TEXT, width=24),
    Column("经营主体", "operator_name", TEXT, width=24),
    Column("品类", lambda row: label(row["category"], "category"), TEXT),
    Column("状态", lambda row: label(row["status"], "status"), TEXT),
    Column("进入当前状态", "waiting_since", DATETIME),
    Column("公示截止", "publicity_ends_at", DATETIME),
    Column("带贫比例", lambda row: percent_bp(row["benefit_rate_bp"]), TEXT),
]


def _waiting_since(product: Mapping[str, Any]) -> datetime:
    """When the product entered its current status (the last step of its history)."""
    history = product.get("status_history") or []
    return history[-1]["at"] if history else product["created_at"]


@bp.route("/products/review")
@allow(*STAFF)
def review_queue():
    """Products waiting for a county step, the longest-waiting first."""
    waiting = {
        status: all_rows(product_listing.list_products, status=status, sort="created_at")
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
        return download_table(REVIEW_COLUMNS, with_operator_names(queue), "product-review.xlsx", "产品审核")
    page = page_number()
    return render_template(
        "web/catalogue/review.html",
        items=with_operator_names(queue[(page - 1) * PER_PAGE : page * PER_PAGE]),
        total=len(queue),
        page=page,
        per_page=PER_PAGE,
        counts={status: len(found) for status, found in waiting.items()},
        wanted=wanted,
    )


def _done_message(action: str, product: Mapping[str, Any]) -> str:
    if action == "publicize":
        return f"已进入公示，公示期至 {local_datetime(product['publicity_ends_at'])}。"
    if action == "certify":
        valid_until = local_date(product["valid_until"]).isoformat()
        return f"已认定，证书编号 {product['certificate_no']}，有效期至 {valid_until}。"
    return {
        "submit": "已提交认定申请。",
        "approve": "已审核通过。",
        "reject": "已退回申请人。",
        "object": "已登记异议，产品退回申请人修改。",
        "revoke": "已撤销认定。",
        "withdraw": "已撤回认定申请，产品回到草稿，可修改后再提交。",
    }[action]


def _refusal(error: ServiceError) -> str:
    """Why the service refused the step, in Chinese."""
    if error.status == 412:
        return "产品刚刚被他人修改，请查看最新状态后再操作。"
    return messages.refusal(error)


@bp.route("/products/<objectid:product_id>/transition", methods=["POST"])
@allow(*STAFF, ENTERPRISE)
def transition(product_id):
    """One certification step from the product page; a refusal is flashed there and nothing changes."""
    action = request.form.get("action", "")
    back = redirect(url_for("product_pages.product", product_id=product_id))
    if action not in certification.TRANSITIONS:
        fail("请选择要执行的操作。")
        return back
    schema = ProductApproveSchema() if action == "approve" else ProductTransitionSchema()
    data, errors = load_form(schema, form_values(schema.fields))
    if errors:
        fail(joined(errors))
        return back
    try:
        after = products.transition(get_db(), current_principal(), product_id, action, **data)
    except ServiceError as error:
        fail(_refusal(error))
        return back
    ok(_done_message(action, after))
    return back


# Printable documents ----------------------------------------------------------------------------

PHONE = re.compile(r"^[0-9０-９()（）+\- ]{5,30}$")
PUBLICITY_WINDOW_DAYS = 30


def _day_arg(name: str, default: date, errors: dict[str, list[str]]) -> date:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = [f"日期格式应为 YYYY-MM-DD（填写的是“{raw}”）。"]
        return default


@bp.route("/products/publicity-list")
@allow(*STAFF)
def publicity_list():
    """The printable 公示名单: products publicized in the chosen days, and the objection phone."""
    errors: dict[str, list[str]] = {}
    today = today_local()
    last = _day_arg("to", today, errors)
    first = _day_arg("from", last - timedelta(days=PUBLICITY_WINDOW_DAYS), errors)
    if first > last:
        errors["from"] = ["起始日期不能晚于截止日期。"]
        first, last = last - timedelta(days=PUBLICITY_WINDOW_DAYS), last
    phone = request.args.get("phone", "").strip()
    if phone and not PHONE.match(phone):
        errors["phone"] = ["异议电话只能包含数字、括号、加号、短横线和空格。"]
        phone = ""
    start, end = start_of_local_day(first), end_of_local_day(last)
    rows = []
    for product in all_rows(product_listing.list_products, sort="created_at"):
        for started, ends in certification.publicity_periods(product.get("status_history") or []):
            if start <= started <= end:
                rows.append({**product, "publicity_started_at": started, "publicity_until": ends})
    rows.sort(key=lambda row: (row["publicity_started_at"], row["name"]))
    found = operators.documents_by_id(get_db(), (row["operator_id"] for row in rows), {"name": 1, "uscc": 1})
    for row in rows:
        operator = found.get(row["operator_id"], {})
        row.update(operator_name=operator.get("name"), operator_uscc=operator.get("uscc"))
    return render_template(
        "web/catalogue/publicity_list.html",
        items=rows,
        first=first,
        last=last,
        phone=phone,
        errors=errors,
    )


@bp.route("/products/<objectid:product_id>/certificate")
@allow(*STAFF, ENTERPRISE)
def certificate(product_id):
    """The printable 认定证书 of a certified product, for its enterprise and the county's staff."""
    db, principal = get_db(), current_principal()
    product = products.get_product(db, principal, product_id)
    if product["status"] != certification.CERTIFIED:
        fail("只有已认定且在有效期内的产品可以打印认定证书。")
        return redirect(url_for("product_pages.product", product_id=product_id))
    operator = operators.get_operator(db, principal, product["operator_id"])
    return render_template("web/catalogue/certificate.html", product=product, operator=operator, now=utcnow())
