"""淘宝/天猫 sellers' order export (订单报表, CSV) as sale lines.

The export has one row per order, and several adjacent rows for an order of several items.
``external_id`` is the 订单编号, except in an order whose adjacent rows name different items
(商家编码, or 标题 when the seller set no 商家编码): there each row's is 订单编号-商家编码 (or
订单编号-标题). A repeated row of a one-item order keeps the bare 订单编号, so it collapses with
the original in the ledger. Only one order's rows are held at a time, so the file still streams;
an order's rows are adjacent in the platform's export.

交易关闭 means two things: an order closed after payment (a refund) keeps its line with amount 0,
an order closed before payment (no 订单付款时间) was never a sale and is skipped. The time of a
line is its 订单付款时间. Order numbers wrapped as ="…", or led by a tab or an apostrophe (the
export's ways of keeping Excel from mangling them) are unwrapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import register
from adapters.common import (
    SALE,
    SKIPPED,
    ZEROED,
    Column,
    ExportAdapter,
    Layout,
    Outcome,
    StatusTable,
    fen,
    identifier,
    local_time,
    quantity,
    status_key,
)
from service.tabular import Row

PAID_AT = "订单付款时间"
CLOSED = "交易关闭"


@register
class TaobaoAdapter(ExportAdapter):
    name = "taobao"
    channel = "taobao"
    label = "淘宝/天猫"
    # The platform exports CSV; the same file re-saved from Excel is read too.
    media = ("csv", "xlsx")
    statuses = StatusTable(
        "订单状态",
        {
            "交易成功": SALE,
            "卖家已发货，等待买家确认": SALE,
            "买家已付款，等待卖家发货": SALE,
            # Zeroed when paid, skipped when not: see outcome().
            CLOSED: ZEROED,
            # The export lists unpaid orders too; like an order closed unpaid, not a sale.
            "等待买家付款": SKIPPED,
        },
    )
    columns = COLUMNS = (
        Column("订单编号", "order", identifier),
        Column("商家编码", "sku", identifier, optional=True),
        Column("标题", "title", optional=True),
        Column("价格", "unit_price_fen", fen),
        Column("购买数量", "quantity", quantity),
        Column("买家实际支付金额", "amount_fen", fen),
        Column(PAID_AT, "occurred_at", local_time),
    )
    layouts = (
        Layout(
            "taobao-basic",
            "淘宝/天猫订单（简化版式，一行一件商品）",
            COLUMNS,
            statuses,
            amount="买家实际支付金额 (per item row)",
            source="tests/fixtures/README.md#淘宝天猫",
        ),
    )
    group_by = "订单编号"
    item_by = ("商家编码", "标题")

    def outcome(self, status: str, listed: Outcome | None, row: Row) -> tuple[Outcome, str]:
        if status_key(status) == CLOSED and not row.get(PAID_AT):
            return (
                SKIPPED,
                f"{self.statuses.header} {CLOSED} without {PAID_AT}: closed before payment, not a sale.",
            )
        return super().outcome(status, listed, row)

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        item = values["sku"] or values["title"]
        if grouped and item:
            return f"{values['order']}-{item}"
        return values["order"]
