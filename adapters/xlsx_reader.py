"""Reading an uploaded xlsx workbook's first worksheet, streamed and within limits.

The stdlib's expat parser reads the sheet straight from the zip, one row at a time, never held whole.
Before any part is parsed the zip's directory is checked against the caller's :class:`ReadLimits`
(the service passes the app's, service/config.py: XLSX_MAX_*): how many members, how much they
expand, how much one member expands per compressed byte. zipfile never inflates a member past the
size its directory declares (a member that lies fails its CRC), so those checks hold. No part may
carry a DTD, so no entity is ever declared or expanded (billion laughs, external entities). The
sheet's <dimension> is ignored: rows and cells are counted as they are read, and a row's list only
reaches its last non-empty cell. Anything that is not a sound workbook within the limits raises
``FileRefused`` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

from adapters.errors import FileRefused
from adapters.quoting import quoted

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
    """How far an uploaded workbook may expand before it is refused; the defaults are the app's."""

    max_rows: int = 500_000
    max_cells: int = 5_000_000
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    max_compression_ratio: int = 200
    max_members: int = 1_000


DEFAULT_LIMITS = ReadLimits()


def read_first_sheet(
    fileobj: IO[bytes], filename: str = "", limits: ReadLimits = DEFAULT_LIMITS
) -> Iterator[tuple[int, list[Any]]]:
    """The rows of the workbook's first worksheet that hold a value, as (row number, values).

    Values are None, str, int, float, bool, datetime or time (dates by their cell's number format).
    Raises FileRefused naming the file and the problem for anything that is not a sound
    workbook within ``limits``; the package is checked before the first row is returned.
    """
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


def _too_many_elements(label: str, limits: ReadLimits) -> FileRefused:
    return _refuse(
        label, f"has more XML elements than {limits.max_cells:,} cells need; it is not a spreadsheet export."
    )


def _refuse(label: str, problem: str) -> FileRefused:
    message = f"{label} {problem}"
    return FileRefused(message, details={"file": [message]})


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
        by the handlers). Every failure becomes a FileRefused naming the part."""
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

    def _malformed(self, what: str) -> FileRefused:
        return _refuse(
            self.workbook.label, f"is not a sound workbook: its first sheet has {what}; export it again."
        )


# The sheet's tags as most writers spell them (no prefix), so the common case skips _local().
# Column letters already seen (upper case, no $), and their column: most cells skip the regex.
_COLUMNS: dict[str, int] = {}
_DIGITS = "0123456789"
_TAGS = {name: name for name in ("c", "v", "t", "row", "is", "f", "r", "rPh", "sheetData")}
