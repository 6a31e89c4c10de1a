"""County staff's catalogue pages: product review, products, operators, households, benefit links.

Staff also keep the registers here: operators, households and benefit links are entered, edited,
suspended or ended, and households and links imported from the county's spreadsheets; products are
registered and edited on behalf of operators without a computer (the enterprise's form, shared).
An enterprise may open its own products' page too. Every rule and every scope check stays in the
service functions these views call, with the same arguments the API routes pass them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import marshmallow as ma
from flask import redirect, render_template, request, url_for

from schemas.benefit_links import (
    BenefitLinkCreateSchema,
    BenefitLinkEndSchema,
    BenefitLinkImportFormSchema,
    BenefitLinkPatchSchema,
    BenefitLinkQueryArgsSchema,
)
from schemas.households import (
    HouseholdCreateSchema,
    HouseholdImportFormSchema,
    HouseholdLookupSchema,
    HouseholdPatchSchema,
    HouseholdQueryArgsSchema,
)
from schemas.operators import (
    OperatorCreateSchema,
    OperatorPatchSchema,
    OperatorQueryArgsSchema,
    OperatorReactivateSchema,
    OperatorSuspendSchema,
)
from schemas.products import (
    ChannelSkuSchema,
    ProductApproveSchema,
    ProductQueryArgsSchema,
    ProductTransitionSchema,
)
from schemas.reports import HouseholdIncomeQueryArgsSchema
from service import (
    benefit_links,
    certification,
    households,
    operators,
    products,
    reports,
    sales,
    storage,
    tabular,
    unmatched,
    xlsx,
)
from service.access import ENTERPRISE, STAFF, allow
from service.certification import COUNTY_APPROVED, PUBLICIZING, SUBMITTED
from service.clock import local_date, today_local
from service.errors import NotFound, ServiceError, validation_summary
from service.storage import get_db
from service.vocabulary import MECHANISMS
from service.web import product_forms
from service.web.core import (
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    fail,
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
from service.web.formatting import OPERATOR_KIND_LABELS, label, local_datetime, percent_bp
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
Importer = Callable[..., dict[str, Any]]

FIX_BELOW = "请改正下面标出的内容。"
WHOLE_NUMBER_MESSAGE = "请填写整数。"
CHECKSUM_OVERRIDE_MESSAGE = (
    "第 18 位校验码不符合 GB 32100。如营业执照上的代码确实如此（早期试点代码可能校验位不符），"
    "请勾选下方“校验位不符仍保存”后再提交。"
)

# Shared by the views ----------------------------------------------------------------------------


def _with_operator_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (already visible to the caller) with the name of the operator each names."""
    names = storage.names_by_id(get_db(), storage.OPERATORS, (row["operator_id"] for row in rows))
    return [{**row, "operator_name": names.get(row["operator_id"])} for row in rows]


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


def _operator_options(**filters: Any) -> list[tuple[str, str]]:
    """The operators the caller sees (of the staff's counties), for a drop-down."""
    found = all_rows(operators.list_operators, limit=1_000, sort="name", **filters)
    return [(str(operator["_id"]), operator["name"]) for operator in found]


def _joined(errors: Mapping[str, list[str]]) -> str:
    """Form errors as one line, for a flashed message."""
    return " ".join(message for messages in errors.values() for message in messages)


def _refusal_line(error: ServiceError) -> str:
    """A refusal as one flashed line: what is wrong with the fields, else the service's message."""
    errors = _service_errors(error)
    fields = {name: found for name, found in errors.items() if name != "_form"}
    return _joined(fields if error.status == 422 and fields else {"_form": errors["_form"]})


def _service_errors(error: ServiceError, scope_field: str | None = None) -> dict[str, list[str]]:
    """A refusal as form errors in Chinese; a county refusal shows at the field that chose the county too."""
    errors = service_error_fields(error)
    if error.details and error.message == validation_summary(error.details):
        errors["_form"] = [FIX_BELOW]  # the summary lists API field names
    if error.status == 403 and scope_field:
        errors.setdefault(scope_field, errors["_form"])
    return errors


def _whole_numbers(values: Mapping[str, Any], names: Iterable[str]) -> tuple[dict[str, Any], dict]:
    """The form with the named boxes as ints (the API's strict integers take no text), and their errors."""
    converted, errors = dict(values), {}
    for name in names:
        if converted.get(name) is not None:
            try:
                converted[name] = tabular.parse_whole_number(converted[name])
            except ValueError:
                errors[name] = [WHOLE_NUMBER_MESSAGE]
                del converted[name]
    return converted, errors


