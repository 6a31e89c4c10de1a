"""The unit clerk's pages (采购单位): its pairings and figures, log a purchase, import a sheet, the list.

Every view acts for the logged-in clerk's own unit and those it supervises, through the service
functions of ``service.unit_clerks``, which refuse any other unit exactly as a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import redirect, render_template, request, url_for

from adapters import tabular
from schemas.unit_purchases import UnitPurchaseCreateSchema
from service import pairings, unit_clerks, unit_purchase_upload, xlsx
from service.access import UNIT, allow
from service.clock import today_local
from service.errors import ServiceError
from service.storage import get_db
from service.unit_purchase_inputs import MODES
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
    service_error_fields,
    wants_xlsx,
)
from service.web.formatting import yuan

bp = PageBlueprint("unit_pages", __name__, url_prefix="/unit")

PER_PAGE = 50
PURCHASE_FIELDS = (
    "unit_id",
    "mode",
    "date",
    "pairing_id",
    "supplier_uscc",
    "description",
    "quantity",
    "quantity_unit",
    "amount",
    "evidence_no",
    "order_id",
)
PURCHASE_COLUMNS = (
    xlsx.Column("采购日期", "date", xlsx.TEXT),
    xlsx.Column("采购单位", "unit_name", xlsx.TEXT, width=28),
    xlsx.Column("采购方式", lambda row: MODES.get(row["mode"], row["mode"]), xlsx.TEXT),
    xlsx.Column("产品", lambda row: row.get("product_name") or row.get("description"), xlsx.TEXT, width=28),
    xlsx.Column("数量", "quantity", xlsx.INTEGER),
    xlsx.Column("单位", "quantity_unit", xlsx.TEXT),
    xlsx.Column("金额(元)", "amount_fen", xlsx.FEN),
    xlsx.Column("凭证号", "evidence_no", xlsx.TEXT),
    xlsx.Column("订单号", "order_id", xlsx.TEXT),
    xlsx.Column("已由电商渠道导入", lambda row: "是" if row.get("double_counted") else "", xlsx.TEXT),
)
PAIRING_COLUMNS = (
    xlsx.Column("结对类型", "kind_label", xlsx.TEXT),
    xlsx.Column("协作地区", "partner_region_code", xlsx.TEXT),
    xlsx.Column("采购单位", "unit_name", xlsx.TEXT, width=28),
    xlsx.Column("直接购买(元)", "direct_fen", xlsx.FEN),
    xlsx.Column("帮助销售(元)", "helped_fen", xlsx.FEN),
    xlsx.Column("合计(元)", "total_fen", xlsx.FEN),
    xlsx.Column("笔数", "lines", xlsx.INTEGER),
)


def _period() -> tuple[date, date]:
    """The year to date, or the days asked for (a bad date falls back to the year to date)."""
    today = today_local()
    try:
        first = date.fromisoformat(request.args.get("from", ""))
        last = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        return date(today.year, 1, 1), today
    return (first, last) if first <= last else (date(today.year, 1, 1), today)


@bp.route("/")
@allow(UNIT)
def home():
    """The clerk's units, their pairings and the period's figures (format=xlsx: by pairing)."""
    db, clerk = get_db(), current_principal()
    first, last = _period()
    figures = unit_clerks.figures(db, clerk, first, last)
    if wants_xlsx():
        return download_table(
            PAIRING_COLUMNS, figures["by_pairing"], f"unit-figures-{first}-{last}.xlsx", "按结对关系"
        )
    names = {unit["_id"]: unit["name"] for unit in figures["units"]}
    unit_pairings = [
        {
            **pairing,
            "kind_label": pairings.KINDS.get(pairing["kind"], pairing["kind"]),
            "unit_name": names.get(pairing["unit_id"]),
        }
        for pairing in unit_clerks.unit_pairings(db, clerk)
    ]
    latest, _ = unit_clerks.list_purchases(db, clerk, per_page=5)
    return render_template(
        "web/unit/home.html",
        figures=figures,
        unit=figures["units"][0],
        pairings=unit_pairings,
        latest=latest,
        modes=MODES,
    )


# Logging one purchase ----------------------------------------------------------------------------


def purchase_data(values: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The form in the API's terms (amount in yuan → fen, quantity → int); or the errors by form field."""
    data = {name: value for name, value in values.items() if name not in ("amount", "quantity")}
    problems: dict[str, list[str]] = {}
    try:
        data["amount_fen"] = tabular.parse_yuan_to_fen(values["amount"]) if "amount" in values else None
    except ValueError:
        problems["amount"] = ["金额以元为单位，最多两位小数，如 350 或 350.50。"]
    if "amount" not in values:
        problems["amount"] = [REQUIRED_MESSAGE]
    if "quantity" in values:
        try:
            data["quantity"] = tabular.parse_whole_number(values["quantity"])
        except ValueError:
            problems["quantity"] = ["数量应为正整数。"]
    data = {name: value for name, value in data.items() if value is not None}
    data.setdefault("unit_id", str(current_principal().unit_id))
    loaded, invalid = load_form(UnitPurchaseCreateSchema(), data)
    errors = {
        **{("amount" if name == "amount_fen" else name): text for name, text in invalid.items()},
        **problems,
    }
    return (None, errors) if errors else (loaded, {})


