"""The canteen portal: quota progress, the yearly plan, log a purchase, the monthly upload, the purchases.

Every view acts for the logged-in canteen account's own unit; the service functions take the
principal and refuse anything else, exactly as for the JSON API. The plan form's handling is
shared with county staff's canteen pages, who may declare a plan on a canteen's behalf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from flask import flash, redirect, render_template, request, url_for

from adapters import tabular
from schemas.canteens import (
    Canteen832OrdersFormSchema,
    CanteenPlanPutSchema,
    CanteenPurchaseCreateSchema,
    CanteenPurchaseImportFormSchema,
    CanteenPurchaseQueryArgsSchema,
    QuotaArgsSchema,
)
from service import (
    canteen_832_orders,
    canteen_plans,
    canteen_progress,
    canteen_purchase_upload,
    canteen_purchases,
    canteen_quota,
    canteen_rollups,
    canteens,
    operators,
    product_listing,
    purchase_fields,
    xlsx,
)
from service.access import CANTEEN, allow
from service.canteen_sheets import PLAN_COLUMNS, PURCHASE_LINE_COLUMNS
from service.clock import today_local
from service.errors import PreconditionFailed, ServiceError
from service.storage import get_db
from service.web.core import (
    REQUIRED_MESSAGE,
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    form_values,
    load_form,
    ok,
    page_number,
    query_args,
    service_error_fields,
    submitted_version,
    wants_xlsx,
)
from service.web.formatting import percent_bp, yuan, yuan_input

bp = PageBlueprint("canteen_pages", __name__, url_prefix="/canteen")

LATEST_PURCHASES = 5
# The picker lists this many matches; more means the search should be narrower.
PICKER_SIZE = 20
PURCHASE_FIELDS = (
    "product_id",
    "date",
    "quantity",
    "unit",
    "amount",
    "invoice_no",
    "via_832",
    "refund_of_invoice_no",
)
# API fields whose form input has another name (money is typed in yuan, the reserved ratio in percent).
_FORM_NAMES = {"amount_fen": "amount", "food_total_fen": "food_total", "reserve_ratio_bp": "reserve_ratio"}
PLAN_FIELDS = ("food_total", "reserve_ratio", "ratio_approval")
# After conversion only the schema's range checks can fail, and it states them in fen and basis points.
PLAN_RANGE_MESSAGES = {
    "food_total": "年度食材采购总额应大于 0。",
    "reserve_ratio": (
        f"自 {canteen_plans.FLOOR_FROM_YEAR} 年起预留比例不得低于 {percent_bp(canteen_plans.FLOOR_RATIO_BP)}"
        "（财库〔2021〕19号），经批准适当放宽的请填写批准文号；最高 100%；"
        f"鼓励预留 {percent_bp(canteen_plans.ENCOURAGED_RATIO_BP)}。"
    ),
    "ratio_approval": f"批准文号最多 {canteen_plans.MAX_APPROVAL_LENGTH} 个字。",
}
PLAN_STALE_MESSAGE = (
    "提交前这个食堂的信息刚被修改过（可能是他人同时申报或修改了计划）。页面上已显示最新的计划，"
    "请核对；如仍要保存您填写的数字，请再次提交。"
)

# The labels the purchase list shows a line's verdict and source with.
LINE_LABELS = {"reasons": canteen_quota.REASONS, "sources": canteen_quota.SOURCES}


# Home: the reserved share ------------------------------------------------------------------------


@bp.route("/")
@allow(CANTEEN)
def home():
    db, principal = get_db(), current_principal()
    quota = canteen_progress.canteen_quota(db, principal, principal.canteen_id)
    latest, _ = canteen_purchases.purchase_lines(
        db, principal, principal.canteen_id, quota["year"], per_page=LATEST_PURCHASES
    )
    # A supervising budget unit (主管预算单位) sees its subordinates' progress beside its own.
    rollup = (
        canteen_rollups.unit_rollup(db, principal, principal.canteen_id, quota["year"])
        if canteen_rollups.has_subordinates(db, principal.canteen_id)
        else None
    )
    return render_template(
        "web/canteen/home.html",
        quota=quota,
        rollup=rollup,
        modes=canteen_quota.MODES,
        bar=progress_bar(quota),
        statuses=canteen_progress.QUOTA_STATUSES,
        latest=latest,
        **LINE_LABELS,
    )


def progress_bar(quota: Mapping[str, Any]) -> dict[str, int] | None:
    """Positions on the bar in basis points of its length; the bar stretches past the target if needed."""
    target = quota["target_fen"]
    if not target:
        return None
    done, forecast = quota["qualifying_fen"], quota["forecast_fen"] or 0
    scale = max(target, done, forecast)
    return {
        "done_bp": done * 10000 // scale,
        "forecast_bp": forecast * 10000 // scale,
        "target_bp": target * 10000 // scale,
    }


# The yearly plan --------------------------------------------------------------------------------


@bp.route("/plan", methods=["GET", "POST"])
@allow(CANTEEN)
def plan():
    """Declare or change the year's plan (?year=, default this year); the reserved target follows from it."""
    db, principal = get_db(), current_principal()
    year, year_errors = selected_year()
    form = None
    if request.method == "POST" and not year_errors:
        form = submit_plan(principal.canteen_id, year)
        if form is None:
            return redirect(url_for(".plan", year=year))
    canteen = canteens.get_canteen(db, principal, principal.canteen_id)
    if wants_xlsx():
        return download_table(PLAN_COLUMNS, canteen["plans"], "canteen-plans.xlsx", "年度计划")
    form = form or plan_form(canteen, year)
    return render_template(
        "web/canteen/plan.html", **plan_context(canteen, year, year_errors, form)
    ), form.status


