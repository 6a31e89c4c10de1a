"""The file adapters' shared helpers (adapters/common.py), the registry, streaming, and the golden tooling."""

from __future__ import annotations

import io
import shutil
import tracemalloc
from datetime import UTC, datetime

import pytest

from adapters import common, tabular
from adapters.base import CHANNELS, REGISTRY, RowError, SaleLine, Skipped
from adapters.common import (
    PENDING,
    SALE,
    SKIPPED,
    ZEROED,
    CellError,
    Column,
    ExportAdapter,
    Layout,
    StatusTable,
)
from adapters.errors import FileRefused
from service import sale_lines
from tests import golden
from tests.fixtures import make_fixtures

FIXTURES = golden.FIXTURES


def _row(values: dict[str, str], number: int = 2, imprecise: frozenset[str] = frozenset()) -> tabular.Row:
    return tabular.Row(number=number, values=values, imprecise=imprecise)


# Cell readers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ['="1372839102837465019"', "'1372839102837465019", "\t1372839102837465019 "])
def test_identifier_unwraps_the_ways_spreadsheets_force_text(cell):
    assert common.identifier(cell) == "1372839102837465019"


@pytest.mark.parametrize("cell", ["1.37284E+18", "1.31279e+11", "3E18"])
def test_identifier_refuses_a_number_excel_shortened(cell):
    with pytest.raises(ValueError, match="Excel shortened"):
        common.identifier(cell)


def test_identifier_refuses_a_wrapper_around_nothing():
    with pytest.raises(ValueError, match="empty"):
        common.identifier("'")


@pytest.mark.parametrize(
    ("cell", "fen"),
    [("1,234.50", 123450), ("１２３．５０", 12350), ("¥68", 6800), ("59.900", 5990), ("0", 0)],
)
def test_fen_reads_yuan_as_exact_fen(cell, fen):
    assert common.fen(cell) == fen


@pytest.mark.parametrize(
    ("cell", "message"),
    [("12.345", "more than two decimal places"), ("12.3a", "not an amount"), ("-5", "negative")],
)
def test_fen_refuses_sub_fen_digits_letters_and_negative_amounts(cell, message):
    with pytest.raises(ValueError, match=message):
        common.fen(cell)


@pytest.mark.parametrize(("cell", "number"), [("2", 2), ("２０", 20), ("1,200", 1200), ("3.0", 3)])
def test_quantity_reads_whole_numbers(cell, number):
    assert common.quantity(cell) == number


@pytest.mark.parametrize("cell", ["0", "-1", "1.5", "一"])
def test_quantity_refuses_anything_but_a_whole_number_of_at_least_one(cell):
    with pytest.raises(ValueError):
        common.quantity(cell)


@pytest.mark.parametrize(
    ("cell", "utc"),
    [
        ("2020-11-03 14:22:01", datetime(2020, 11, 3, 6, 22, 1, tzinfo=UTC)),
        ("2020/11/3 14:22", datetime(2020, 11, 3, 6, 22, tzinfo=UTC)),
        ("44141.6", datetime(2020, 11, 6, 6, 24, tzinfo=UTC)),
    ],
)
def test_local_time_reads_shanghai_time_as_utc(cell, utc):
    assert common.local_time(cell) == utc


# Columns and statuses --------------------------------------------------------------------------------


def test_a_column_reads_its_cell():
    assert Column("应付金额", "amount_fen", common.fen).value(_row({"应付金额": "59.90"})) == 5990


def test_an_optional_column_reads_an_empty_cell_as_none():
    assert Column("商家SKU", "sku", common.identifier, optional=True).value(_row({"商家SKU": ""})) is None


def test_an_empty_required_cell_is_an_error_naming_the_column():
    with pytest.raises(CellError) as raised:
        Column("下单时间", "occurred_at", common.local_time).value(_row({"下单时间": ""}))
    assert (raised.value.column, raised.value.message) == ("下单时间", "下单时间 is empty.")


def test_an_unreadable_cell_is_an_error_naming_the_column_and_the_problem():
    with pytest.raises(CellError) as raised:
        Column("应付金额", "amount_fen", common.fen).value(_row({"应付金额": "12.345"}))
    assert raised.value.column == "应付金额"
    assert raised.value.message.startswith("应付金额: '12.345' has more than two decimal places")


