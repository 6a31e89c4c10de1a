"""Rows to an xlsx workbook (report and list downloads), safe to open in Excel or WPS.

- Streamed with openpyxl's write-only mode, so memory stays flat however many rows there are.
- Text a spreadsheet would treat as a formula (starting with = + - @, a tab or a carriage return)
  gets a leading single quote: a product title "=HYPERLINK(...)" from a channel file stays text
  (formula / CSV injection).
- Numbers stay numbers. Money in fen is written as yuan, a ``Decimal`` with two places and a
  ``#,##0.00`` format: exact, never a float.
- Times are shown in Asia/Shanghai (Excel has no time zones).

Describe the columns once with :class:`Column` (Chinese header, key or getter, kind) and call
:func:`write_xlsx` with one or more :class:`Sheet`, or :func:`rows_to_xlsx` for a single sheet;
:func:`send_xlsx` turns the bytes into a download response.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from bson import ObjectId
from flask import Response, send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

from service.clock import SHANGHAI
from service.errors import ValidationFailed
from service.pii import quoted

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Column kinds: how a value becomes a cell.
AUTO = "auto"  # strings stay text, numbers stay numbers, booleans become 是/否
TEXT = "text"  # always text (household numbers, codes: never 3.4E+15)
INTEGER = "int"
FEN = "fen"  # integer fen shown as yuan, 2 decimals
DATE = "date"
DATETIME = "datetime"
KINDS = (AUTO, TEXT, INTEGER, FEN, DATE, DATETIME)

YUAN_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL_TEXT = 32_767  # Excel's limit for one cell
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_FILENAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Column:
    """One column: its (Chinese) header, the row key or a getter, and how values are written."""

    header: str
    key: str | Callable[[Mapping[str, Any]], Any]
    kind: str = AUTO
    width: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")

    def value_of(self, row: Mapping[str, Any]) -> Any:
        return self.key(row) if callable(self.key) else row.get(self.key)


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Mapping[str, Any]]


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen as yuan with exactly two decimal places: 12345 → Decimal('123.45')."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"money must be integer fen, got {type(fen).__name__}")
    return Decimal(fen).scaleb(-2)


def yuan_text(fen: int) -> str:
    """Integer fen as a yuan string for sentences: -150 → '-1.50'."""
    return f"{fen_to_yuan(fen):.2f}"


def neutralise(text: str) -> str:
    """Text safe to put in a cell: no XML-illegal characters, and never read as a formula."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return text[:MAX_CELL_TEXT]


def cell_value(value: Any, kind: str = AUTO) -> Any:
    """The value a cell holds for ``value`` in a column of ``kind`` (no styling)."""
    if value is None:
        return None
    if kind == FEN:
        return fen_to_yuan(value)
    if kind == TEXT:
        return neutralise(str(value))
    if kind == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        # Excel cannot store a time zone: show the local (Asia/Shanghai) wall time.
        return value.astimezone(SHANGHAI).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (int, float, Decimal, date)):
        return value
    if isinstance(value, ObjectId):
        return str(value)
    return neutralise(str(value))


def _number_format(value: Any, kind: str) -> str | None:
    if kind == FEN:
        return YUAN_FORMAT
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    return None


def _display_width(text: str) -> int:
    # CJK characters take about two Latin widths in Excel.
    return sum(2 if ord(character) > 0x2E7F else 1 for character in text)


def _sheet_title(title: str, taken: set[str]) -> str:
    base = _SHEET_TITLE_FORBIDDEN.sub("_", title).strip("'") or "Sheet"
    base = base[:31]
    candidate, number = base, 2
    while candidate.lower() in taken:
        suffix = f"({number})"
        candidate, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(candidate.lower())
    return candidate


