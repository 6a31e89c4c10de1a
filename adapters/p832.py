"""832平台 (贫困地区农副产品网络销售平台) suppliers' order export (xlsx) as sale lines.

The buyers are units: every line is ``buyer_type`` "unit" and carries the 采购单位 as
``buyer_name``, which the import runner matches to a canteen by exact name. An order may hold
several goods, so ``external_id`` is 订单编号-商品编码; ``sku`` is the 商品编码. The supplier
columns (供应商名称, 供应商统一社会信用代码) are not read: the ledger attributes a line through
its product.

One layout, ``p832-orders``: the sale is 金额(元), the goods line's amount. No public copy of the
platform's supplier export was found to check its header against (what was searched:
tests/fixtures/README.md#832平台). Statuses: 已完成 and 待收货 are sales, and so are the steps a
public description of the platform's order flow names after payment (待发货, 待验货, 待评价);
已退款 is a refund (the line is kept at 0); 已取消 is never a sale; any other status is set aside,
named, until mapped.
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
    StatusTable,
    fen,
    identifier,
    local_time,
    quantity,
)


@register
class P832Adapter(ExportAdapter):
    name = "p832"
    channel = "p832"
    label = "832平台"
    # The platform exports xlsx; a CSV of the same columns is read too.
    media = ("xlsx", "csv")
    buyer_type = "unit"
    statuses = StatusTable(
        "订单状态",
        {
            "已完成": SALE,
            "待收货": SALE,
            # Paid and waiting for the supplier to ship, then for the buyer to check and to rate.
            "待发货": SALE,
            "待验货": SALE,
            "待评价": SALE,
            "已退款": ZEROED,
            "已取消": SKIPPED,
        },
    )
    columns = COLUMNS = (
        Column("订单编号", "order", identifier),
        Column("采购单位", "buyer_name"),
        Column("商品名称", "title", optional=True),
        Column("商品编码", "sku", identifier),
        Column("数量", "quantity", quantity),
        Column("单价(元)", "unit_price_fen", fen),
        Column("金额(元)", "amount_fen", fen),
        Column("下单时间", "occurred_at", local_time),
    )

    layouts = (
        Layout(
            "p832-orders",
            "832平台供应商订单导出",
            COLUMNS,
            statuses,
            amount="金额(元) (per goods line)",
            source="tests/fixtures/README.md#832平台",
        ),
    )

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        return f"{values['order']}-{values['sku']}"
