"""An export's files on their way through an import: each counted and hashed as it streams.

A file is read once, never held whole: its size and SHA-256 are computed as the adapter reads
it, and a dry run's keeper (service/pending_uploads.py) is handed every byte on the way.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from typing import IO, Any

from service import pending_uploads

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024

Source = tuple[IO[bytes], str]


class HashingReader(io.RawIOBase):
    """A read-only view of a byte stream that counts and hashes every byte as it passes.

    Not seekable on purpose: a reader that needs to seek (openpyxl) spools it to a
    temporary file instead, so every byte still passes here exactly once.
    """

    def __init__(self, source: IO[bytes]):
        self._source = source
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.exhausted = False
        # Where a dry run keeps the bytes it reads (pending_uploads.Keeper), else None.
        self.keep: Callable[[bytes], None] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._take(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _take(self, size: int) -> bytes:
        data = self._source.read(size)
        if not data:
            self.exhausted = True
            return b""
        self._sha256.update(data)
        self.size += len(data)
        if self.keep is not None:
            self.keep(data)
        return data

    def drain(self) -> None:
        """Read what the adapter left unread, so the digest and size cover the whole file."""
        while not self.exhausted:
            self._take(READ_CHUNK)

    @property
    def sha256(self) -> str | None:
        return self._sha256.hexdigest() if self.exhausted else None


class Sources:
    """The files of one export, each counted and hashed as it streams."""

    def __init__(self, files: Sequence[Source]):
        self.files = [(HashingReader(stream), filename) for stream, filename in files]

    @property
    def size(self) -> int:
        return sum(reader.size for reader, _ in self.files)

    @property
    def filenames(self) -> str:
        return ", ".join(filename for _, filename in self.files)

    def buffered(self) -> list[Source]:
        return [
            (io.BufferedReader(reader, buffer_size=READ_CHUNK), filename) for reader, filename in self.files
        ]

    def drain(self) -> None:
        for reader, _ in self.files:
            reader.drain()

    def keep(self, keeper: pending_uploads.Keeper) -> None:
        for position, (reader, _) in enumerate(self.files):
            reader.keep = keeper.writer(position)

    def drain_quietly(self) -> None:
        for reader, _ in self.files:
            _drain_quietly(reader)

    def described(self) -> list[dict[str, Any]]:
        return [
            # Size unknown (None) until the file has been read.
            {"filename": filename, "size": reader.size or None, "sha256": reader.sha256}
            for reader, filename in self.files
        ]


def _drain_quietly(source: HashingReader) -> None:
    try:
        source.drain()
    except Exception:  # the upload itself broke off; the run records the digest as unknown
        log.warning("could not read the rest of a failed import's file", exc_info=True)
