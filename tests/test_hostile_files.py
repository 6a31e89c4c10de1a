"""Hostile and malformed uploads: refused early, in bounded memory and time, with a 422 that names
the file and the problem; odd but honest text files read as what they are."""

from __future__ import annotations

import codecs
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from adapters import tabular, xlsx_reader
from adapters.errors import FileRefused
from adapters.xlsx_reader import ReadLimits
from service import spreadsheets
from service.access import COUNTY_STAFF
from service.errors import ValidationFailed
from tests.conftest import make_test_app
from tests.factories import valid_id_number

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
LIMITS = ReadLimits(
    max_rows=500_000,
    max_cells=5_000_000,
    max_uncompressed_bytes=256 * 1024 * 1024,
    max_compression_ratio=200,
    max_members=1_000,
)


# Building workbooks by hand ---------------------------------------------------------------------

Member = bytes | Iterable[bytes]


def _rels(*relationships: tuple[str, str]) -> bytes:
    items = "".join(
        f'<Relationship Id="rId{index}" Type="{REL_NS}/{kind}" Target="{target}"/>'
        for index, (kind, target) in enumerate(relationships, start=1)
    )
    root = f'<Relationships xmlns="{PACKAGE_RELS}">{items}</Relationships>'
    return f'<?xml version="1.0" encoding="UTF-8"?>{root}'.encode()


def _content_types(shared: bool) -> bytes:
    """The package's content types, as Excel writes them (openpyxl finds the workbook by them)."""
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = [("/xl/workbook.xml", "sheet.main"), ("/xl/worksheets/sheet1.xml", "worksheet")]
    if shared:
        parts.append(("/xl/sharedStrings.xml", "sharedStrings"))
    overrides = "".join(
        f'<Override PartName="{name}" ContentType="{main}.{kind}+xml"/>' for name, kind in parts
    )
    return (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{overrides}</Types>'
    ).encode()


def sheet_xml(rows: str = "", *, dimension: str = "A1", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{MAIN_NS}">'
        f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'
    ).encode()


