"""County reports (统计报表): JSON, or an xlsx download with ``?format=xlsx``."""

from __future__ import annotations

from typing import Any

from flask import current_app

from schemas.reports import (
    CategoryReportSchema,
    CertificationQueryArgsSchema,
    CertificationReportSchema,
    HouseholdsReportQueryArgsSchema,
    HouseholdsReportSchema,
    MonthlyReportSchema,
    OperatorRankingSchema,
    ProductRankingSchema,
    RankingQueryArgsSchema,
    ReportQueryArgsSchema,
    SummaryReportSchema,
    TownshipReportSchema,
    UnallocatedReportSchema,
)
from service import report_context, report_downloads, report_scope
from service.access import allow
from service.api.openapi import XLSX_ALTERNATIVE
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db
from service.xlsx import send_xlsx

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/api/v1/reports",
    description=(
        "Sales and household-income reports for county staff and admins; an enterprise sees its own "
        "operator's figures only. Add format=xlsx to download a workbook."
    ),
)


def _respond(name: str, args: dict[str, Any]):
    """The report as JSON, or as an xlsx attachment; a report of a period reads through the report cache."""
    db = get_db()
    if report_downloads.REPORTS[name].periodic:
        args = {**args, "context": report_context.for_app(db, current_app)}
    if args.pop("format", "json") == "xlsx":
        return send_xlsx(*report_downloads.export(db, principal(), name, **args))
    return report_downloads.REPORTS[name].run(db, principal(), **args)


@blp.route("/summary", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(ReportQueryArgsSchema, location="query")
@blp.response(200, SummaryReportSchema)
@allow(*report_scope.REPORT_ROLES)
def summary(args):
    """Headline figures: sales (certified / uncertified / unmatched), household income, who benefited."""
    return _respond("summary", args)


@blp.route("/monthly", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(ReportQueryArgsSchema, location="query")
@blp.response(200, MonthlyReportSchema)
@allow(*report_scope.REPORT_ROLES)
def monthly(args):
    """Sales, certified sales and household income by month and channel (a trend chart)."""
    return _respond("monthly", args)


@blp.route("/products", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(RankingQueryArgsSchema, location="query")
@blp.response(200, ProductRankingSchema)
@allow(*report_scope.REPORT_ROLES)
def products(args):
    """Products ranked by sales."""
    return _respond("products", args)


@blp.route("/operators", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(RankingQueryArgsSchema, location="query")
@blp.response(200, OperatorRankingSchema)
@allow(*report_scope.REPORT_ROLES)
def operators(args):
    """Market operators ranked by sales."""
    return _respond("operators", args)


@blp.route("/categories", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(ReportQueryArgsSchema, location="query")
@blp.response(200, CategoryReportSchema)
@allow(*report_scope.REPORT_ROLES)
def categories(args):
    """Sales by product category; sales matched to no product are their own row."""
    return _respond("categories", args)


@blp.route("/townships", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(ReportQueryArgsSchema, location="query")
@blp.response(200, TownshipReportSchema)
@allow(*report_scope.REPORT_ROLES)
def townships(args):
    """Household income, households and people by the households' township."""
    return _respond("townships", args)


@blp.route("/households", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(HouseholdsReportQueryArgsSchema, location="query")
@blp.response(200, HouseholdsReportSchema)
@allow(*report_scope.REPORT_ROLES)
def households(args):
    """Households' income in the period (paged, highest first) and its distribution.

    The median is the lower median and the 90th percentile the nearest rank, so both are
    amounts some household actually received. The xlsx download holds every household.
    """
    return _respond("households", args)


@blp.route("/certification", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(CertificationQueryArgsSchema, location="query")
@blp.response(200, CertificationReportSchema)
@allow(*report_scope.REPORT_ROLES)
def certification(args):
    """Products by certification status now, and certificates expiring within 30/60/90 days."""
    return _respond("certification", args)


@blp.route("/unallocated", methods=["GET"])
@blp.doc(**XLSX_ALTERNATIVE)
@blp.arguments(ReportQueryArgsSchema, location="query")
@blp.response(200, UnallocatedReportSchema)
@allow(*report_scope.REPORT_ROLES)
def unallocated(args):
    """Pools of household income no household was linked to share: a data problem to fix."""
    return _respond("unallocated", args)
