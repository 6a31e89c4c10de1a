"""淘宝/天猫 sellers' export of 已卖出的宝贝 as sale lines.

Layouts (the header decides; sources in tests/fixtures/README.md):

- ``taobao-2files`` — the platform's export, two CSV files of one period given together, in either
  order: the order report (订单报表: one row per order, 订单编号 … 订单付款时间 …, later versions
  adding 店铺Id … 是否是O2O交易, then 退款金额 and more) and the item report (宝贝报表: one row per
  item, 订单编号, 标题, 价格, 购买数量, 外部系统编号, 商品属性 or 规格名称, 套餐信息, 备注, 订单状态,
  商家编码). The order report is read first and kept as one small entry per order; the item
  report is then streamed, its rows joined to their order by 订单编号. The sale of an order is what
  the buyer paid for the goods: 买家实际支付金额 − 买家应付邮费 (the postage it includes) − 退款金额
  (a partial refund, where the column exists), shared among the order's items by 价格 × 购买数量
  to the fen. An item closed on its own (its 订单状态 in the item report 交易关闭 while its
  order is a sale: that item refunded) keeps its line at 0; with 退款金额 its refund is already
  off the order, so the order is shared among its other items, and without it the closed item's
  part is dropped. An item row whose order is not in the order report, and an order with no item
  rows, are row errors naming the file, the row and the 订单编号 (an order that is not a sale
  anyway is counted as skipped). The items of one order are adjacent, as the platform writes them.
- ``taobao-basic`` — the simplified one-file layout earlier versions of this service read (one row
  per item, 买家实际支付金额 per row, counted as it is).

``external_id`` is the 订单编号 for an order of one item. In an order naming several items each
line's is 订单编号-商家编码 (or -外部系统编号, or -标题 when the seller set no code; with
-商品属性 added where two items share one code). A repeated row of one item keeps its item's
``external_id``, so it collapses with the original in the ledger.

Statuses (订单状态 of the order): 交易成功, 卖家已发货，等待买家确认, 买家已付款，等待卖家发货 are
sales; 交易关闭 means two things: closed after payment (a refund) keeps the lines at 0, closed
before payment (no 订单付款时间) was never a sale and is skipped; 等待买家付款 is skipped. The time
of a line is its order's 订单付款时间. Order numbers wrapped as ="…", or led by a tab or an
apostrophe (the export's ways of keeping Excel from mangling them) are unwrapped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from adapters import tabular
from adapters.apportion import apportion
from adapters.base import RowError, SaleLine, Skipped, register
from adapters.common import (
    PENDING,
    SALE,
    SKIPPED,
    ZEROED,
    CellError,
    Column,
    ExportAdapter,
    Item,
    Layout,
    Outcome,
    Parsed,
    StatusTable,
    choose_layout,
    fen,
    identifier,
    local_time,
    quantity,
    refuse_header,
    status_key,
    stopped_at,
)
from adapters.errors import Coded, FileRefused
from adapters.quoting import quoted
from adapters.tabular import Row
from adapters.xlsx_reader import DEFAULT_LIMITS, ReadLimits

PAID_AT = "订单付款时间"
CLOSED = "交易关闭"
ORDER_NUMBER = "订单编号"
ORDER_REPORT = "订单报表"
ITEM_REPORT = "宝贝报表"
REFUND = "退款金额"
SOURCE = "tests/fixtures/README.md#淘宝天猫"

STATUSES = StatusTable(
    "订单状态",
    {
        "交易成功": SALE,
        "卖家已发货，等待买家确认": SALE,
        "买家已付款，等待卖家发货": SALE,
        # Zeroed when paid, skipped when not: see TaobaoAdapter.outcome().
        CLOSED: ZEROED,
        # The export lists unpaid orders too; like an order closed unpaid, not a sale.
        "等待买家付款": SKIPPED,
    },
)
BASIC_COLUMNS = (
    Column(ORDER_NUMBER, "order", identifier),
    Column("商家编码", "sku", identifier, optional=True),
    Column("标题", "title", optional=True),
    Column("价格", "unit_price_fen", fen),
    Column("购买数量", "quantity", quantity),
    Column("买家实际支付金额", "amount_fen", fen),
    Column(PAID_AT, "occurred_at", local_time),
)
ORDER_COLUMNS = (
    Column(ORDER_NUMBER, "order", identifier),
    Column("买家会员名", "buyer", optional=True),
    Column("买家实际支付金额", "paid", fen),
    Column("买家应付邮费", "postage", fen, optional=True),
    Column(REFUND, "refund", fen, optional=True, absent_ok=True),
    Column(PAID_AT, "occurred_at", local_time),
)
ITEM_COLUMNS = (
    Column(ORDER_NUMBER, "order", identifier),
    Column("标题", "title", optional=True),
    Column("价格", "unit_price_fen", fen),
    Column("购买数量", "quantity", quantity),
    Column("外部系统编号", "outer_code", identifier, optional=True),
    Column("商品属性", "attributes", optional=True, aliases=("规格名称",), absent_ok=True),
    Column("商家编码", "sku", identifier, optional=True),
)
ORDER_LAYOUT = Layout(
    "taobao-order-report",
    "淘宝/天猫已卖出的宝贝：订单报表",
    ORDER_COLUMNS,
    STATUSES,
    amount_plus=("paid",),
    amount_minus=("postage", "refund"),
    per_order=True,
    amount="买家实际支付金额 − 买家应付邮费 − 退款金额 (per order)",
    source=SOURCE,
)
ITEM_LAYOUT = Layout(
    "taobao-item-report",
    "淘宝/天猫已卖出的宝贝：宝贝报表",
    ITEM_COLUMNS,
    STATUSES,
    amount="none: the order report's amount is shared among the items",
    source=SOURCE,
)
PAIR_LAYOUT = Layout(
    "taobao-2files",
    "淘宝/天猫已卖出的宝贝（订单报表 + 宝贝报表）",
    (*ORDER_COLUMNS, *ITEM_COLUMNS),
    STATUSES,
    amount=(
        "买家实际支付金额 − 买家应付邮费 − 退款金额 (per order, shared among its items by 价格 × 购买数量)"
    ),
    source=SOURCE,
)
BASIC_LAYOUT = Layout(
    "taobao-basic",
    "淘宝/天猫订单（简化版式，一行一件商品）",
    BASIC_COLUMNS,
    STATUSES,
    amount="买家实际支付金额 (per item row)",
    source=SOURCE,
)
HALVES = {ORDER_LAYOUT.name: ORDER_REPORT, ITEM_LAYOUT.name: ITEM_REPORT}


@dataclass
class _Order:
    """What the order report says of one order: enough to price its items, or why it is no sale."""

    row: int
    outcome: Outcome | None = None
    reason: str = ""
    goods_fen: int = 0
    occurred_at: Any = None
    error: RowError | None = None


@register
class TaobaoAdapter(ExportAdapter):
    name = "taobao"
    channel = "taobao"
    label = "淘宝/天猫"
    # The platform exports CSV; the same file re-saved from Excel is read too.
    media = ("csv", "xlsx")
    statuses = STATUSES
    columns = COLUMNS = BASIC_COLUMNS
    layouts = (BASIC_LAYOUT, ORDER_LAYOUT, ITEM_LAYOUT)
    group_by = ORDER_NUMBER
    item_by = ("商家编码", "标题")
    max_files = 2

    def outcome(self, status: str, listed: Outcome | None, row: Row) -> tuple[Outcome, str]:
        if status_key(status) == CLOSED and not row.get(PAID_AT):
            return (
                SKIPPED,
                Coded(
                    "skip.closed_unpaid",
                    f"{STATUSES.header} {CLOSED} without {PAID_AT}: closed before payment, not a sale.",
                    status=CLOSED,
                ),
            )
        return super().outcome(status, listed, row)

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        item = values["sku"] or values["title"]
        if grouped and item:
            return f"{values['order']}-{item}"
        return values["order"]

    # One file ---------------------------------------------------------------------------------

    def parse(
        self,
        stream: IO[bytes],
        filename: str,
        *,
        extra_statuses: Mapping[str, Outcome] | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> Parsed:
        """A one-file export (``taobao-basic``); either report of the two-file export alone is refused."""
        return self.parse_files([(stream, filename)], extra_statuses=extra_statuses, limits=limits)

    def parse_files(
        self,
        files: Sequence[tuple[IO[bytes], str]],
        *,
        extra_statuses: Mapping[str, Outcome] | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> Parsed:
        """The basic layout's one file, or the order report and the item report in either order."""
        if len(files) > self.max_files or not files:
            return super().parse_files(files, extra_statuses=extra_statuses, limits=limits)
        opened: list[tuple[tabular.RowReader, Layout, str]] = []
        try:
            for stream, filename in files:
                reader = tabular.read_rows(stream, filename, limits=limits)
                opened.append((reader, self._layout_of(reader, filename, len(files)), filename))
            kinds = {layout.name: (reader, filename) for reader, layout, filename in opened}
            if len(files) == 1:
                reader, layout, filename = opened[0]
                if layout.name in HALVES:
                    raise _missing_half(layout.name, filename)
                return Parsed(self._items(reader, layout, extra_statuses or {}), layout)
            if set(kinds) != set(HALVES):
                raise _not_a_pair(opened)
        except BaseException:
            for reader, _, _ in opened:
                reader.close()
            raise
        orders, order_name = kinds[ORDER_LAYOUT.name]
        items, item_name = kinds[ITEM_LAYOUT.name]
        pair = _Pair(self, orders, order_name, items, item_name, extra_statuses or {})
        return Parsed(pair.items(), PAIR_LAYOUT)

    def _layout_of(self, reader: tabular.RowReader, filename: str, count: int) -> Layout:
        layout, missing, closest = choose_layout(self.layouts, reader.header)
        if layout is not None:
            return layout
        error = refuse_header(self, reader.header, missing, closest)
        if count > 1:
            # Of two files, say which one is not a 淘宝 report.
            raise FileRefused(f"{quoted(filename)}: {error.message}", details=error.details)
        raise error


