"""The demo county's channel exports, written as the platforms lay them out.

The demo's sales of 京东, 拼多多, 淘宝, the 832 platform and the counters go in as files, through
the adapters and the import runner, exactly as county staff upload them. Each function here takes
the generated order lines (``_order`` in service/demo.py: one product, a quantity, a moment) and
writes the file the platform would give for them: its header, its encoding, its statuses, and
its figures (coupons, freight, balance payments, after-sale refunds) — so the demo's runs show
the layouts the adapters recognise and the rows they set aside. ``end`` is the first day not in
the demo's window: orders placed in its last days are not yet delivered.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from adapters.apportion import apportion
from service.clock import SHANGHAI


def csv_bytes(header: list[str], rows: list[list[Any]], encoding: str) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode(encoding)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def local(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    return moment.astimezone(SHANGHAI).strftime(pattern) if moment else ""


def _day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _by(moment: datetime, end: date) -> datetime | None:
    """The moment, if it has already come (an Asia/Shanghai day before ``end``)."""
    return moment if _day(moment) < end else None


def _status(rng: random.Random, done: str, cancelled: str, refunded: str) -> str:
    roll = rng.random()
    return cancelled if roll < 0.02 else refunded if roll < 0.04 else done


def _baskets(rng: random.Random, orders: list[dict], share: float, most: int) -> Iterator[list[dict]]:
    """The generated lines as orders: about ``share`` of lines join the order before them, up to
    ``most`` items of different products; a joined line takes its order's moment."""
    basket: list[dict] = []
    for order in orders:
        joins = (
            basket
            and len(basket) < most
            and rng.random() < share
            and order["sku"] not in {item["sku"] for item in basket}
        )
        if basket and not joins:
            yield basket
            basket = []
        basket.append(order)
    if basket:
        yield basket


_PLACES = ("安徽省合肥市蜀山区", "安徽省铜陵市枞阳县", "上海市浦东新区", "江苏省南京市鼓楼区",
           "浙江省杭州市西湖区", "北京市朝阳区", "广东省深圳市南山区", "湖北省武汉市洪山区")  # fmt: skip
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭"


def _buyer(rng: random.Random) -> tuple[str, str, str]:
    """A shop customer as the export shows one: name and phone masked by the platform, an address."""
    phone = f"1{rng.choice('3589')}{rng.randrange(10)}****{rng.randrange(10000):04d}"
    return f"{rng.choice(_SURNAMES)}**", f"{rng.choice(_PLACES)}某街道", phone


# 京东 -------------------------------------------------------------------------------------------

# The 30-column 订单导出 (layout jd-pop-30; where the header comes from: tests/fixtures/README.md).
JD_POP_HEADER = [
    "订单号", "商品ID", "商品名称", "订购数量", "支付方式", "下单时间", "京东价", "订单金额", "结算金额",
    "余额支付", "应付金额", "订单状态", "订单类型", "下单帐号", "客户姓名", "客户地址", "联系电话",
    "订单备注", "发票类型", "发票抬头", "发票内容", "商家备注", "商家备注等级（等级1-5为由高到低）",
    "运费金额", "付款确认时间", "增值税发票", "货号", "订单完成时间", "订单来源", "订单渠道",
]  # fmt: skip


def _jd_coupon(rng: random.Random, goods: int) -> int:
    """A shop coupon (满减), when the order reaches its threshold."""
    if rng.random() >= 0.25:
        return 0
    for threshold, off in ((19900, 2000), (9900, 1000), (4900, 500), (2900, 300)):
        if goods >= threshold:
            return off
    return 0


def _jd_delivery(rng: random.Random, paid_at: datetime, end: date) -> tuple[str, datetime | None]:
    """A paid order's state by now: finished a few days on, or still in the warehouse or on its way."""
    done_at = _by(paid_at + timedelta(days=rng.randint(2, 6), hours=rng.randint(0, 9)), end)
    if done_at is not None:
        return "完成", done_at
    return ("等待出库" if (end - _day(paid_at)).days <= 1 else "等待确认收货"), None