def test_a_number_cell_that_lost_digits_in_excel_is_an_error():
    row = _row({"订单编号": "12345678901234600000"}, imprecise=frozenset({"订单编号"}))
    with pytest.raises(CellError, match="more digits than Excel keeps"):
        Column("订单编号", "order", common.identifier).value(row)


STATUSES = StatusTable("订单状态", {"交易成功": SALE, "卖家已发货，等待买家确认": SALE, "已取消": SKIPPED})


@pytest.mark.parametrize(
    "cell", ["卖家已发货，等待买家确认", "卖家已发货,等待买家确认", "卖家已发货， 等待买家确认"]
)
def test_a_status_matches_whatever_its_comma_and_spacing(cell):
    assert STATUSES.read(_row({"订单状态": cell})) == (cell, SALE)


def test_a_status_no_table_knows_reads_as_none():
    assert STATUSES.read(_row({"订单状态": "交易完成"})) == ("交易完成", None)


def test_an_extra_mapping_gives_an_unknown_status_its_outcome():
    assert STATUSES.read(_row({"订单状态": "交易完成"}), {"交易 完成": SALE}) == ("交易完成", SALE)


def test_an_empty_status_is_an_error():
    with pytest.raises(CellError, match="订单状态 is empty"):
        STATUSES.read(_row({"订单状态": ""}))


# The export adapter base -----------------------------------------------------------------------------


class _Shop(ExportAdapter):
    """A made-up export, declared the way the channel adapters are (not registered)."""

    name = channel = "jd"
    label = "测试店"
    media = ("csv",)
    statuses = StatusTable("状态", {"成交": SALE, "退款": ZEROED, "取消": SKIPPED})
    columns = (
        Column("单号", "order", common.identifier),
        Column("编码", "sku", common.identifier, optional=True),
        Column("数量", "quantity", common.quantity),
        Column("单价", "unit_price_fen", common.fen),
        Column("金额", "amount_fen", common.fen),
        Column("时间", "occurred_at", common.local_time),
    )
    group_by = "单号"
    item_by = ("编码",)

    def external_id(self, values, *, grouped):
        return f"{values['order']}-{values['sku']}" if grouped else values["order"]


HEADER = "单号,编码,数量,单价,金额,时间,状态\r\n"


def _parse(body: str, header: str = HEADER, encoding: str = "utf-8") -> list:
    return list(_Shop().parse(io.BytesIO((header + body).encode(encoding)), "shop.csv"))


def test_a_missing_column_is_one_error_naming_every_missing_column_raised_before_any_row_is_read():
    stream = io.BytesIO("单号,数量,状态\r\nA1,1,成交\r\n".encode())
    with pytest.raises(FileRefused) as raised:
        _Shop().parse(stream, "shop.csv")  # not iterated: the header is checked at once
    assert (
        raised.value.message
        == "Missing required columns: 编码, 单价, 金额, 时间. Is this a 测试店 order export? "
        "The closest layout is jd (测试店)."
    )
    assert raised.value.details == {
        "file": [f"Missing column {name}." for name in ("编码", "单价", "金额", "时间")]
    }


def test_columns_are_found_by_header_whatever_their_order_and_extra_columns_are_ignored():
    items = _parse(
        "成交,2020-11-03 10:00,x,A1,,1,5.00,5.00\r\n", header="状态,时间,备注,单号,编码,数量,单价,金额\r\n"
    )
    assert items == [
        SaleLine(
            channel="jd",
            external_id="A1",
            occurred_at=datetime(2020, 11, 3, 2, tzinfo=UTC),
            quantity=1,
            amount_fen=500,
            unit_price_fen=500,
            row=2,
        )
    ]


def test_a_row_whose_status_no_table_knows_is_set_aside_naming_the_status():
    assert _parse("A1,S1,3,5.00,15.00,2020-11-03 10:00,拒收\r\n") == [
        Skipped(2, "状态: unknown status '拒收'")
    ]


def test_a_county_mapping_of_an_unknown_status_decides_its_rows():
    stream = io.BytesIO((HEADER + "A1,S1,3,5.00,15.00,2020-11-03 10:00,拒收\r\n").encode())
    [skipped] = list(_Shop().parse(stream, "shop.csv", extra_statuses={"拒收": SKIPPED}))
    assert skipped == Skipped(2, "状态 拒收: not a sale.")


