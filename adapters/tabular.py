"""Reading spreadsheet uploads (xlsx or CSV) as a stream of rows, and parsing their cells.

Used by every importer (households, benefit links, the sales channels): one
reader that keeps the file's own row numbers (header = row 1), so an error can
say "row 17, 身份证号" and the user finds it in the file they sent.

- xlsx is recognised by content (zip magic) or extension and its first
  worksheet read by adapters/xlsx_reader.py, streamed and within the caller's limits.
- CSV is decoded as UTF-8 (with or without BOM), GB18030 (a superset of GBK
  and GB2312), or UTF-16/UTF-32 (with or without BOM: Excel's "Unicode text"
  is UTF-16 with tabs), decided from the first 64 KiB (adapters/file_format.py), and read line by line:
  the file is never held in memory whole. Cells are separated by commas, tabs
  or semicolons, whichever the header line uses most.
- A file cut off mid-row ends with an error naming that row as cut short, and a
  row in another encoding than the rows before it (a GB18030 file with UTF-8
  rows pasted in, or the reverse) is named, not read as garbled text.
- Cells come out as stripped strings; Excel numbers lose float artefacts
  ("12" not "12.0", shown to 15 significant digits as Excel shows them), and a
  number too long for Excel to hold exactly (an ID number typed as a number)
  is flagged in ``Row.imprecise`` so the importer can refuse it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any
from zoneinfo import ZoneInfo

from adapters import errors as codes
from adapters.errors import Coded, FileRefused
from adapters.file_format import (
    HEAD_BYTES,
    Prefixed,
    detect_delimiter,
    detect_encoding,
    detect_kind,
    encoding_name,
    read_head,
    rewound,
)
from adapters.quoting import quoted
from adapters.xlsx_reader import DEFAULT_LIMITS, ReadLimits, read_first_sheet

# Exports write local times in Beijing time; a cell without an offset is read in it.
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Excel keeps 15 significant digits; a number at or above this was typed as a number and lost digits.
_EXCEL_EXACT_LIMIT = 10**15
_STRIP = " \t\r\n\u3000\u00a0\u200b\ufeff"
# Undecodable bytes become lone surrogates U+DC00 + byte (surrogateescape's, extended below 0x80 for
# the wide encodings), so the row holding them can be named.
UNDECODABLE_ERRORS = "tabular-undecodable"
_UNDECODABLE = re.compile("[\udc00-\udcff]")
_UNDECODABLE_AT_END = re.compile("[\udc00-\udcff]+[\r\n]*$")
# A GB18030 row whose bytes are valid UTF-8 with at least this many non-ASCII bytes (two Chinese
# characters) is UTF-8: GBK text is almost never valid UTF-8 over that length.
_UTF8_EVIDENCE_BYTES = 6
# Raw rows from a source: (row number, cell texts, indexes of cells that lost digits).
Cells = Iterator[tuple[int, list[str], frozenset[int]]]


@dataclass(frozen=True)
class Row:
    """One data row: its row number in the file (header = 1) and its cells by column name."""

    number: int
    values: dict[str, str]
    # Columns whose cell was a number too long for Excel to store exactly (digits were lost).
    imprecise: frozenset[str] = field(default_factory=frozenset)

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column, default)


class RowReader(Iterator[Row]):
    """An iterator of data rows; ``header`` is read as soon as it is created.

    Fully empty rows are skipped (their numbers are simply absent). Rows longer
    than the header keep only the named columns; shorter rows read as "".
    """

    def __init__(self, cells: Cells, kind: str, encoding: str | None):
        self.kind = kind
        self.encoding = encoding
        self._cells = cells
        self.header: list[str] = []
        self._columns: list[tuple[int, str]] = []
        for _number, values, _imprecise in cells:
            if any(values):
                self._set_header(values)
                break
        else:
            raise FileRefused(
                Coded(codes.FILE_EMPTY, "The file is empty: it has no header row."),
                details={"file": [Coded(codes.FILE_EMPTY, "Empty.")]},
            )

    def _set_header(self, values: list[str]) -> None:
        seen: dict[str, int] = {}
        for index, name in enumerate(values):
            if not name:
                continue
            if name in seen:
                raise FileRefused(
                    Coded(
                        codes.FILE_DUPLICATE_COLUMN,
                        f"The column {quoted(name)} appears twice in the header row.",
                        column=name,
                    ),
                    details={
                        "file": [
                            Coded(
                                codes.FILE_DUPLICATE_COLUMN, f"Duplicate column {quoted(name)}.", column=name
                            )
                        ]
                    },
                )
            seen[name] = index
        self.header = [name for name in values if name]
        self._columns = [(index, name) for name, index in seen.items()]

    def __iter__(self) -> RowReader:
        return self

    def __next__(self) -> Row:
        for number, values, imprecise in self._cells:
            mapped = {name: (values[index] if index < len(values) else "") for index, name in self._columns}
            if not any(mapped.values()):
                continue
            flagged = frozenset(name for index, name in self._columns if index in imprecise)
            return Row(number=number, values=mapped, imprecise=flagged)
        raise StopIteration

    def close(self) -> None:
        close = getattr(self._cells, "close", None)
        if close is not None:
            close()


def read_rows(
    stream: IO[bytes],
    filename: str = "",
    *,
    required: Iterable[str] = (),
    limits: ReadLimits = DEFAULT_LIMITS,
) -> RowReader:
    """Rows of an uploaded xlsx or CSV file, streamed; ``required`` columns are checked at once.

    Raises FileRefused for an unreadable file (an xlsx one beyond ``limits`` too), an empty one,
    a duplicate or a missing required column; reading the rows raises it for a file that turns
    unreadable part-way.
    """
    head = read_head(stream)
    kind = detect_kind(head, filename)
    if kind == "xlsx":
        reader = RowReader(_xlsx_cells(rewound(stream, head), filename, limits), "xlsx", None)
    else:
        complete = len(head) < HEAD_BYTES
        encoding = detect_encoding(head, complete)
        text = io.TextIOWrapper(
            io.BufferedReader(Prefixed(head, stream)),
            encoding=encoding,
            errors=UNDECODABLE_ERRORS,
            newline="",
        )
        delimiter = detect_delimiter(head, encoding, complete)
        reader = RowReader(_csv_cells(text, delimiter, encoding), "csv", encoding)
    require_columns(reader.header, required)
    return reader


def require_columns(header: Iterable[str], required: Iterable[str]) -> None:
    """Raise one FileRefused naming every required column the header lacks."""
    present = set(header)
    missing = [name for name in required if name not in present]
    if missing:
        raise FileRefused(
            Coded(
                codes.FILE_MISSING_COLUMNS,
                f"Missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}.",
                columns=missing,
            ),
            details={
                "file": [
                    Coded(codes.FILE_MISSING_COLUMNS, f"Missing column {name}.", columns=[name])
                    for name in missing
                ]
            },
        )


# No real line comes near it, and sums of millions of lines stay inside MongoDB's 64-bit integers.
MAX_AMOUNT_FEN = 10**14


# Reading cells ----------------------------------------------------------------------


class _Lines(Iterator[str]):
    """The text's lines as csv.reader takes them, keeping those of the record being read."""

    def __init__(self, text: io.TextIOWrapper):
        self._text = text
        self.record: list[str] = []

    def __next__(self) -> str:
        line = next(self._text)
        self.record.append(line)
        return line


