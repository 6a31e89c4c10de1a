"""The emulator's data kept in a local directory (``DATA_DIR``), so the zero-setup service keeps it.

Every change to a collection's document store (a document put or deleted by ``_id``, its indexes
or options changed, the collection dropped) is captured as an after-image and appended to a
journal before the outermost emulator call returns, so nothing a request was told about lives
only in memory. Replay re-applies results, never operations (an upsert re-run would mint another
``_id``), so it is deterministic and idempotent. Start-up loads the last snapshot and replays the
journal; a snapshot is written at clean shutdown and once the journal has grown past a threshold,
atomically (temporary file, fsync, rename), and the journal then starts afresh.

The stores that report the changes are in service/durable_stores.py; the frames every file is
made of, in service/durable_format.py.

The directory::

    FORMAT.json        what the directory is and its format version (written once)
    snapshot.bson      every collection's indexes, options and documents at one moment
    journal-<n>.bson   the changes since that snapshot (n is the snapshot's ``next_journal``)
    lock               flock'ed by the one process that has the directory open; holds its pid

A journal frame holds every change of one outermost emulator call, so a call is replayed whole or
not at all.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import gc
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service import durable_format, durable_stores, emulator
from service.durable_format import FORMAT, VERSION, Damage, journal_name
from service.errors import ServiceError

__all__ = ["DataDirError", "DataDirectory", "StorageWriteFailed", "on_failure", "open_directory"]

log = logging.getLogger(__name__)

MARKER = "FORMAT.json"
SNAPSHOT = "snapshot.bson"
LOCK = "lock"
# A snapshot is written once the journal is this large, or as large as the last snapshot if that is
# more: replay time stays bounded and the snapshot's cost is amortised over as many bytes of journal.
SNAPSHOT_AFTER_BYTES = 64 * 1024 * 1024
_SNAPSHOT_CHUNK = 1000  # documents per snapshot frame


class DataDirError(RuntimeError):
    """The data directory cannot be opened as it is; the message names the problem and the fix."""


class StorageWriteFailed(ServiceError):
    status, code = 503, "storage_write_failed"


_failure_handlers: list[Callable[[], None]] = []


def on_failure(handler: Callable[[], None]) -> None:
    """Call ``handler`` once a journal write fails (gunicorn: stop this worker, so a fresh one reloads)."""
    _failure_handlers.append(handler)


def open_directory(path: str | os.PathLike, *, fsync: bool = True) -> DataDirectory:
    """Lock, check and load a data directory (creating it when missing or empty)."""
    directory = DataDirectory(Path(path), fsync=fsync)
    directory.open()
    return directory


def _header(path: Path, kind: str, payload: dict | None) -> dict:
    if payload is None or payload.get("format") != FORMAT:
        raise DataDirError(
            f"{path} is not a {kind} of this service's data directory (its first record does not say "
            f"{FORMAT!r}). Move the file away or restore the directory from a backup."
        )
    if payload.get("version") != VERSION or payload.get("kind") != kind:
        raise DataDirError(
            f"{path} is a {payload.get('kind')} in format version {payload.get('version')}; this version "
            f"of the service reads {kind}s in format version {VERSION} only. Run the version of the "
            f"service that wrote it, or start over in a new DATA_DIR."
        )
    return payload


# --- the directory --------------------------------------------------------------------------------


class DataDirectory:
    """One open data directory: its lock, the loaded client, and the journal it appends to."""

    def __init__(self, path: Path, *, fsync: bool = True):
        self.path = path.expanduser().resolve()
        self.fsync = fsync
        self.server = durable_stores.JournaledServerStore(self)
        self.client: Any = None
        self.failed: BaseException | None = None
        self.loaded_documents = 0
        self.load_seconds = 0.0
        self._pid = os.getpid()
        self._lock_fd: int | None = None
        self._journal_fd: int | None = None
        self._journal_number = 0
        self._journal_bytes = 0  # bytes of journal known good on disk (header included)
        self._journal_header_bytes = 0
        self._snapshot_bytes = 0
        self._dirty = False
        self._dropped_names: list[tuple[str, str]] = []
        self._reset: dict[Any, None] = {}
        self._meta: dict[Any, None] = {}
        self._keys: dict[Any, dict[Any, None]] = {}

    # -- opening ---------------------------------------------------------------------------------

    def open(self) -> None:
        started = time.perf_counter()
        if self.path.exists() and not self.path.is_dir():
            raise DataDirError(f"DATA_DIR {self.path} is a file, not a directory. Point DATA_DIR elsewhere.")
        self.path.mkdir(parents=True, exist_ok=True)
        self._refuse_foreign()
        self._take_lock()
        # Loading makes ~100,000 dicts at once: the cyclic collector would rescan them over and over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._check_marker()
            self._load()
        except BaseException:
            self._release_lock()
            raise
        finally:
            if collecting:
                gc.enable()
        self.client = emulator.new_client(_store=self.server)
        self.loaded_documents = sum(
            len(store._documents)
            for db in self.server._databases.values()
            for store in db._collections.values()
        )
        self.load_seconds = time.perf_counter() - started
        atexit.register(self.close)
        log.info(
            "Data directory %s: %d documents loaded in %.2f s (snapshot %d bytes, journal %d bytes).",
            self.path,
            self.loaded_documents,
            self.load_seconds,
            self._snapshot_bytes,
            self._journal_bytes,
        )

    def _refuse_foreign(self) -> None:
        if (self.path / MARKER).exists():
            return
        others = sorted(entry.name for entry in self.path.iterdir() if entry.name != LOCK)
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise DataDirError(
                f"DATA_DIR {self.path} is not empty and is not this service's data directory (no {MARKER}; "
                f"it holds {shown}). Nothing was changed. Point DATA_DIR to an empty or new directory, "
                f"or to one this service created."
            )

    def _take_lock(self) -> None:
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirError(
                f"DATA_DIR {self.path} is in use by another process (pid {holder}). Only one process may "
                f"open it at a time: stop the service (or that process) first, or use another DATA_DIR."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def _check_marker(self) -> None:
        marker = self.path / MARKER
        if not marker.exists():
            # Re-checked under the lock: another process may have created the directory meanwhile.
            self._refuse_foreign()
            content = {"format": FORMAT, "version": VERSION, "created_at": datetime.now(UTC).isoformat()}
            temporary = marker.with_suffix(".tmp")
            temporary.write_text(json.dumps(content, indent=2) + "\n")
            with temporary.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, marker)
            durable_format.fsync_directory(self.path)
            log.warning("Data directory %s created (empty).", self.path)
            return
        try:
            content = json.loads(marker.read_text())
        except (OSError, ValueError) as error:
            raise DataDirError(
                f"{marker} cannot be read ({error}). Restore DATA_DIR {self.path} from a backup."
            ) from error
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            raise DataDirError(
                f"{marker} does not describe this service's data (format {FORMAT!r}). "
                f"Point DATA_DIR to an empty or new directory."
            )
        if content.get("version") != VERSION:
            raise DataDirError(
                f"DATA_DIR {self.path} is in format version {content.get('version')}; this version of the "
                f"service reads format version {VERSION} only. Run the version of the service that wrote "
                f"it, or start over in a new DATA_DIR."
            )

    def _load(self) -> None:
        next_journal = 1
        snapshot = self.path / SNAPSHOT
        if snapshot.exists():
            next_journal = self._load_snapshot(snapshot)
        numbers = sorted(
            int(match.group(1))
            for match in map(durable_format.JOURNAL_NAME.match, os.listdir(self.path))
            if match is not None
        )
        for number in numbers:
            if number < next_journal:
                # Already in the snapshot; left behind by a stop between the snapshot and this clean-up.
                (self.path / journal_name(number)).unlink()
        live = [number for number in numbers if number >= next_journal]
        for position, number in enumerate(live):
            if not self._replay_journal(number, last=position == len(live) - 1):
                # Cut short while it was being created: it cannot hold a change yet.
                log.warning("Journal %s was never completed; it is started again.", journal_name(number))
                live.pop()
                self._start_journal(number)
                return
        if live:
            self._journal_number = live[-1]
            path = self.path / journal_name(self._journal_number)
            self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            self._journal_bytes = path.stat().st_size
        else:
            self._start_journal(next_journal)

    def _load_snapshot(self, path: Path) -> int:
        data = path.read_bytes()
        self._snapshot_bytes = len(data)
        header: dict | None = None
        ended = False
        try:
            for offset, payload in durable_format.frames(data):
                if offset == 0:
                    header = _header(path, "snapshot", payload)
                    continue
                if ended:
                    raise Damage(offset, "records after the end record")
                if payload.get("end"):
                    ended = True
                    continue
                self._apply_all(path, payload)
        except Damage as damage:
            raise DataDirError(
                f"The snapshot {path} is damaged at byte {damage.offset} of {len(data)} ({damage.reason}). "
                f"Snapshots are written whole or not at all, so the file was changed after it was written. "
                f"Restore DATA_DIR {self.path} from a backup; ./scripts/run --fresh moves it aside and "
                f"starts over."
            ) from None
        if header is None:
            header = _header(path, "snapshot", None)
        if not ended:
            raise DataDirError(
                f"The snapshot {path} ends before its end record ({len(data)} bytes). Restore DATA_DIR "
                f"{self.path} from a backup; ./scripts/run --fresh moves it aside and starts over."
            )
        return int(header["next_journal"])

    def _replay_journal(self, number: int, *, last: bool) -> bool:
        """Replay one journal; False when the last one has no whole header (it holds nothing)."""
        path = self.path / journal_name(number)
        data = path.read_bytes()
        if last and not data:
            return False
        good_end = 0
        try:
            for offset, payload in durable_format.frames(data):
                if offset == 0:
                    header = _header(path, "journal", payload)
                    if header.get("number") != number:
                        raise DataDirError(f"{path} says it is journal {header.get('number')}; rename it.")
                    self._journal_header_bytes = (
                        durable_format.FRAME.size + durable_format.FRAME.unpack_from(data, 0)[0]
                    )
                else:
                    self._apply_all(path, payload)
                good_end = (
                    offset + durable_format.FRAME.size + durable_format.FRAME.unpack_from(data, offset)[0]
                )
        except Damage as damage:
            if last and damage.offset == 0 and durable_format.is_torn_tail(data, damage):
                return False
            if not last or damage.offset == 0 or not durable_format.is_torn_tail(data, damage):
                raise DataDirError(
                    f"The journal {path} is damaged at byte {damage.offset} ({damage.reason}) and "
                    f"{len(data) - damage.offset} bytes follow, which a write cut short cannot explain. "
                    f"Restore DATA_DIR {self.path} from a backup; ./scripts/run --fresh moves it aside and "
                    f"starts over."
                ) from None
            log.warning(
                "Journal %s ends in an incomplete record (a write cut short by a crash or power loss): "
                "dropped %d bytes at offset %d (%s). Every change before it is loaded; the dropped one "
                "was never confirmed to anyone.",
                path,
                len(data) - damage.offset,
                damage.offset,
                damage.reason,
            )
            with path.open("r+b") as handle:
                handle.truncate(good_end)
                os.fsync(handle.fileno())
        return True

    def _apply_all(self, path: Path, payload: dict) -> None:
        try:
            for op in payload["ops"]:
                durable_stores.apply(self.server, op)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DataDirError(
                f"{path} holds a change this version of the service does not understand ({error!r}). "
                f"Run the version of the service that wrote it, or restore DATA_DIR from a backup."
            ) from error

    def _start_journal(self, number: int) -> None:
        path = self.path / journal_name(number)
        header = durable_format.frame(
            {"format": FORMAT, "version": VERSION, "kind": "journal", "number": number},
        )
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            durable_format.write_all(fd, header)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        durable_format.fsync_directory(self.path)
        if self._journal_fd is not None:
            os.close(self._journal_fd)
        self._journal_fd = fd
        self._journal_number = number
        self._journal_bytes = self._journal_header_bytes = len(header)

    # -- change capture (called by the stores, under the emulator's lock) --------------------------

    def _pending(self) -> None:
        if not self._dirty:
            self._dirty = True
            emulator.flush_before_return(self)

    def touched(self, store: Any, key: Any) -> None:
        self._keys.setdefault(store, {})[key] = None
        self._pending()

    def meta_changed(self, store: Any) -> None:
        self._meta[store] = None
        self._pending()

    def reset(self, store: Any) -> None:
        self._reset[store] = None
        self._pending()

    def dropped(self, db_name: str, name: str) -> None:
        self._dropped_names.append((db_name, name))
        self._pending()

    def _changes(self) -> list[dict]:
        ops: list[dict] = [{"o": "drop", "d": d, "c": c} for d, c in self._dropped_names]
        for store in self._reset:
            ops.append({"o": "drop", "d": store.db_name, "c": store.name})
            ops.append(durable_stores.meta_op(store))
            ops.extend(durable_stores.put_op(store, document) for document in store._documents.values())
        for store in self._meta:
            if store not in self._reset:
                ops.append(durable_stores.meta_op(store))
        for store, keys in self._keys.items():
            if store in self._reset:
                continue
            documents = store._documents
            for key in keys:
                document = documents.get(key)
                if document is None:
                    ops.append({"o": "del", "d": store.db_name, "c": store.name, "id": key})
                else:
                    ops.append(durable_stores.put_op(store, document))
        self._dropped_names.clear()
        self._reset.clear()
        self._meta.clear()
        self._keys.clear()
        self._dirty = False
        return ops

    def flush(self) -> None:
        """Append this call's changes to the journal (run by the emulator before the call returns)."""
        ops = self._changes()
        if self.failed is not None:
            raise self._refusal()
        if not ops:
            return
        if self._journal_fd is None:
            raise DataDirError(f"{self.path} was closed; this change cannot be saved.")
        try:
            frame = durable_format.frame({"ops": ops})
            durable_format.write_all(self._journal_fd, frame)
            if self.fsync:
                os.fdatasync(self._journal_fd)
        except Exception as error:
            self._fail(error)
            raise self._refusal() from error
        self._journal_bytes += len(frame)
        journal_changes = self._journal_bytes - self._journal_header_bytes
        if journal_changes >= max(SNAPSHOT_AFTER_BYTES, self._snapshot_bytes):
            try:
                self.snapshot()
            except OSError as error:
                # The journal still holds everything: log, keep appending, try again after as many bytes.
                self._snapshot_bytes = max(self._snapshot_bytes, self._journal_bytes)
                log.error("No snapshot written in %s (%s); the journal keeps every change.", self.path, error)

    def _fail(self, error: BaseException) -> None:
        self.failed = error
        journal = self.path / journal_name(self._journal_number)
        with_reason = "the disk is full" if getattr(error, "errno", None) == errno.ENOSPC else str(error)
        log.critical(
            "Could not write the journal %s: %s. The change was NOT saved and the data in memory no longer "
            "matches the disk, so this process serves nothing more; a fresh worker reloads from %s. "
            "Free space on (or repair) the disk holding DATA_DIR.",
            journal,
            with_reason,
            self.path,
        )
        # Leave the journal ending at its last whole record (else the next start-up drops the torn tail).
        with contextlib.suppress(OSError):
            os.ftruncate(self._journal_fd, self._journal_bytes)
        emulator.refuse_operations(self._refusal)
        for handler in _failure_handlers:
            handler()

    @staticmethod
    def _refusal() -> StorageWriteFailed:
        return StorageWriteFailed("The change could not be saved: the data directory cannot be written.")

    # -- snapshots and shutdown ------------------------------------------------------------------

    def snapshot(self) -> None:
        """Write every collection to a new snapshot and start an empty journal after it."""
        with emulator.operation_lock():
            if self.failed is not None:
                raise DataDirError(f"The data in memory no longer matches {self.path}; no snapshot written.")
            next_journal = self._journal_number + 1
            temporary = self.path / (SNAPSHOT + ".tmp")
            with temporary.open("wb") as handle:
                header = {
                    "format": FORMAT,
                    "version": VERSION,
                    "kind": "snapshot",
                    "next_journal": next_journal,
                }
                handle.write(durable_format.frame({**header, "written_at": datetime.now(UTC)}))
                documents = 0
                for db_store in list(self.server._databases.values()):
                    for store in list(db_store._collections.values()):
                        if not store.is_created:
                            continue
                        handle.write(durable_format.frame({"ops": [durable_stores.meta_op(store)]}))
                        batch: list[dict] = []
                        for document in store._documents.values():
                            batch.append(durable_stores.put_op(store, document))
                            if len(batch) == _SNAPSHOT_CHUNK:
                                handle.write(durable_format.frame({"ops": batch}))
                                documents += len(batch)
                                batch = []
                        if batch:
                            handle.write(durable_format.frame({"ops": batch}))
                            documents += len(batch)
                handle.write(durable_format.frame({"end": True, "documents": documents}))
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
            os.replace(temporary, self.path / SNAPSHOT)
            durable_format.fsync_directory(self.path)
            previous = self.path / journal_name(self._journal_number)
            self._start_journal(next_journal)
            previous.unlink(missing_ok=True)
            self._snapshot_bytes = size
            log.info("Snapshot of %d documents written to %s (%d bytes).", documents, self.path, size)

    def close(self) -> None:
        """Write a snapshot if the journal holds changes, then release the directory."""
        if os.getpid() != self._pid or self._lock_fd is None:
            return  # a forked child never writes its parent's directory
        atexit.unregister(self.close)
        with emulator.operation_lock():
            try:
                if self.failed is None and self._journal_bytes > self._journal_header_bytes:
                    self.snapshot()
            except Exception:
                log.exception("Could not write a snapshot at shutdown; the journal keeps every change.")
            finally:
                if self._journal_fd is not None:
                    os.close(self._journal_fd)
                    self._journal_fd = None
                self._release_lock()