def test_a_refunded_row_keeps_its_line_with_amount_zero():
    [line] = _parse("A1,S1,3,5.00,15.00,2020-11-03 10:00,退款\r\n")
    assert (line.external_id, line.quantity, line.unit_price_fen, line.amount_fen) == ("A1", 3, 500, 0)


def test_a_skipped_status_skips_the_row_whatever_else_it_holds():
    assert _parse("A1,S1,lots,?,?,never,取消\r\n") == [Skipped(2, "状态 取消: not a sale.")]


def test_a_row_gives_one_error_for_its_first_bad_column():
    assert _parse("A1,S1,0,x,y,z,成交\r\n") == [
        RowError(2, "数量", "数量: '0' is not a quantity of at least 1.")
    ]


def test_rows_keep_their_file_row_numbers_and_empty_rows_are_ignored():
    items = _parse("A1,S1,1,5,5,2020-11-03,成交\r\n\r\n,,,,,,\r\nA2,S1,1,5,5,2020-11-03,成交\r\n")
    assert [item.row for item in items] == [2, 5]


def test_an_order_whose_adjacent_rows_name_several_items_is_grouped():
    items = _parse(
        "A1,S1,1,5,5,2020-11-03,成交\r\n"
        "A1,S2,1,5,5,2020-11-03,成交\r\n"
        "A2,S1,1,5,5,2020-11-03,成交\r\n"
        "A2,S1,1,5,5,2020-11-03,成交\r\n"
    )
    assert [item.external_id for item in items] == ["A1-S1", "A1-S2", "A2", "A2"]


def test_rows_of_one_order_apart_from_each_other_are_not_grouped():
    items = _parse(
        "A1,S1,1,5,5,2020-11-03,成交\r\nA2,S1,1,5,5,2020-11-03,成交\r\nA1,S2,1,5,5,2020-11-03,成交\r\n"
    )
    assert [item.external_id for item in items] == ["A1", "A2", "A1"]


def test_a_group_is_cut_at_the_row_limit(monkeypatch):
    monkeypatch.setattr(common, "MAX_GROUP_ROWS", 2)
    items = _parse(
        "A1,S1,1,5,5,2020-11-03,成交\r\nA1,S2,1,5,5,2020-11-03,成交\r\nA1,S3,1,5,5,2020-11-03,成交\r\n"
    )
    assert [item.external_id for item in items] == ["A1-S1", "A1-S2", "A1"]


def test_a_file_that_turns_unreadable_part_way_ends_with_an_error_for_that_row():
    good = (HEADER + "A1,S1,1,5,5,2020-11-03,成交\r\n").encode("utf-8-sig")
    items = list(_Shop().parse(io.BytesIO(good + "A2,枞".encode()[:-1]), "shop.csv"))
    assert items[0].external_id == "A1"
    assert items[1].row == 3
    assert items[1].field is None
    assert items[1].message.endswith("Reading stopped at this row; the rows after it, if any, were not read.")


def test_a_reading_error_without_a_row_number_is_reported_without_one():
    assert common.stopped_at(FileRefused("Broken.")).row is None


# The registry -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jd", "taobao", "pdd", "p832"])
def test_each_file_adapter_is_registered_under_its_channel(name):
    adapter = REGISTRY[name]
    assert adapter.name == adapter.channel == name
    assert adapter.channel in CHANNELS
    assert adapter.label
    assert set(adapter.media) <= {"csv", "xlsx"}


def test_the_832_adapter_names_the_buyer_unit():
    path = golden.FIXTURES / "p832" / "orders.xlsx"
    with path.open("rb") as stream:
        lines = [item for item in REGISTRY["p832"].parse(stream, path.name) if isinstance(item, SaleLine)]
    assert {(line.buyer_type, line.buyer_name) for line in lines} == {
        ("unit", "枞阳县人民医院食堂"),
        ("unit", "安徽大学第一食堂"),
    }


# Streaming ---------------------------------------------------------------------------------------------


class _GeneratedExport(io.RawIOBase):
    """A non-seekable JD export of ``rows`` rows, made as it is read, never whole in memory."""

    HEADER = "订单号,商品ID,商家SKU,商品名称,订购数量,京东价,应付金额,订单状态,下单时间\r\n".encode("gb18030")
    ROW = "{},100012043978,ZY-RICE-5KG,枞阳有机大米 5kg,2,59.90,119.80,完成,2020-11-03 14:22:01\r\n"

    def __init__(self, rows: int):
        self.rows, self.made, self.given = rows, 0, 0
        self.pending = self.HEADER

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self.pending) < len(buffer) and self.made < self.rows:
            self.pending += self.ROW.format(131279470000 + self.made).encode("gb18030")
            self.made += 1
        chunk, self.pending = self.pending[: len(buffer)], self.pending[len(buffer) :]
        buffer[: len(chunk)] = chunk
        self.given += len(chunk)
        return len(chunk)