def _csv_cells(text: io.TextIOWrapper, delimiter: str, encoding: str) -> Cells:
    """Each record (one spreadsheet row, even when a quoted cell spans lines) with its number.

    A record is checked once the next one is read, so the last one can be told apart: only there
    does a cut character, an open quote or a short row mean the file was cut off.
    """
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    number = 0
    width = 0
    pending: tuple[list[str], list[str]] | None = None
    try:
        for record in reader:
            number += 1
            raw, lines.record = lines.record, []
            if pending is not None:
                _check_record(number - 1, pending[0], pending[1], encoding)
                yield number - 1, [clean_cell(value) for value in pending[0]], frozenset()
            if not width and any(record):
                # The header's named cells: a trailing separator does not make a row longer.
                width = max(index for index, value in enumerate(record) if value) + 1
            pending = (record, raw)
        if pending is not None:
            _check_last_record(number, pending[0], pending[1], encoding, delimiter, width)
            yield number, [clean_cell(value) for value in pending[0]], frozenset()
    except csv.Error as error:
        row = number + 1
        raise FileRefused(
            Coded(codes.FILE_BAD_CSV, f"Row {row} is not valid CSV: {error}.", row=row),
            details={"file": [Coded(codes.FILE_BAD_CSV, f"Row {row}: {error}.", row=row)]},
        ) from error
    finally:
        text.close()