def plan_context(
    canteen: Mapping[str, Any], year: int, year_errors: Mapping[str, list[str]], form: PlanForm
) -> dict[str, Any]:
    """What the plan partial (_plan.html) shows, for the canteen's page and for staff's."""
    return {
        "canteen": canteen,
        "year": year,
        "year_errors": year_errors,
        "years": plan_years(),
        "current": canteen_plans.plan_for(canteen, year),
        "form": form,
    }


def selected_year() -> tuple[int, dict[str, list[str]]]:
    """The page's ?year (default: this year), read as the API's quota route reads it; and its errors."""
    args, errors = query_args(QuotaArgsSchema())
    return args.get("year") or today_local().year, errors


def plan_years() -> range:
    """The years a plan may be declared for, the latest first (next year's may be declared early)."""
    return range(today_local().year + 1, canteen_plans.FIRST_PLAN_YEAR - 1, -1)


@dataclass(frozen=True)
class PlanForm:
    """The plan form as shown: what is in its boxes, the errors by box, the canteen version it was read at."""

    values: Mapping[str, Any]
    errors: Mapping[str, list[str]]
    version: int

    @property
    def status(self) -> int:
        if not self.errors:
            return 200
        return 409 if PLAN_STALE_MESSAGE in self.errors.get("_form", []) else 422


def plan_form(canteen: Mapping[str, Any], year: int) -> PlanForm:
    """The form for the year's plan: the declared one, or a new one at the 10% floor."""
    current = canteen_plans.plan_for(canteen, year) or {"reserve_ratio_bp": canteen_plans.FLOOR_RATIO_BP}
    values = {
        "food_total": yuan_input(current.get("food_total_fen")),
        "reserve_ratio": percent_bp(current["reserve_ratio_bp"]).removesuffix("%"),
        "ratio_approval": current.get("ratio_approval") or "",
    }
    return PlanForm(values, {}, canteen["version"])