def test_an_export_is_read_as_it_is_consumed_not_first_in_whole():
    source = _GeneratedExport(5_000)
    items = REGISTRY["jd"].parse(io.BufferedReader(source), "big.csv")
    first = next(items)
    assert first.external_id == "131279470000-100012043978"
    assert source.given < 128 * 1024 < source.rows * len(source.ROW)
    assert sum(1 for _ in items) == 4_999


def _peak_memory(rows: int) -> int:
    tracemalloc.start()
    try:
        for _ in REGISTRY["jd"].parse(io.BufferedReader(_GeneratedExport(rows)), "big.csv"):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_however_long_the_export():
    # Past the first 64 KiB (read whole to detect the encoding), the peak must not grow with the rows.
    assert _peak_memory(4_000) < _peak_memory(1_000) + 32 * 1024


# The ledger takes what the adapters give ---------------------------------------------------------------


def test_every_golden_line_passes_the_ledgers_own_checks():
    now = datetime.now(UTC)
    checked = 0
    for case in golden.cases():
        try:
            with golden.parsed(case) as parsed:
                items = list(parsed)
        except FileRefused:
            continue
        for item in items:
            if isinstance(item, SaleLine):
                assert sale_lines.validate_line(item, now) is None, (str(case), item)
                checked += 1
    assert checked > 50


# The golden tooling ---------------------------------------------------------------------------------------


def test_the_fixture_files_are_exactly_what_make_fixtures_writes(tmp_path):
    written = make_fixtures.write(tmp_path)
    for path in written:
        committed = golden.FIXTURES / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), f"{committed} differs: run make_fixtures.py"
    committed_inputs = set()
    for case in golden.cases(names=make_fixtures.CHANNELS):
        # A case of several files is a folder of them.
        paths = sorted(case.path.iterdir()) if case.path.is_dir() else [case.path]
        committed_inputs |= {path.relative_to(golden.FIXTURES) for path in paths}
    assert committed_inputs == {path.relative_to(tmp_path) for path in written}


def test_regen_writes_the_expected_files_and_the_check_then_passes(tmp_path, capsys):
    (tmp_path / "jd").mkdir()
    shutil.copy(golden.FIXTURES / "jd" / "bad_amounts.csv", tmp_path / "jd" / "bad_amounts.csv")
    assert golden.main([], root=tmp_path) == 1  # no expected file yet
    assert golden.main(["--regen", "jd"], root=tmp_path) == 0
    expected = tmp_path / "jd" / "bad_amounts.expected.json"
    assert expected.read_text(encoding="utf-8") == (
        golden.FIXTURES / "jd" / "bad_amounts.expected.json"
    ).read_text(encoding="utf-8")
    assert golden.main([], root=tmp_path) == 0
    expected.write_text(expected.read_text(encoding="utf-8").replace("12.345", "12.346"), encoding="utf-8")
    assert golden.main([], root=tmp_path) == 1
    assert "differs: jd/bad_amounts.csv" in capsys.readouterr().out


# Layouts ----------------------------------------------------------------------------------------------

_STATUS = StatusTable("状态", {"成交": SALE, "待付款": PENDING})
_AFTER = StatusTable("售后", {"无": SALE, "退款成功": ZEROED, "退款中": PENDING})


class _Platform(ExportAdapter):
    """A made-up export in two versions: per-item amounts, and per-order amounts with after-sale states."""

    name = channel = "jd"
    label = "测试平台"
    media = ("csv",)
    layouts = (
        Layout(
            "old",
            "旧版",
            (
                Column("单号", "order", common.identifier),
                Column("商品", "item", common.identifier),
                Column("数量", "quantity", common.quantity),
                Column("金额", "amount_fen", common.fen),
                Column("支付时间", "occurred_at", common.local_time),
            ),
            _STATUS,
        ),
        Layout(
            "new",
            "新版",
            (
                Column("单号", "order", common.identifier),
                Column("商品", "item", common.identifier),
                Column("数量", "quantity", common.quantity),
                Column("单价", "unit_price_fen", common.fen),
                Column("实付", "paid", common.fen),
                Column("运费", "freight", common.fen, optional=True),
                Column("成交时间", "occurred_at", common.local_time, aliases=("支付时间",)),
            ),
            _STATUS,
            amount_plus=("paid",),
            amount_minus=("freight",),
            per_order=True,
            after_sale=_AFTER,
        ),
    )
    group_by = "单号"
    item_by = ("商品",)

    def external_id(self, values, *, grouped):
        return f"{values['order']}-{values['item']}"