def jd_pop(rng: random.Random, orders: list[dict], end: date) -> bytes:
    """京东 POP 订单导出 (jd-pop-30) in GB18030, as the shop back end saves it: one row per item, the
    order's figures (订单金额, 应付金额 after coupons and with freight, 余额支付) on each of its rows.

    Statuses as 京东 writes them: 完成, 等待确认收货, 等待出库; 退款成功 (refunded after payment);
    锁定 (held while a refund is decided) and 等待付款 (not yet sales); 已取消; and orders 京东 split
    after payment, listed as "(删除)等待出库" with the new orders after them.
    """
    item_ids: dict[str, str] = {}
    rows: list[list[Any]] = []
    for items in _baskets(rng, orders, share=0.2, most=3):
        for item in items:
            item_ids.setdefault(item["sku"], f"1000{12000000 + len(item_ids)}")
        rows += _jd_order(rng, items, end, item_ids)
    return csv_bytes(JD_POP_HEADER, rows, "gb18030")


def _jd_order(rng: random.Random, items: list[dict], end: date, item_ids: dict[str, str]) -> list[list]:
    order_id, ordered_at = items[0]["id"], items[0]["at"]
    goods = sum(item["price_fen"] * item["quantity"] for item in items)
    coupon = _jd_coupon(rng, goods)
    freight = 0 if goods >= 9900 else rng.choice((0, 0, 600, 800))
    balance = min(goods - coupon, rng.choice((1000, 2000, 5000))) if rng.random() < 0.05 else 0
    cash = rng.random() < 0.03
    paid_at = None if cash else ordered_at + timedelta(seconds=rng.randint(5, 600))
    buyer = (f"jd_{rng.randrange(16**8):08x}", *_buyer(rng))
    order = {"id": order_id, "at": ordered_at, "paid_at": paid_at, "cash": cash, "buyer": buyer}
    roll = rng.random()
    if roll < 0.02:
        return _jd_rows(order | {"paid_at": None}, items, item_ids, (goods, coupon, freight, 0), "已取消")
    if roll < 0.04:
        return _jd_rows(order, items, item_ids, (goods, coupon, freight, balance), "退款成功")
    if roll < 0.05:
        return _jd_rows(order, items, item_ids, (goods, coupon, freight, balance), "锁定")
    if roll < 0.06:
        order |= {"paid_at": None, "cash": False}
        return _jd_rows(order, items, item_ids, (goods, coupon, freight, 0), "等待付款")
    if roll < 0.08 and len(items) > 1:
        return _jd_split(rng, order, items, end, item_ids, (goods, coupon, freight, balance))
    status, done_at = _jd_delivery(rng, paid_at or ordered_at, end)
    return _jd_rows(order, items, item_ids, (goods, coupon, freight, balance), status, done_at=done_at)


def _jd_split(
    rng: random.Random,
    order: dict,
    items: list[dict],
    end: date,
    item_ids: dict[str, str],
    figures: tuple[int, int, int, int],
) -> list[list]:
    """An order 京东 split by warehouse: the original deleted, one new order per item after it, the
    coupon and balance shared among them and the freight on the first."""
    _, coupon, freight, balance = figures
    children = [f"{order['id']}{number + 1}" for number in range(len(items))]
    note = f"订单拆分为 {','.join(children)}"
    rows = _jd_rows(order, items, item_ids, figures, "(删除)等待出库", note=note)
    weights = [item["price_fen"] * item["quantity"] for item in items]
    coupons, balances = apportion(coupon, weights), apportion(balance, weights)
    for number, (child, item) in enumerate(zip(children, items, strict=True)):
        status, done_at = _jd_delivery(rng, order["paid_at"] or order["at"], end)
        child_figures = (weights[number], coupons[number], freight if number == 0 else 0, balances[number])
        rows += _jd_rows(order | {"id": child}, [item], item_ids, child_figures, status, done_at=done_at)
    return rows