def _pairing_text(pairing: Mapping[str, Any], names: Mapping[Any, str]) -> str:
    kind = pairings.KINDS.get(pairing["kind"], pairing["kind"])
    return f"{names.get(pairing['unit_id'], '')} · {kind}（{pairing['valid_from']} 起）"


@bp.route("/purchases/new", methods=["GET", "POST"])
@allow(UNIT)
def new_purchase():
    db, clerk = get_db(), current_principal()
    values: dict[str, Any] = {"date": today_local().isoformat(), "mode": "direct"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_values(PURCHASE_FIELDS)
        data, errors = purchase_data(values)
        if data is not None:
            try:
                record = unit_clerks.log_purchase(db, clerk, data)
            except ServiceError as error:
                errors = {
                    ("amount" if name == "amount_fen" else name): text
                    for name, text in service_error_fields(error).items()
                }
            else:
                what = f"{MODES[record['mode']]} {yuan(record['amount_fen'])} 元"
                ok(f"已登记：{record['unit_name']}，{what}，订单号 {record['order_id']}。")
                return redirect(url_for(".purchases"))
    units = unit_clerks.clerk_units(db, clerk)
    names = {unit["_id"]: unit["name"] for unit in units}
    pairing_choices = [
        (str(pairing["_id"]), _pairing_text(pairing, names))
        for pairing in unit_clerks.unit_pairings(db, clerk)
    ]
    return render_template(
        "web/unit/new_purchase.html",
        values=values,
        errors=errors,
        unit_choices=[(str(unit["_id"]), unit["name"]) for unit in units],
        mode_choices=list(MODES.items()),
        pairing_choices=pairing_choices,
    ), (422 if errors else 200)


# Importing a sheet -------------------------------------------------------------------------------


@bp.route("/upload", methods=["GET", "POST"])
@allow(UNIT)
def upload():
    if request.method == "GET":
        return render_template("web/unit/upload.html", errors={}, values={}, result=None)
    values = form_values(["dry_run"])
    errors: dict[str, list[str]] = {}
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        errors["file"] = ["请选择要导入的采购表（xlsx 或 CSV）。"]
    result = None
    if not errors:
        try:
            result = unit_clerks.import_purchases(
                get_db(),
                current_principal(),
                upload_file.stream,
                upload_file.filename,
                dry_run=values.get("dry_run") == "true",
            )
        except ServiceError as error:
            errors = service_error_fields(error)
    page = render_template("web/unit/upload.html", errors=errors, values=values, result=result)
    return page, (422 if errors else 200)


@bp.route("/upload/template.xlsx")
@allow(UNIT)
def template():
    return xlsx.send_xlsx(unit_purchase_upload.purchase_template(), unit_purchase_upload.TEMPLATE_FILENAME)


# The purchase list -------------------------------------------------------------------------------


@bp.route("/purchases")
@allow(UNIT)
def purchases():
    """The recorded purchases of the clerk's units, newest first (format=xlsx: all of them)."""
    db, clerk = get_db(), current_principal()
    if wants_xlsx():
        rows = all_rows(unit_clerks.list_purchases)
        return download_table(PURCHASE_COLUMNS, rows, "unit-purchases.xlsx", "采购记录")
    page = page_number()
    items, total = unit_clerks.list_purchases(db, clerk, page=page, per_page=PER_PAGE)
    return render_template(
        "web/unit/purchases.html", items=items, total=total, page=page, per_page=PER_PAGE, modes=MODES
    )