def write_xlsx(sheets: Iterable[Sheet]) -> bytes:
    """A workbook with one worksheet per sheet: a bold, frozen header row, then the rows."""
    workbook = Workbook(write_only=True)
    taken: set[str] = set()
    bold = Font(bold=True)
    for sheet in sheets:
        worksheet = workbook.create_sheet(_sheet_title(sheet.title, taken))
        for index, column in enumerate(sheet.columns, start=1):
            width = column.width or max(10, _display_width(column.header) + 2)
            worksheet.column_dimensions[get_column_letter(index)].width = width
        worksheet.freeze_panes = "A2"
        header = []
        for column in sheet.columns:
            cell = WriteOnlyCell(worksheet, value=neutralise(column.header))
            cell.font = bold
            header.append(cell)
        worksheet.append(header)
        for row in sheet.rows:
            cells = []
            for column in sheet.columns:
                value = cell_value(column.value_of(row), column.kind)
                number_format = _number_format(value, column.kind) if value is not None else None
                if number_format is None:
                    cells.append(value)
                else:
                    cell = WriteOnlyCell(worksheet, value=value)
                    cell.number_format = number_format
                    cells.append(cell)
            worksheet.append(cells)
    if not taken:
        workbook.create_sheet("Sheet")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rows_to_xlsx(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], title: str = "Sheet") -> bytes:
    """A one-sheet workbook."""
    return write_xlsx([Sheet(title, columns, rows)])