NEW_HEADER = "单号,商品,数量,单价,实付,运费,支付时间,状态,售后,金额\r\n"


def _platform(body: str, header: str = NEW_HEADER) -> common.Parsed:
    return _Platform().parse(io.BytesIO((header + body).encode()), "p.csv")


def test_the_header_picks_the_layout_reading_most_columns_and_the_parse_names_it():
    assert _platform("").layout == "new"
    assert _platform("", header="单号,商品,数量,金额,支付时间,状态\r\n").layout == "old"


def test_a_column_is_read_under_its_other_spelling():
    [line] = list(_platform("A1,I1,1,5.00,5.00,,2020-11-03 10:00,成交,无,\r\n"))
    assert line.occurred_at == datetime(2020, 11, 3, 2, tzinfo=UTC)


def test_a_per_order_amount_less_shipping_is_shared_among_the_items_to_the_fen():
    lines = list(
        _platform(
            "A1,I1,2,10.00,26.00,6.00,2020-11-03 10:00,成交,无,\r\n"
            "A1,I2,1,10.00,26.00,6.00,2020-11-03 10:00,成交,无,\r\n"
            "A1,I3,1,10.00,26.00,6.00,2020-11-03 10:00,成交,无,\r\n"
        )
    )
    assert [line.amount_fen for line in lines] == [1000, 500, 500]
    assert sum(line.amount_fen for line in lines) == 2000


def test_a_repeated_item_row_shares_its_items_part():
    lines = list(
        _platform(
            "A1,I1,1,10.00,15.00,,2020-11-03 10:00,成交,无,\r\n"
            "A1,I1,1,10.00,15.00,,2020-11-03 10:00,成交,无,\r\n"
            "A1,I2,1,5.00,15.00,,2020-11-03 10:00,成交,无,\r\n"
        )
    )
    assert [line.amount_fen for line in lines] == [1000, 1000, 500]


def test_a_bad_row_of_an_order_makes_its_other_rows_errors_too():
    items = list(
        _platform(
            "A1,I1,x,10.00,15.00,,2020-11-03 10:00,成交,无,\r\n"
            "A1,I2,1,5.00,15.00,,2020-11-03 10:00,成交,无,\r\n"
        )
    )
    assert [type(item) for item in items] == [RowError, RowError]
    assert items[1].message.startswith("Row 2 of the same order")


def test_shipping_above_the_payment_is_a_row_error():
    [error] = list(_platform("A1,I1,1,10.00,5.00,6.00,2020-11-03 10:00,成交,无,\r\n"))
    assert isinstance(error, RowError) and error.field == "运费"


@pytest.mark.parametrize(
    ("after", "expected"),
    [("无", 1000), ("", 1000), ("退款成功", 0)],
)
def test_the_after_sale_state_decides_a_sale_or_a_refund(after, expected):
    [line] = list(_platform(f"A1,I1,1,10.00,10.00,,2020-11-03 10:00,成交,{after},\r\n"))
    assert line.amount_fen == expected


def test_a_refund_under_way_and_an_unpaid_order_are_pending():
    items = list(
        _platform(
            "A1,I1,1,10.00,10.00,,2020-11-03 10:00,成交,退款中,\r\n"
            "A2,I1,1,10.00,10.00,,2020-11-03 10:00,待付款,无,\r\n"
        )
    )
    assert items == [
        Skipped(2, "售后 退款中: not yet a sale; a later export imports it."),
        Skipped(3, "状态 待付款: not yet a sale; a later export imports it."),
    ]


def test_an_unknown_after_sale_state_is_set_aside_naming_it():
    assert list(_platform("A1,I1,1,10.00,10.00,,2020-11-03 10:00,成交,换货,\r\n")) == [
        Skipped(2, "售后: unknown status '换货'")
    ]