def _check_record(number: int, record: list[str], raw: list[str], encoding: str) -> None:
    """Refuse a row in another encoding than the file's (the rows before it stand)."""
    if any(_UNDECODABLE.search(value) for value in record):
        raise _mixed_encoding(number, f"is not {encoding_name(encoding)} text like the rows before it")
    if encoding == "gb18030" and _is_utf8("".join(raw)):
        raise _mixed_encoding(number, "is UTF-8 text, but the rows before it are GB18030 (GBK)")


def _check_last_record(
    number: int, record: list[str], raw: list[str], encoding: str, delimiter: str, width: int
) -> None:
    """The last row, also refused when the file ends in the middle of it."""
    text = "".join(raw)
    if _UNDECODABLE_AT_END.search(text) and not _UNDECODABLE.search(_UNDECODABLE_AT_END.sub("", text)):
        raise _cut_short(number, "in the middle of a character")
    if not text.endswith(("\n", "\r")):
        try:
            list(csv.reader(raw, delimiter=delimiter, strict=True))
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                raise _cut_short(number, "inside one of its quoted cells") from error
        if any(record) and len(record) < width:
            raise _cut_short(number, f"after {len(record)} of its {width} cells")
    _check_record(number, record, raw, encoding)


def _undecodable(error: UnicodeError) -> tuple[str, int]:
    """Each byte that does not decode as U+DC00 + byte (for a wide encoding, bytes below 0x80 too)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 + byte) for byte in error.object[error.start : error.end]), error.end


codecs.register_error(UNDECODABLE_ERRORS, _undecodable)


def _is_utf8(text: str) -> bool:
    data = text.encode("gb18030", "surrogateescape")
    if sum(1 for byte in data if byte >= 0x80) < _UTF8_EVIDENCE_BYTES:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _cut_short(number: int, where: str) -> FileRefused:
    return FileRefused(
        Coded(
            codes.FILE_CUT_SHORT,
            f"Row {number} is cut short: the file ends {where} (an interrupted download or upload?); "
            "export it again.",
            row=number,
        ),
        details={"file": [Coded(codes.FILE_CUT_SHORT, f"Row {number}: cut short.", row=number)]},
    )


def _mixed_encoding(number: int, what: str) -> FileRefused:
    return FileRefused(
        Coded(
            codes.FILE_MIXED_ENCODING,
            f"Row {number} {what}: the file mixes two text encodings (rows pasted from another file?); "
            "save the whole file again as CSV UTF-8 or xlsx.",
            row=number,
        ),
        details={
            "file": [Coded(codes.FILE_MIXED_ENCODING, f"Row {number}: another text encoding.", row=number)]
        },
    )


def _xlsx_cells(fileobj: IO[bytes], filename: str, limits: ReadLimits) -> Cells:
    for number, values in read_first_sheet(fileobj, filename, limits):
        cells: list[str] = []
        imprecise: set[int] = set()
        for index, value in enumerate(values):
            text, exact = excel_cell_text(value)
            cells.append(text)
            if not exact:
                imprecise.add(index)
        yield number, cells, frozenset(imprecise)


def clean_cell(value: str) -> str:
    """Strip whitespace (full-width too) and unwrap Excel's ="..." text-forcing idiom."""
    value = value.strip(_STRIP)
    if len(value) >= 3 and value.startswith('="') and value.endswith('"'):
        value = value[2:-1].strip(_STRIP)
    return value


