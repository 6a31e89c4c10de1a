"""To-dos (待办): what waits for each role, counted by the queries of the lists they open.

A to-do is a count and the list page (endpoint and arguments) that shows exactly those rows. Each
count calls the very function that list page calls, with the same arguments, so the menu and
the list cannot drift apart. Only the to-dos with something to do are returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pymongo.database import Database

from service import (
    canteen_plans,
    canteen_progress,
    certification,
    household_category_changes,
    import_runs,
    product_listing,
    report_cache,
    report_context,
    report_scope,
    unmatched,
)
from service.access import CANTEEN, ENTERPRISE, Principal
from service.clock import today_local

# Certificates this close to their end are renewed now (a new application takes longer).
EXPIRING_WITHIN_DAYS = 30
# Import runs that rejected rows stay a to-do this long; older ones are in the import list.
REJECTED_WITHIN_DAYS = 30


@dataclass(frozen=True)
class Todo:
    key: str
    label: str
    count: int
    endpoint: str
    args: dict[str, Any] = field(default_factory=dict)
    # A fragment of the page where the rows are (the dashboard's list of stale months).
    anchor: str | None = None
    overdue: bool = False


def _total(list_rows: Callable[..., tuple[list, int]], db: Database, actor: Principal, **filters: Any) -> int:
    """The total a paged list service reports for these filters (one row fetched)."""
    return list_rows(db, actor, **filters, page=1, per_page=1)[1]


def declaration_overdue(year: int, today: date) -> bool:
    """Whether the year's plan is past its declaration deadline (20 February, Asia/Shanghai)."""
    month, day = canteen_plans.DECLARATION_DEADLINE
    return today > date(year, month, day)


# Staff ------------------------------------------------------------------------------------------


def review_queue(db: Database, actor: Principal) -> Todo:
    count = sum(
        _total(product_listing.list_products, db, actor, status=status)
        for status in certification.AWAITING_COUNTY
    )
    return Todo("review", "待审核产品", count, "certification_pages.review_queue")


def publicity_ended(db: Database, actor: Principal) -> Todo:
    args = {"publicity_ended": "true"}
    count = _total(product_listing.list_products, db, actor, publicity_ended=True)
    return Todo("publicity_ended", "公示期满待认定", count, "product_pages.products", args)


def expiring_certificates(db: Database, actor: Principal, endpoint: str = "product_pages.products") -> Todo:
    args = {"expiring_within_days": EXPIRING_WITHIN_DAYS}
    count = _total(product_listing.list_products, db, actor, **args)
    return Todo("expiring", f"认定 {EXPIRING_WITHIN_DAYS} 天内到期", count, endpoint, args)


def unmatched_skus(db: Database, actor: Principal, cache: report_cache.ReportCache | None = None) -> Todo:
    """The SKUs of the list's default period (this year so far); kept while its county-months are
    unchanged, since every change to a sale line marks its county-month first."""
    scope = report_scope.resolve_scope(actor, today=today_local())

    def count() -> int:
        return unmatched.unmatched_report(db, actor, page=None, cache=cache)["groups"]

    def stamp() -> report_cache.Stamp | None:
        months = report_scope.months_between(scope.from_month, scope.to_month)
        return report_cache.read_stamp(db, scope.county_codes, months)

    key = ("unmatched_skus", db.name, scope.county_codes, scope.from_month, scope.to_month)
    found = count() if cache is None else cache.read_through(key, stamp(), count, stamp)
    return Todo("unmatched", "未匹配商品", found, "import_pages.unmatched")


def canteens_behind(db: Database, actor: Principal, cache: report_cache.ReportCache | None = None) -> Todo:
    # The canteens' purchase sums are kept in the reports' cache while their county-months are unchanged.
    context = report_context.ReportContext(db, cache)
    count = sum(
        canteen_progress.county_quota_report(db, actor, county, context=context)["totals"]["behind"]
        for county in actor.county_codes
    )
    args = {"status": canteen_progress.BEHIND}
    return Todo("canteens_behind", "食堂进度滞后", count, "county_canteen_pages.canteens", args)


