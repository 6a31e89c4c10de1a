"""A dry run's files, kept so that confirming it imports the very same bytes (试导入暂存文件).

A dry run (service/imports.py) writes each file to ``pending_uploads`` as the file streams past
the adapter, in chunks of ``CHUNK_BYTES`` (a file may be larger than one BSON document), each
chunk naming its file by position and carrying its expiry. A run keeps at most
``MAX_KEPT_BYTES`` (beyond that it keeps nothing), for ``KEPT_FOR``; the confirmation reads the
chunks back, checks every file against the SHA-256 the dry run recorded, and deletes them once
imported. On a MongoDB server a TTL index deletes expired chunks; the emulator has none, so
expired chunks are also deleted whenever a dry run keeps files, and reading refuses them anyway.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import IO, Any

from bson import Binary
from pymongo.database import Database

from service import storage
from service.clock import utcnow

KEPT_FOR_HOURS = 24
KEPT_FOR = timedelta(hours=KEPT_FOR_HOURS)
# Well under MongoDB's 16 MiB document limit, and few enough round trips for a large file.
CHUNK_BYTES = 4 * 1024 * 1024
# The largest request body (MAX_CONTENT_LENGTH's default): what an upload can be anyway.
MAX_KEPT_MIB = 64
MAX_KEPT_BYTES = MAX_KEPT_MIB * 1024 * 1024
# A kept file being re-imported stays in memory up to this size, beyond it in a temporary file.
SPOOL_IN_MEMORY = 8 * 1024 * 1024


class Keeper:
    """Writes the files of one dry run to ``pending_uploads`` while they are read.

    Each file is buffered to a whole chunk before it is written; chunks are numbered across the
    files in the order written (the files of one export may be read in turns).
    """

    def __init__(self, db: Database, run_id: Any, file_count: int):
        self.collection = db[storage.PENDING_UPLOADS]
        self.run_id = run_id
        now = utcnow()
        self.expires_at = now + KEPT_FOR
        self.buffers = [bytearray() for _ in range(file_count)]
        self.number = 0
        self.size = 0
        self.too_large = False
        self.collection.delete_many({"expires_at": {"$lte": now}})

    def writer(self, position: int) -> Callable[[bytes], None]:
        return lambda data: self.write(position, data)

    def write(self, position: int, data: bytes) -> None:
        if self.too_large:
            return
        self.size += len(data)
        if self.size > MAX_KEPT_BYTES:
            self.too_large = True
            self.buffers = [bytearray() for _ in self.buffers]
            self.discard()
            return
        buffer = self.buffers[position]
        buffer += data
        while len(buffer) >= CHUNK_BYTES:
            self._insert(position, bytes(buffer[:CHUNK_BYTES]))
            del buffer[:CHUNK_BYTES]

    def finish(self) -> datetime | None:
        """Write what is buffered; returns when the files expire, or None when none are kept."""
        if self.too_large:
            return None
        for position, buffer in enumerate(self.buffers):
            if buffer:
                self._insert(position, bytes(buffer))
        return self.expires_at

    def discard(self) -> None:
        discard(self.collection.database, self.run_id)

    def _insert(self, position: int, data: bytes) -> None:
        self.collection.insert_one(
            {
                "run_id": self.run_id,
                "n": self.number,
                "file": position,
                "data": Binary(data),
                "expires_at": self.expires_at,
            }
        )
        self.number += 1


def kept_until(db: Database, run_id: Any) -> datetime | None:
    """When the run's kept files expire, or None when none are kept."""
    first = db[storage.PENDING_UPLOADS].find_one(
        {"run_id": run_id, "n": 0, "expires_at": {"$gt": utcnow()}}, {"expires_at": 1}
    )
    return first["expires_at"] if first else None


@contextmanager
def kept_files(
    db: Database, run_id: Any, files: Sequence[dict[str, Any]]
) -> Iterator[list[tuple[IO[bytes], str]] | None]:
    """The run's kept files as (stream, filename) pairs, or None unless every file is still kept,
    unexpired and byte for byte the file the run read (``files``: the run's names and SHA-256s)."""
    with ExitStack() as stack:
        spools = [stack.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)) for _ in files]
        digests = [hashlib.sha256() for _ in files]
        chunks = db[storage.PENDING_UPLOADS].find({"run_id": run_id, "expires_at": {"$gt": utcnow()}})
        found = False
        for chunk in chunks.sort("n", 1):
            position = chunk.get("file", 0)
            if not isinstance(position, int) or not 0 <= position < len(files):
                yield None
                return
            data = bytes(chunk["data"])
            digests[position].update(data)
            spools[position].write(data)
            found = True
        if not found or any(
            digest.hexdigest() != file.get("sha256") for digest, file in zip(digests, files, strict=True)
        ):
            yield None
            return
        for spool in spools:
            spool.seek(0)
        yield [(spool, file.get("filename") or "") for spool, file in zip(spools, files, strict=True)]


def discard(db: Database, run_id: Any) -> None:
    db[storage.PENDING_UPLOADS].delete_many({"run_id": run_id})
