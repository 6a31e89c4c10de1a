"""County staff's dashboard (首页): the period's figures, trends, rankings, households and canteens.

Every number comes from the same report functions the JSON API's /reports and /canteens/report
call, with the same arguments, so the page, its download and the API always agree.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request, url_for
from pymongo.database import Database

from schemas.reports import ReportQueryArgsSchema
from service import canteen_progress, report_context, report_downloads, report_scope, reports, xlsx
from service.access import STAFF, Principal, allow
from service.canteen_sheets import QUOTA_COLUMNS
from service.storage import get_db
from service.web.canteen_pages import progress_bar
from service.web.core import PageBlueprint, current_principal, query_args, wants_xlsx

bp = PageBlueprint("county_pages", __name__, url_prefix="/county")

TOP = 10
# The dashboard narrows by county and period only (an operator's figures are on its own page).
DASHBOARD_ARGS = ("county_code", "from_month", "to_month")


@bp.route("/")
@allow(*STAFF)
def dashboard():
    loaded, errors = query_args(ReportQueryArgsSchema())
    args = {name: loaded[name] for name in DASHBOARD_ARGS if name in loaded}
    db, actor = get_db(), current_principal()
    # One context for every section: each read once, from the process's report cache while current.
    context = report_context.for_app(db, current_app)
    sections = _reports(db, actor, args, context, every_household=wants_xlsx())
    quota_reports = _canteen_quotas(
        db, actor, args.get("county_code"), sections["summary"]["to_month"], context
    )
    if wants_xlsx():
        return _workbook(sections, quota_reports)
    trend = _trend(sections["summary"], sections["monthly"])
    return render_template(
        "web/county/dashboard.html",
        period={
            **request.args,
            "from": sections["summary"]["from_month"],
            "to": sections["summary"]["to_month"],
        },
        errors=errors,
        counties=actor.county_codes,
        is_admin=actor.is_admin,
        quota_reports=quota_reports,
        quota_statuses=canteen_progress.QUOTA_STATUSES,
        progress_bar=progress_bar,
        trend=trend,
        charts=_charts(sections, trend),
        product_url=lambda product_id: url_for("product_pages.product", product_id=product_id),
        operator_url=lambda operator_id: url_for("operator_pages.operator", operator_id=operator_id),
        **sections,
    )


def _reports(
    db: Database,
    actor: Principal,
    args: dict[str, Any],
    context: report_context.ReportContext,
    every_household: bool,
) -> dict[str, Any]:
    """Each section's report, run as the API runs it (the household list only in full for the download).

    One context for all of them: they read each derived grouping of the period once between them,
    from the process's report cache while the period's county-months are unchanged.
    """
    per_page = None if every_household else 1
    return {
        "summary": reports.summary(db, actor, context=context, **args),
        "monthly": reports.monthly(db, actor, context=context, **args),
        "products": reports.product_ranking(db, actor, limit=TOP, context=context, **args),
        "operators": reports.operator_ranking(db, actor, limit=TOP, context=context, **args),
        "townships": reports.township_income(db, actor, context=context, **args),
        "households": reports.household_list(db, actor, per_page=per_page, context=context, **args),
        "certification": reports.certification_status(db, actor, **args),
    }


def _canteen_quotas(
    db: Database,
    actor: Principal,
    county_code: str | None,
    to_month: str,
    context: report_context.ReportContext,
) -> list[dict[str, Any]]:
    """The canteens' progress in the year the period ends, per county (none for an admin's "every county")."""
    counties = [county_code] if county_code else list(actor.county_codes)
    year = int(to_month[:4])
    return [
        canteen_progress.county_quota_report(db, actor, county, year, context=context) for county in counties
    ]


def _trend(summary: dict[str, Any], monthly: dict[str, Any]) -> dict[str, Any]:
    """The monthly report as a month × channel table of sales, every month of the period included."""
    months = report_scope.months_between(summary["from_month"], summary["to_month"])
    channels = {row["channel"]: row["channel_label"] for row in summary["by_channel"]}
    cells: dict[str, dict[str, dict[str, int]]] = {month: {} for month in months}
    for row in monthly["items"]:
        cells[row["month"]][row["channel"]] = row
    rows = [
        {
            "month": month,
            "by_channel": {
                channel: cells[month].get(channel, {}).get("sales_fen", 0) for channel in channels
            },
            **{
                name: sum(row[name] for row in cells[month].values())
                for name in ("sales_fen", "certified_sales_fen", "poor_income_fen")
            },
        }
        for month in months
    ]
    return {"months": months, "channels": channels, "rows": rows}


def _charts(sections: dict[str, Any], trend: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ECharts options of the dashboard (data only: static/app.js draws them).

    Money is exact yuan (a Decimal, sent as a numeric string that ECharts reads), never a float.
    """
    summary = sections["summary"]
    money_axis = {"type": "value", "name": "元"}
    townships = sections["townships"]["items"]
    buckets = sections["households"]["distribution"]["buckets"]
    return {
        "trend": {
            "tooltip": {"trigger": "axis"},
            "legend": {"type": "scroll", "top": 0},
            "grid": {"left": 70, "right": 20, "top": 60, "bottom": 30},
            "xAxis": {"type": "category", "data": trend["months"]},
            "yAxis": money_axis,
            "series": [
                {
                    "name": label,
                    "type": "bar",
                    "stack": "sales",
                    "data": [xlsx.fen_to_yuan(row["by_channel"][channel]) for row in trend["rows"]],
                }
                for channel, label in trend["channels"].items()
            ],
        },
        "channels": {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "name": "销售额（元）",
                    "type": "pie",
                    "radius": ["35%", "65%"],
                    "data": [
                        {"name": row["channel_label"], "value": xlsx.fen_to_yuan(row["sales_fen"])}
                        for row in summary["by_channel"]
                    ],
                }
            ],
        },
        "townships": {
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 70, "right": 20, "top": 30, "bottom": 50},
            "xAxis": {
                "type": "category",
                "data": [row.get("township_name") or row["township_code"] or "未知" for row in townships],
                "axisLabel": {"rotate": 30},
            },
            "yAxis": money_axis,
            "series": [
                {
                    "name": "带贫收益",
                    "type": "bar",
                    "data": [xlsx.fen_to_yuan(row["income_fen"]) for row in townships],
                }
            ],
        },
        "income_histogram": {
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 50, "right": 20, "top": 30, "bottom": 50},
            "xAxis": {
                "type": "category",
                "data": [bucket["label"] for bucket in buckets],
                "axisLabel": {"interval": 0, "rotate": 30},
            },
            "yAxis": {"type": "value", "name": "户", "minInterval": 1},
            "series": [{"name": "户数", "type": "bar", "data": [bucket["households"] for bucket in buckets]}],
        },
    }


def _workbook(sections: dict[str, Any], quota_reports: list[dict[str, Any]]):
    """The whole dashboard as one workbook: each report's sheets, then the canteens' progress."""
    sheets = [
        sheet for name, report in sections.items() for sheet in report_downloads.report_sheets(name, report)
    ]
    quotas = [item for report in quota_reports for item in report["items"]]
    sheets.append(xlsx.Sheet("食堂预留份额", QUOTA_COLUMNS, quotas))
    summary = sections["summary"]
    counties = summary["county_codes"]
    scope = report_scope.ReportScope(
        tuple(counties) if counties is not None else None, None, summary["from_month"], summary["to_month"]
    )
    return xlsx.send_xlsx(xlsx.write_xlsx(sheets), report_downloads.download_name("dashboard", scope))