def _missing_half(layout_name: str, filename: str) -> FileRefused:
    given = HALVES[layout_name]
    wanted = ITEM_REPORT if given == ORDER_REPORT else ORDER_REPORT
    english = {ORDER_REPORT: "order report", ITEM_REPORT: "item report"}
    message = (
        f"{quoted(filename)} is the 淘宝 {english[given]} ({given}); "
        f"it needs its {english[wanted]} ({wanted}) of the same export: upload both files together."
    )
    return FileRefused(message, details={"file": [f"The {english[wanted]} ({wanted}) is missing."]})


def _not_a_pair(opened: list[tuple[tabular.RowReader, Layout, str]]) -> FileRefused:
    named = ", ".join(
        f"{quoted(filename)} ({HALVES.get(layout.name, layout.name)})" for _, layout, filename in opened
    )
    message = (
        f"Two 淘宝 files must be the order report ({ORDER_REPORT}) and the item report ({ITEM_REPORT}) "
        f"of one export; given: {named}."
    )
    return FileRefused(message, details={"file": [message]})


class _Pair:
    """The order report and the item report of one export, read together into sale lines."""

    def __init__(
        self,
        adapter: TaobaoAdapter,
        orders: tabular.RowReader,
        order_name: str,
        items: tabular.RowReader,
        item_name: str,
        extra: Mapping[str, Outcome],
    ):
        self.adapter = adapter
        # The files' names as row errors quote them: short, ID numbers masked.
        self.orders_reader, self.order_name = orders, quoted(order_name)
        self.items_reader, self.item_name = items, quoted(item_name)
        self.extra = extra
        self.order_layout = ORDER_LAYOUT.bound(orders.header)
        self.item_layout = ITEM_LAYOUT.bound(items.header)
        # With 退款金额 a closed item's refund is already off its order's amount.
        self.refunds_listed = REFUND in orders.header

    def items(self) -> Iterator[Item]:
        try:
            orders, problems = self._read_orders()
            yield from problems
            done: set[str] = set()
            failure: list[FileRefused] = []
            for group in self.adapter._groups(self.items_reader, failure):
                yield from self._group(group, orders, done)
            if failure:
                yield self._in_items(stopped_at(failure[0]))
            for number, order in orders.items():
                yield self._without_items(number, order)
        finally:
            self.orders_reader.close()
            self.items_reader.close()

    # The order report, read whole first: one small entry per order.

    def _read_orders(self) -> tuple[dict[str, _Order], list[Item]]:
        orders: dict[str, _Order] = {}
        problems: list[Item] = []
        failure: list[FileRefused] = []
        for group in self.adapter._groups(self.orders_reader, failure):
            for row in group:
                try:
                    number = ORDER_COLUMNS[0].value(row)
                except CellError as error:
                    problems.append(self._in_orders(RowError(row.number, error.column, error.message)))
                    continue
                if number in orders:
                    problems.append(
                        self._in_orders(
                            RowError(
                                row.number,
                                ORDER_NUMBER,
                                f"{ORDER_NUMBER} {quoted(number)} appears twice.",
                            )
                        )
                    )
                    continue
                orders[number] = self._order(row)
        if failure:
            problems.append(self._in_orders(stopped_at(failure[0])))
        return orders, problems

    def _order(self, row: Row) -> _Order:
        order = _Order(row.number)
        try:
            order.outcome, order.reason = self.adapter.row_outcome(row, self.order_layout, self.extra)
            if order.outcome in (SKIPPED, PENDING):
                return order
            values = {column.key: column.value(row) for column in self.order_layout.columns}
            order.occurred_at = values["occurred_at"]
            if order.outcome is SALE:
                order.goods_fen = self.order_layout.read_amount(values)
        except CellError as error:
            order.error = RowError(row.number, error.column, error.message)
        return order

    # The item report, streamed: each order's adjacent rows at a time.

    def _group(self, group: list[Row], orders: dict[str, _Order], done: set[str]) -> Iterator[Item]:
        try:
            number = ITEM_COLUMNS[0].value(group[0])
        except CellError as error:
            for row in group:
                yield self._in_items(RowError(row.number, error.column, error.message))
            return
        order = orders.pop(number, None)
        if order is None:
            if number in done:
                message = (
                    f"{ORDER_NUMBER} {quoted(number)}: its item rows are not together (rows of other "
                    "orders come between them), so its amount cannot be shared; export the item report again."
                )
            else:
                message = (
                    f"{ORDER_NUMBER} {quoted(number)} is not in the order report ({ORDER_REPORT}) "
                    f"{self.order_name}."
                )
            for row in group:
                yield self._in_items(RowError(row.number, ORDER_NUMBER, message))
            return
        done.add(number)
        if order.error is not None:
            message = (
                f"Its order ({ORDER_REPORT} {self.order_name} row {order.row}) could not be read: "
                f"{order.error.message}"
            )
            for row in group:
                yield RowError(row.number, order.error.field, message)
            return
        if order.outcome in (SKIPPED, PENDING):
            for row in group:
                yield Skipped(row.number, order.reason)
            return
        yield from self._lines(number, order, group)

    def _lines(self, number: str, order: _Order, group: list[Row]) -> Iterator[Item]:
        read: list[tuple[dict[str, Any], int]] = []
        for row in group:
            try:
                values = {column.key: column.value(row) for column in self.item_layout.columns}
            except CellError as error:
                broken = self._in_items(RowError(row.number, error.column, error.message))
                yield from self._unshared(group, broken)
                return
            values["closed"] = order.outcome is SALE and status_key(row.get(STATUSES.header)) == CLOSED
            read.append((values, row.number))
        keys = _item_keys([values for values, _ in read])
        grouped = len(set(keys)) > 1
        # A repeated row of an item shares its item's part rather than taking a part of its own.
        weights: dict[str, int] = {}
        for key, (values, _) in zip(keys, read, strict=True):
            if key not in weights:
                live = not (values["closed"] and self.refunds_listed)
                weights[key] = values["unit_price_fen"] * values["quantity"] if live else 0
        if order.outcome is SALE and any(weights.values()):
            parts = dict(zip(weights, apportion(order.goods_fen, list(weights.values())), strict=True))
        else:
            parts = dict.fromkeys(weights, 0)
        for key, (values, row) in zip(keys, read, strict=True):
            zeroed = order.outcome is ZEROED or values["closed"]
            yield SaleLine(
                channel=self.adapter.channel,
                external_id=f"{number}-{key}" if grouped and key else number,
                occurred_at=order.occurred_at,
                quantity=values["quantity"],
                amount_fen=0 if zeroed else parts[key],
                unit_price_fen=values["unit_price_fen"],
                sku=values["sku"] or values["outer_code"],
                title=values["title"],
                buyer_type=self.adapter.buyer_type,
                row=row,
            )

    def _unshared(self, group: list[Row], broken: RowError) -> Iterator[Item]:
        message = (
            f"Row {broken.row} of the same order could not be read, so the order's amount "
            "cannot be shared among its items."
        )
        for row in group:
            yield broken if row.number == broken.row else RowError(row.number, None, message)

    def _without_items(self, number: str, order: _Order) -> Item:
        if order.error is not None:
            return self._in_orders(order.error)
        if order.outcome in (SKIPPED, PENDING):
            return Skipped(order.row, order.reason)
        return self._in_orders(
            RowError(
                order.row,
                ORDER_NUMBER,
                f"{ORDER_NUMBER} {quoted(number)} has no rows in the item report ({ITEM_REPORT}) "
                f"{self.item_name}; export both reports of the same period.",
            )
        )

    def _in_orders(self, error: RowError) -> RowError:
        return RowError(error.row, error.field, f"{ORDER_REPORT} {self.order_name}: {error.message}")

    def _in_items(self, error: RowError) -> RowError:
        return RowError(error.row, error.field, f"{ITEM_REPORT} {self.item_name}: {error.message}")


def _item_keys(items: list[dict[str, Any]]) -> list[str]:
    """Each item row's name within its order: its code (商家编码, else 外部系统编号), else its 标题;
    with its 商品属性 added where rows of one name differ in it (two variants without codes)."""
    names = [values["sku"] or values["outer_code"] or values["title"] or "" for values in items]
    variants: dict[str, set[str]] = {}
    for name, values in zip(names, items, strict=True):
        variants.setdefault(name, set()).add(values.get("attributes") or "")
    return [
        f"{name}-{values['attributes']}" if len(variants[name]) > 1 and values.get("attributes") else name
        for name, values in zip(names, items, strict=True)
    ]
