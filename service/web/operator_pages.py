"""County staff's operator pages (经营主体): the list, one operator's page, its form, suspension.

Staff enter, edit, suspend and reactivate the market operators of their counties; an operator's
page shows its products, its benefit links and its sales in a period. Every rule and every scope
check stays in the service functions these views call, with the same arguments the API's operator
routes pass them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from flask import redirect, render_template, request, url_for

from schemas.operators import (
    OperatorCreateSchema,
    OperatorPatchSchema,
    OperatorQueryArgsSchema,
    OperatorReactivateSchema,
    OperatorSuspendSchema,
)
from service import benefit_links, operators, product_listing, reports
from service.access import STAFF, allow
from service.errors import ServiceError
from service.storage import get_db
from service.web.core import (
    PageBlueprint,
    all_rows,
    county_options,
    current_principal,
    fail,
    form_values,
    joined,
    list_page,
    merge_errors,
    missing_required,
    ok,
    period_report,
    read_form,
    refusal_errors,
    refusal_line,
    send_sheets,
    submitted_version,
    wants_xlsx,
    with_operator_names,
)
from service.web.formatting import OPERATOR_KIND_LABELS, label
from service.web.link_pages import LINK_COLUMNS, LINK_STATES, with_link_states
from service.web.product_pages import PRODUCT_COLUMNS
from service.xlsx import FEN, INTEGER, TEXT, Column, Sheet

bp = PageBlueprint("operator_pages", __name__)

CHECKSUM_OVERRIDE_MESSAGE = (
    "第 18 位校验码不符合 GB 32100。如营业执照上的代码确实如此（早期试点代码可能校验位不符），"
    "请勾选下方“校验位不符仍保存”后再提交。"
)

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
CHANNEL_COLUMNS = [
    Column("渠道", "channel_label", TEXT),
    Column("销售额（元）", "sales_fen", FEN),
    Column("认定产品销售额（元）", "certified_sales_fen", FEN),
    Column("带贫收益（元）", "poor_income_fen", FEN),
    Column("数量", "quantity", INTEGER),
    Column("笔数", "lines", INTEGER),
]


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
    catalogue = with_operator_names(all_rows(product_listing.list_products, operator_id=operator_id))
    links = with_link_states(all_rows(benefit_links.list_links, operator_id=operator_id))
    summary, period_errors = period_report(reports.summary, operator_id=operator_id)
    if wants_xlsx():
        return send_sheets(
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
    errors = refusal_errors(error, "county_code")
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
        counties=county_options(),
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
    data, errors = read_form(OperatorCreateSchema(), values)
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
    changes, errors = read_form(OperatorPatchSchema(), values)
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
    data, errors = read_form(schema, form_values(("reason",)))
    if errors:
        fail(f"理由：{joined(errors)}")
        return back
    try:
        change(get_db(), current_principal(), operator_id, data.get("reason"), submitted_version())
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        fail(refusal_line(error))
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
