"""Income statements (收益明白卡) as PDF, one page per household and year, and their verification codes."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from schemas.statements import StatementCheckSchema, StatementQueryArgsSchema
from service import statement_pdf, statements
from service.access import STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

PDF_ANSWER = {
    "responses": {
        "200": {
            "description": "The statement(s) as PDF, one A4 page per household.",
            "content": {statement_pdf.PDF_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


class VillageCodeConverter(BaseConverter):
    """A village's 12-digit statistical code in a URL."""

    regex = r"\d{12}"


class StatementCodeConverter(BaseConverter):
    """A verification code in a URL: 10 base32 characters, the printed dash optional, any case."""

    regex = r"[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}"


class ProvinceCodeConverter(BaseConverter):
    """A province's 2-digit code (34 安徽)."""

    regex = r"\d{2}"


class LineYearConverter(BaseConverter):
    """A year an income line may be set for, 2014 to 2100."""

    regex = r"201[4-9]|20[2-9]\d|2100"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


# URL converters the app registers, each with its pattern in the OpenAPI document.
CONVERTERS = {
    "villagecode": VillageCodeConverter,
    "statementcode": StatementCodeConverter,
    "provincecode": ProvinceCodeConverter,
    "lineyear": LineYearConverter,
}


def param_schema(converter: BaseConverter) -> dict[str, str]:
    return {"type": "string", "pattern": f"^({converter.regex})$"}


household_blp = Blueprint(
    "household_statements",
    __name__,
    url_prefix="/api/v1/households",
    description="A household's income statement (收益明白卡) for a year, as PDF (staff only).",
)
village_blp = Blueprint(
    "village_statements",
    __name__,
    url_prefix="/api/v1/counties/<county_code>/villages",
    description="The income statements of a village's households with income in a year, as one PDF.",
)
code_blp = Blueprint(
    "statement_codes",
    __name__,
    url_prefix="/api/v1/statements",
    description="Check a printed statement's verification code: its figures then and now.",
)
BLUEPRINTS = (household_blp, village_blp, code_blp)


@household_blp.route("/<objectid:household_id>/statement", methods=["GET"])
@household_blp.arguments(StatementQueryArgsSchema, location="query")
@household_blp.doc(**PDF_ANSWER)
@allow(*STAFF)
def household_statement(args, household_id):
    """One page in plain Chinese: operators, mechanisms, months, pool, weight × days, share, estimated and
    paid, the masked ID number and name, and a verification code. Staff of the household's county and
    admins (enterprises hand no statements out); a missing household answers as another county's does.
    """
    statement = statements.household_statement(get_db(), principal(), household_id, args["year"])
    data = statement_pdf.render([statement], f"收益明白卡 {args['year']}")
    return statement_pdf.send_pdf(
        data, f"statement-{statement['household']['household_no']}-{args['year']}.pdf"
    )


@village_blp.route("/<villagecode:village_code>/statements", methods=["GET"])
@village_blp.arguments(StatementQueryArgsSchema, location="query")
@village_blp.doc(**PDF_ANSWER)
@allow(*STAFF)
def village_statements(args, county_code, village_code):
    """One PDF, one page per household of the village with any income (estimated or paid) in the year,
    in household-number order; 404 when none has any."""
    found = statements.village_statements(get_db(), principal(), county_code, village_code, args["year"])
    data = statement_pdf.render(found, f"收益明白卡 {village_code} {args['year']}")
    return statement_pdf.send_pdf(data, f"statements-{village_code}-{args['year']}.pdf")


@code_blp.route("/<statementcode:code>", methods=["GET"])
@code_blp.response(200, StatementCheckSchema)
@allow(*STAFF)
def check_code(code):
    """The figures a code was printed with and the household's figures now; ``superseded`` when they differ.
    Case, spaces and the dash are ignored; a code of another county answers as an unknown one."""
    return statements.verify_code(get_db(), principal(), code)
