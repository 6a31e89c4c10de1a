"""The payout ledger's pages (到户资金) and staff's control totals (账实核对).

An enterprise logs a payout, uploads a sheet of them and lists its own; staff list their counties'
payouts and log one for an operator. Both see the estimated share beside what was paid. Staff enter a
channel's outside figure per county and month and see it beside the ledger's sales. Every rule lives in
``service.payouts``, ``service.payout_report`` and ``service.control_totals``, shared with the API.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from adapters import tabular
from adapters.base import CHANNELS
from schemas.payouts import (
    ControlTotalImportFormSchema,
    ControlTotalQueryArgsSchema,
    PayoutCreateSchema,
    PayoutImportFormSchema,
    PayoutQueryArgsSchema,
    PayoutReportQueryArgsSchema,
)
from service import benefit_links, control_totals, payout_report, payouts, xlsx
from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE, STAFF, allow
from service.errors import ServiceError
from service.storage import get_db
from service.vocabulary import CHANNEL_LABELS
from service.web import core
from service.web.core import PageBlueprint, current_principal, form_values, ok, query_args, read_form

bp = PageBlueprint("payout_pages", __name__)
ROLES = (ADMIN, COUNTY_STAFF, ENTERPRISE)
AMOUNT_MESSAGE = "请填写金额（元），最多两位小数，如 1200 或 85.50。"

PAYOUT_COLUMNS = [
    xlsx.Column("支付日期", "paid_on", xlsx.DATE),
    xlsx.Column("户编号", "household_no", xlsx.TEXT),
    xlsx.Column("户主", "head_name"),
    xlsx.Column("类型", "kind_label"),
    xlsx.Column("金额（元）", "amount_fen", xlsx.FEN),
    xlsx.Column("支付方式", "method_label"),
    xlsx.Column("凭证号", "voucher_no", xlsx.TEXT),
    xlsx.Column("所属期", "period", xlsx.TEXT),
]
REPORT_COLUMNS = [
    xlsx.Column("户编号", "household_no", xlsx.TEXT),
    xlsx.Column("户主", "head_name"),
    xlsx.Column("经营主体", "operator_name"),
    xlsx.Column("所属期", "period", xlsx.TEXT),
    xlsx.Column("测算带贫收益（元）", "estimated_fen", xlsx.FEN),
    xlsx.Column("实际到户（元）", "paid_fen", xlsx.FEN),
    xlsx.Column("差额（元）", "difference_fen", xlsx.FEN),
]


# Payouts ----------------------------------------------------------------------------------------------


def _household_options() -> list[tuple[str, str]]:
    """An enterprise's linked households to choose from."""
    principal = current_principal()
    if principal.role != ENTERPRISE:
        return []
    links, _total = benefit_links.list_links(get_db(), principal, per_page=200)
    seen: dict[str, str] = {}
    for link in links:
        seen.setdefault(str(link["household_id"]), f"{link['household_no']} {link.get('head_name') or ''}")
    return sorted(seen.items(), key=lambda item: item[1])


def _payouts_page(values: dict[str, Any], errors: dict[str, list[str]], status: int = 200):
    args, filter_errors = query_args(PayoutQueryArgsSchema())
    if core.wants_xlsx():
        rows = core.all_rows(payouts.list_payouts, **args)
        return core.download_table(PAYOUT_COLUMNS, rows, "payouts", "到户资金")
    page = core.page_number()
    items, total = payouts.list_payouts(get_db(), current_principal(), **{**args, "page": page})
    principal = current_principal()
    return render_template(
        "web/payouts/payouts.html",
        items=items,
        total=total,
        page=page,
        per_page=args["per_page"],
        filter_errors=filter_errors,
        values=values,
        errors=errors,
        households=_household_options(),
        may_log=principal.role == ENTERPRISE,
        kinds=list(payouts.KINDS.items()),
        methods=list(payouts.METHODS.items()),
    ), status


@bp.route("/payouts/", endpoint="payouts")
@allow(*ROLES)
def payout_list():
    return _payouts_page({}, {})


@bp.route("/payouts/", methods=["POST"])
@allow(ENTERPRISE)
def log_payout():
    names = ("household_id", "kind", "amount", "paid_on", "method", "voucher_no", "period")
    values = form_values(names)
    data = {name: value for name, value in values.items() if name != "amount"}
    amount_errors: dict[str, list[str]] = {}
    if "amount" in values:
        try:
            data["amount_fen"] = tabular.parse_yuan_to_fen(values["amount"])
        except ValueError:
            amount_errors["amount"] = [AMOUNT_MESSAGE]
    form, errors = read_form(PayoutCreateSchema(), data)
    errors = core.merge_errors(amount_errors, {_shown_name(k): v for k, v in errors.items()})
    if not errors:
        try:
            logged = payouts.log_payout(get_db(), current_principal(), form)
        except ServiceError as error:
            errors = {_shown_name(k): v for k, v in core.refusal_errors(error).items()}
        else:
            ok(f"已登记到户资金：户 {logged['household_no']}，凭证号 {logged['voucher_no']}。")
            return redirect(url_for(".payouts"))
    return _payouts_page(values, errors, 422)


