"""The xlsx writer: Chinese headers, numbers kept as numbers, money as exact yuan, formulas neutralised."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from bson import ObjectId

from service import xlsx
from service.xlsx import FEN, INTEGER, TEXT, Column, Sheet


def read(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


# Cells ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=cmd()", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert xlsx.neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["枞阳黄花茶", "a=b", "1+1", "", "'quoted"])
def test_ordinary_text_is_left_alone(text):
    assert xlsx.neutralise(text) == text


def test_characters_xml_cannot_hold_are_dropped_before_the_formula_check():
    assert xlsx.neutralise("\x00\x07=cmd()") == "'=cmd()"


def test_text_longer_than_a_cell_holds_is_cut():
    assert len(xlsx.neutralise("茶" * 40_000)) == xlsx.MAX_CELL_TEXT


def test_numbers_stay_numbers_even_when_negative():
    assert xlsx.cell_value(-5) == -5
    assert xlsx.cell_value(Decimal("1.50")) == Decimal("1.50")


def test_fen_become_exact_yuan():
    assert xlsx.cell_value(12_345, FEN) == Decimal("123.45")
    assert xlsx.cell_value(-150, FEN) == Decimal("-1.50")
    assert str(xlsx.fen_to_yuan(100)) == "1.00"


@pytest.mark.parametrize("value", [1.5, "100", True])
def test_fen_must_be_integers(value):
    with pytest.raises(TypeError):
        xlsx.cell_value(value, FEN)


def test_an_integer_column_refuses_other_values():
    with pytest.raises(TypeError):
        xlsx.cell_value("3", INTEGER)


def test_a_text_column_keeps_long_digit_strings_and_numbers_as_text():
    assert xlsx.cell_value(3407220000000001, TEXT) == "3407220000000001"
    assert xlsx.cell_value("-5", TEXT) == "'-5"


def test_booleans_read_in_chinese():
    assert (xlsx.cell_value(True), xlsx.cell_value(False)) == ("是", "否")


def test_times_are_shown_in_shanghai_without_a_zone():
    assert xlsx.cell_value(datetime(2024, 1, 31, 16, 30, tzinfo=UTC)) == datetime(2024, 2, 1, 0, 30)


def test_ids_become_text_and_none_stays_empty():
    value = ObjectId("65a000000000000000000001")
    assert xlsx.cell_value(value) == "65a000000000000000000001"
    assert xlsx.cell_value(None, FEN) is None


def test_yuan_text_for_sentences():
    assert (xlsx.yuan_text(13_333), xlsx.yuan_text(-5), xlsx.yuan_text(0)) == ("133.33", "-0.05", "0.00")


def test_an_unknown_column_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        Column("名称", "name", "percent")


# Workbooks --------------------------------------------------------------------------------------------

COLUMNS = [
    Column("户编号", "household_no", TEXT),
    Column("名称", "name"),
    Column("人口", "members", INTEGER),
    Column("收益（元）", "income_fen", FEN),
    Column("日期", "day"),
    Column("说明", lambda row: f"{row['name']}（{row['members']}人）"),
]
ROWS = [
    {
        "household_no": "3407220000000001",
        "name": "=cmd()",
        "members": 3,
        "income_fen": 12_345,
        "day": date(2024, 3, 1),
    },
    {"household_no": "3407220000000002", "name": "李四", "members": -1, "income_fen": None, "day": None},
]


def test_a_sheet_has_a_bold_frozen_header_row_then_the_rows():
    sheet = read(xlsx.rows_to_xlsx(COLUMNS, ROWS, title="受益户"))["受益户"]
    assert [cell.value for cell in sheet[1]] == ["户编号", "名称", "人口", "收益（元）", "日期", "说明"]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 3


def test_values_keep_their_types_in_the_workbook():
    sheet = read(xlsx.rows_to_xlsx(COLUMNS, ROWS)).active
    number, name, members, income, day, note = sheet[2]
    assert (number.value, number.data_type) == ("3407220000000001", "s")
    assert (name.value, name.data_type) == ("'=cmd()", "s")
    assert members.value == 3 and members.data_type == "n"
    assert Decimal(str(income.value)) == Decimal("123.45") and income.number_format == "#,##0.00"
    assert day.value == datetime(2024, 3, 1) and day.number_format == "yyyy-mm-dd"
    assert note.value == "'=cmd()（3人）"
    assert sheet["C3"].value == -1 and sheet["D3"].value is None


def test_several_sheets_get_unique_legal_titles():
    columns = [Column("名称", "name")]
    data = xlsx.write_xlsx(
        [Sheet("汇总", columns, []), Sheet("汇总", columns, []), Sheet("a/b:c*" + "长" * 40, columns, [])]
    )
    titles = read(data).sheetnames
    assert titles[:2] == ["汇总", "汇总(2)"]
    assert len(titles[2]) <= 31 and not set("/:*") & set(titles[2])


def test_no_sheets_still_make_a_workbook_that_opens():
    assert read(xlsx.write_xlsx([])).sheetnames == ["Sheet"]


def test_rows_are_streamed_from_any_iterable():
    rows = ({"name": f"户{n}"} for n in range(1_000))
    sheet = read(xlsx.rows_to_xlsx([Column("名称", "name")], rows)).active
    assert sheet.max_row == 1_001 and sheet["A1001"].value == "户999"


# Responses --------------------------------------------------------------------------------------------


def test_a_download_is_an_uncached_attachment_with_a_safe_name(app):
    with app.test_request_context():
        response = xlsx.send_xlsx(b"PK", "summary 340722/../2024-01.xlsx")
    assert response.mimetype == xlsx.XLSX_MIMETYPE
    assert response.headers["Content-Disposition"] == "attachment; filename=summary-340722-2024-01.xlsx"
    assert "no-store" in response.headers["Cache-Control"]


def test_safe_filenames_keep_letters_digits_dashes_underscores_and_the_extension():
    assert (
        xlsx.safe_filename("households-340722-2024-01-2024-12.xlsx")
        == "households-340722-2024-01-2024-12.xlsx"
    )
    assert xlsx.safe_filename("报表.xlsx") == "download.xlsx"