def test_a_header_of_no_layout_names_the_closest_and_what_it_lacks():
    with pytest.raises(FileRefused) as raised:
        _platform("", header="单号,商品,数量,单价,实付,状态,售后\r\n")
    assert raised.value.message == (
        "Missing required columns: 运费, 成交时间. Is this a 测试平台 order export? "
        "The closest layout is new (新版)."
    )


def test_another_platforms_export_is_named_with_its_layout():
    header = (FIXTURES / "pdd" / "real_orders_utf8_bom.csv").read_bytes()
    with pytest.raises(FileRefused) as raised:
        _Platform().parse(io.BytesIO(header), "p.csv")
    assert raised.value.message == (
        "This looks like a 拼多多 export (layout pdd-2020), not a 测试平台 one: "
        "import it under the channel pdd."
    )


# 淘宝's export of two files -------------------------------------------------------------------------------

_COLUMNS = make_fixtures.TAOBAO_ORDER_COLUMNS_2017


def _taobao_pair(orders: list[str], items: list[str], **options) -> list:
    order_report = make_fixtures.csv_bytes([make_fixtures._quoted(_COLUMNS), *orders], "gb18030")
    item_report = make_fixtures.csv_bytes(
        [make_fixtures._quoted(make_fixtures.TAOBAO_ITEM_COLUMNS), *items], "gb18030"
    )
    files = [(io.BytesIO(order_report), "orders.csv"), (io.BytesIO(item_report), "items.csv")]
    return list(REGISTRY["taobao"].parse_files(files, **options))


def _order(number: str, status: str = "交易成功", paid: str = "100.00") -> str:
    paid_at = "2020-11-03 10:01:00" if status != "等待买家付款" else ""
    return make_fixtures.taobao_order(
        _COLUMNS, number, status, paid, "0.00", paid, "2020-11-03 10:00:00", paid_at, "大米", 1, 1
    )


def _item(number: str, code: str, price: str = "50.00") -> str:
    return make_fixtures.taobao_item(number, "大米", price, 1, code, "", "交易成功")


def test_a_taobao_order_status_a_county_mapped_reads_as_its_outcome_in_the_two_file_export():
    orders = [_order("1001", status="部分发货")]
    [skipped] = _taobao_pair(orders, [_item("1001", "A")])
    assert isinstance(skipped, Skipped) and "unknown status '部分发货'" in skipped.reason
    [line] = _taobao_pair(orders, [_item("1001", "A")], extra_statuses={"部分发货": SALE})
    assert (line.external_id, line.amount_fen) == ("1001", 10_000)


def test_taobao_item_rows_of_one_order_apart_are_row_errors_not_a_second_share():
    orders = [_order("1001"), _order("1002")]
    items = [_item("1001", "A"), _item("1002", "A", "100.00"), _item("1001", "B")]
    first, second, apart = _taobao_pair(orders, items)
    assert (first.external_id, first.amount_fen, second.amount_fen) == ("1001", 10_000, 10_000)
    assert isinstance(apart, RowError) and apart.row == 4 and "not together" in apart.message


def test_a_taobao_order_whose_refund_exceeds_its_goods_is_a_row_error_on_its_items():
    order = make_fixtures.taobao_order(
        _COLUMNS,
        "1001",
        "交易成功",
        "50.00",
        "0.00",
        "50.00",
        "2020-11-03 10:00",
        "2020-11-03 10:01",
        "大米",
        1,
        1,
        refund="60.00",
    )
    [error] = _taobao_pair([order], [_item("1001", "A")])
    assert isinstance(error, RowError) and error.row == 2 and error.field == "退款金额"
    assert "退款金额: more than the payment it is taken from (买家实际支付金额)" in error.message


def test_an_unpaid_pdd_order_is_pending_not_an_unknown_status():
    header = (FIXTURES / "pdd" / "real_orders_utf8_bom.csv").read_bytes().splitlines()[0]
    row = (
        "2023-11-06 09:00:00,土鸡蛋 30枚,231106-1,待付款,35.00,0.00,0.00,0.00,0.00,35.00,35.00,1,,,"
        "205512347,默认,,ZY-EGG-30,,,无售后或售后取消,,"
    )
    [item] = list(REGISTRY["pdd"].parse(io.BytesIO(header + b"\r\n" + row.encode()), "pdd.csv"))
    assert item == Skipped(2, "订单状态 待付款: not yet a sale; a later export imports it.")
