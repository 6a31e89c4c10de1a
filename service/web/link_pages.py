"""County staff's benefit link pages (带贫关系): the list, one link's page, its forms, import.

Staff enter, change, end and import the links between operators and households. Links are never
deleted: one is ended after its last day, so past income stays explainable. The operator and
household pages list their links with the same states and download columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import redirect, render_template, request, url_for

from schemas.benefit_links import (
    BenefitLinkCreateSchema,
    BenefitLinkEndSchema,
    BenefitLinkImportFormSchema,
    BenefitLinkPatchSchema,
    BenefitLinkQueryArgsSchema,
)
from service import benefit_links, link_register
from service.access import STAFF, allow
from service.clock import today_local
from service.errors import ServiceError
from service.storage import get_db
from service.vocabulary import MECHANISMS
from service.web.core import (
    PageBlueprint,
    column_template,
    current_principal,
    form_values,
    import_page,
    list_page,
    merge_errors,
    missing_required,
    ok,
    operator_options,
    read_form,
    refusal_errors,
    submitted_version,
    with_operator_names,
)
from service.web.formatting import label
from service.xlsx import DATE, INTEGER, TEXT, Column

bp = PageBlueprint("link_pages", __name__)

LINK_STATES = {"pending": "未开始", "active": "有效", "ended": "已结束"}

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


def _link_state(link: Mapping[str, Any]) -> str:
    """Whether a link is active today, not yet started or ended (its days are inclusive)."""
    today = today_local()
    if link["valid_from"] > today:
        return "pending"
    if link["valid_to"] is not None and link["valid_to"] < today:
        return "ended"
    return "active"


def with_link_states(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Links (already visible to the caller) with their operator's name and their state today."""
    return [{**link, "state": _link_state(link)} for link in with_operator_names(links)]


@bp.route("/links/", endpoint="links")
@allow(*STAFF)
def link_list():
    return list_page(
        benefit_links.list_links,
        BenefitLinkQueryArgsSchema(),
        LINK_COLUMNS,
        ("benefit-links.xlsx", "带贫关系"),
        "web/catalogue/links.html",
        decorate=with_link_states,
        operator_options=operator_options(),
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
        operator_options=operator_options(),
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
    data, errors = read_form(BenefitLinkCreateSchema(), values, ("weight",))
    errors = merge_errors(missing_required(values, ("operator_id", "household_no")), errors)
    if errors:
        return _link_form(values, errors, 422)
    try:
        created = benefit_links.create_link(get_db(), current_principal(), data)
    except ServiceError as error:
        errors = refusal_errors(error, "operator_id")
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
        link=with_link_states([found])[0],
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
    changes, errors = read_form(BenefitLinkPatchSchema(), form_values(("weight", "mechanism")), ("weight",))
    if errors:
        return _link_page(link_id, change_errors=errors, status=422)
    try:
        benefit_links.update_link(get_db(), current_principal(), link_id, submitted_version(), changes)
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _link_page(link_id, change_errors=refusal_errors(error), status=error.status)
    ok("已保存。过去月份的带贫收益将在下次重算时按新的权重计算。")
    return redirect(url_for(".link", link_id=link_id))


@bp.route("/links/<objectid:link_id>/end", methods=["POST"])
@allow(*STAFF)
def end_link(link_id):
    """End the link after its last day; links are never deleted, so past income stays explainable."""
    data, errors = read_form(BenefitLinkEndSchema(), form_values(("valid_to", "reason")))
    if errors:
        return _link_page(link_id, end_errors=errors, status=422)
    try:
        ended = benefit_links.end_link(
            get_db(), current_principal(), link_id, data["valid_to"], data["reason"]
        )
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _link_page(link_id, end_errors=refusal_errors(error), status=error.status)
    ok(f"带贫关系已结束，最后一天为 {ended['valid_to']}。")
    return redirect(url_for(".link", link_id=link_id))


@bp.route("/links/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_links():
    return import_page(
        link_register.import_links,
        BenefitLinkImportFormSchema(),
        "web/catalogue/link_import.html",
        columns=[
            (column, name != "valid_to", LINK_IMPORT_HELP[name])
            for name, column in link_register.COLUMNS.items()
        ],
    )


@bp.route("/links/import/template.xlsx")
@allow(*STAFF)
def link_template():
    return column_template(link_register.COLUMNS.values(), "benefit-links-template.xlsx", "带贫关系")
