"""Register imports: the one runner behind every spreadsheet that creates or updates register documents.

In the shape of django-import-export's Resource: a register (households, benefit links...) declares
its columns, its natural key, how a row becomes validated data, how a stored document and a row
compare, and how a new document is built. The runner does the rest, once for all of them: reads the
file with the tabular reader, works in batches (one query a batch for the stored documents by natural
key), refuses a natural key seen twice in the file, writes with the version in the update filter, turns
a document changed meanwhile into a row error (nothing overwritten), counts without writing on a dry
run, audits each row it writes and the import as a whole, and answers with one ImportResult.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from adapters import tabular
from adapters.errors import Coded, code_of
from service import audit, batching, spreadsheets
from service.access import Principal
from service.clock import utcnow

log = logging.getLogger(__name__)

IMPORT_BATCH = 500
DUPLICATE_KEY = 11000
CHANGED_MEANWHILE = Coded(
    "register.changed_meanwhile", "Changed by someone else during the import; import again."
)

# A row's problems by field name (the API's field, mapped to the file's column when reported).
Errors = dict[str, str]


@dataclass
class ImportResult(spreadsheets.ImportReport):
    """An import's outcome: rows read, inserted (new), updated, unchanged, skipped and rejected,
    with each rejected row's problems (masked and bounded by ``spreadsheets.ImportReport.reject``)."""

    skipped: int = 0

    def counts(self) -> dict[str, int]:
        counts = super().counts()
        rejected = counts.pop("rejected")
        return {**counts, "skipped": self.skipped, "rejected": rejected}


