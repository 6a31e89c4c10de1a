"""County staff's household pages (脱贫户): the register, one household's page, its form, look-up, import,
and the monitored households no benefit link reaches (targeting gaps).

A household's page shows its benefit links, its income in a period with the working, and its
categories over time (户类型与监测记录) with a form to record a dated change. The ID number of a
household's head is typed on create and in a look-up, and never shown in full again: the pages show
the masked number only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import redirect, render_template, request, url_for

from schemas.households import (
    CategoryEntrySchema,
    HouseholdCreateSchema,
    HouseholdImportFormSchema,
    HouseholdLookupSchema,
    HouseholdPatchSchema,
    HouseholdQueryArgsSchema,
    TargetingGapArgsSchema,
)
from service import (
    benefit_links,
    household_category_changes,
    household_register,
    households,
    income_explanation,
    places,
)
from service import household_categories as categories
from service.access import STAFF, allow
from service.errors import NotFound, ServiceError
from service.storage import get_db
from service.web.core import (
    PageBlueprint,
    all_rows,
    column_template,
    county_options,
    current_principal,
    fail,
    form_values,
    import_page,
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
)
from service.web.formatting import label
from service.web.link_pages import LINK_COLUMNS, LINK_STATES, with_link_states
from service.xlsx import DATE, FEN, INTEGER, TEXT, Column, Sheet

bp = PageBlueprint("household_pages", __name__)

HOUSEHOLD_COLUMNS = [
    Column("户编号", "household_no", TEXT, width=20),
    Column("户主", "head_name", TEXT),
    Column("身份证号（已脱敏）", "id_number_masked", TEXT, width=22),
    Column("县代码", "county_code", TEXT),
    Column("乡镇代码", "township_code", TEXT),
    Column("乡镇", "township_name", TEXT),
    Column("村代码", "village_code", TEXT, width=16),
    Column("村", "village_name", TEXT),
    Column("家庭人口", "members", INTEGER),
    Column("户类型", lambda row: label(row["status"], "household_status"), TEXT),
    Column("脱贫年度", "exit_year", INTEGER),
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

CATEGORY_COLUMNS = [
    Column("生效日期", "valid_from", DATE),
    Column("户类型", "household_type_label", TEXT),
    Column("监测对象类别", "monitoring_category_label", TEXT),
    Column("识别监测时间", "identified_on", DATE),
    Column("风险消除日期", "risk_removed_on", DATE),
    Column("风险消除方式", "removal_method_label", TEXT),
]
# The category form's boxes; the three days are typed as YYYY-MM-DD.
CATEGORY_FIELDS = categories.FIELDS
CATEGORY_CHOICES = {
    "household_type": list(categories.HOUSEHOLD_TYPES.items()),
    "monitoring_category": list(categories.MONITORING_CATEGORIES.items()),
    "removal_method": list(categories.REMOVAL_METHODS.items()),
}
GAP_COLUMNS = [
    *HOUSEHOLD_COLUMNS[:9],
    Column("监测对象类别", lambda row: categories.CATEGORY_LABELS.get(row.get("category")), TEXT),
]


@bp.route("/households/", endpoint="households")
@allow(*STAFF)
def household_list():
    return list_page(
        households.list_households,
        HouseholdQueryArgsSchema(),
        HOUSEHOLD_COLUMNS,
        ("households.xlsx", "脱贫户"),
        "web/catalogue/households.html",
        decorate=lambda rows: places.with_names(get_db(), rows),
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
    """A household (ID number masked), its links, its income in the period with the working, and its
    categories over time."""
    return _household_page(household_id)


def _household_page(
    household_id,
    category_values: Mapping[str, Any] | None = None,
    category_errors: dict[str, list[str]] | None = None,
    status: int = 200,
):
    """The household's page; after a refused category change, with the form as sent and its errors."""
    db, principal = get_db(), current_principal()
    household = places.with_names(db, [households.get_household(db, principal, household_id)])[0]
    income, period_errors = period_report(income_explanation.household_income, household_id)
    links = with_link_states(all_rows(benefit_links.list_links, household_id=household_id))
    history = household_category_changes.category_history(db, principal, household_id)
    if wants_xlsx():
        return send_sheets(
            [
                Sheet("收益计算", INCOME_COLUMNS, income["items"]),
                Sheet("收益来源", INCOME_SOURCE_COLUMNS, _income_sources(income)),
                Sheet("带贫关系", LINK_COLUMNS, links),
                Sheet("户类型与监测记录", CATEGORY_COLUMNS, history["items"]),
            ],
            f"household-{household['household_no']}.xlsx",
        )
    posted = category_values is not None
    return render_template(
        "web/catalogue/household.html",
        household=household,
        income=income,
        links=links,
        period_errors=period_errors,
        link_states=LINK_STATES,
        history=history,
        category_values=category_values if posted else _latest_state(history),
        category_errors=category_errors or {},
        # A redisplayed form keeps the version it was read at, so a change made meanwhile is still refused.
        category_version=request.form.get("version") if posted else history["version"],
        category_choices=CATEGORY_CHOICES,
    ), status


