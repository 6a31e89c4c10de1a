"""Income lines (收入监测线) per province and year, and a county's households against them."""

from __future__ import annotations

from schemas.statements import (
    IncomeLineListSchema,
    IncomeLineProgressSchema,
    IncomeLineQueryArgsSchema,
    IncomeLineSchema,
    IncomeLineSetSchema,
    StatementQueryArgsSchema,
)
from service import income_lines
from service.access import ADMIN, STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "income_lines",
    __name__,
    url_prefix="/api/v1/income-lines",
    description="The per-capita income line of a province and year (4,000 yuan for 2020...), set by admins.",
)
progress_blp = Blueprint(
    "income_line_progress",
    __name__,
    url_prefix="/api/v1/counties/<county_code>/income-line-progress",
    description="脱贫户 and 监测对象 against the line: consumption-aid income per person, by village.",
)
BLUEPRINTS = (blp, progress_blp)


@blp.route("", methods=["GET"])
@blp.arguments(IncomeLineQueryArgsSchema, location="query")
@blp.response(200, IncomeLineListSchema)
@allow(*STAFF)
def list_lines(args):
    """The lines of your counties' provinces (admins: every province), newest year first."""
    return {"items": income_lines.list_lines(get_db(), principal(), **args)}


@blp.route("/<provincecode:province_code>/<lineyear:year>", methods=["PUT"])
@blp.arguments(IncomeLineSetSchema)
@blp.response(200, IncomeLineSchema)
@allow(ADMIN)
def set_line(data, province_code, year):
    """Set a province's line for a year (2-digit province code, e.g. 34 安徽); audited."""
    return income_lines.set_line(
        get_db(), principal(), province_code, year, data["amount_fen"], data.get("note")
    )


@progress_blp.route("", methods=["GET"])
@progress_blp.arguments(StatementQueryArgsSchema, location="query")
@progress_blp.response(200, IncomeLineProgressSchema)
@allow(*STAFF)
def progress(args, county_code):
    """Each 脱贫户 and 监测对象 of the county, by village: consumption-aid income (estimated and paid) per
    person against the province's line. Never an exit or monitoring decision: ``notice`` says so."""
    return income_lines.progress(get_db(), principal(), county_code, args["year"])
