"""拼多多 merchants' order export (订单导出, CSV) as sale lines.

A 拼多多 order holds one goods item, so ``external_id`` is the 订单号 alone. ``sku`` is the
seller's code (商家编码-规格维度, formerly 商家编码-SKU维度), or the platform's 商品id when the seller
set none. The export gives no unit price, and none is derived (a division need not come out in
whole fen).

Layouts (the header decides; sources in tests/fixtures/README.md):

- ``pdd-2020`` — the export with 订单成交时间, 用户实付金额(元), 邮费(元) and 售后状态. The sale is
  what the buyer paid for the goods, 用户实付金额(元) − 邮费(元) (the platform's own discounts,
  平台优惠折扣 and 多多支付立减, are not the buyer's payment). Refunds live in 售后状态, not in
  订单状态: 退款成功 keeps the line at 0 whatever the order status says; 退款中 and 售后处理中 are
  not yet settled (pending); 无售后或售后取消 leaves the order status to decide.
- ``pdd-basic`` — the simplified layout earlier versions of this service read (支付时间,
  商家编码-SKU维度, no 售后状态): the sale is 商家实收金额(元), as before.

Order statuses: 待发货, 已发货，待收货, 已收货 are sales; 售后成功 a refund; 待付款 (待支付) not yet a sale;
已取消 never a sale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import register
from adapters.common import (
    PENDING,
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

STATUSES = StatusTable(
    "订单状态",
    {
        "待发货": SALE,
        "已发货，待收货": SALE,
        "已收货": SALE,
        "售后成功": ZEROED,
        "已取消": SKIPPED,
        # Placed but not paid: not a sale yet; a later export imports it once paid.
        "待付款": PENDING,
        "待支付": PENDING,
    },
)
AFTER_SALE = StatusTable(
    "售后状态",
    {
        "无售后或售后取消": SALE,
        "退款成功": ZEROED,
        "退款中": PENDING,
        "售后处理中": PENDING,
    },
)
SOURCE = "tests/fixtures/README.md#拼多多"
ORDER = Column("订单号", "order", identifier)
ITEM = Column("商品id", "item", identifier, aliases=("商品ID",))
SKU = Column("商家编码-规格维度", "sku", identifier, optional=True, aliases=("商家编码-SKU维度",))
TITLE = Column("商品", "title", optional=True, aliases=("商品名称",))
QUANTITY = Column("商品数量(件)", "quantity", quantity)
PAID_AT = Column("订单成交时间", "occurred_at", local_time, aliases=("支付时间",))
# What every layout names the same way: the order, the item and when it was paid.
LINE = (ORDER, ITEM, SKU, TITLE, QUANTITY, PAID_AT)


@register
class PddAdapter(ExportAdapter):
    name = "pdd"
    channel = "pdd"
    label = "拼多多"
    # The platform exports CSV; the same file re-saved from Excel is read too.
    media = ("csv", "xlsx")
    statuses = STATUSES
    layouts = (
        Layout(
            "pdd-2020",
            "拼多多订单导出（订单成交时间、售后状态）",
            (
                *LINE,
                Column("用户实付金额(元)", "paid", fen),
                Column("邮费(元)", "postage", fen, optional=True),
                Column("商家实收金额(元)", "received", fen, optional=True),
            ),
            STATUSES,
            amount_plus=("paid",),
            amount_minus=("postage",),
            after_sale=AFTER_SALE,
            amount="用户实付金额(元) − 邮费(元)",
            source=SOURCE,
        ),
        Layout(
            "pdd-basic",
            "拼多多订单（简化版式，支付时间、商家编码-SKU维度）",
            (
                *LINE,
                Column("商家实收金额(元)", "amount_fen", fen),
            ),
            STATUSES,
            amount="商家实收金额(元)",
            source=SOURCE,
        ),
    )

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        return values["order"]

    def sku(self, values: Mapping[str, Any]) -> str | None:
        return values["sku"] or values["item"]