def _loaded(schema: ma.Schema, values: Mapping[str, Any], numbers: Iterable[str] = ()):
    """(data, {}) or (None, errors): the form read with the API's schema, whole numbers converted first."""
    converted, number_errors = _whole_numbers(values, numbers)
    data, errors = load_form(schema, converted)
    errors = merge_errors(number_errors, errors)
    return (None if errors else data), errors


def _county_options() -> list[tuple[str, str]]:
    """The counties a staff member may choose, as (code, text) choices (an admin types a code instead)."""
    return [(code, code) for code in current_principal().county_codes]


def _import_page(
    importer: Importer, schema: ma.Schema, template: str, **context: Any
) -> tuple[str, int] | str:
    """A register upload: its form, then the service's counts and row errors (file row numbers)."""
    if request.method == "GET":
        return render_template(template, values={}, errors={}, result=None, **context)
    values = form_values(schema.fields)
    form, errors = _loaded(schema, values)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = ["请选择要上传的文件（xlsx 或 CSV）。"]
    result = None
    if not errors:
        try:
            result = importer(get_db(), current_principal(), upload.stream, upload.filename, **form)
        except ServiceError as error:
            errors = _service_errors(error)
    page = render_template(template, values=values, errors=errors, result=result, **context)
    return page, (422 if errors else 200)