def _latest_state(history: Mapping[str, Any]) -> dict[str, Any]:
    """The form's starting values: the state in force now, to be changed from a new day."""
    latest = history["items"][-1] if history["items"] else {}
    return {name: latest.get(name) for name in CATEGORY_FIELDS if name != "valid_from"}


@bp.route("/households/<objectid:household_id>/categories", methods=["POST"])
@allow(*STAFF)
def change_category(household_id):
    """Record a dated change of the household's category (the API's service function and rules)."""
    values = form_values(CATEGORY_FIELDS)
    data, errors = read_form(CategoryEntrySchema(), values)
    if errors:
        return _household_page(household_id, values, errors, 422)
    try:
        household_category_changes.change_category(
            get_db(), current_principal(), household_id, submitted_version(), data
        )
    except ServiceError as error:
        return _household_page(household_id, values, refusal_errors(error), error.status)
    ok(f"已记录自 {data['valid_from'].isoformat()} 起的户类型与监测记录。")
    return redirect(url_for(".household", household_id=household_id) + "#categories")


@bp.route("/households/targeting-gaps", endpoint="targeting_gaps")
@allow(*STAFF)
def targeting_gap_list():
    """Monitored households (监测对象) no benefit link reaches today, each a link to make."""
    return list_page(
        household_category_changes.targeting_gaps,
        TargetingGapArgsSchema(),
        GAP_COLUMNS,
        ("targeting-gaps.xlsx", "未覆盖帮扶的监测对象"),
        "web/catalogue/targeting_gaps.html",
        category_labels=categories.CATEGORY_LABELS,
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
        counties=county_options(),
        status_options=list(households.STATUSES.items()),
    ), status


@bp.route("/households/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_household():
    if request.method == "GET":
        return _household_form(None, {}, {})
    redisplay = form_values(HOUSEHOLD_FIELDS)  # everything but the ID number, which is typed again
    data, errors = read_form(
        HouseholdCreateSchema(), form_values((*HOUSEHOLD_FIELDS, "id_number")), HOUSEHOLD_NUMBERS
    )
    if errors:
        return _household_form(None, redisplay, errors, 422)
    try:
        created = households.create_household(get_db(), current_principal(), data)
    except ServiceError as error:
        return _household_form(None, redisplay, refusal_errors(error, "village_code"), error.status)
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
    changes, errors = read_form(HouseholdPatchSchema(), values, HOUSEHOLD_NUMBERS)
    errors = merge_errors(missing_required(values, HOUSEHOLD_REQUIRED), errors)
    if errors:
        return _household_form(household, values, errors, 422)
    try:
        households.update_household(db, principal, household_id, submitted_version(), changes)
    except ServiceError as error:
        return _household_form(household, values, refusal_errors(error, "village_code"), error.status)
    ok("脱贫户信息已保存。")
    return redirect(url_for(".household", household_id=household_id))


@bp.route("/households/lookup", methods=["POST"])
@allow(*STAFF)
def lookup_household():
    """Find a household by its head's ID number: POSTed, so the number never lands in a URL or log."""
    for_link = request.form.get("then") == "new_link"
    back = redirect(url_for("link_pages.new_link") if for_link else url_for(".households"))
    data, errors = read_form(HouseholdLookupSchema(), form_values(("id_number",)))
    if errors:
        fail("请输入要查找的户主身份证号。")
        return back
    try:
        found = households.lookup_household(get_db(), current_principal(), data["id_number"])
    except NotFound:
        fail("没有找到以此身份证号登记户主的脱贫户。")
        return back
    except ServiceError as error:
        fail(refusal_line(error))
        return back
    if for_link:
        chosen = request.form.get("operator_id") or None  # the operator already chosen on the link form
        return redirect(
            url_for("link_pages.new_link", household_no=found["household_no"], operator_id=chosen)
        )
    return redirect(url_for(".household", household_id=found["_id"]))


@bp.route("/households/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_households():
    return import_page(
        household_register.import_households,
        HouseholdImportFormSchema(),
        "web/catalogue/household_import.html",
        columns=[
            (column, name != "exit_year", HOUSEHOLD_IMPORT_HELP[name])
            for name, column in household_register.COLUMNS.items()
        ],
        counties=county_options(),
    )


@bp.route("/households/import/template.xlsx")
@allow(*STAFF)
def household_template():
    return column_template(household_register.COLUMNS.values(), "household-register-template.xlsx", "脱贫户")