def inline_row(number: int, *values: str) -> str:
    cells = "".join(
        f'<c r="{chr(65 + index)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
        for index, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


def write_package(
    target: str | Path | io.BytesIO,
    sheet: Member,
    *,
    shared: Member | None = None,
    extra: Mapping[str, bytes] | None = None,
    level: int = 6,
) -> None:
    """An xlsx package of one worksheet (and a shared-string part); members given as chunks are
    streamed, so a part of hundreds of megabytes never sits in memory."""
    book_rels = [("worksheet", "worksheets/sheet1.xml")]
    if shared is not None:
        book_rels.append(("sharedStrings", "sharedStrings.xml"))
    members: dict[str, Member] = {
        "[Content_Types].xml": _content_types(shared is not None),
        "_rels/.rels": _rels(("officeDocument", "xl/workbook.xml")),
        "xl/workbook.xml": (
            f'<?xml version="1.0"?><workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
            '<sheets><sheet name="订单" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ).encode(),
        "xl/_rels/workbook.xml.rels": _rels(*book_rels),
        "xl/worksheets/sheet1.xml": sheet,
        **(extra or {}),
    }
    if shared is not None:
        members["xl/sharedStrings.xml"] = shared
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in members.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
                continue
            with archive.open(name, "w", force_zip64=True) as stream:
                for chunk in content:
                    stream.write(chunk)


def package(sheet: Member, **kwargs) -> bytes:
    buffer = io.BytesIO()
    write_package(buffer, sheet, **kwargs)
    return buffer.getvalue()


def shared_string_bomb(megabytes: int = 300) -> Iterable[bytes]:
    """One shared string of ``megabytes`` MB of one letter: a zip of about 300 KB for 300 MB."""
    yield f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>'.encode()
    block = b"A" * (1024 * 1024)
    for _ in range(megabytes):
        yield block
    yield b"</t></si></sst>"


def bomb_xlsx(target: str | Path | io.BytesIO, megabytes: int = 300) -> None:
    """The shared-string bomb: a workbook of about 300 KB whose one string is 300 MB once unzipped."""
    sheet = sheet_xml(inline_row(1, "订单号") + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>')
    write_package(target, sheet, shared=shared_string_bomb(megabytes), level=9)


def empty_rows_xlsx(target: str | Path | io.BytesIO, rows: int = 100_000, width: int = 20) -> None:
    """A header, 50 rows of data, then ``rows`` rows of ``width`` styled empty cells."""

    def chunks() -> Iterable[bytes]:
        header = sheet_xml(dimension=f"A1:T{rows + 51}").split(b"<sheetData>")[0]
        yield header + b"<sheetData>"
        yield inline_row(1, *(f"列{index}" for index in range(15))).encode()
        for number in range(2, 52):
            yield inline_row(number, *(f"v{number}" for _ in range(15))).encode()
        letters = [chr(65 + index) for index in range(width)]
        for number in range(52, rows + 52):
            yield (
                f'<row r="{number}">'
                + "".join(f'<c r="{letter}{number}" s="1"/>' for letter in letters)
                + "</row>"
            ).encode()
        yield b"</sheetData></worksheet>"

    write_package(target, chunks())


EXPORT_HEADER = [
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "支付方式",
    "下单时间",
    "京东价",
    "订单金额",
    "结算金额",
]
EXPORT_HEADER += ["订单状态", "货号", "客户姓名", "联系电话", "订单备注", "订单来源"]


def export_xlsx(target: str | Path | io.BytesIO, rows: int) -> None:
    """A legitimate export of ``rows`` order lines, fifteen columns, as openpyxl writes it."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("orders")
    sheet.append(EXPORT_HEADER)
    start = datetime(2020, 11, 1)
    statuses = ("完成", "已取消", "退款成功")
    for index in range(rows):
        sheet.append(
            [
                f"1312794{index:05d}",
                100012043978 + index % 50,
                f"枞阳有机大米 {index % 50}kg",
                1 + index % 5,
                "在线支付",
                start + timedelta(minutes=index),
                59.9,
                119.8,
                119.8,
                statuses[index % 3],
                f"ZY-RICE-{index % 50}",
                "张三",
                "13800000000",
                "",
                "京东",
            ]
        )
    workbook.save(target)


def _read(data: bytes, filename: str = "订单.xlsx", limits: ReadLimits = LIMITS) -> list[tuple[int, list]]:
    return list(xlsx_reader.read_first_sheet(io.BytesIO(data), filename, limits))


def _refused(data: bytes, match: str, filename: str = "订单.xlsx", limits: ReadLimits = LIMITS) -> str:
    with pytest.raises(FileRefused, match=match) as raised:
        _read(data, filename, limits)
    message = raised.value.message
    assert message.startswith(f"The file '{filename}' ")
    assert raised.value.details == {"file": [message]}
    return message


# The zip ----------------------------------------------------------------------------------------


def test_a_member_that_expands_like_a_zip_bomb_is_refused_before_it_is_read():
    sheet = (b"<!-- padding -->" * 65536 for _ in range(10))  # 10 MB that deflates to almost nothing
    message = _refused(package(sheet), "has a part that expands")
    assert "at most 200 is accepted" in message


def test_a_workbook_that_unzips_past_the_limit_is_refused():
    data = package(sheet_xml(inline_row(1, "订单号") * 2000), level=1)
    limits = ReadLimits(**{**vars(LIMITS), "max_uncompressed_bytes": 50_000})
    assert "expands to 0 MB when unzipped, more than the 0 MB" in _refused(data, "expands to", limits=limits)


def test_a_zip_of_too_many_parts_is_refused():
    extra = {f"xl/media/image{index}.png": b"x" for index in range(1_001)}
    _refused(
        package(sheet_xml(inline_row(1, "订单号")), extra=extra), "holds 1,006 parts, more than the 1,000"
    )


def test_a_zip_directory_of_a_million_entries_is_refused_before_it_is_loaded(monkeypatch):
    data = bytearray(package(sheet_xml(inline_row(1, "订单号"))))
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = (65_535).to_bytes(2, "little") * 2

    def never(*args, **kwargs):
        raise AssertionError("the directory was loaded")

    monkeypatch.setattr(zipfile, "ZipFile", never)
    _refused(bytes(data), "holds 65,535 parts, more than the 1,000")


def test_a_member_whose_directory_lies_about_its_size_is_refused_as_damaged():
    honest = package(
        sheet_xml(inline_row(1, "订单号") + "".join(inline_row(n, str(n)) for n in range(2, 2000)))
    )
    archive = zipfile.ZipFile(io.BytesIO(honest))
    member = archive.getinfo("xl/worksheets/sheet1.xml")
    declared = member.file_size.to_bytes(4, "little")
    # Claim 1,000 bytes in the local header and the central directory alike.
    lying = honest.replace(declared, (1000).to_bytes(4, "little"))
    assert lying != honest
    _refused(lying, "is not well-formed XML|is damaged")


def test_a_broken_zip_is_refused():
    whole = package(sheet_xml(inline_row(1, "订单号")))
    _refused(
        whole[: len(whole) // 2], "is not a complete xlsx workbook: its zip archive is cut short or damaged"
    )


def test_a_zip_without_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders.csv", "订单号\n1\n")
    _refused(buffer.getvalue(), "is a zip archive but not an xlsx workbook")


def test_a_password_protected_part_is_refused():
    data = bytearray(package(sheet_xml(inline_row(1, "订单号"))))
    name = b"xl/worksheets/sheet1.xml"
    # Set the "encrypted" flag of the sheet in the central directory, which zipfile reads.
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 8] |= 0x1
    _refused(bytes(data), "is password-protected")


def test_dates_of_a_1904_workbook_are_read_on_its_calendar():
    workbook = Workbook()
    workbook.epoch = CALENDAR_MAC_1904
    workbook.active.append(["下单时间"])
    workbook.active.append([datetime(2020, 11, 3, 14, 22)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert [row.values for row in tabular.read_rows(io.BytesIO(buffer.getvalue()), "h.xlsx")] == [
        {"下单时间": "2020-11-03 14:22:00"}
    ]


def test_a_word_document_is_not_taken_for_a_workbook():
    document = b'<?xml version="1.0"?><document><body>orders</body></document>'
    data = package(sheet_xml(inline_row(1, "订单号")), extra={"xl/workbook.xml": document})
    _refused(data, "is a zip archive but not an xlsx workbook")


def test_a_text_file_named_xlsx_is_refused():
    with pytest.raises(FileRefused, match=r"named \.xlsx but is not an xlsx"):
        tabular.read_rows(io.BytesIO("订单号\n1\n".encode()), "订单.xlsx")


# The XML ----------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10))
    + "]>"
)


@pytest.mark.parametrize(
    "prolog",
    [
        BILLION_LAUGHS,
        '<!DOCTYPE worksheet [<!ENTITY secret SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE worksheet SYSTEM "http://example.invalid/sheet.dtd">',
        "<!DOCTYPE worksheet>",
    ],
    ids=["billion-laughs", "external-entity", "external-dtd", "dtd"],
)
def test_a_dtd_or_an_entity_is_refused(prolog):
    rows = inline_row(1, "订单号") + inline_row(2, "&lol9;" if "lol" in prolog else "x")
    message = _refused(package(sheet_xml(rows, prolog=prolog)), "declares a DTD or entities")
    assert "'xl/worksheets/sheet1.xml'" in message


def test_a_dtd_in_the_shared_strings_is_refused_too():
    shared = (
        f'<?xml version="1.0"?>{BILLION_LAUGHS}<sst xmlns="{MAIN_NS}"><si><t>&lol9;</t></si></sst>'.encode()
    )
    sheet = sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    assert "'xl/sharedStrings.xml'" in _refused(package(sheet, shared=shared), "declares a DTD")


def test_malformed_xml_is_refused_with_where():
    sheet = sheet_xml(inline_row(1, "订单号")).replace(b"</sheetData>", b"<row>")
    message = _refused(
        package(sheet), "is not a sound workbook: its part 'xl/worksheets/sheet1.xml' is not well-formed XML"
    )
    assert "(line 1, column" in message


def test_an_undefined_entity_is_malformed_xml():
    _refused(package(sheet_xml(inline_row(1, "&nope;"))), "is not well-formed XML")


def test_a_shared_string_that_does_not_exist_is_refused():
    shared = f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}"><si><t>订单号</t></si></sst>'.encode()
    sheet = sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>7</v></c></row>')
    _refused(package(sheet, shared=shared), r"a cell \('B1'\) naming a shared string that does not exist")


@pytest.mark.parametrize(("ref", "what"), [("XFE1", "beyond the last row or column"), ("1A", "is not one")])
def test_a_cell_reference_excel_cannot_have_is_refused(ref, what):
    sheet = sheet_xml(f'<row r="1"><c r="{ref}" t="inlineStr"><is><t>x</t></is></c></row>')
    _refused(package(sheet), what)


def test_a_row_number_excel_cannot_have_is_refused():
    _refused(
        package(sheet_xml('<row r="1048577"><c t="inlineStr"><is><t>x</t></is></c></row>')), "a row number"
    )


def test_an_absurd_dimension_is_ignored_and_costs_nothing():
    sheet = sheet_xml(inline_row(1, "订单号", "数量") + inline_row(2, "A1", "2"), dimension="A1:XFD1048576")
    assert _read(package(sheet)) == [(1, ["订单号", "数量"]), (2, ["A1", "2"])]


def test_a_value_in_the_last_cell_excel_has_is_read_once():
    far = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    rows = _read(package(sheet_xml(inline_row(1, "订单号") + far, dimension="A1:XFD1048576")))
    assert [(number, len(values), values[-1]) for number, values in rows] == [
        (1, 1, "订单号"),
        (1048576, 16384, 1),
    ]


def test_a_value_in_the_last_column_of_every_row_runs_into_the_cell_limit():
    far = "".join(f'<row r="{n}"><c r="XFD{n}"><v>1</v></c></row>' for n in range(2, 400))
    _refused(package(sheet_xml(inline_row(1, "订单号") + far)), "has more than 5,000,000 cells")


def test_rows_of_empty_cells_are_skipped_and_counted():
    buffer = io.BytesIO()
    empty_rows_xlsx(buffer, rows=20_000)
    rows = _read(buffer.getvalue())
    assert [number for number, _ in rows] == list(range(1, 52))
    limits = ReadLimits(**{**vars(LIMITS), "max_cells": 100_000})
    _refused(buffer.getvalue(), "has more than 100,000 cells", limits=limits)


def test_too_many_rows_of_data_are_refused():
    data = package(sheet_xml("".join(inline_row(n, str(n)) for n in range(1, 12))))
    limits = ReadLimits(**{**vars(LIMITS), "max_rows": 10})
    _refused(data, "has more than 10 rows of data; split it", limits=limits)


def test_element_soup_is_refused_before_it_costs_time():
    soup = "<x/>" * 50_000
    limits = ReadLimits(**{**vars(LIMITS), "max_cells": 10_000})
    _refused(
        package(sheet_xml(f'<row r="1">{soup}</row>')),
        "more XML elements than 10,000 cells need",
        limits=limits,
    )


def test_a_prefixed_namespace_and_phonetic_runs_read_as_the_text():
    sheet = (
        f'<?xml version="1.0"?><x:worksheet xmlns:x="{MAIN_NS}"><x:sheetData><x:row r="1">'
        '<x:c r="A1" t="inlineStr"><x:is><x:r><x:t>枞阳</x:t></x:r><x:r><x:t>大米</x:t></x:r>'
        '<x:rPh><x:t>zongyang</x:t></x:rPh></x:is></x:c><x:c r="B1"><x:v>12.5</x:v></x:c>'
        "</x:row></x:sheetData></x:worksheet>"
    ).encode()
    assert _read(package(sheet)) == [(1, ["枞阳大米", 12.5])]


def test_the_service_reads_within_the_app_configuration_and_refuses_as_a_validation_error():
    app = make_test_app(XLSX_MAX_ROWS=2)
    data = package(sheet_xml("".join(inline_row(n, str(n)) for n in range(1, 4))))
    with app.app_context(), pytest.raises(ValidationFailed, match="more than 2 rows of data") as raised:
        list(spreadsheets.read_rows(io.BytesIO(data), "h.xlsx"))
    assert raised.value.details == {"file": [raised.value.message]}
    assert spreadsheets.read_limits() == ReadLimits(max_rows=500_000)


def test_a_legitimate_export_reads_whole():
    buffer = io.BytesIO()
    export_xlsx(buffer, 200)
    rows = list(tabular.read_rows(io.BytesIO(buffer.getvalue()), "orders.xlsx"))
    assert len(rows) == 200
    assert rows[0].values["下单时间"] == "2020-11-01"
    assert rows[1].values["下单时间"] == "2020-11-01 00:01:00"
    assert (rows[0].values["京东价"], rows[0].values["订单号"], rows[0].values["订单备注"]) == (
        "59.9",
        "131279400000",
        "",
    )


# Memory and the API -----------------------------------------------------------------------------

_MEASURE = """
import io, json, resource, sys
sys.path.insert(0, {root!r})
from adapters import tabular
from adapters.errors import FileRefused
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = "read"
try:
    with open({path!r}, "rb") as stream:
        for _ in tabular.read_rows(stream, "bomb.xlsx"):
            pass
except FileRefused as error:
    outcome = error.message
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({{"outcome": outcome, "grown_kib": grown}}))
"""


def test_the_shared_string_bomb_costs_no_memory(tmp_path):
    path = tmp_path / "bomb.xlsx"
    bomb_xlsx(path)
    assert path.stat().st_size < 400_000
    code = _MEASURE.format(root=str(ROOT), path=str(path))
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout)
    assert result["outcome"].startswith("The file 'bomb.xlsx' has a part that expands 1,0")
    assert result["grown_kib"] < 20 * 1024


def test_hostile_uploads_are_a_422_naming_the_file(login):
    staff = login(COUNTY_STAFF, county_codes=["340722"])
    bomb = io.BytesIO()
    bomb_xlsx(bomb, megabytes=20)
    malformed = package(sheet_xml(inline_row(1, "订单号")).replace(b"</sheetData>", b""))
    laughs = package(sheet_xml(inline_row(1, "&lol9;"), prolog=BILLION_LAUGHS))
    for name, data, problem in [
        ("bomb.xlsx", bomb.getvalue(), "has a part that expands"),
        ("broken.xlsx", malformed, "is not well-formed XML"),
        ("laughs.xlsx", laughs, "declares a DTD or entities"),
    ]:
        response = staff.post(
            "/api/v1/imports",
            data={"file": (io.BytesIO(data), name), "channel": "jd"},
            content_type="multipart/form-data",
        )
        assert response.status_code == 422, response.json
        error = response.json["error"]
        assert (error["code"], error["details"]["import_run_id"] is not None) == ("validation_error", True)
        assert error["message"].startswith(f"The file '{name}' ")
        assert problem in error["message"]


def test_a_truncated_export_is_imported_with_its_last_row_named_as_cut_short(login):
    staff = login(COUNTY_STAFF, county_codes=["340722"])
    data = (FIXTURES / "jd" / "truncated_mid_row.csv").read_bytes()
    response = staff.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(data), "orders.csv"), "channel": "jd"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    run = response.json
    assert run["rejected"] == 1
    [error] = [error for error in run["errors"] if error["row"] == 10]
    assert "Row 10 is cut short: the file ends after 5 of its 11 cells" in error["message"]


# Text files -------------------------------------------------------------------------------------

TEXT = "户编号,户主姓名,金额\r\n3407221001,张三,12.50\r\n3407221002,欧阳修文,3\r\n"
EXPECTED = [
    {"户编号": "3407221001", "户主姓名": "张三", "金额": "12.50"},
    {"户编号": "3407221002", "户主姓名": "欧阳修文", "金额": "3"},
]


def _values(data: bytes) -> list[dict[str, str]]:
    return [row.values for row in tabular.read_rows(io.BytesIO(data), "upload.csv")]


@pytest.mark.parametrize(
    "encoded",
    [
        codecs.BOM_UTF16_LE + TEXT.replace(",", "\t").encode("utf-16-le"),  # Excel's "Unicode text"
        TEXT.replace(",", "\t").encode("utf-16-le"),
        TEXT.encode("utf-16-be"),
        codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        TEXT.encode("utf-32"),
        TEXT.encode("utf-32-le"),
        TEXT.encode("utf-32-be"),
    ],
    ids=["utf16-bom-tabs", "utf16le-tabs", "utf16be", "utf16be-bom", "utf32-bom", "utf32le", "utf32be"],
)
def test_wide_encodings_are_read_with_or_without_a_bom(encoded):
    assert _values(encoded) == EXPECTED


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_semicolon_tab_and_comma_separated_files_are_read(delimiter):
    assert _values(TEXT.replace(",", delimiter).encode("utf-8")) == EXPECTED


def test_a_comma_inside_a_semicolon_file_stays_in_its_cell():
    data = "户编号;户主姓名;金额\n3407221001;张三;1,250.00\n".encode()
    assert _values(data) == [{"户编号": "3407221001", "户主姓名": "张三", "金额": "1,250.00"}]


def test_a_binary_file_is_not_taken_for_text():
    with pytest.raises(FileRefused, match="holds NUL bytes and is not UTF-16 or UTF-32 text"):
        _values(b"\x00\x01\x02\xff\xfe\xfd" * 100 + b"\xd8\x00\xd8\x00")


def test_utf8_rows_after_a_gb18030_header_are_named():
    data = "户编号,户主姓名,订单状态\n1,张三,已完成\n".encode("gb18030") + "2,欧阳修文,已完成\n".encode()
    with pytest.raises(FileRefused, match=r"^Line 3 is UTF-8 text, but the lines before it are GB18030"):
        _values(data)


def test_gb18030_rows_after_a_utf8_header_are_named():
    data = "户编号,户主姓名,订单状态\n".encode() + "1,张三,已完成\n".encode("gb18030")
    with pytest.raises(
        FileRefused, match=r"^Line 2 is GB18030 \(GBK\) text, but the lines before it are UTF-8"
    ):
        _values(data)


def test_utf8_rows_that_also_decode_as_gb18030_are_named_by_their_row():
    rows = "".join(f"{number},交易成功,欧阳修文\n" for number in range(2, 5))
    data = "户编号,户主姓名,订单状态\n".encode("gb18030") + rows.encode()
    assert data.decode("gb18030")  # the whole file decodes as GB18030, wrongly
    with pytest.raises(FileRefused, match=r"^Row 2 is UTF-8 text, but the rows before it are GB18030"):
        _values(data)


def test_a_gb18030_file_with_few_chinese_characters_is_not_taken_for_utf8():
    data = "户编号,户主姓名,金额\n1,张,3\n2,李,4\n".encode("gb18030")
    assert [row["户主姓名"] for row in _values(data)] == ["张", "李"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (TEXT.encode() + "3407221003,欧".encode(), "after 2 of its 3 cells"),
        (TEXT.encode() + '3407221003,"欧阳,'.encode(), "inside one of its quoted cells"),
        (TEXT.encode() + "3407221003,欧阳,4".encode()[:-3], "in the middle of a character"),
        (TEXT.encode("gb18030") + "3407221003,欧阳,4".encode("gb18030")[:-3], "in the middle of a character"),
        (
            TEXT.encode("utf-16") + "3407221003,欧阳,4".encode("utf-16-le")[:-1],
            "in the middle of a character",
        ),
    ],
    ids=["short-row", "open-quote", "utf8-char", "gb18030-char", "utf16-odd-byte"],
)
def test_a_file_cut_off_mid_row_names_its_last_row(data, where):
    reader = tabular.read_rows(io.BytesIO(data), "upload.csv")
    assert next(reader).number == 2
    assert next(reader).number == 3
    with pytest.raises(FileRefused, match=f"^Row 4 is cut short: the file ends {where}"):
        next(reader)


def test_a_complete_file_without_a_final_newline_is_whole():
    assert _values(TEXT.rstrip("\r\n").encode()) == EXPECTED


# Echoes -----------------------------------------------------------------------------------------


def test_a_duplicate_header_of_any_length_is_quoted_short():
    name = "户" * 10_000
    with pytest.raises(FileRefused) as raised:
        _values(f"{name},{name}\n1,2\n".encode())
    assert len(raised.value.message) < 120


def test_a_file_name_is_quoted_short_and_masked():
    id_number = valid_id_number(7)
    name = id_number + "长" * 500 + ".xlsx"
    with pytest.raises(FileRefused) as raised:
        _read(b"PK\x03\x04 not a zip", filename=name)
    assert id_number not in raised.value.message
    assert len(raised.value.message) < 200


def test_no_hostile_text_reaches_a_message_whole():
    ref = "A" * 5_000 + "1"
    sheet = sheet_xml(f'<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c><c r="{ref}"/></row>')
    message = _refused(package(sheet), "a cell reference 'AAAA")
    assert len(message) < 200