def stale_figures(db: Database, actor: Principal) -> Todo:
    """County-months of the dashboard's default period whose figures are being recomputed."""
    scope = report_scope.resolve_scope(actor, today=today_local())
    count = len(report_context.ReportContext(db).stale_partitions(scope))
    return Todo("stale", "数据正在重算", count, "county_pages.dashboard", anchor="stale-partitions")


def interrupted_imports(db: Database, actor: Principal) -> Todo:
    args = {"status": import_runs.INTERRUPTED}
    count = _total(import_runs.list_runs, db, actor, **args)
    return Todo("interrupted", "中断的导入", count, "import_pages.imports", args)


def targeting_gaps(db: Database, actor: Principal) -> Todo:
    """Monitored households (监测对象) no benefit link reaches today."""
    count = _total(household_category_changes.targeting_gaps, db, actor)
    return Todo("targeting_gaps", "监测对象未覆盖帮扶", count, "household_pages.targeting_gaps")


def staff_todos(db: Database, actor: Principal, cache: report_cache.ReportCache | None = None) -> list[Todo]:
    found = [
        review_queue(db, actor),
        publicity_ended(db, actor),
        expiring_certificates(db, actor),
    ]
    # Unmatched sales, canteen reports and targeting gaps are read county by county; an admin names
    # one on the page.
    if actor.county_codes:
        found += [
            unmatched_skus(db, actor, cache),
            canteens_behind(db, actor, cache),
            targeting_gaps(db, actor),
        ]
    found += [stale_figures(db, actor), interrupted_imports(db, actor)]
    return found


# Enterprises ------------------------------------------------------------------------------------


def returned_applications(db: Database, actor: Principal) -> Todo:
    """Applications sent back by the county, rejected or objected to during publicity (both end rejected)."""
    args = {"status": certification.REJECTED}
    count = _total(product_listing.list_products, db, actor, **args)
    return Todo("returned", "被退回的申请", count, "enterprise_pages.products", args)


def import_row_errors(db: Database, actor: Principal) -> Todo:
    args = {"rejected_within_days": REJECTED_WITHIN_DAYS}
    count = _total(import_runs.list_runs, db, actor, **args)
    return Todo("row_errors", "导入有拒收行", count, "import_pages.imports", args)


def enterprise_todos(db: Database, actor: Principal) -> list[Todo]:
    return [
        returned_applications(db, actor),
        expiring_certificates(db, actor, "enterprise_pages.products"),
        import_row_errors(db, actor),
    ]


# Canteens ---------------------------------------------------------------------------------------


def canteen_todos(db: Database, actor: Principal) -> list[Todo]:
    """This year's plan while it is not declared (overdue after 20 February), and progress behind it."""
    today = today_local()
    quota = canteen_progress.canteen_quota(db, actor, actor.canteen_id, today.year, today)
    year = quota["year"]
    missing = quota["status"] == canteen_progress.NO_PLAN
    overdue = missing and declaration_overdue(year, today)
    plan_label = f"{year} 年计划逾期未申报" if overdue else f"申报 {year} 年计划（2 月 20 日前）"
    return [
        Todo("plan", plan_label, int(missing), "canteen_pages.plan", {"year": year}, overdue=overdue),
        Todo(
            "behind",
            "预留份额进度滞后",
            int(quota["status"] == canteen_progress.BEHIND),
            "canteen_pages.home",
        ),
    ]


def todos(db: Database, actor: Principal, cache: report_cache.ReportCache | None = None) -> list[Todo]:
    """The caller's to-dos with something to do, in the menu's order (``cache``: the reports' cache)."""
    if actor.role == ENTERPRISE:
        found = enterprise_todos(db, actor)
    elif actor.role == CANTEEN:
        found = canteen_todos(db, actor)
    elif actor.is_staff:
        found = staff_todos(db, actor, cache)
    else:
        found = []
    return [todo for todo in found if todo.count]