def plan_data(values: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The form in the API's terms (total in yuan → fen, ratio in percent → basis points); or its errors."""
    data: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    if "food_total" not in values:
        problems["food_total"] = [REQUIRED_MESSAGE]
    else:
        try:
            data["food_total_fen"] = tabular.parse_yuan_to_fen(values["food_total"])
        except ValueError:
            problems["food_total"] = ["金额以元为单位，最多两位小数，如 1200000 或 1,200,000.50。"]
    if "reserve_ratio" in values:
        try:
            data["reserve_ratio_bp"] = tabular.parse_percent_to_bp(values["reserve_ratio"])
        except ValueError:
            problems["reserve_ratio"] = ["请填写百分比，最多两位小数，如 10 或 15。"]
    if values.get("ratio_approval"):
        data["ratio_approval"] = values["ratio_approval"]
    loaded, invalid = load_form(CanteenPlanPutSchema(), data)
    errors = {
        name: [PLAN_RANGE_MESSAGES[name]] if name in PLAN_RANGE_MESSAGES else messages
        for name, messages in on_form(invalid).items()
    }
    errors.update(problems)
    return (None, errors) if errors else (loaded, {})


def submit_plan(canteen_id: ObjectId, year: int) -> PlanForm | None:
    """Set the posted plan (If-Match: the version the form was read at); None once saved, else the form.

    After a concurrent change the form keeps what was typed and takes the latest version, so a
    second submit, made knowingly, replaces the plan.
    """
    db, principal = get_db(), current_principal()
    values = form_values(PLAN_FIELDS)
    version = submitted_version()
    data, errors = plan_data(values)
    if data is None:
        return PlanForm(values, errors, version)
    try:
        canteen = canteens.set_plan(db, principal, canteen_id, year, data, version)
    except PreconditionFailed:
        latest = canteens.get_canteen(db, principal, canteen_id)
        return PlanForm(values, {"_form": [PLAN_STALE_MESSAGE]}, latest["version"])
    except ServiceError as error:
        errors = {
            name: [PLAN_RANGE_MESSAGES[name]] if name in PLAN_RANGE_MESSAGES else messages
            for name, messages in on_form(service_error_fields(error)).items()
        }
        if "year" in errors:  # the year is the page's, not a box of the form: say which years are open
            years = plan_years()
            errors = {"_form": [f"只能申报 {years[-1]} 至 {years[0]} 年的计划。"]}
        return PlanForm(values, errors, version)
    flash_plan_saved(canteen_plans.plan_for(canteen, year))
    return None


def flash_plan_saved(saved: Mapping[str, Any]) -> None:
    """Confirm a saved plan with the reserved target it sets, warning when it came after the deadline."""
    text = (
        f"已保存 {saved['year']} 年计划：年度食材采购总额 {yuan(saved['food_total_fen'])} 元 × "
        f"预留比例 {percent_bp(saved['reserve_ratio_bp'])}"
        + (f"（批准文号 {saved['ratio_approval']}）" if saved.get("ratio_approval") else "")
        + f"，预留目标 {yuan(saved['target_fen'])} 元。"
    )
    if saved["declared_late"]:
        month, day = canteen_plans.DECLARATION_DEADLINE
        flash(f"{text}申报晚于 {saved['year']} 年 {month} 月 {day} 日，记为逾期申报。", "warn")
    else:
        ok(text)


# Logging one purchase ---------------------------------------------------------------------------


@bp.route("/purchases/new", methods=["GET", "POST"])
@allow(CANTEEN)
def new_purchase():
    db, principal = get_db(), current_principal()
    values: dict[str, Any] = {"date": today_local().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_values(PURCHASE_FIELDS)
        data, errors = purchase_data(values)
        if data is not None:
            try:
                record = canteen_purchases.log_purchase(db, principal, data)
            except ServiceError as error:
                errors = on_form(service_error_fields(error))
            else:
                flash_logged(record)
                return redirect(url_for(".home"))
    q = request.args.get("q", "").strip()
    # With a canteen principal the catalogue lists certified products only.
    choices, matches = product_listing.list_products(
        db, principal, q=q or None, sort="name", per_page=PICKER_SIZE
    )
    return render_template(
        "web/canteen/new_purchase.html",
        values=values,
        errors=errors,
        q=q,
        choices=choices,
        matches=matches,
        operator_names=operators.names_by_id(db, (choice["operator_id"] for choice in choices)),
    ), (422 if errors else 200)


def purchase_data(values: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The form in the API's terms (amount in yuan → fen, quantity → int); or the errors by form field."""
    data = {name: value for name, value in values.items() if name not in ("amount", "quantity")}
    problems: dict[str, list[str]] = {}
    if "amount" not in values:
        problems["amount"] = [REQUIRED_MESSAGE]
    else:
        try:
            data["amount_fen"] = tabular.parse_yuan_to_fen(values["amount"])
        except ValueError:
            problems["amount"] = ["金额以元为单位，最多两位小数，如 350 或 350.50（退货填负数）。"]
    if "quantity" in values:
        try:
            data["quantity"] = tabular.parse_whole_number(values["quantity"])
        except ValueError:
            problems["quantity"] = ["数量应为整数（退货填负数）。"]
    # The picker is this form's only way to name the product; a return takes it from its purchase.
    if "product_id" not in values and "refund_of_invoice_no" not in values:
        problems["product_id"] = ["请选择产品。"]
    loaded, invalid = load_form(CanteenPurchaseCreateSchema(), data)
    errors = {**on_form(invalid), **problems}
    return (None, errors) if errors else (loaded, {})


def on_form(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Errors keyed by API field, re-keyed by the form input that holds the field."""
    return {_FORM_NAMES.get(name, name): messages for name, messages in errors.items()}


def flash_logged(record: Mapping[str, Any]) -> None:
    """Confirm a logged purchase, saying whether it counts toward the reserved share (and why, if unclear)."""
    is_return = bool(record.get("refund_of_invoice_no"))
    text = (
        f"已登记{'退货' if is_return else '采购'}：{record['product_name'] or '—'}，"
        f"发票号 {record['invoice_no']}，金额 {yuan(record['amount_fen'])} 元。"
    )
    if not is_return:
        reason = canteen_quota.REASONS.get(record["quota_reason"], "")
        text += (
            f"{'计入' if record['counted_for_quota'] else '不计入'} {record['year']} 年预留份额（{reason}）。"
        )
    if not is_return and not record["counted_for_quota"]:
        flash(text, "warn")
    else:
        ok(text)


# The monthly upload ------------------------------------------------------------------------------


@bp.route("/upload", methods=["GET", "POST"])
@allow(CANTEEN)
def upload():
    if request.method == "GET":
        return render_template("web/canteen/upload.html", errors={}, values={}, result=None)
    values = form_values(["dry_run"])
    form, errors = load_form(CanteenPurchaseImportFormSchema(), values)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        errors["file"] = ["请选择要上传的采购表（xlsx 或 CSV）。"]
    result = None
    if not errors:
        try:
            result = canteen_purchase_upload.import_purchases(
                get_db(), current_principal(), upload_file.stream, upload_file.filename, **form
            )
        except ServiceError as error:
            errors = service_error_fields(error)
    page = render_template("web/canteen/upload.html", errors=errors, values=values, result=result)
    return page, (422 if errors else 200)


@bp.route("/orders-832", methods=["GET", "POST"])
@allow(CANTEEN)
def orders_832():
    """The canteen's own 832 order export (or its union's), imported into its purchases."""
    if request.method == "GET":
        return render_template("web/canteen/orders_832.html", errors={}, values={}, result=None)
    values = form_values(["union", "dry_run"])
    form, errors = load_form(Canteen832OrdersFormSchema(), values)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        errors["file"] = ["请选择从 832 平台导出的订单文件（xlsx 或 CSV）。"]
    result = None
    if not errors:
        try:
            result = canteen_832_orders.import_orders(
                get_db(), current_principal(), upload_file.stream, upload_file.filename, **form
            )
        except ServiceError as error:
            errors = service_error_fields(error)
    page = render_template("web/canteen/orders_832.html", errors=errors, values=values, result=result)
    return page, (422 if errors else 200)


@bp.route("/upload/template.xlsx")
@allow(CANTEEN)
def template():
    return xlsx.send_xlsx(
        canteen_purchase_upload.purchase_template(), canteen_purchase_upload.TEMPLATE_FILENAME
    )


# The purchase list -------------------------------------------------------------------------------


@bp.route("/purchases")
@allow(CANTEEN)
def purchases():
    """Every ledger line the unit bought in the year (logged or imported from 832), under its totals."""
    db, principal = get_db(), current_principal()
    args, errors = query_args(CanteenPurchaseQueryArgsSchema())
    year = args.get("year") or today_local().year
    month = args.get("month")
    # Another canteen named here is refused by the service, as in the API.
    canteen_id = args.get("canteen_id") or principal.canteen_id
    if wants_xlsx():
        rows = all_rows(canteen_purchases.purchase_lines, canteen_id=canteen_id, year=year, month=month)
        return download_table(
            PURCHASE_LINE_COLUMNS, rows, f"canteen-purchases-{year}.xlsx", f"{year}年采购记录"
        )
    page = page_number()
    items, total = canteen_purchases.purchase_lines(
        db, principal, canteen_id, year, month=month, page=page, per_page=args["per_page"]
    )
    return render_template(
        "web/canteen/purchases.html",
        items=items,
        total=total,
        args={**args, "year": year, "page": page},
        errors=errors,
        quota=canteen_progress.canteen_quota(db, principal, principal.canteen_id, year),
        years=range(today_local().year, purchase_fields.FIRST_DAY.year - 1, -1),
        **LINE_LABELS,
    )
