"""The canteens' downloads (单位食堂预留份额): each sheet's columns, header and value, defined once.

The API's workbooks and the pages' downloads build their sheets from these, so the same figures carry
the same headers and units wherever they are downloaded: money in yuan, shares and progress as
percentages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from service import canteen_quota
from service.canteen_progress import QUOTA_STATUSES
from service.vocabulary import UNIT_TYPE_LABELS
from service.xlsx import DATE, DATETIME, FEN, INTEGER, TEXT, Column, percent_bp


def _plan(quota: Mapping[str, Any]) -> Mapping[str, Any]:
    return quota.get("plan") or {}


_UNIT = (
    Column("食堂", "name", TEXT, width=30),
    Column("单位类型", lambda row: UNIT_TYPE_LABELS.get(row["unit_type"], row["unit_type"]), TEXT),
    Column("县代码", "county_code", TEXT),
)
_PROGRESS = (
    Column("年度食材采购总额(元)", lambda row: _plan(row).get("food_total_fen"), FEN),
    Column("预留比例", lambda row: percent_bp(_plan(row).get("reserve_ratio_bp")), TEXT),
    Column("预留目标(元)", "target_fen", FEN),
    Column("已完成(元)", "qualifying_fen", FEN),
    Column("其中832平台(元)", "via_832_fen", FEN),
    Column("完成进度", lambda row: percent_bp(row["progress_bp"]), TEXT),
    Column("全年预计(元)", "forecast_fen", FEN),
    Column("预计进度", lambda row: percent_bp(row["forecast_bp"]), TEXT),
    Column("状态", lambda row: QUOTA_STATUSES.get(row["status"], row["status"]), TEXT),
    Column("全部采购(元)", "purchases_fen", FEN),
)
# A canteen's progress in a year: a row per item of ``canteen_progress.quotas`` (the county report's items).
QUOTA_COLUMNS = (*_UNIT, *_PROGRESS)
# The same, with where to reach the canteen: a quota item with its canteen's address and contact.
CANTEEN_LIST_COLUMNS = (
    *_UNIT,
    Column("地址", "address", TEXT, width=30),
    Column("联系人及电话", "contact", TEXT, width=24),
    *_PROGRESS,
)

# A canteen's yearly plans (年度计划), a row per plan.
PLAN_COLUMNS = (
    Column("年度", "year", INTEGER),
    Column("年度食材采购总额(元)", "food_total_fen", FEN),
    Column("预留比例", lambda plan: percent_bp(plan["reserve_ratio_bp"]), TEXT),
    Column("预留目标(元)", "target_fen", FEN),
    Column("申报时间", "declared_at", DATETIME),
    Column("申报人", lambda plan: (plan.get("declared_by") or {}).get("username"), TEXT),
    Column("逾期申报", "declared_late"),
)

# The ledger lines a canteen bought (``canteen_purchases.purchase_lines``), each with its verdict.
PURCHASE_LINE_COLUMNS = (
    Column("采购日期", lambda row: date.fromisoformat(row["date"]), DATE),
    Column("来源", lambda row: canteen_quota.SOURCES[row["source"]], TEXT),
    Column("发票号/订单号", lambda row: row["invoice_no"] or row["external_id"], TEXT, width=24),
    Column("原发票号(退货)", "refund_of_invoice_no", TEXT),
    Column("产品名称", "product_name", TEXT, width=24),
    Column("产品编号", "product_code", TEXT),
    Column("供应商", "operator_name", TEXT, width=24),
    Column("供应商统一社会信用代码", "operator_uscc", TEXT),
    Column("数量", "quantity", INTEGER),
    Column("单位", "unit", TEXT),
    Column("金额(元)", "amount_fen", FEN),
    Column("832平台", lambda row: row["channel"] == canteen_quota.P832_CHANNEL),
    Column("计入预留份额", "counted_for_quota"),
    Column("原因", lambda row: canteen_quota.REASONS[row["quota_reason"]], TEXT, width=16),
)
