"""What an upload is, told from its first bytes: an xlsx workbook or CSV text, and for CSV its text
encoding and the delimiter its header line uses (adapters/tabular.py reads the rows)."""

from __future__ import annotations

import codecs
import io
import shutil
import tempfile
from typing import IO, Any

from adapters import errors as codes
from adapters.errors import Coded, FileRefused

HEAD_BYTES = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and encrypted workbooks)
_XLSX_EXTENSIONS = (".xlsx", ".xlsm")
# Byte order marks, longest first: UTF-32's little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DELIMITERS = (",", "\t", ";")
# An encoding as a message names it.
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "gb18030": "GB18030 (GBK)"}


def read_head(stream: IO[bytes]) -> bytes:
    """Up to HEAD_BYTES from the stream (a raw stream may return short reads)."""
    parts: list[bytes] = []
    size = 0
    while size < HEAD_BYTES:
        part = stream.read(HEAD_BYTES - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def detect_kind(head: bytes, filename: str) -> str:
    name = (filename or "").lower()
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head.startswith(_OLE_MAGIC) or name.endswith(".xls"):
        message = Coded(
            codes.FILE_OLD_WORKBOOK,
            "Old .xls workbooks (and password-protected ones) cannot be read; save as .xlsx or CSV.",
        )
        raise FileRefused(message, details={"file": [Coded(codes.FILE_OLD_WORKBOOK, "Unsupported format.")]})
    if name.endswith(_XLSX_EXTENSIONS):
        raise FileRefused(
            Coded(codes.FILE_NOT_XLSX, "The file is named .xlsx but is not an xlsx workbook."),
            details={"file": [Coded(codes.FILE_NOT_XLSX, "Not an xlsx file.")]},
        )
    return "csv"


def detect_encoding(head: bytes, complete: bool) -> str:
    """A BOM; else UTF-16 or UTF-32 when the text holds NUL bytes; else the first of UTF-8 and
    GB18030 that decodes the head strictly.

    A character cut at the end of the head (or of a truncated file) does not count against an
    encoding: the row holding it is reported as cut short instead.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    candidates: tuple[str, ...] = ("utf-8", "gb18030")
    if b"\x00" in head:
        # No text export holds NUL bytes; wide encodings write one in nearly every ASCII character.
        candidates = (_wide_encoding(head),)
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            decoder.decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    changed = _first_encoding_change(head, complete)
    if changed is not None:
        line, before, after = changed
        message = Coded(
            codes.FILE_MIXED_ENCODING,
            f"Line {line} is {after} text, but the lines before it are {before}: the file mixes two text "
            "encodings (rows pasted from another file?); save the whole file again as CSV UTF-8 or xlsx.",
            row=line,
        )
        details = Coded(codes.FILE_MIXED_ENCODING, f"Line {line}: another text encoding.", row=line)
        raise FileRefused(message, details={"file": [details]})
    if b"\x00" in head:
        message = Coded(
            codes.FILE_NOT_TEXT,
            "The file holds NUL bytes and is not UTF-16 or UTF-32 text: it is not a CSV export "
            "(a binary file?); upload the platform's CSV or xlsx export.",
        )
        raise FileRefused(message, details={"file": [Coded(codes.FILE_NOT_TEXT, "Not a text file.")]})
    message = Coded(
        codes.FILE_UNKNOWN_ENCODING,
        "The CSV file is neither UTF-8 nor GB18030/GBK text; save it as CSV UTF-8 or xlsx.",
    )
    raise FileRefused(
        message, details={"file": [Coded(codes.FILE_UNKNOWN_ENCODING, "Unknown text encoding.")]}
    )


def _first_encoding_change(head: bytes, complete: bool) -> tuple[int, str, str] | None:
    """The first line of the head in another encoding (UTF-8 or GB18030) than the non-ASCII lines
    before it: (line number, the encoding before, the line's)."""
    lines = head.split(b"\n")
    if not complete:
        lines.pop()  # may be cut inside a character
    first = None
    for number, line in enumerate(lines, start=1):
        if line.isascii():
            continue
        kind = _line_encoding(line)
        if kind is None:
            return None
        if first is None:
            first = kind
        elif kind != first:
            return number, encoding_name(first), encoding_name(kind)
    return None


def _line_encoding(line: bytes) -> str | None:
    for encoding in ("utf-8", "gb18030"):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


def _wide_encoding(head: bytes) -> str:
    """UTF-16 or UTF-32 without a BOM, and its byte order, from where the NUL bytes fall."""
    sample = head[: len(head) // 4 * 4][:16384]
    zeros = [sample[offset::4].count(0) for offset in range(4)]
    quarter = max(len(sample) // 4, 1)
    # UTF-32 puts a NUL in the top two bytes of every character of the first plane.
    if zeros[2] > 0.9 * quarter and zeros[3] > 0.9 * quarter:
        return "utf-32-le"
    if zeros[0] > 0.9 * quarter and zeros[1] > 0.9 * quarter:
        return "utf-32-be"
    return "utf-16-le" if zeros[1] + zeros[3] >= zeros[0] + zeros[2] else "utf-16-be"


def encoding_name(encoding: str) -> str:
    return _ENCODING_NAMES.get(encoding, encoding.upper().removesuffix("-LE").removesuffix("-BE"))


def detect_delimiter(head: bytes, encoding: str, complete: bool) -> str:
    """Whichever of comma, tab (Excel's "Unicode text") and semicolon (Excel in many European
    locales) the header line holds most; comma when it holds none."""
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > counts[","] else ","


class Prefixed(io.RawIOBase):
    """The bytes already read for detection, followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if len(self._head):
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def rewound(stream: IO[bytes], head: bytes) -> IO[bytes]:
    """A seekable file positioned at the start, as openpyxl needs (a zip is read from its end)."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        stream.seek(stream.tell() - len(head))
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - closed with the workbook
    spool.write(head)
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return spool
