"""拼多多 merchants' order export (订单导出, CSV) as sale lines.

A 拼多多 order holds one goods item, so ``external_id`` is the 订单号 alone. ``sku`` is the
seller's 商家编码-SKU维度, or the platform's 商品id when the seller set none. The export gives no
unit price, and none is derived (a division need not come out in whole fen).
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
class PddAdapter(ExportAdapter):
    name = "pdd"
    channel = "pdd"
    label = "拼多多"
    # The platform exports CSV; the same file re-saved from Excel is read too.
    media = ("csv", "xlsx")
    statuses = StatusTable(
        "订单状态",
        {
            "待发货": SALE,
            "已发货，待收货": SALE,
            "已收货": SALE,
            "售后成功": ZEROED,
            "已取消": SKIPPED,
        },
    )
    columns = (
        Column("订单号", "order", identifier),
        Column("商品id", "item", identifier),
        Column("商家编码-SKU维度", "sku", identifier, optional=True),
        Column("商品", "title", optional=True),
        Column("商品数量(件)", "quantity", quantity),
        Column("商家实收金额(元)", "amount_fen", fen),
        Column("支付时间", "occurred_at", local_time),
    )

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        return values["order"]

    def sku(self, values: Mapping[str, Any]) -> str | None:
        return values["sku"] or values["item"]