def excel_cell_text(value: Any) -> tuple[str, bool]:
    """A worksheet value as text, and whether it is exact (False: a number that lost digits)."""
    if value is None:
        return "", True
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return _number_text(value), abs(value) < _EXCEL_EXACT_LIMIT
    if isinstance(value, datetime):
        return _datetime_text(value), True
    if isinstance(value, date):
        return value.isoformat(), True
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat(), True
    if isinstance(value, str):
        return clean_cell(value), True
    return clean_cell(str(value)), True


def _number_text(value: float) -> str:
    """A float as Excel shows it: 15 significant digits, no exponent, no trailing ".0"."""
    rounded = Decimal(format(value, ".15g"))
    if rounded == rounded.to_integral_value():
        return str(int(rounded))
    return format(rounded.normalize(), "f")


def _datetime_text(value: datetime) -> str:
    # Excel's times are fractions of a day; round away the float noise to the second.
    if value.microsecond >= 500_000:
        value += timedelta(seconds=1)
    value = value.replace(microsecond=0, tzinfo=None)
    if value.time() == time.min:
        return value.date().isoformat()
    return value.isoformat(sep=" ")


# Parsing cells ------------------------------------------------------------------------

_AMOUNT = re.compile(r"^(?P<sign>[-+]?)(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d*))?$")


def parse_yuan_to_fen(text: str) -> int:
    """An amount in yuan ("1,234.50", "¥12", "１２３．５", "-3.5") as exact integer fen.

    Full-width characters are accepted; thousands separators must sit every
    three digits; digits below one fen that are not zero are an error
    ("1.234"), so no amount is ever rounded.
    """
    original = text
    value = unicodedata.normalize("NFKC", str(text)).strip(_STRIP)
    value = value.replace("¥", "").replace("元", "").strip(_STRIP)
    value = value.replace(" ", "")
    if not value:
        raise ValueError(Coded(codes.CELL_EMPTY, "The amount is empty."))
    match = _AMOUNT.match(value)
    if match is None or not (match["int"] or match["frac"]):
        raise ValueError(
            Coded(codes.CELL_BAD_AMOUNT, f"{quoted(original)} is not an amount in yuan.", value=original)
        )
    digits = match["int"].replace(",", "") or "0"
    fraction = match["frac"] or ""
    if len(fraction.rstrip("0")) > 2:
        raise ValueError(
            Coded(
                codes.CELL_BELOW_FEN,
                f"{quoted(original)} has more than two decimal places (below one fen).",
                value=original,
            )
        )
    try:
        fen = Decimal(f"{digits}.{fraction or '0'}") * 100
    except InvalidOperation as error:
        raise ValueError(
            Coded(codes.CELL_BAD_AMOUNT, f"{quoted(original)} is not an amount in yuan.", value=original)
        ) from error
    fen_int = int(fen)
    if fen_int > MAX_AMOUNT_FEN:
        raise ValueError(
            Coded(
                codes.CELL_AMOUNT_TOO_LARGE,
                f"{quoted(original)} is larger than any amount a line can have (1万亿元).",
                value=original,
            )
        )
    return -fen_int if match["sign"] == "-" else fen_int


_WHOLE = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?$")


_PERCENT = re.compile(r"^(\d{1,3})(?:\.(\d{1,2}))?$")


def parse_percent_to_bp(text: str) -> int:
    """A percentage with at most two decimals ("15", "12.5", "１２．５０%") as integer basis points."""
    value = unicodedata.normalize("NFKC", text).strip().removesuffix("%").strip()
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(
            Coded(
                codes.CELL_BAD_PERCENT,
                f"{quoted(text)} is not a percentage with at most two decimals.",
                value=text,
            )
        )
    return int(match[1]) * 100 + int((match[2] or "").ljust(2, "0"))