class Register:
    """What one register declares for its import; one instance a run, so it may keep the file's state.

    Hooks, in the order the runner calls them for each batch: ``parse`` (pure: row → data and
    errors), ``skip_row``, ``resolve`` (the batch's references, in as few queries as it can),
    ``check`` (scope, on rows that parsed), ``unique_keys`` (refused when an earlier row had them),
    ``existing_filter`` and ``remember`` (the stored documents), ``diff`` (stored or None against the
    row: changed fields, or errors), ``build`` (a new document), and after the file ``finish``.
    """

    collection: str
    entity_kind: str  # the audit's entity kind, and its actions' prefix (household.create ...)
    columns: Mapping[str, str]  # field name → the file's column
    required: tuple[str, ...]  # columns the file must have
    key_field: str  # the field a clash on the natural key is reported on
    duplicate_message: str  # a second row with the same natural key; {row} is the first one
    batch_size: int = IMPORT_BATCH

    def __init__(self, actor: Principal):
        self.actor = actor

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], Errors]:
        raise NotImplementedError

    def skip_row(self, data: Mapping[str, Any]) -> bool:
        """Whether a row is left out without an error (counted as skipped)."""
        return False

    def resolve(self, db: Database, rows: list[dict[str, Any]]) -> None:
        """Load what the batch's rows refer to, for ``check`` and ``diff``."""

    def check(self, data: dict[str, Any]) -> Errors:
        """Problems of a parsed row that need the resolved references (scope, existence)."""
        return {}

    def key(self, data: Mapping[str, Any]) -> Hashable:
        raise NotImplementedError

    def stored_key(self, document: Mapping[str, Any]) -> Hashable:
        raise NotImplementedError

    def unique_keys(self, data: Mapping[str, Any]) -> list[tuple[str, Hashable, str]]:
        """(field, value, message with {row}) that no two rows of a file may share; the key first."""
        return [(self.key_field, self.key(data), self.duplicate_message)]

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """One query for the stored documents the batch's rows may meet (by natural key, or a superset)."""
        raise NotImplementedError

    def remember(self, documents: list[dict[str, Any]]) -> None:
        """See every document ``existing_filter`` found, not only those with a row's key."""

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Errors]:
        """The fields a row changes on its stored document (none: unchanged; no stored one: new), or
        why the row may not be imported."""
        raise NotImplementedError

    def build(self, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """A new document's fields (the runner adds _id, version and the times)."""
        raise NotImplementedError

    def summary_county(self) -> str | None:
        """The county the import's summary audit entry is filed under, so its staff can read it."""
        return self.actor.county_codes[0] if len(self.actor.county_codes) == 1 else None

    def finish(self, db: Database, result: ImportResult) -> None:
        """After a file that wrote something (not on a dry run)."""


@dataclass
class _Write:
    """A row's pending write: a new document (``stored`` None), or the changes to a stored one."""

    row: int
    stored: dict[str, Any] | None
    document: dict[str, Any]


def run_import(
    db: Database,
    actor: Principal,
    register: Register,
    stream: IO[bytes],
    filename: str = "",
    *,
    dry_run: bool = False,
) -> ImportResult:
    """Import a register's spreadsheet; rows with any problem are rejected whole, with their row number.

    Re-importing a file changes nothing: unchanged rows are counted, not rewritten.
    """
    reader = spreadsheets.read_rows(stream, filename, required=register.required)
    result = ImportResult(dry_run=dry_run)
    seen: dict[tuple[str, Hashable], int] = {}
    try:
        for batch in batching.batched(reader, register.batch_size):
            _import_batch(db, actor, register, batch, result, seen)
    finally:
        reader.close()
    if not dry_run and (result.inserted or result.updated):
        register.finish(db, result)
        audit.record(
            db,
            actor,
            f"{register.entity_kind}.import",
            entity_kind="import",
            entity_id=filename or None,
            county_code=register.summary_county(),
            note=result.summary(),
        )
    log.info("register import", extra={"register": register.entity_kind, "file": filename, **result.counts()})
    return result


def _reject(result: ImportResult, register: Register, row: int, errors: Mapping[str, str]) -> None:
    result.reject(row, [(name, register.columns.get(name, ""), message) for name, message in errors.items()])


def _import_batch(
    db: Database,
    actor: Principal,
    register: Register,
    batch: list[tabular.Row],
    result: ImportResult,
    seen: dict[tuple[str, Hashable], int],
) -> None:
    parsed: list[tuple[int, dict[str, Any]]] = []
    for row in batch:
        result.rows += 1
        data, errors = register.parse(row)
        if register.skip_row(data):
            result.skipped += 1
        elif errors:
            _reject(result, register, row.number, errors)
        else:
            parsed.append((row.number, data))
    if not parsed:
        return
    register.resolve(db, [data for _number, data in parsed])

    candidates: list[tuple[int, dict[str, Any]]] = []
    for number, data in parsed:
        errors = register.check(data) or _duplicates(register.unique_keys(data), seen)
        if errors:
            _reject(result, register, number, errors)
            continue
        for field_name, value, _message in register.unique_keys(data):
            seen[(field_name, value)] = number
        candidates.append((number, data))
    if not candidates:
        return

    collection = db[register.collection]
    documents = list(collection.find(register.existing_filter([data for _number, data in candidates])))
    register.remember(documents)
    stored_by_key = {register.stored_key(document): document for document in documents}
    now = utcnow()
    pending: list[_Write] = []
    for number, data in candidates:
        stored = stored_by_key.get(register.key(data))
        changes, errors = register.diff(number, stored, data)
        if errors:
            _reject(result, register, number, errors)
        elif stored is None:
            document = {"_id": ObjectId(), **register.build(data, now), "version": 1}
            pending.append(_Write(number, None, {**document, "created_at": now, "updated_at": now}))
        elif changes:
            pending.append(_Write(number, stored, changes))
        else:
            result.unchanged += 1
    if result.dry_run:
        result.inserted += sum(1 for write in pending if write.stored is None)
        result.updated += sum(1 for write in pending if write.stored is not None)
        return
    failed = _write(collection, pending, now)
    for index, write in enumerate(pending):
        if index in failed:
            _reject(result, register, write.row, {register.key_field: CHANGED_MEANWHILE})
        else:
            _audit_row(db, actor, register, write, now, result)


def _duplicates(
    keys: Iterable[tuple[str, Hashable, str]], seen: Mapping[tuple[str, Hashable], int]
) -> Errors:
    """The first of a row's unique keys an earlier row of the file already has."""
    for field_name, value, message in keys:
        if (field_name, value) in seen:
            first = seen[(field_name, value)]
            code, params = code_of(message)
            text = message.format(row=first)
            return {field_name: Coded(code, text, **params, row=first) if code else text}
    return {}


def _write(collection: Any, pending: list[_Write], now: datetime) -> set[int]:
    """Write a batch at once; the indexes of rows whose document someone else created or changed meanwhile.

    An update carries the version it was compared with in its filter, so a stale one matches nothing.
    """
    if not pending:
        return set()
    writes: list[Any] = [
        InsertOne(write.document)
        if write.stored is None
        else UpdateOne(
            {"_id": write.stored["_id"], "version": write.stored["version"]},
            {"$set": {**write.document, "updated_at": now}, "$inc": {"version": 1}},
        )
        for write in pending
    ]
    try:
        matched = collection.bulk_write(writes, ordered=False).matched_count
        failed: set[int] = set()
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise
        failed = {failure["index"] for failure in failures}
        matched = int(error.details.get("nMatched", 0))
    updates = [i for i, write in enumerate(pending) if write.stored is not None and i not in failed]
    if matched < len(updates):
        failed |= _lost_updates(collection, pending, updates)
    return failed


def _lost_updates(collection: Any, pending: list[_Write], updates: list[int]) -> set[int]:
    """Updates whose version filter matched nothing, told apart by reading their documents again
    (a bulk write counts the matches, it does not say which)."""
    current = {
        document["_id"]: document
        for document in collection.find({"_id": {"$in": [pending[i].stored["_id"] for i in updates]}})
    }
    lost = set()
    for index in updates:
        write = pending[index]
        now_stored = current.get(write.stored["_id"], {})
        if now_stored.get("version") != write.stored["version"] + 1 or any(
            not _same(now_stored.get(name), value) for name, value in write.document.items()
        ):
            lost.add(index)
    return lost


def _same(stored: Any, value: Any) -> bool:
    """Equal as stored: a backend may hand datetimes back without their (UTC) zone."""
    if isinstance(stored, datetime) and isinstance(value, datetime):
        return _aware(stored) == _aware(value)
    return stored == value


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _audit_row(
    db: Database, actor: Principal, register: Register, write: _Write, now: datetime, result: ImportResult
) -> None:
    if write.stored is None:
        result.inserted += 1
        action, before, after = "create", None, write.document
    else:
        result.updated += 1
        before = write.stored
        after = {**before, **write.document, "version": before["version"] + 1, "updated_at": now}
        action = "update"
    audit.record(
        db,
        actor,
        f"{register.entity_kind}.{action}",
        entity_kind=register.entity_kind,
        entity_id=after["_id"],
        county_code=after.get("county_code"),
        before=before,
        after=after,
        note=f"import row {write.row}",
    )