def _jd_rows(
    order: dict,
    items: list[dict],
    item_ids: dict[str, str],
    figures: tuple[int, int, int, int],
    status: str,
    *,
    done_at: datetime | None = None,
    note: str = "",
) -> list[list]:
    goods, coupon, freight, balance = figures
    payable = goods - coupon + freight - balance
    account, name, address, phone = order["buyer"]
    return [
        [order["id"], item_ids[item["sku"]], item["title"], item["quantity"],
         "货到付款" if order["cash"] else "在线支付", local(order["at"]), yuan(item["price_fen"]),
         yuan(goods), yuan(payable), yuan(balance), yuan(payable), status, "销售订单", account, name,
         address, phone, "", "电子发票", "个人", "明细", note, "", yuan(freight), local(order["paid_at"]),
         "", item["sku"], local(done_at), "移动端订单", "暂无来源"]
        for item in items
    ]  # fmt: skip


# 拼多多 -----------------------------------------------------------------------------------------

# The export with 订单成交时间 and 售后状态 (layout pdd-2020; header source in tests/fixtures/README.md).
PDD_2020_HEADER = [
    "订单成交时间", "商品", "订单号", "订单状态", "商品总价(元)", "邮费(元)", "店铺优惠折扣(元)",
    "平台优惠折扣(元)", "多多支付立减金额(元)", "用户实付金额(元)", "商家实收金额(元)", "商品数量(件)",
    "发货时间", "确认收货时间", "商品id", "商品规格", "样式ID", "商家编码-规格维度", "商家编码-商品维度",
    "商家备注", "售后状态", "快递单号", "快递公司",
]  # fmt: skip
_COURIERS = (("中通快递", "ZT"), ("圆通速递", "YT"), ("韵达快递", "YD"), ("邮政快递包裹", "98"))


def _pdd_delivery(
    rng: random.Random, at: datetime, end: date
) -> tuple[str, datetime | None, datetime | None]:
    """An order's state by now: waiting to ship, shipped, or received; with when it shipped and arrived."""
    shipped = _by(at + timedelta(hours=rng.randint(4, 40)), end)
    if shipped is None:
        return "待发货", None, None
    received = _by(shipped + timedelta(days=rng.randint(2, 5)), end)
    return ("已收货" if received else "已发货，待收货"), shipped, received


def pdd_2020(rng: random.Random, orders: list[dict], end: date) -> bytes:
    """拼多多 订单导出 (pdd-2020) in UTF-8 with a BOM: one goods item per order, the buyer's payment
    (用户实付金额) with the postage in it and the shop's and the platform's discounts taken off,
    refunds in 售后状态 (退款成功 after shipping or before it; 退款中 and 售后处理中 still open),
    orders not yet paid (待付款) and cancelled ones (已取消)."""
    item_ids: dict[str, str] = {}
    rows = []
    for order in orders:
        item_id = item_ids.setdefault(order["sku"], f"{205500000 + len(item_ids)}")
        total = order["price_fen"] * order["quantity"]
        postage = 0 if rng.random() < 0.9 else rng.choice((500, 800, 1000))
        shop = rng.choice((300, 500)) if total > 2000 and rng.random() < 0.15 else 0
        platform = rng.choice((100, 200, 300)) if total > 2000 and rng.random() < 0.1 else 0
        instant = 100 if total > 2000 and rng.random() < 0.05 else 0
        paid = total + postage - shop - platform - instant
        status, shipped, received = _pdd_delivery(rng, order["at"], end)
        after = "无售后或售后取消"
        roll = rng.random()
        if roll < 0.02:
            status, shipped, received = "已取消", None, None
        elif roll < 0.03:
            status, shipped, received = "待付款", None, None
        elif roll < 0.06:
            after = "退款成功"
        elif roll < 0.07:
            after = rng.choice(("退款中", "退款中", "售后处理中"))
        courier, prefix = rng.choice(_COURIERS)
        number = f"{local(order['at'], '%y%m%d')}-{order['id']}{rng.randrange(1000):03d}"
        rows.append(
            [local(order["at"]), order["title"], number, status, yuan(total), yuan(postage), yuan(shop),
             yuan(platform), yuan(instant), yuan(paid),
             yuan(paid + platform + instant), order["quantity"], local(shipped), local(received), item_id,
             order.get("spec") or "默认", "", order["sku"], "", "", after,
             f"{prefix}{rng.randrange(10**12):012d}" if shipped else "", courier if shipped else ""]
        )  # fmt: skip
    return csv_bytes(PDD_2020_HEADER, rows, "utf-8-sig")


