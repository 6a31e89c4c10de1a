"""Staff pages of income statements (收益明白卡) and of the income line (收入监测线).

A household's statement and a village's statements download as PDF; a printed statement's code is
checked on its own page; the income-line page shows a county's 脱贫户 and 监测对象 against the line,
always with the sentence that it decides nothing about them.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from adapters.tabular import parse_yuan_to_fen
from service import income_lines, statement_pdf, statements
from service.access import ADMIN, STAFF, allow
from service.clock import today_local
from service.errors import ServiceError
from service.storage import get_db
from service.web.core import PageBlueprint, county_options, current_principal, fail, ok, refusal_line

bp = PageBlueprint("statement_pages", __name__)


def _year(default: int | None = None) -> int:
    """The year asked for (?year=), else this year so far, as the reports' default period."""
    asked = (request.values.get("year") or "").strip()
    if asked.isdigit() and len(asked) == 4:
        return int(asked)
    return default if default is not None else today_local().year


@bp.route("/households/<objectid:household_id>/statement.pdf")
@allow(*STAFF)
def household_statement(household_id):
    year = _year()
    statement = statements.household_statement(get_db(), current_principal(), household_id, year)
    data = statement_pdf.render([statement], f"收益明白卡 {year}")
    return statement_pdf.send_pdf(data, f"statement-{statement['household']['household_no']}-{year}.pdf")


@bp.route("/places/villages/<village_code>/statements.pdf")
@allow(*STAFF)
def village_statements(village_code):
    year = _year()
    found = statements.village_statements(get_db(), current_principal(), village_code[:6], village_code, year)
    data = statement_pdf.render(found, f"收益明白卡 {village_code} {year}")
    return statement_pdf.send_pdf(data, f"statements-{village_code}-{year}.pdf")


@bp.route("/statements/verify")
@allow(*STAFF)
def verify():
    """Type a printed statement's code: its figures then and now, and whether it was superseded."""
    code = (request.args.get("code") or "").strip()
    result, error = None, None
    if code:
        try:
            result = statements.verify_code(get_db(), current_principal(), code)
        except ServiceError as refusal:
            error = refusal_line(refusal)
    return render_template("web/statements/verify.html", code=code, result=result, error=error)


def _county() -> str | None:
    asked = request.args.get("county_code", "").strip()
    if asked:
        return asked
    counties = current_principal().county_codes
    return counties[0] if counties else None


@bp.route("/income-lines/")
@allow(*STAFF)
def income_line_page():
    """The province's line for the year and each 脱贫户 and 监测对象 of the county against it, by village."""
    county, year = _county(), _year()
    db, principal = get_db(), current_principal()
    progress = income_lines.progress(db, principal, county, year) if county else None
    return render_template(
        "web/statements/income_lines.html",
        county=county,
        year=year,
        counties=county_options(),
        progress=progress,
        lines=income_lines.list_lines(db, principal),
        notice=income_lines.NOT_A_DECISION,
        may_set=principal.is_admin,
    )


@bp.route("/income-lines/set", methods=["POST"])
@allow(ADMIN)
def set_income_line():
    """An admin sets a province's line for a year, in yuan per person."""
    form = request.form
    back = redirect(
        url_for(".income_line_page", county_code=form.get("county_code") or None, year=form.get("year"))
    )
    try:
        amount_fen = parse_yuan_to_fen(form.get("amount_yuan") or "")
    except ValueError:
        fail("请填写监测线金额（元/人），如 4000。")
        return back
    year = _year(default=0)
    try:
        income_lines.set_line(
            get_db(),
            current_principal(),
            (form.get("province_code") or "").strip(),
            year,
            amount_fen,
            (form.get("note") or "").strip() or None,
        )
    except ServiceError as error:
        fail(refusal_line(error))
        return back
    ok(f"已设定 {form.get('province_code')} 省 {year} 年的收入监测线。")
    return back