def _shown_name(name: str) -> str:
    """The form's box a field's error belongs under (amounts are typed in yuan)."""
    return "amount" if name == "amount_fen" else name


@bp.route("/payouts/upload", methods=["GET", "POST"])
@allow(*ROLES)
def upload():
    return core.import_page(payouts.import_payouts, PayoutImportFormSchema(), "web/payouts/upload.html")


@bp.route("/payouts/template.xlsx")
@allow(*ROLES)
def template():
    return xlsx.send_xlsx(payouts.template(), payouts.TEMPLATE_FILENAME)


@bp.route("/payouts/report", endpoint="report")
@allow(*ROLES)
def estimated_and_paid():
    args, errors = query_args(PayoutReportQueryArgsSchema(), ignore=("format",))
    try:
        report = payout_report.payout_report(get_db(), current_principal(), **args)
    except ServiceError as error:
        errors = core.merge_errors(errors, core.refusal_errors(error))
        report = None
    if report is not None and core.wants_xlsx():
        return core.send_sheets(
            [
                xlsx.Sheet("测算与到户", REPORT_COLUMNS, report["rows"]),
                xlsx.Sheet("测算未到户", REPORT_COLUMNS, report["never_paid"]),
                xlsx.Sheet("无带贫关系的到户资金", PAYOUT_COLUMNS, report["unlinked"]),
            ],
            "payouts-report",
        )
    return render_template(
        "web/payouts/report.html",
        report=report,
        errors=errors,
        args=request.args,
        counties=current_principal().county_codes,
    ), (200 if report is not None else 422)


# Control totals ----------------------------------------------------------------------------------------


def _control_totals_page(
    values: dict[str, Any],
    errors: dict[str, list[str]],
    status: int = 200,
    *,
    upload: dict[str, Any] | None = None,
):
    """The figures beside the ledger, the form that enters one, and the upload (with its last outcome)."""
    args, filter_errors = query_args(ControlTotalQueryArgsSchema())
    items = control_totals.list_control_totals(get_db(), current_principal(), **args)
    upload = upload or {"upload_values": {}, "upload_errors": {}, "upload_result": None}
    return render_template(
        "web/payouts/control_totals.html",
        items=items,
        args=request.args,
        filter_errors=filter_errors,
        values=values,
        errors=errors,
        **upload,
        counties=core.county_options(),
        channels=[(code, CHANNEL_LABELS.get(code, code)) for code in CHANNELS],
    ), status


@bp.route("/control-totals/", endpoint="control_totals")
@allow(*STAFF)
def control_total_list():
    return _control_totals_page({}, {})


@bp.route("/control-totals/", methods=["POST"])
@allow(*STAFF)
def set_control_total():
    values = form_values(("county_code", "channel", "month", "amount", "source"))
    errors = core.missing_required(values, ("county_code", "channel", "month", "amount"))
    amount_fen = None
    if "amount" in values:
        try:
            amount_fen = tabular.parse_yuan_to_fen(values["amount"])
        except ValueError:
            errors["amount"] = [AMOUNT_MESSAGE]
    if not errors:
        try:
            saved = control_totals.set_control_total(
                get_db(),
                current_principal(),
                values["county_code"],
                values["channel"],
                values["month"],
                amount_fen,
                values.get("source"),
            )
        except ServiceError as error:
            errors = {
                ("amount" if k == "amount_fen" else k): v for k, v in core.refusal_errors(error).items()
            }
        else:
            ok(f"已登记 {saved['county_code']} {saved['channel_label']} {saved['month']} 的外部数据。")
            return redirect(url_for(".control_totals", county_code=saved["county_code"]))
    return _control_totals_page(values, errors, 422)


@bp.route("/control-totals/import", methods=["POST"])
@allow(*STAFF)
def import_control_totals():
    values = form_values(ControlTotalImportFormSchema().fields)
    form, errors = read_form(ControlTotalImportFormSchema(), values)
    sheet = request.files.get("file")
    if sheet is None or not sheet.filename:
        errors["file"] = ["请选择要上传的文件（xlsx 或 CSV）。"]
    result = None
    if not errors:
        try:
            result = control_totals.import_control_totals(
                get_db(), current_principal(), sheet.stream, sheet.filename, **form
            )
        except ServiceError as error:
            errors = core.refusal_errors(error)
    upload = {"upload_values": values, "upload_errors": errors, "upload_result": result}
    return _control_totals_page({}, {}, 422 if errors else 200, upload=upload)


@bp.route("/control-totals/template.xlsx")
@allow(*STAFF)
def control_total_template():
    return xlsx.send_xlsx(control_totals.template(), control_totals.TEMPLATE_FILENAME)