# 淘宝/天猫 ------------------------------------------------------------------------------------------


# The order report of 已卖出的宝贝, in the version with 退款金额 (header source in
# tests/fixtures/README.md); some names end in a space, as the platform writes them.
TAOBAO_ORDER_REPORT_HEADER = [
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "买家支付积分", "总金额",
    "返点积分", "买家实际支付金额", "买家实际支付积分", "订单状态", "买家留言", "收货人姓名", "收货地址 ",
    "运送方式", "联系电话 ", "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝种类 ",
    "物流单号 ", "物流公司", "订单备注", "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "卖家服务费",
    "买家服务费", "发票抬头", "是否手机订单", "分阶段订单信息", "特权订金订单id", "是否上传合同照片",
    "是否上传小票", "是否代付", "定金排名", "修改后的sku", "修改后的收货地址", "异常信息", "天猫卡券抵扣",
    "集分宝抵扣", "是否是O2O交易", "退款金额", "预约门店",
]  # fmt: skip
TAOBAO_ITEM_REPORT_HEADER = [
    "订单编号", "标题", "价格", "购买数量", "外部系统编号",
    "商品属性", "套餐信息", "备注", "订单状态", "商家编码",
]  # fmt: skip
_TAOBAO_PAID = ("交易成功", "卖家已发货，等待买家确认", "买家已付款，等待卖家发货")


def _taobao_line(cells: list[str], number: str, trailing: str = "") -> str:
    """A report row as the platform writes it: every cell quoted, the order number as ="…"."""
    return ",".join([f'="{number}"', *(f'"{cell}"' for cell in cells)]) + trailing


def taobao_2files(rng: random.Random, orders: list[dict], end: date) -> tuple[bytes, bytes]:
    """淘宝/天猫 已卖出的宝贝 as the platform exports it (taobao-2files), GB18030: the order report, one
    row per order (the buyer's payment with the postage in it, shop discounts taken off, 退款金额),
    and the item report, one row per item. Orders closed after payment (refunded), closed before it,
    not yet paid, and an item of an order refunded on its own (交易关闭 in the item report)."""
    order_rows = [",".join(f'"{name}"' for name in TAOBAO_ORDER_REPORT_HEADER)]
    item_rows = [",".join(f'"{name}"' for name in TAOBAO_ITEM_REPORT_HEADER)]
    for items in _baskets(rng, orders, share=0.25, most=3):
        number = f"13728{items[0]['id']}{rng.randrange(100):02d}"
        order, item_statuses = _taobao_order(rng, items, end)
        cells = {name.strip(): "" for name in TAOBAO_ORDER_REPORT_HEADER[1:]} | order
        order_rows.append(
            _taobao_line([cells[name.strip()] for name in TAOBAO_ORDER_REPORT_HEADER[1:]], number)
        )
        for item, status in zip(items, item_statuses, strict=True):
            code = item["sku"]
            spec = f"规格：{item['spec']}" if item.get("spec") else ""
            row = [
                item["title"],
                yuan(item["price_fen"]),
                str(item["quantity"]),
                code,
                spec,
                "",
                "",
                status,
                code,
            ]
            item_rows.append(_taobao_line(row, number, trailing=","))
    return (
        "".join(line + "\r\n" for line in order_rows).encode("gb18030"),
        "".join(line + "\r\n" for line in item_rows).encode("gb18030"),
    )


