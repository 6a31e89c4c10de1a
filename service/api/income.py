"""A household's income from consumption aid, explained month by month and operator by operator."""

from __future__ import annotations

from schemas.reports import HouseholdIncomeQueryArgsSchema, HouseholdIncomeSchema
from service import households, income_explanation, report_scope
from service.access import allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "household_income",
    __name__,
    url_prefix="/api/v1/households",
    description="A household's estimated income (带贫收益) and how it was worked out.",
)


@blp.route("/<objectid:household_id>/income", methods=["GET"])
@blp.arguments(HouseholdIncomeQueryArgsSchema, location="query")
@blp.response(200, HouseholdIncomeSchema)
@allow(*report_scope.REPORT_ROLES)
def household_income(args, household_id):
    """The household's total in the period, and for each month and operator: the pool, the household's
    weighted claim against the total, its links, its share and the products and channels behind the pool.

    Staff of the household's county and admins; an enterprise only for a household linked to its
    operator, and then only the income from its own operator.
    """
    # A missing household answers as one out of scope does, before any report work starts.
    households.load_visible(get_db(), principal(), household_id)
    return income_explanation.household_income(get_db(), principal(), household_id, **args)
