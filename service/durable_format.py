"""The data directory's file format: frames of BSON with their length and CRC32, read back checked.

Each file is a run of frames: a 4-byte little-endian payload length, the payload's CRC32, and a
BSON payload. A file's first frame is its header, naming ``FORMAT`` and ``VERSION``. A frame that
does not read back raises :class:`Damage` at its offset; :func:`is_torn_tail` tells a final write
cut short from damage in the middle of a file.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, TypeDecoder, TypeRegistry
from bson.int64 import Int64

FORMAT = "consumption-aid-data"
VERSION = 1
JOURNAL_NAME = re.compile(r"^journal-(\d{8})\.bson$")
FRAME = struct.Struct("<II")
_MIN_BSON = 5


class _PlainInt(TypeDecoder):
    # The stores held Python ints before the restart; they hold Python ints after it.
    bson_type = Int64

    def transform_bson(self, value: Int64) -> int:
        return int(value)


# Stored datetimes are naive UTC (mongomock_ng converts on the way in); they come back the same.
CODEC = CodecOptions(
    document_class=dict,
    tz_aware=False,
    uuid_representation=UuidRepresentation.STANDARD,
    type_registry=TypeRegistry([_PlainInt()]),
)


def frame(payload: dict) -> bytes:
    data = bson.encode(payload, codec_options=CODEC)
    return FRAME.pack(len(data), zlib.crc32(data)) + data


class Damage(Exception):
    def __init__(self, offset: int, reason: str):
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def frames(data: bytes) -> Iterator[tuple[int, dict]]:
    """(offset, payload) of each frame; raises Damage at the first frame that does not read back."""
    offset = 0
    size = len(data)
    while offset < size:
        if size - offset < FRAME.size:
            raise Damage(offset, "an incomplete frame header")
        length, crc = FRAME.unpack_from(data, offset)
        start = offset + FRAME.size
        if length < _MIN_BSON:
            raise Damage(offset, f"an impossible record length ({length})")
        if start + length > size:
            raise Damage(offset, f"a record of {length} bytes with only {size - start} bytes left")
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            raise Damage(offset, "a checksum mismatch")
        try:
            decoded = bson.decode(payload, codec_options=CODEC)
        except Exception as error:
            raise Damage(offset, f"an unreadable record ({error})") from error
        yield offset, decoded
        offset = start + length


def is_torn_tail(data: bytes, damage: Damage) -> bool:
    """Whether damage at this offset is a final write cut short, not damage in the middle of the file."""
    offset = damage.offset
    if len(data) - offset < FRAME.size:
        return True
    length, _crc = FRAME.unpack_from(data, offset)
    end = offset + FRAME.size + length
    # The last record, or a tail a crash left as zeros (a file extended before its data was written).
    return end >= len(data) or not data[offset:].strip(b"\0")


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def journal_name(number: int) -> str:
    return f"journal-{number:08d}.bson"