def safe_filename(name: str) -> str:
    """An ASCII file name (letters, digits, _ - and one extension), so no header encoding is needed."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = _FILENAME_FORBIDDEN.sub("-", stem).strip("-") or "download"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix)
    return f"{stem}.{suffix}" if suffix else stem


def send_xlsx(data: bytes, filename: str) -> Response:
    """A download response for workbook bytes (never cached: reports may hold personal names)."""
    response = send_file(
        io.BytesIO(data),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=safe_filename(filename),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# Reading uploads ----------------------------------------------------------------------------------
#
# An uploaded workbook is read by the stdlib's expat parser straight from the zip, one row at a time,
# never held whole. Before any part is parsed the zip's directory is checked against the limits
# (service/config.py: XLSX_MAX_*): how many members, how much they expand, how much one member
# expands per compressed byte. zipfile never inflates a member past the size its directory declares
# (a member that lies fails its CRC), so those checks hold. No part may carry a DTD, so no entity is
# ever declared or expanded (billion laughs, external entities). The sheet's <dimension> is ignored:
# rows and cells are counted as they are read, and a row's list only reaches its last non-empty cell.

_EXCEL_MAX_ROW = 1_048_576
_EXCEL_MAX_COLUMN = 16_384
_READ_CHUNK = 64 * 1024
# Members smaller than this are not held to the compression ratio: they cannot expand to much.
_RATIO_FLOOR_BYTES = 1024 * 1024
# Per cell, at most a <c>, its <v> or <is> and a few text runs: more elements than this is not a sheet.
_ELEMENTS_PER_CELL = 4
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")
# The zip's end-of-central-directory record: its signature and fixed length.
_END_RECORD, _END_RECORD_BYTES = b"PK\x05\x06", 22
_OFFICE_DOCUMENT = "/officeDocument"
_WORKSHEET, _SHARED_STRINGS, _STYLES = "/worksheet", "/sharedStrings", "/styles"


@dataclass(frozen=True)
class ReadLimits:
    """How far an uploaded workbook may expand before it is refused (defaults in service/config.py)."""

    max_rows: int
    max_cells: int
    max_uncompressed_bytes: int
    max_compression_ratio: int
    max_members: int

    @classmethod
    def current(cls) -> ReadLimits:
        """The limits of the running app, or the defaults outside one (scripts, unit tests)."""
        from flask import current_app, has_app_context

        from service.config import Config

        config: Mapping[str, Any] = current_app.config if has_app_context() else vars(Config)
        return cls(
            max_rows=int(config["XLSX_MAX_ROWS"]),
            max_cells=int(config["XLSX_MAX_CELLS"]),
            max_uncompressed_bytes=int(config["XLSX_MAX_UNCOMPRESSED_BYTES"]),
            max_compression_ratio=int(config["XLSX_MAX_COMPRESSION_RATIO"]),
            max_members=int(config["XLSX_MAX_MEMBERS"]),
        )


def read_first_sheet(
    fileobj: IO[bytes], filename: str = "", limits: ReadLimits | None = None
) -> Iterator[tuple[int, list[Any]]]:
    """The rows of the workbook's first worksheet that hold a value, as (row number, values).

    Values are None, str, int, float, bool, datetime or time (dates by their cell's number format).
    Raises ValidationFailed naming the file and the problem for anything that is not a sound
    workbook within ``limits``; the package is checked before the first row is returned.
    """
    limits = limits or ReadLimits.current()
    label = _file_label(filename)
    archive = _open_archive(fileobj, label, limits)
    try:
        workbook = _Workbook(archive, label, limits)
        sheet = workbook.first_sheet()
    except BaseException:
        archive.close()
        raise
    return _closing_rows(archive, workbook, sheet)


def _closing_rows(
    archive: zipfile.ZipFile, workbook: _Workbook, sheet: str | None
) -> Iterator[tuple[int, list[Any]]]:
    try:
        if sheet is not None:
            yield from workbook.rows(sheet)
    finally:
        archive.close()


def _file_label(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rpartition("/")[2]
    return f"The file {_short(name)}" if name else "The file"


def _short(text: str) -> str:
    """Text from the file as a message quotes it (cut short, ID numbers masked)."""
    return quoted(text)


def _too_many_elements(label: str, limits: ReadLimits) -> ValidationFailed:
    return _refuse(
        label, f"has more XML elements than {limits.max_cells:,} cells need; it is not a spreadsheet export."
    )


def _refuse(label: str, problem: str) -> ValidationFailed:
    message = f"{label} {problem}"
    return ValidationFailed(message, details={"file": [message]})


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"


def _declared_members(fileobj: IO[bytes]) -> int | None:
    """How many parts the zip's end record declares, read before zipfile loads the directory whole
    (a directory of millions of entries would cost gigabytes); None when there is no end record."""
    start = fileobj.tell()
    size = fileobj.seek(0, io.SEEK_END)
    tail_size = min(size - start, _END_RECORD_BYTES + 0xFFFF)  # the record, and a comment of up to 64 KiB
    fileobj.seek(size - tail_size)
    tail = fileobj.read(tail_size)
    fileobj.seek(start)
    at = tail.rfind(_END_RECORD)
    if at < 0 or len(tail) - at < _END_RECORD_BYTES:
        return None
    return int.from_bytes(tail[at + 10 : at + 12], "little")


def _open_archive(fileobj: IO[bytes], label: str, limits: ReadLimits) -> zipfile.ZipFile:
    declared = _declared_members(fileobj)
    if declared is not None and declared > limits.max_members:
        raise _refuse(label, _too_many_parts(declared, limits))
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise _refuse(
            label,
            "is not a complete xlsx workbook: its zip archive is cut short or damaged; export it again.",
        ) from error
    members = archive.infolist()
    problem = None
    if len(members) > limits.max_members:
        problem = _too_many_parts(len(members), limits)
    for member in members if problem is None else ():
        if member.flag_bits & 0x1:
            problem = "is password-protected; save it without a password."
            break
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            problem = (
                f"has a part that expands {ratio:,.0f} times when unzipped (at most "
                f"{limits.max_compression_ratio:,} is accepted): it is not a spreadsheet export."
            )
            break
    total = sum(member.file_size for member in members)
    if problem is None and total > limits.max_uncompressed_bytes:
        problem = (
            f"expands to {_megabytes(total)} when unzipped, more than the "
            f"{_megabytes(limits.max_uncompressed_bytes)} a workbook upload may; split it into smaller files."
        )
    if problem is not None:
        archive.close()
        raise _refuse(label, problem)
    return archive


def _too_many_parts(count: int, limits: ReadLimits) -> str:
    return f"holds {count:,} parts, more than the {limits.max_members:,} a workbook upload may."


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _refuse_dtd(*_args: Any) -> None:
    raise _NotPlainXml


class _NotPlainXml(Exception):
    """A part declares a DTD or an entity."""


class _Workbook:
    """The parts of an xlsx package the first sheet's rows need, read within the limits."""

    def __init__(self, archive: zipfile.ZipFile, label: str, limits: ReadLimits):
        self.archive, self.label, self.limits = archive, label, limits
        self.names = set(archive.namelist())
        self.epoch = WINDOWS_EPOCH
        self.date_styles: set[int] = set()
        self.timedelta_styles: set[int] = set()
        self.shared: list[str] = []
        self._elements = 0

    # Parts --------------------------------------------------------------------------------------

    def parse(
        self,
        part: str,
        start: Callable[..., None],
        end: Callable[[str], None] | None = None,
        text: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Feed the part to an expat parser chunk by chunk; yields after each chunk (rows are collected
        by the handlers). Every failure becomes a ValidationFailed naming the part."""
        from xml.parsers import expat

        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_dtd
        parser.ExternalEntityRefHandler = _refuse_dtd
        parser.StartElementHandler = start
        if end is not None:
            parser.EndElementHandler = end
        if text is not None:
            parser.CharacterDataHandler = text
        where = self._part_label(part)
        try:
            with self.archive.open(part) as stream:
                while chunk := stream.read(_READ_CHUNK):
                    parser.Parse(chunk, False)
                    yield
                parser.Parse(b"", True)
                yield
        except _NotPlainXml as error:
            raise _refuse(
                self.label,
                f"declares a DTD or entities in {where}, which no spreadsheet export does; refused.",
            ) from error
        except expat.ExpatError as error:
            raise _refuse(
                self.label,
                f"is not a sound workbook: {where} is not well-formed XML "
                f"(line {error.lineno}, column {error.offset}); export it again.",
            ) from error
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            NotImplementedError,
            RuntimeError,
        ) as error:
            raise _refuse(
                self.label,
                f"is damaged: {where} cannot be unzipped (cut short or corrupted); export it again.",
            ) from error

    def read_part(
        self,
        part: str,
        start: Callable[..., None],
        end: Callable[[str], None] | None = None,
        text: Callable[[str], None] | None = None,
    ) -> None:
        for _ in self.parse(part, start, end, text):
            pass

    def _part_label(self, part: str) -> str:
        return f"its part {_short(part)}"

    def count_element(self) -> None:
        self._elements += 1
        if self._elements > _ELEMENTS_PER_CELL * self.limits.max_cells:
            raise _too_many_elements(self.label, self.limits)

    def relationships(self, part: str) -> list[tuple[str, str, str]]:
        """(id, type, target part) of the part's relationships; none when it has no .rels part."""
        folder, _, name = part.rpartition("/")
        rels = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
        found: list[tuple[str, str, str]] = []
        if rels not in self.names:
            return found

        def start(tag: str, attributes: dict[str, str]) -> None:
            self.count_element()
            if _local(tag) == "Relationship" and attributes.get("TargetMode") != "External":
                target = attributes.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
                found.append((attributes.get("Id", ""), attributes.get("Type", ""), posixpath.normpath(path)))

        self.read_part(rels, start)
        return found

    def first_sheet(self) -> str | None:
        """The part of the first worksheet (None for a workbook without one), after reading the
        styles and shared strings it needs."""
        office = [target for _, kind, target in self.relationships("") if kind.endswith(_OFFICE_DOCUMENT)]
        book = office[0] if office else "xl/workbook.xml"
        if book not in self.names:
            raise _refuse(self.label, "is a zip archive but not an xlsx workbook: it holds no workbook part.")
        related = self.relationships(book)
        by_id = {rel_id: target for rel_id, kind, target in related if kind.endswith(_WORKSHEET)}
        order: list[str] = []
        roots: list[str] = []

        def start(tag: str, attributes: dict[str, str]) -> None:
            self.count_element()
            local = _local(tag)
            if not roots:
                roots.append(local)
            if local == "sheet":
                rel_id = next((value for key, value in attributes.items() if _local(key) == "id"), "")
                if rel_id in by_id:
                    order.append(by_id[rel_id])
            elif local == "workbookPr" and attributes.get("date1904", "").lower() in ("1", "true"):
                self.epoch = MAC_EPOCH

        self.read_part(book, start)
        if roots != ["workbook"]:
            # A Word or PowerPoint file is a zip of the same family, with another main part.
            raise _refuse(self.label, "is a zip archive but not an xlsx workbook: it holds no workbook part.")
        sheet = next((part for part in order if part in self.names), None)
        if sheet is None:
            if order:
                raise _refuse(
                    self.label, "is not a sound workbook: its first worksheet is missing from the zip."
                )
            return None
        for _, kind, target in related:
            if kind.endswith(_STYLES) and target in self.names:
                self._read_styles(target)
            elif kind.endswith(_SHARED_STRINGS) and target in self.names:
                self._read_shared_strings(target)
        return sheet

    def _read_styles(self, part: str) -> None:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

        custom: dict[int, str] = {}
        formats: list[int] = []
        inside = [""]

        def start(tag: str, attributes: dict[str, str]) -> None:
            self.count_element()
            local = _local(tag)
            if local == "numFmt":
                with contextlib.suppress(KeyError, ValueError):
                    custom[int(attributes["numFmtId"])] = attributes.get("formatCode", "")
            elif local == "cellXfs":
                inside[0] = local
            elif local == "xf" and inside[0] == "cellXfs":
                try:
                    formats.append(int(attributes.get("numFmtId", "0")))
                except ValueError:
                    formats.append(0)

        def end(tag: str) -> None:
            if _local(tag) == "cellXfs":
                inside[0] = ""

        self.read_part(part, start, end)
        for style, number_format in enumerate(formats):
            code = custom.get(number_format, BUILTIN_FORMATS.get(number_format, "General"))
            if is_date_format(code):
                self.date_styles.add(style)
                if is_timedelta_format(code):
                    self.timedelta_styles.add(style)

    def _read_shared_strings(self, part: str) -> None:
        shared = self.shared
        pieces: list[str] = []
        # Depth inside <si>, and inside a phonetic run (<rPh>), whose text is not the cell's.
        state = {"t": False, "phonetic": 0}

        def start(tag: str, attributes: dict[str, str]) -> None:
            self.count_element()
            local = _local(tag)
            if local == "t":
                state["t"] = not state["phonetic"]
            elif local == "si":
                pieces.clear()
            elif local == "rPh":
                state["phonetic"] += 1

        def end(tag: str) -> None:
            local = _local(tag)
            if local == "t":
                state["t"] = False
            elif local == "si":
                shared.append("".join(pieces))
                if len(shared) > self.limits.max_cells:
                    raise _refuse(
                        self.label,
                        f"has more shared strings than the {self.limits.max_cells:,} cells it may have.",
                    )
            elif local == "rPh":
                state["phonetic"] -= 1

        def text(data: str) -> None:
            if state["t"]:
                pieces.append(data)

        self.read_part(part, start, end, text)

    # The sheet ----------------------------------------------------------------------------------

    def rows(self, part: str) -> Iterator[tuple[int, list[Any]]]:
        sheet = _SheetReader(self)
        for _ in self.parse(part, sheet.start, sheet.end, sheet.text):
            if sheet.ready:
                yield from sheet.ready
                sheet.ready.clear()


class _SheetReader:
    """The expat handlers of one worksheet: each finished row holding a value goes to ``ready``."""

    def __init__(self, workbook: _Workbook):
        self.workbook = workbook
        self.limits = workbook.limits
        self.ready: list[tuple[int, list[Any]]] = []
        self.row_number = 0
        self.column = 0
        self.values: dict[int, Any] = {}
        self.row_cells = 0
        self.cells = 0
        self.rows = 0
        self.elements = 0
        self.cell_type = "n"
        self.cell_style = ""
        self.cell_ref = ""
        self.collecting = False
        self.phonetic = 0
        self.pieces: list[str] = []
        self.element_limit = _ELEMENTS_PER_CELL * self.limits.max_cells

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > self.element_limit:
            raise _too_many_elements(self.workbook.label, self.limits)
        local = _TAGS.get(tag) or _local(tag)
        if local == "c":
            self.row_cells += 1
            ref = attributes.get("r")
            if ref:
                column = _COLUMNS.get(ref.rstrip(_DIGITS))
                self.column = column if column is not None else self._column_of(ref)
            else:
                self.column += 1
            self.cell_ref = ref or ""
            self.cell_type = attributes.get("t", "n")
            self.cell_style = attributes.get("s", "")
            self.pieces = []
        elif local == "v" or (local == "t" and not self.phonetic):
            self.collecting = True
        elif local == "row":
            number = attributes.get("r")
            if number is None:
                self.row_number += 1
            elif number.isdigit() and 0 < int(number) <= _EXCEL_MAX_ROW:
                self.row_number = int(number)
            else:
                raise self._malformed(f"a row number {_short(number)} that Excel does not have")
            self.column = 0
            self.values = {}
            self.row_cells = 0
        elif local == "rPh":
            self.phonetic += 1

    def end(self, tag: str) -> None:
        local = _TAGS.get(tag) or _local(tag)
        if local == "c":
            if self.pieces:
                value = self._value("".join(self.pieces))
                if value is not None and value != "":
                    self.values[self.column] = value
            self.collecting = False
        elif local == "v" or local == "t":
            self.collecting = False
        elif local == "row":
            self._finish_row()
        elif local == "rPh":
            self.phonetic -= 1

    def text(self, data: str) -> None:
        if self.collecting:
            self.pieces.append(data)

    def _finish_row(self) -> None:
        width = max(self.values) if self.values else 0
        self.cells += max(self.row_cells, width)
        if self.cells > self.limits.max_cells:
            raise _refuse(
                self.workbook.label,
                f"has more than {self.limits.max_cells:,} cells (empty ones too) by row {self.row_number:,}; "
                "delete the unused rows and columns, or split the file.",
            )
        if not self.values:
            return
        self.rows += 1
        if self.rows > self.limits.max_rows:
            raise _refuse(
                self.workbook.label,
                f"has more than {self.limits.max_rows:,} rows of data; split it into smaller files.",
            )
        row: list[Any] = [None] * width
        for column, value in self.values.items():
            row[column - 1] = value
        self.ready.append((self.row_number, row))

    def _column_of(self, ref: str) -> int:
        """The column of a cell reference whose letters are not yet in _COLUMNS, checked whole."""
        match = _CELL_REF.match(ref)
        if match is None:
            raise self._malformed(f"a cell reference {_short(ref)} that is not one")
        column = 0
        for letter in match.group(1).upper():
            column = column * 26 + ord(letter) - 64
        if column > _EXCEL_MAX_COLUMN or int(match.group(2)) > _EXCEL_MAX_ROW:
            raise self._malformed(f"a cell {_short(ref)} beyond the last row or column Excel has")
        if len(_COLUMNS) < _EXCEL_MAX_COLUMN:
            _COLUMNS[match.group(1)] = column
        return column

    def _value(self, text: str) -> Any:
        kind = self.cell_type
        if kind == "s":
            try:
                return self.workbook.shared[int(text)]
            except (ValueError, IndexError):
                raise self._malformed(
                    f"a cell ({_short(self.cell_ref)}) naming a shared string that does not exist"
                ) from None
        if kind in ("inlineStr", "str", "e"):
            return text
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            try:
                return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                return text
        text = text.strip()
        if not text:
            return None
        try:
            number: int | float = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
        except ValueError:
            raise self._malformed(f"a number cell ({_short(self.cell_ref)}) that holds no number") from None
        style = int(self.cell_style) if self.cell_style.isdigit() else 0
        if style in self.workbook.date_styles:
            try:
                return from_excel(
                    number, self.workbook.epoch, timedelta=style in self.workbook.timedelta_styles
                )
            except (OverflowError, ValueError):
                return number
        return number

    def _malformed(self, what: str) -> ValidationFailed:
        return _refuse(
            self.workbook.label, f"is not a sound workbook: its first sheet has {what}; export it again."
        )


# The sheet's tags as most writers spell them (no prefix), so the common case skips _local().
# Column letters already seen (upper case, no $), and their column: most cells skip the regex.
_COLUMNS: dict[str, int] = {}
_DIGITS = "0123456789"
_TAGS = {name: name for name in ("c", "v", "t", "row", "is", "f", "r", "rPh", "sheetData")}
