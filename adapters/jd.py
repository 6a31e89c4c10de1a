"""京东 POP shops' order export (订单导出, CSV) as sale lines.

One row per order item: ``external_id`` is 订单号-商品ID, so the items of one order stay apart and a
re-import (after a refund, say) updates the same lines. ``sku`` is the seller's code (货号; 商家SKU in
the simplified layout), or 京东's 商品ID when the seller set none.

Layouts (the header decides; sources in tests/fixtures/README.md):

- ``jd-pop-30`` — the 30-column 订单导出 (订单号 … 货号, 订单完成时间, 订单来源, 订单渠道). The order's
  figures repeat on each of its item rows: the sale is what the buyer paid for the goods,
  应付金额 + 余额支付 − 运费金额, shared among the order's items by 京东价 × 订购数量 to the fen.
  The time is 付款确认时间, or 下单时间 while it is empty (cash on delivery).
- ``jd-pop-35`` — the same with the warehouse and service columns added later (送装服务, 服务费,
  仓库id, 仓库名称, 普通发票纳税编号); read the same way.
- ``jd-basic`` — the simplified layout earlier versions of this service read (商家SKU; 应付金额
  per item row, counted as it is). Its 商家SKU is not a column of the platform's own export.

Statuses: 等待出库, 等待确认收货, 完成 are sales; 退款成功 is a refund (the line is kept at 0);
等待付款, 锁定 (held, e.g. while a refund is decided) and 暂停 are not yet sales; 已取消, 删除 and any
status written "(删除)…" (an order deleted, as when 京东 splits it into new orders) are never sales.
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
    Outcome,
    StatusTable,
    fen,
    identifier,
    local_time,
    quantity,
    status_key,
)
from adapters.errors import Coded
from adapters.quoting import quoted
from adapters.tabular import Row

STATUSES = StatusTable(
    "订单状态",
    {
        "等待出库": SALE,
        "等待确认收货": SALE,
        "完成": SALE,
        "退款成功": ZEROED,
        "等待付款": PENDING,
        "锁定": PENDING,
        "暂停": PENDING,
        "已取消": SKIPPED,
        "删除": SKIPPED,
    },
)
DELETED = status_key("(删除)")

ITEM = (
    Column("订单号", "order", identifier),
    Column("商品ID", "item", identifier),
    Column("商品名称", "title", optional=True),
    Column("订购数量", "quantity", quantity),
    Column("京东价", "unit_price_fen", fen),
)
POP_30 = (
    *ITEM,
    Column("货号", "sku", identifier, optional=True, aliases=("商家SKU",)),
    Column("应付金额", "payable", fen),
    Column("余额支付", "balance", fen, optional=True),
    Column("运费金额", "freight", fen, optional=True),
    Column("付款确认时间", "occurred_at", local_time, optional=True),
    Column("下单时间", "ordered_at", local_time),
    Column("订单金额", "order_total", fen, optional=True),
    Column("订单完成时间", "completed_at", optional=True),
)
POP_AMOUNT = "应付金额 + 余额支付 − 运费金额 (per order, shared among its items by 京东价 × 订购数量)"
SOURCE = "tests/fixtures/README.md#京东"


# Both POP layouts read the sale the same way: what the buyer paid for the order, less its freight,
# shared among its items.
POP_READING = {
    "amount_plus": ("payable", "balance"),
    "amount_minus": ("freight",),
    "per_order": True,
    "amount": POP_AMOUNT,
    "source": SOURCE,
}


@register
class JdAdapter(ExportAdapter):
    name = "jd"
    channel = "jd"
    label = "京东"
    # The platform exports CSV; the same file re-saved from Excel is read too.
    media = ("csv", "xlsx")
    statuses = STATUSES
    layouts = (
        Layout(
            "jd-pop-30",
            "京东 POP 订单导出（30 列，货号）",
            POP_30,
            STATUSES,
            **POP_READING,
        ),
        Layout(
            "jd-pop-35",
            "京东 POP 订单导出（含仓库与送装服务列）",
            (
                *POP_30,
                Column("仓库名称", "warehouse", optional=True),
                Column("服务费", "service_fee", optional=True),
            ),
            STATUSES,
            **POP_READING,
        ),
        Layout(
            "jd-basic",
            "京东订单（简化版式，商家SKU）",
            (
                *ITEM,
                Column("商家SKU", "sku", identifier, optional=True),
                Column("应付金额", "amount_fen", fen),
                Column("下单时间", "occurred_at", local_time),
            ),
            STATUSES,
            amount="应付金额 (per item row)",
            source=SOURCE,
        ),
    )
    group_by = "订单号"
    item_by = ("商品ID",)

    def outcome(self, status: str, listed: Outcome | None, row: Row) -> tuple[Outcome, str]:
        if status_key(status).startswith(DELETED):
            return (
                SKIPPED,
                Coded(
                    "skip.deleted",
                    f"订单状态 {quoted(status)}: a deleted order (e.g. split into new orders), not a sale.",
                    status=status,
                ),
            )
        return super().outcome(status, listed, row)

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        return f"{values['order']}-{values['item']}"

    def sku(self, values: Mapping[str, Any]) -> str | None:
        return values["sku"] or values["item"]
