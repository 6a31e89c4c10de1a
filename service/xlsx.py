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

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from flask import Response, send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from service.clock import SHANGHAI

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


def percent_bp(bp: Any, blank: str = "—") -> str:
    """Basis points as a percentage with two decimals: 1234 → '12.34%'."""
    if bp is None:
        return blank
    whole, rest = divmod(abs(int(bp)), 100)
    return f"{'-' if bp < 0 else ''}{whole}.{rest:02d}%"


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
