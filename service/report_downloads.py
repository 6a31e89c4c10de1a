"""The county reports as xlsx downloads: their sheets and Chinese column headers, and their file names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from service.access import Principal
from service.report_scope import ReportScope, scope_of
from service.reports import (
    EXPIRY_HORIZONS_DAYS,
    category_sales,
    certification_status,
    household_list,
    monthly,
    operator_ranking,
    product_ranking,
    summary,
    township_income,
    unallocated_pools,
)
from service.xlsx import FEN, INTEGER, TEXT, Column, Sheet, write_xlsx


def _fen(header: str, key: str) -> Column:
    return Column(header, key, FEN, width=16)


def _summary_sheets(report: dict[str, Any]) -> list[Sheet]:
    money = (
        ("销售额", "sales_fen"),
        ("认定产品销售额", "certified_sales_fen"),
        ("非认定产品销售额", "uncertified_sales_fen"),
        ("未匹配产品销售额", "unmatched_sales_fen"),
        ("带贫收益", "poor_income_fen"),
        ("已分配到户", "allocated_fen"),
        ("未分配", "unallocated_fen"),
    )
    counts = (
        ("受益户数", "households_benefited"),
        ("受益人数", "people_benefited"),
        ("有销售的经营主体数", "operators_selling"),
        ("有销售的产品数", "products_selling"),
    )
    rows = [{"name": name, "yuan": report[key]} for name, key in money]
    rows += [{"name": name, "count": report[key]} for name, key in counts]
    return [
        Sheet(
            "汇总",
            [Column("指标", "name", width=22), _fen("金额（元）", "yuan"), Column("数量", "count", INTEGER)],
            rows,
        ),
        Sheet(
            "按渠道",
            [
                Column("渠道", "channel_label", width=16),
                _fen("销售额（元）", "sales_fen"),
                _fen("认定产品销售额（元）", "certified_sales_fen"),
                _fen("带贫收益（元）", "poor_income_fen"),
                Column("笔数", "lines", INTEGER),
            ],
            report["by_channel"],
        ),
    ]


def _monthly_sheets(report: dict[str, Any]) -> list[Sheet]:
    return [
        Sheet(
            "月度趋势",
            [
                Column("月份", "month", TEXT),
                Column("渠道", "channel_label", width=16),
                _fen("销售额（元）", "sales_fen"),
                _fen("认定产品销售额（元）", "certified_sales_fen"),
                _fen("带贫收益（元）", "poor_income_fen"),
            ],
            report["items"],
        )
    ]


_RANKING_MONEY = (
    _fen("销售额（元）", "sales_fen"),
    _fen("认定产品销售额（元）", "certified_sales_fen"),
    _fen("带贫收益（元）", "poor_income_fen"),
    Column("数量", "quantity", INTEGER),
)


def _product_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("排名", "rank", INTEGER),
        Column("产品", "product_name", width=24),
        Column("品类", "category_label"),
        Column("经营主体", "operator_name", width=24),
        *_RANKING_MONEY,
    ]
    return [Sheet("产品销售排行", columns, report["items"])]


def _operator_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("排名", "rank", INTEGER),
        Column("经营主体", "operator_name", width=24),
        Column("县代码", "county_code", TEXT),
        *_RANKING_MONEY,
    ]
    return [Sheet("经营主体销售排行", columns, report["items"])]


def _category_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("品类", "category_label", width=16),
        _fen("销售额（元）", "sales_fen"),
        _fen("认定产品销售额（元）", "certified_sales_fen"),
        _fen("带贫收益（元）", "poor_income_fen"),
        Column("数量", "quantity", INTEGER),
        Column("产品数", "products", INTEGER),
    ]
    return [Sheet("品类销售", columns, report["items"])]


def _township_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("乡镇代码", "township_code", TEXT, width=14),
        Column("乡镇", "township_name", TEXT, width=16),
        _fen("带贫收益（元）", "income_fen"),
        Column("受益户数", "households", INTEGER),
        Column("受益人数", "people", INTEGER),
    ]
    return [Sheet("乡镇受益", columns, report["items"])]


def _household_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("户编号", "household_no", TEXT, width=22),
        Column("户主", "head_name"),
        Column("乡镇代码", "township_code", TEXT, width=14),
        Column("家庭人口", "members", INTEGER),
        _fen("带贫收益（元）", "income_fen"),
    ]
    distribution = report["distribution"]
    stats = [
        {"name": "受益户数", "count": distribution["count"]},
        {"name": "合计", "yuan": distribution["total_fen"]},
        {"name": "中位数（下中位数）", "yuan": distribution["median_fen"]},
        {"name": "第90百分位（最近秩）", "yuan": distribution["p90_fen"]},
        *({"name": bucket["label"], "count": bucket["households"]} for bucket in distribution["buckets"]),
    ]
    return [
        Sheet("受益户", columns, report["items"]),
        Sheet(
            "收益分布",
            [Column("指标", "name", width=22), _fen("金额（元）", "yuan"), Column("户数", "count", INTEGER)],
            stats,
        ),
    ]


def _certification_sheets(report: dict[str, Any]) -> list[Sheet]:
    expiring = [
        {"name": f"{days}天内到期", "count": report["expiring"][f"within_{days}_days"]}
        for days in EXPIRY_HORIZONS_DAYS
    ]
    return [
        Sheet(
            "认定状态",
            [Column("状态", "name", width=18), Column("产品数", "count", INTEGER)],
            [{"name": row["status_label"], "count": row["products"]} for row in report["by_status"]]
            + expiring,
        ),
        Sheet(
            "即将到期",
            [
                Column("产品", "product_name", width=24),
                Column("经营主体", "operator_name", width=24),
                Column("有效期至", "valid_until", width=20),
                Column("剩余天数", "days_left", INTEGER),
            ],
            report["expiring_products"],
        ),
    ]


def _unallocated_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("县代码", "county_code", TEXT),
        Column("月份", "month", TEXT),
        Column("经营主体", "operator_name", width=24),
        _fen("带贫收益池（元）", "pool_fen"),
        _fen("未分配（元）", "unallocated_fen"),
        _fen("认定产品销售额（元）", "certified_sales_fen"),
    ]
    return [Sheet("未分配收益", columns, report["items"])]


@dataclass(frozen=True)
class Report:
    run: Callable[..., dict[str, Any]]
    sheets: Callable[[dict[str, Any]], list[Sheet]]
    periodic: bool = True


REPORTS: dict[str, Report] = {
    "summary": Report(summary, _summary_sheets),
    "monthly": Report(monthly, _monthly_sheets),
    "products": Report(product_ranking, _product_sheets),
    "operators": Report(operator_ranking, _operator_sheets),
    "categories": Report(category_sales, _category_sheets),
    "townships": Report(township_income, _township_sheets),
    "households": Report(household_list, _household_sheets),
    "certification": Report(certification_status, _certification_sheets, periodic=False),
    "unallocated": Report(unallocated_pools, _unallocated_sheets),
}


def download_name(name: str, scope: ReportScope, periodic: bool = True) -> str:
    """summary-340722-2024-01-2024-12.xlsx (certification, which has no period: certification-340722.xlsx)."""
    if not periodic:
        return f"{name}-{scope.county_label}.xlsx"
    return f"{name}-{scope.county_label}-{scope.from_month}-{scope.to_month}.xlsx"


def export(db: Database, actor: Principal, name: str, **args: Any) -> tuple[bytes, str]:
    """A report as an xlsx workbook with Chinese headers, and its file name (every row, no paging)."""
    report = REPORTS[name]
    if name == "households":
        args = {**args, "page": 1, "per_page": None}
    filename = download_name(name, scope_of(actor, args), report.periodic)
    return write_xlsx(report.sheets(report.run(db, actor, **args))), filename


def report_sheets(name: str, report: dict[str, Any]) -> list[Sheet]:
    """The sheets of a report already run, to put several reports in one workbook (the county dashboard)."""
    return REPORTS[name].sheets(report)