def _taobao_order(rng: random.Random, items: list[dict], end: date) -> tuple[dict[str, str], list[str]]:
    """An order report row's figures and times, and each item's status in the item report."""
    at = items[0]["at"]
    weights = [item["price_fen"] * item["quantity"] for item in items]
    goods = sum(weights)
    discount = _jd_coupon(rng, goods)
    postage = 0 if goods >= 4900 else rng.choice((0, 600, 1000))
    paid_at: datetime | None = at + timedelta(seconds=rng.randint(10, 300))
    refund, closed_because = 0, "订单未关闭"
    shipped = _by(at + timedelta(hours=rng.randint(6, 48)), end)
    done = shipped and _by(shipped + timedelta(days=rng.randint(3, 10)), end)
    status = "交易成功" if done else "卖家已发货，等待买家确认" if shipped else "买家已付款，等待卖家发货"
    item_statuses = [status] * len(items)
    roll = rng.random()
    if roll < 0.02:
        status, paid_at, closed_because = "交易关闭", None, "买家未付款"
    elif roll < 0.03:
        status, paid_at = "等待买家付款", None
    elif roll < 0.05:
        status, refund, closed_because = "交易关闭", goods - discount, "退款"
    elif roll < 0.08 and len(items) > 1 and status == "交易成功":
        # One item refunded on its own: its part of the order comes off as 退款金额.
        refund = apportion(goods - discount, weights)[-1]
        item_statuses[-1] = "交易关闭"
    if status not in _TAOBAO_PAID:
        item_statuses = [status] * len(items)
    paid = goods - discount + postage if paid_at else 0
    name, address, _ = _buyer(rng)
    return {
        "买家会员名": f"tb{rng.randrange(10**8):08d}",
        "买家支付宝账号": "**",
        "买家应付货款": yuan(goods),
        "买家应付邮费": yuan(postage),
        "总金额": yuan(goods - discount + postage),
        "买家实际支付金额": yuan(paid),
        "订单状态": status,
        "收货人姓名": name,
        "收货地址": address,
        "运送方式": "快递",
        "订单创建时间": local(at),
        "订单付款时间": local(paid_at),
        "宝贝标题": items[0]["title"],
        "宝贝种类": str(len(items)),
        "宝贝总数量": str(sum(item["quantity"] for item in items)),
        "店铺名称": "枞阳消费帮扶馆",
        "订单关闭原因": closed_because,
        "退款金额": yuan(refund),
    }, item_statuses


# 832平台 ---------------------------------------------------------------------------------------------

P832_HEADER = ["订单编号", "采购单位", "供应商名称", "供应商统一社会信用代码", "商品名称", "商品编码", "数量",
               "单价(元)", "金额(元)", "下单时间", "订单状态"]  # fmt: skip


def p832_orders(
    rng: random.Random, orders: list[dict], buyers: list[str], suppliers: dict[str, dict], end: date
) -> bytes:
    """832平台 supplier order export (p832-orders, xlsx): canteens of the county and a university from
    elsewhere; orders of the last days still on their way (待发货, 待收货)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("订单")
    sheet.append(P832_HEADER)
    for order in orders:
        supplier = suppliers[order["title"]]
        days_old = (end - _day(order["at"])).days
        done = "待发货" if days_old <= 1 else "待收货" if days_old <= 4 else "已完成"
        sheet.append(
            [f"832{order['id']}", rng.choice(buyers), supplier["name"], supplier["uscc"], order["title"],
             order["sku"], order["quantity"], yuan(order["price_fen"]), yuan(order["amount_fen"]),
             local(order["at"]), _status(rng, done, "已取消", "已退款")]
        )  # fmt: skip
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# 专柜 -------------------------------------------------------------------------------------------------


def counter_events(rng: random.Random, orders: list[dict]) -> bytes:
    """The cabinet operator's daily JSON Lines file: one event per sale or refund."""
    events = []
    for order in orders:
        sale = {
            "event_id": f"CAB{order['id']}",
            "cabinet_no": f"ZY{int(order['id']) % 80 + 1:03d}",
            "type": "sale",
            "sku": order["sku"],
            "quantity": order["quantity"],
            "amount_fen": order["amount_fen"],
            "occurred_at": order["at"].astimezone(SHANGHAI).isoformat(timespec="seconds"),
        }
        events.append(sale)
        if rng.random() < 0.02:
            refunded = order["at"] + timedelta(minutes=30)
            events.append(
                {
                    **sale,
                    "event_id": sale["event_id"] + "R",
                    "type": "refund",
                    "refund_of": sale["event_id"],
                    "occurred_at": refunded.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                }
            )
    return "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in events).encode()
