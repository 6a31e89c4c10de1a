"""The spreadsheet reader and cell parsers every importer shares (adapters/tabular.py)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import openpyxl
import pytest

from adapters import quoting, tabular
from adapters.errors import FileRefused
from service import batching, ingest_result
from service.ingest_result import IngestResult

HEADER = "户编号,户主姓名,金额\n"


def _rows(data: bytes, filename: str = "upload.csv", **kwargs) -> list[tabular.Row]:
    return list(tabular.read_rows(io.BytesIO(data), filename, **kwargs))


def _xlsx(*rows: list) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class _Trickle(io.RawIOBase):
    """A non-seekable stream that returns at most ``step`` bytes per read and counts what it gave."""

    def __init__(self, data: bytes, step: int = 1000):
        self._data, self._step, self.given = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data[self.given : self.given + min(len(buffer), self._step)]
        buffer[: len(chunk)] = chunk
        self.given += len(chunk)
        return len(chunk)


# CSV encodings ------------------------------------------------------------------------------

TEXT = HEADER + "3407221001,张三,12.50\n3407221002,欧阳修文,3\n"


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (TEXT.encode("utf-8-sig"), "utf-8-sig"),
        (TEXT.encode("gb18030"), "gb18030"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.replace(",", "\t").encode("utf-16"), "utf-16"),
    ],
)
def test_csv_encodings_are_detected(encoded, encoding):
    reader = tabular.read_rows(io.BytesIO(encoded), "x.csv")
    assert reader.encoding == encoding
    assert reader.header == ["户编号", "户主姓名", "金额"]
    assert [row.values for row in reader] == [
        {"户编号": "3407221001", "户主姓名": "张三", "金额": "12.50"},
        {"户编号": "3407221002", "户主姓名": "欧阳修文", "金额": "3"},
    ]


def _straddling(encoding: str) -> bytes:
    """A file whose first 64 KiB ends in the middle of a multi-byte character."""
    head = HEADER.encode(encoding)
    line = "3407220000,张,1\n".encode(encoding)
    body = head + line * ((tabular.HEAD_BYTES - len(head)) // len(line))
    filler = b"3" * (tabular.HEAD_BYTES - len(body) - 1)
    return body + filler + ",欧阳,2\n".encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_character_split_at_the_detection_boundary_is_read_whole(encoding):
    data = _straddling(encoding)
    assert data[tabular.HEAD_BYTES - 1 : tabular.HEAD_BYTES + 1].decode(encoding, errors="replace") != ""
    reader = tabular.read_rows(io.BytesIO(data), "x.csv")
    rows = list(reader)
    assert reader.encoding == encoding
    assert rows[-1].values["户主姓名"] == "欧阳"
    assert all(row.values["户主姓名"] == "张" for row in rows[:-1])


def test_a_file_neither_utf8_nor_gb18030_is_refused():
    with pytest.raises(FileRefused, match="neither UTF-8 nor GB18030"):
        _rows(b"a,b\n\xff\xfe\xff,1\n")


def test_bytes_that_stop_decoding_later_in_the_file_name_the_row():
    data = HEADER.encode("utf-8") + "1,张三,1\n".encode() * 30000 + "2,李四,1\n".encode("gb18030")
    with pytest.raises(FileRefused, match="Row 30002 is not UTF-8 text like the rows before it"):
        _rows(data)


def test_csv_is_streamed_not_read_whole():
    data = (HEADER + "3407221001,张三,1\n" * 50_000).encode("utf-8")
    stream = _Trickle(data, step=4096)
    reader = tabular.read_rows(stream, "big.csv")
    first = next(reader)
    assert first.number == 2
    assert stream.given < tabular.HEAD_BYTES + 64 * 1024 < len(data)
    assert sum(1 for _ in reader) == 49_999


# Rows ----------------------------------------------------------------------------------------


def test_row_numbers_are_the_files_and_empty_rows_are_skipped():
    data = (HEADER + '1,张三,1\n,,\n\n2,"李\n四",2\n3,王五,3\n').encode("utf-8")
    rows = _rows(data)
    assert [row.number for row in rows] == [2, 5, 6]
    assert rows[1].values["户主姓名"] == "李\n四"


def test_cells_are_stripped_and_excel_text_formulas_unwrapped():
    data = (HEADER + ' 1 ,\u3000张三\t,="0012"\n').encode("utf-8")
    assert _rows(data)[0].values == {"户编号": "1", "户主姓名": "张三", "金额": "0012"}


def test_short_rows_read_empty_and_extra_cells_are_ignored():
    rows = _rows((HEADER + "1\n2,李四,3,extra\n").encode("utf-8"))
    assert rows[0].values == {"户编号": "1", "户主姓名": "", "金额": ""}
    assert rows[1].values == {"户编号": "2", "户主姓名": "李四", "金额": "3"}


def test_tab_separated_text_is_read():
    rows = _rows("户编号\t户主姓名\n1\t张三\n".encode())
    assert rows[0].values == {"户编号": "1", "户主姓名": "张三"}


def test_missing_required_columns_are_named_together():
    with pytest.raises(FileRefused) as caught:
        _rows(HEADER.encode("utf-8"), required=["户编号", "村代码", "身份证号"])
    assert caught.value.message == "Missing required columns: 村代码, 身份证号."
    assert caught.value.details == {"file": ["Missing column 村代码.", "Missing column 身份证号."]}


def test_require_columns_accepts_a_complete_header():
    tabular.require_columns(["a", "b", "c"], ["c", "a"])


def test_a_duplicate_column_is_refused():
    with pytest.raises(FileRefused, match="'户编号' appears twice"):
        _rows("户编号,户编号\n1,2\n".encode())


@pytest.mark.parametrize("data", [b"", b"\n\n,,\n", "\ufeff".encode()])
def test_an_empty_file_is_refused(data):
    with pytest.raises(FileRefused, match="no header row"):
        _rows(data)


# xlsx ----------------------------------------------------------------------------------------


def test_xlsx_is_recognised_by_content_whatever_its_name():
    data = _xlsx(["户编号"], [3407221001])
    reader = tabular.read_rows(io.BytesIO(data), "export.csv")
    assert reader.kind == "xlsx"
    assert [row.values for row in reader] == [{"户编号": "3407221001"}]


def test_xlsx_numbers_come_back_as_excel_shows_them():
    data = _xlsx(
        ["a", "b", "c", "d", "e", "f"],
        [3407221001, 3.0, 12.5, 0.1 + 0.2, 1e-05, -0.0],
    )
    assert _rows(data)[0].values == {
        "a": "3407221001",
        "b": "3",
        "c": "12.5",
        "d": "0.3",
        "e": "0.00001",
        "f": "0",
    }


def test_xlsx_id_numbers_stored_as_text_are_kept():
    data = _xlsx(["身份证号"], ["360426199101010071"], ["36042619840520003X"])
    rows = _rows(data, "h.xlsx")
    assert [row.values["身份证号"] for row in rows] == ["360426199101010071", "36042619840520003X"]
    assert not any(row.imprecise for row in rows)


def test_xlsx_numbers_that_lost_digits_are_flagged():
    # An ID number in a number cell keeps 15 significant digits (Excel and openpyxl alike).
    rows = _rows(_xlsx(["身份证号", "户编号"], [360426199101010071, 3407221001]), "h.xlsx")
    assert rows[0].imprecise == frozenset({"身份证号"})
    assert rows[0].values == {"身份证号": "360426199101010000", "户编号": "3407221001"}


def test_xlsx_dates_times_booleans_and_blanks():
    data = _xlsx(
        ["day", "moment", "flag", "blank"],
        [datetime(2020, 11, 3), datetime(2020, 11, 3, 14, 22, 0, 999_000), True, None],
    )
    assert _rows(data)[0].values == {
        "day": "2020-11-03",
        "moment": "2020-11-03 14:22:01",
        "flag": "TRUE",
        "blank": "",
    }


def test_xlsx_row_numbers_count_empty_rows():
    data = _xlsx(["户编号"], [1], [None], [""], [2])
    assert [(row.number, row.values["户编号"]) for row in _rows(data)] == [(2, "1"), (5, "2")]


def test_xlsx_reads_the_first_sheet():
    workbook = openpyxl.Workbook()
    workbook.active.append(["户编号"])
    workbook.active.append(["first"])
    workbook.create_sheet("other").append(["其他"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert [row.values for row in _rows(buffer.getvalue())] == [{"户编号": "first"}]


def test_xlsx_from_a_stream_that_cannot_seek():
    data = _xlsx(["户编号"], [1], [2])
    rows = list(tabular.read_rows(_Trickle(data), "h.xlsx"))
    assert [row.values["户编号"] for row in rows] == ["1", "2"]


def test_a_broken_xlsx_is_refused():
    with pytest.raises(FileRefused, match=r"h\.xlsx' is not a complete xlsx workbook"):
        _rows(b"PK\x03\x04" + b"\x00" * 100, "h.xlsx")


def test_csv_named_xlsx_is_refused():
    with pytest.raises(FileRefused, match="not an xlsx"):
        _rows(HEADER.encode(), "h.xlsx")


def test_legacy_xls_is_refused_with_advice():
    with pytest.raises(FileRefused, match=r"save as \.xlsx or CSV"):
        _rows(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "h.xls")


# Amounts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("0.01", 1),
        (".5", 50),
        ("1,234.50", 123450),
        ("1,234,567", 123456700),
        ("１２３．５", 12350),
        ("１，２３４．５０", 123450),
        ("¥12.30", 1230),
        ("￥ 12.30", 1230),
        ("12.30元", 1230),
        ("-3.5", -350),
        ("+3", 300),
        ("1.500", 150),
        (" 7 ", 700),
        ("0", 0),
    ],
)
def test_yuan_amounts_become_exact_fen(text, fen):
    assert tabular.parse_yuan_to_fen(text) == fen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.234", "more than two decimal places"),
        ("0.001", "more than two decimal places"),
        ("0.30000000000000004", "more than two decimal places"),
        ("", "empty"),
        ("abc", "not an amount"),
        ("12,34", "not an amount"),
        ("1,2345.00", "not an amount"),
        ("1e3", "not an amount"),
        ("12.3.4", "not an amount"),
        (".", "not an amount"),
        ("--1", "not an amount"),
        ("99999999999999999999.99", "larger than any amount"),
        ("1000000000000.01", "larger than any amount"),
    ],
)
def test_bad_amounts_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        tabular.parse_yuan_to_fen(text)


@pytest.mark.parametrize(
    ("text", "number"), [("12", 12), ("1,200", 1200), ("12.0", 12), ("１２", 12), ("-3", -3), (" 7 ", 7)]
)
def test_whole_numbers_as_spreadsheets_write_them(text, number):
    assert tabular.parse_whole_number(text) == number


@pytest.mark.parametrize("text", ["", "1.5", "12,00", "abc", "1e3", "--1"])
def test_things_that_are_not_whole_numbers_are_refused(text):
    with pytest.raises(ValueError):
        tabular.parse_whole_number(text)


# Dates -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2020-11-03 14:22:01", datetime(2020, 11, 3, 6, 22, 1, tzinfo=UTC)),
        ("2020/11/3 14:22", datetime(2020, 11, 3, 6, 22, tzinfo=UTC)),
        ("2020-11-03", datetime(2020, 11, 2, 16, 0, tzinfo=UTC)),
        ("2020/1/1", datetime(2019, 12, 31, 16, 0, tzinfo=UTC)),
        ("20201103", datetime(2020, 11, 2, 16, 0, tzinfo=UTC)),
        ("2020年11月3日", datetime(2020, 11, 2, 16, 0, tzinfo=UTC)),
        ("2020-11-03T14:22:01", datetime(2020, 11, 3, 6, 22, 1, tzinfo=UTC)),
        ("2020-11-03 14:22:01.1234", datetime(2020, 11, 3, 6, 22, 1, 123000, tzinfo=UTC)),
        ("2020-11-03T14:22:01+00:00", datetime(2020, 11, 3, 14, 22, 1, tzinfo=UTC)),
        ("2020-11-03T14:22:01Z", datetime(2020, 11, 3, 14, 22, 1, tzinfo=UTC)),
        ("44138", datetime(2020, 11, 2, 16, 0, tzinfo=UTC)),
        ("44138.5986226852", datetime(2020, 11, 3, 6, 22, 1, tzinfo=UTC)),
        ("２０２０－１１－０３", datetime(2020, 11, 2, 16, 0, tzinfo=UTC)),
    ],
)
def test_local_datetimes_become_utc(text, utc):
    assert tabular.parse_local_datetime(text) == utc


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2020-02-30", "not a real date"),
        ("2020-11-03 25:00", "not a real date"),
        ("", "empty"),
        ("yesterday", "not a date"),
        ("11/03/2020", "not a date"),
        ("2020", "not a date"),
        ("12345", "outside the Excel date numbers"),
    ],
)
def test_bad_dates_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        tabular.parse_local_datetime(text)


def test_dates_alone_are_read_as_calendar_days():
    assert tabular.parse_local_date("2020/11/3") == date(2020, 11, 3)
    assert tabular.parse_local_date("2020-11-03 00:00:00") == date(2020, 11, 3)
    assert tabular.parse_local_date("44138") == date(2020, 11, 3)
    with pytest.raises(ValueError, match="time of day"):
        tabular.parse_local_date("2020-11-03 14:22")


# Import reports --------------------------------------------------------------------------------


def test_batches_keep_order_and_the_last_is_short():
    assert [len(batch) for batch in batching.batched(range(1201), 500)] == [500, 500, 201]


def test_the_import_report_counts_every_rejected_row_but_lists_a_bounded_number_of_errors():
    report = IngestResult(reported=ingest_result.REGISTER_COUNTS)
    for row in range(2, ingest_result.MAX_KEPT_ERRORS + 12):
        report.reject_row(row, {"household_no": "bad"}, {"household_no": "户编号"})
    assert report.rejected == ingest_result.MAX_KEPT_ERRORS + 10
    assert len(report.errors) == ingest_result.MAX_KEPT_ERRORS
    assert report.as_dict()["errors_truncated"] is True
    assert report.errors[0] == {"row": 2, "field": "household_no", "column": "户编号", "message": "bad"}


def test_the_largest_amount_a_line_can_have_is_accepted():
    assert tabular.parse_yuan_to_fen("1000000000000.00") == tabular.MAX_AMOUNT_FEN


def test_a_quoted_cell_is_cut_and_masks_an_id_number():
    from tests.factories import valid_id_number

    assert quoting.quoted("x" * 500) == repr("x" * quoting.QUOTED_CELL_CHARS + "…")
    number = valid_id_number(3)
    assert number not in quoting.quoted(f"身份证{number}")
    assert quoting.quoted(f"身份证{number}") == repr(f"身份证{number[:6]}********{number[-4:]}")
    # An order number of 18 digits whose last digit is not an ID check character stays readable.
    order = number[:17] + str((int(number[17]) + 1) % 10 if number[17] != "X" else 0)
    assert quoting.quoted(order) == repr(order)