def parse_whole_number(text: str) -> int:
    """A whole number as a spreadsheet writes it ("12", "1,200", "12.0", "１２") as an int."""
    value = unicodedata.normalize("NFKC", str(text)).strip(_STRIP)
    if not value:
        raise ValueError(Coded(codes.CELL_EMPTY, "The number is empty."))
    if not _WHOLE.match(value):
        raise ValueError(Coded(codes.CELL_NOT_WHOLE, f"{quoted(text)} is not a whole number.", value=text))
    return int(value.split(".", 1)[0].replace(",", ""))


_DATETIME = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})"
    r"(?:\s*[:：分]\s*(?P<S>\d{1,2})(?:\.(?P<f>\d{1,6}))?\s*秒?)?)?$"
)
_COMPACT_DATE = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$")
_SERIAL = re.compile(r"^\d{5,7}(?:\.\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)
# Serial numbers before 1970 are far more likely a mistyped number than a real date.
_SERIAL_MIN, _SERIAL_MAX = 25569, 2958465


def parse_local_datetime(text: str) -> datetime:
    """A local (Asia/Shanghai) date or date-time as written in a spreadsheet, as an aware UTC datetime.

    Accepts 2020-11-03 14:22:01, 2020/11/3 14:22, 2020-11-03, 20201103,
    2020年11月3日, ISO 8601 with an explicit offset (honoured), and Excel
    serial date numbers (44138, 44138.599). Precision is the millisecond.
    """
    value = unicodedata.normalize("NFKC", str(text)).strip(_STRIP)
    if not value:
        raise ValueError(Coded(codes.CELL_EMPTY, "The date is empty."))
    local = _parse_naive(value, text)
    if local.tzinfo is None:
        local = local.replace(tzinfo=SHANGHAI)
    moment = local.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_local_date(text: str) -> date:
    """A calendar date as written in a spreadsheet (any form parse_local_datetime reads, without a time)."""
    value = unicodedata.normalize("NFKC", str(text)).strip(_STRIP)
    if not value:
        raise ValueError(Coded(codes.CELL_EMPTY, "The date is empty."))
    moment = _parse_naive(value, text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHANGHAI)
    if moment.time() != time.min:
        raise ValueError(
            Coded(
                codes.CELL_HAS_TIME,
                f"{quoted(text)} has a time of day; a date alone is expected.",
                value=text,
            )
        )
    return moment.date()


def _parse_naive(value: str, original: str) -> datetime:
    match = _DATETIME.match(value) or _COMPACT_DATE.match(value)
    if match is not None:
        parts = match.groupdict()
        try:
            return datetime(
                int(parts["y"]),
                int(parts["m"]),
                int(parts["d"]),
                int(parts.get("H") or 0),
                int(parts.get("M") or 0),
                int(parts.get("S") or 0),
                int((parts.get("f") or "0").ljust(6, "0")),
            )
        except ValueError as error:
            raise ValueError(
                Coded(
                    codes.CELL_BAD_DATE,
                    f"{quoted(original)} is not a real date or time: {error}.",
                    value=original,
                )
            ) from error
    if _SERIAL.match(value):
        return _from_excel_serial(Decimal(value), original)
    if "T" in value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed
    raise ValueError(
        Coded(
            codes.CELL_NOT_A_DATE,
            f"{quoted(original)} is not a date (expected e.g. 2020-11-03 14:22:01 or 2020/11/3).",
            value=original,
        )
    )


def _from_excel_serial(serial: Decimal, original: str) -> datetime:
    if not _SERIAL_MIN <= serial <= _SERIAL_MAX:
        raise ValueError(
            Coded(
                codes.CELL_SERIAL_RANGE,
                f"{quoted(original)} is outside the Excel date numbers this reader accepts (1970–9999).",
                value=original,
            )
        )
    days = int(serial)
    seconds = int(((serial - days) * 86400).to_integral_value())
    return _EXCEL_EPOCH + timedelta(days=days, seconds=seconds)
