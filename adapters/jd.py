"""京东 POP shops' order export (订单导出, CSV) as sale lines.

One row per order item: ``external_id`` is 订单号-商品ID, so the items of one order stay apart and a
re-import (after a refund, say) updates the same lines. ``sku`` is the seller's 商家SKU, or 京东's
商品ID when the seller set none.
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
    StatusTable,
    fen,
    identifier,
    local_time,
    quantity,
)


@register
class JdAdapter(ExportAdapter):
    name = "jd"
    channel = "jd"
    label = "京东"
    # The platform exports CSV; the same file re-saved from Excel is read too.
    media = ("csv", "xlsx")
    statuses = StatusTable(
        "订单状态",
        {
            "等待出库": SALE,
            "等待确认收货": SALE,
            "完成": SALE,
            "退款成功": ZEROED,
            "已取消": SKIPPED,
        },
    )
    columns = (
        Column("订单号", "order", identifier),
        Column("商品ID", "item", identifier),
        Column("商家SKU", "sku", identifier, optional=True),
        Column("商品名称", "title", optional=True),
        Column("订购数量", "quantity", quantity),
        Column("京东价", "unit_price_fen", fen),
        Column("应付金额", "amount_fen", fen),
        Column("下单时间", "occurred_at", local_time),
    )

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        return f"{values['order']}-{values['item']}"

    def sku(self, values: Mapping[str, Any]) -> str | None:
        return values["sku"] or values["item"]