def _column_template(columns: Iterable[str], filename: str, title: str):
    """An empty workbook with the import's header row, to fill in."""
    return download_table([Column(name, name, TEXT, width=20) for name in columns], [], filename, title)


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
    return list_page(
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
    # The ledger pages by import order; the page lists those lines by when they were sold.
    latest = sorted(
        sales.list_sales(db, principal, product_id=product_id, per_page=LATEST_SALES)["items"],
        key=lambda line: line["occurred_at"],
        reverse=True,
    )
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
    return product_forms.new_product(operator_options=_operator_options(status=operators.ACTIVE))


@bp.route("/products/<objectid:product_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit_product(product_id):
    """Edit a product on its operator's behalf; staff may also start a benefit rate in the past."""
    return product_forms.edit_product(product_id, on_behalf=True)


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
    return _joined(service_error_fields(error))


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
        fail(_joined(errors))
        return back
    try:
        after = products.transition(get_db(), current_principal(), product_id, action, **data)
    except ServiceError as error:
        fail(_refusal(error, action))
        return back
    ok(_done_message(action, after))
    return back


@bp.route("/products/<objectid:product_id>/skus", methods=["POST"])
@allow(*STAFF)
def add_channel_sku(product_id):
    """Map a channel SKU to the product as the unmatched-sales API does (no re-review), then re-match."""
    back = redirect(url_for(".product", product_id=product_id))
    data, errors = _loaded(ChannelSkuSchema(), form_values(("channel", "sku")))
    if errors:
        fail(f"渠道商品编码：{_joined(errors)}")
        return back
    try:
        result = unmatched.map_sku(get_db(), current_principal(), data["channel"], data["sku"], product_id)
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        fail(_refusal_line(error))
        return back
    ok(
        f"已添加{label(data['channel'], 'channel')}商品编码 {data['sku']}，"
        f"重新匹配上 {result['matched']} 条未匹配的销售。"
    )
    return back


# Operators --------------------------------------------------------------------------------------


@bp.route("/operators/", endpoint="operators")
@allow(*STAFF)
def operator_list():
    return list_page(
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


OPERATOR_FIELDS = (
    "name",
    "uscc",
    "uscc_checksum_override",
    "kind",
    "county_code",
    "address",
    "legal_rep",
    "contact_phone",
    "is_leading_enterprise",
    "benefit_mechanisms",
)
OPERATOR_REQUIRED = tuple(name for name, field in OperatorCreateSchema().fields.items() if field.required)
# Boxes an emptied form clears (None), where an absent API field would leave them unchanged.
OPERATOR_NULLABLE = tuple(name for name, field in OperatorPatchSchema().fields.items() if field.allow_none)


def _submitted_operator() -> dict[str, Any]:
    """The operator form as the API's body: unticked boxes are False and emptied ones None."""
    values = form_values((*OPERATOR_FIELDS, "benefit_mechanisms[]"))
    values.setdefault("benefit_mechanisms", [])
    values.setdefault("is_leading_enterprise", False)
    values.setdefault("uscc_checksum_override", False)
    for name in OPERATOR_NULLABLE:
        values.setdefault(name, None)
    return values


def _operator_refusal(error: ServiceError, values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Why the operator was not saved; a code failing only its check character may be saved anyway."""
    errors = _service_errors(error, "county_code")
    if "uscc" in errors and not values.get("uscc_checksum_override"):
        try:
            _number, overridable = operators.check_uscc(
                values["uscc"], override=True, actor=current_principal()
            )
        except ServiceError:
            overridable = False
        if overridable:
            errors["uscc"] = [CHECKSUM_OVERRIDE_MESSAGE]
    return errors


def _operator_form(operator: Mapping[str, Any] | None, values: Mapping[str, Any], errors: dict, status=200):
    return render_template(
        "web/catalogue/operator_form.html",
        operator=operator,
        values=values,
        errors=errors,
        version=request.form.get("version") if request.method == "POST" else (operator or {}).get("version"),
        counties=_county_options(),
        kind_options=[(kind, OPERATOR_KIND_LABELS.get(kind, kind)) for kind in operators.KINDS],
        mechanism_options=[(code, label(code, "mechanism")) for code in operators.BENEFIT_MECHANISMS],
    ), status


@bp.route("/operators/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_operator():
    if request.method == "GET":
        counties = current_principal().county_codes
        return _operator_form(None, {"county_code": counties[0] if len(counties) == 1 else None}, {})
    values = _submitted_operator()
    data, errors = _loaded(OperatorCreateSchema(), values)
    if errors:
        return _operator_form(None, values, errors, 422)
    try:
        created = operators.create_operator(get_db(), current_principal(), data)
    except ServiceError as error:
        return _operator_form(None, values, _operator_refusal(error, values), error.status)
    ok(f"已登记经营主体“{created['name']}”。")
    return redirect(url_for(".operator", operator_id=created["_id"]))


@bp.route("/operators/<objectid:operator_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit_operator(operator_id):
    db, principal = get_db(), current_principal()
    operator = operators.get_operator(db, principal, operator_id)
    if request.method == "GET":
        values = {name: operator.get(name) for name in OPERATOR_FIELDS if name != "uscc_checksum_override"}
        return _operator_form(operator, values, {})
    values = _submitted_operator()
    changes, errors = _loaded(OperatorPatchSchema(), values)
    errors = merge_errors(missing_required(values, OPERATOR_REQUIRED), errors)
    if errors:
        return _operator_form(operator, values, errors, 422)
    override = changes.pop("uscc_checksum_override")
    # Only what changed is sent: a stored code saved past its check is not checked again.
    changes = {name: value for name, value in changes.items() if value != operator.get(name)}
    if override:
        changes.update(uscc=values["uscc"], uscc_checksum_override=True)
    try:
        operators.update_operator(db, principal, operator_id, submitted_version(), changes)
    except ServiceError as error:
        return _operator_form(operator, values, _operator_refusal(error, values), error.status)
    ok("经营主体信息已保存。")
    return redirect(url_for(".operator", operator_id=operator_id))


def _change_operator_status(operator_id, schema: ma.Schema, change: Callable[..., Any], done: str):
    """Suspend or reactivate from the operator page; a refusal is flashed there and nothing changes."""
    back = redirect(url_for(".operator", operator_id=operator_id))
    data, errors = _loaded(schema, form_values(("reason",)))
    if errors:
        fail(f"理由：{_joined(errors)}")
        return back
    try:
        change(get_db(), current_principal(), operator_id, data.get("reason"), submitted_version())
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        fail(_refusal_line(error))
        return back
    ok(done)
    return back


@bp.route("/operators/<objectid:operator_id>/suspend", methods=["POST"])
@allow(*STAFF)
def suspend_operator(operator_id):
    return _change_operator_status(
        operator_id,
        OperatorSuspendSchema(),
        operators.suspend_operator,
        "已暂停该经营主体：其产品不能再申请或推进认定。",
    )


@bp.route("/operators/<objectid:operator_id>/reactivate", methods=["POST"])
@allow(*STAFF)
def reactivate_operator(operator_id):
    return _change_operator_status(
        operator_id, OperatorReactivateSchema(), operators.reactivate_operator, "已恢复该经营主体。"
    )


# Households -------------------------------------------------------------------------------------


@bp.route("/households/", endpoint="households")
@allow(*STAFF)
def household_list():
    return list_page(
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


# The household form never holds the ID number: it is typed on create and sent back to nobody.
HOUSEHOLD_FIELDS = ("household_no", "village_code", "head_name", "members", "status", "exit_year")
HOUSEHOLD_NUMBERS = ("members", "exit_year")
HOUSEHOLD_EDITABLE = tuple(name for name in HOUSEHOLD_FIELDS if name in HouseholdPatchSchema().fields)
HOUSEHOLD_REQUIRED = tuple(
    name
    for name, field in HouseholdCreateSchema().fields.items()
    if field.required and name in HOUSEHOLD_EDITABLE
)
HOUSEHOLD_IMPORT_HELP = {
    "household_no": "国家防返贫监测系统中的户编号，1–32 位数字。",
    "village_code": "12 位统计用区划代码，前 6 位须是您管辖的县。",
    "head_name": "户主姓名。",
    "id_number": "户主居民身份证号（18 位）；只保存加密摘要和脱敏号码，页面和下载不显示全号。",
    "members": "家庭人口数，1–99 的整数。",
    "status": "未脱贫、已脱贫、脱贫监测户或边缘户。",
    "exit_year": "脱贫年度，如 2019；已脱贫户必填，未脱贫户和边缘户留空。",
}


def _household_form(household: Mapping[str, Any] | None, values: Mapping[str, Any], errors: dict, status=200):
    return render_template(
        "web/catalogue/household_form.html",
        household=household,
        values=values,
        errors=errors,
        version=request.form.get("version") if request.method == "POST" else (household or {}).get("version"),
        counties=_county_options(),
        status_options=list(households.STATUSES.items()),
    ), status


@bp.route("/households/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_household():
    if request.method == "GET":
        return _household_form(None, {}, {})
    redisplay = form_values(HOUSEHOLD_FIELDS)  # everything but the ID number, which is typed again
    data, errors = _loaded(
        HouseholdCreateSchema(), form_values((*HOUSEHOLD_FIELDS, "id_number")), HOUSEHOLD_NUMBERS
    )
    if errors:
        return _household_form(None, redisplay, errors, 422)
    try:
        created = households.create_household(get_db(), current_principal(), data)
    except ServiceError as error:
        return _household_form(None, redisplay, _service_errors(error, "village_code"), error.status)
    ok(f"已登记脱贫户 {created['household_no']}（户主 {created['head_name']}）。")
    return redirect(url_for(".household", household_id=created["_id"]))


@bp.route("/households/<objectid:household_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit_household(household_id):
    db, principal = get_db(), current_principal()
    household = households.get_household(db, principal, household_id)
    if request.method == "GET":
        return _household_form(household, {name: household.get(name) for name in HOUSEHOLD_FIELDS}, {})
    values = form_values(HOUSEHOLD_EDITABLE)
    values.setdefault("exit_year", None)  # an emptied year is cleared
    changes, errors = _loaded(HouseholdPatchSchema(), values, HOUSEHOLD_NUMBERS)
    errors = merge_errors(missing_required(values, HOUSEHOLD_REQUIRED), errors)
    if errors:
        return _household_form(household, values, errors, 422)
    try:
        households.update_household(db, principal, household_id, submitted_version(), changes)
    except ServiceError as error:
        return _household_form(household, values, _service_errors(error, "village_code"), error.status)
    ok("脱贫户信息已保存。")
    return redirect(url_for(".household", household_id=household_id))


@bp.route("/households/lookup", methods=["POST"])
@allow(*STAFF)
def lookup_household():
    """Find a household by its head's ID number: POSTed, so the number never lands in a URL or log."""
    for_link = request.form.get("then") == "new_link"
    back = redirect(url_for(".new_link") if for_link else url_for(".households"))
    data, errors = _loaded(HouseholdLookupSchema(), form_values(("id_number",)))
    if errors:
        fail("请输入要查找的户主身份证号。")
        return back
    try:
        found = households.lookup_household(get_db(), current_principal(), data["id_number"])
    except NotFound:
        fail("没有找到以此身份证号登记户主的脱贫户。")
        return back
    except ServiceError as error:
        fail(_refusal_line(error))
        return back
    if for_link:
        chosen = request.form.get("operator_id") or None  # the operator already chosen on the link form
        return redirect(url_for(".new_link", household_no=found["household_no"], operator_id=chosen))
    return redirect(url_for(".household", household_id=found["_id"]))


@bp.route("/households/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_households():
    return _import_page(
        households.import_households,
        HouseholdImportFormSchema(),
        "web/catalogue/household_import.html",
        columns=[
            (column, name != "exit_year", HOUSEHOLD_IMPORT_HELP[name])
            for name, column in households.COLUMNS.items()
        ],
        counties=_county_options(),
    )


@bp.route("/households/import/template.xlsx")
@allow(*STAFF)
def household_template():
    return _column_template(households.COLUMNS.values(), "household-register-template.xlsx", "脱贫户")


# Benefit links ----------------------------------------------------------------------------------


@bp.route("/links/", endpoint="links")
@allow(*STAFF)
def link_list():
    return list_page(
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


LINK_FIELDS = ("operator_id", "household_no", "mechanism", "weight", "valid_from", "valid_to")
LINK_IMPORT_HELP = {
    "uscc": "经营主体的统一社会信用代码（18 位），须已在本系统登记。",
    "household_no": "脱贫户的户编号，须已在本系统登记。",
    "mechanism": "带贫方式：" + "、".join(MECHANISMS.values()) + "。",
    "weight": "权重（整数，≥1）：收购斤数、持股数、务工天数等，收益按权重分配。",
    "valid_from": "开始日期，如 2024-01-01。",
    "valid_to": "结束日期（最后一天，含当天）；长期有效留空。",
}


def _mechanism_options() -> list[tuple[str, str]]:
    return list(MECHANISMS.items())


def _link_form(values: Mapping[str, Any], errors: dict, status=200, clash_id: str | None = None):
    return render_template(
        "web/catalogue/link_form.html",
        values=values,
        errors=errors,
        clash_id=clash_id,
        operator_options=_operator_options(),
        mechanism_options=_mechanism_options(),
    ), status


@bp.route("/links/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_link():
    if request.method == "GET":
        prefill = {
            name: request.args[name] for name in ("operator_id", "household_no") if request.args.get(name)
        }
        return _link_form({"valid_from": today_local().isoformat(), **prefill}, {})
    values = form_values(LINK_FIELDS)
    data, errors = _loaded(BenefitLinkCreateSchema(), values, ("weight",))
    errors = merge_errors(missing_required(values, ("operator_id", "household_no")), errors)
    if errors:
        return _link_form(values, errors, 422)
    try:
        created = benefit_links.create_link(get_db(), current_principal(), data)
    except ServiceError as error:
        errors = _service_errors(error, "operator_id")
        clash = errors.pop("link_id", [None])[0]  # the overlapping link, to open it
        return _link_form(values, errors, error.status, clash)
    ok(f"已新增带贫关系：户 {created['household_no']}，自 {created['valid_from']} 起。")
    return redirect(url_for(".link", link_id=created["_id"]))


def _link_page(link_id, change_errors: dict | None = None, end_errors: dict | None = None, status=200):
    """The link with its weight and end forms (re-shown with their errors after a refused change)."""
    found = benefit_links.get_link(get_db(), current_principal(), link_id)
    posted = request.form if request.method == "POST" else {}
    return render_template(
        "web/catalogue/link.html",
        link=_with_link_states([found])[0],
        link_states=LINK_STATES,
        mechanism_options=_mechanism_options(),
        change_errors=change_errors or {},
        end_errors=end_errors or {},
        posted=posted,
        today=today_local(),
    ), status


@bp.route("/links/<objectid:link_id>")
@allow(*STAFF)
def link(link_id):
    return _link_page(link_id)


@bp.route("/links/<objectid:link_id>/change", methods=["POST"])
@allow(*STAFF)
def change_link(link_id):
    """A new weight or mechanism (the version read guards against a concurrent change)."""
    changes, errors = _loaded(BenefitLinkPatchSchema(), form_values(("weight", "mechanism")), ("weight",))
    if errors:
        return _link_page(link_id, change_errors=errors, status=422)
    try:
        benefit_links.update_link(get_db(), current_principal(), link_id, submitted_version(), changes)
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _link_page(link_id, change_errors=_service_errors(error), status=error.status)
    ok("已保存。过去月份的带贫收益将在下次重算时按新的权重计算。")
    return redirect(url_for(".link", link_id=link_id))


@bp.route("/links/<objectid:link_id>/end", methods=["POST"])
@allow(*STAFF)
def end_link(link_id):
    """End the link after its last day; links are never deleted, so past income stays explainable."""
    data, errors = _loaded(BenefitLinkEndSchema(), form_values(("valid_to", "reason")))
    if errors:
        return _link_page(link_id, end_errors=errors, status=422)
    try:
        ended = benefit_links.end_link(
            get_db(), current_principal(), link_id, data["valid_to"], data["reason"]
        )
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _link_page(link_id, end_errors=_service_errors(error), status=error.status)
    ok(f"带贫关系已结束，最后一天为 {ended['valid_to']}。")
    return redirect(url_for(".link", link_id=link_id))


@bp.route("/links/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_links():
    return _import_page(
        benefit_links.import_links,
        BenefitLinkImportFormSchema(),
        "web/catalogue/link_import.html",
        columns=[
            (column, name != "valid_to", LINK_IMPORT_HELP[name])
            for name, column in benefit_links.COLUMNS.items()
        ],
    )


@bp.route("/links/import/template.xlsx")
@allow(*STAFF)
def link_template():
    return _column_template(benefit_links.COLUMNS.values(), "benefit-links-template.xlsx", "带贫关系")
