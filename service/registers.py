"""Register imports: the one runner behind every spreadsheet that creates or updates register documents.

In the shape of django-import-export's Resource: a register (households, benefit links...) declares
its columns, its natural key, how a row becomes validated data, how a stored document and a row
compare, and how a new document is built. The runner does the rest, once for all of them: reads the
file with the tabular reader, works in batches (one query a batch for the stored documents by natural
key), refuses a natural key seen twice in the file, writes with the version in the update filter, turns
a document changed meanwhile into a row error (nothing overwritten), hands what it wrote to the
register's next step (a canteen's purchases go on to the sales ledger, which may still refuse a row),
counts without writing on a dry run, audits each row it writes and the import as a whole, and answers
with the one result of every import (``IngestResult``).
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
from service import audit, batching, operators, spreadsheets, storage
from service.access import Principal
from service.clock import utcnow
from service.ingest_result import REGISTER_COUNTS, IngestResult

log = logging.getLogger(__name__)

IMPORT_BATCH = 500
DUPLICATE_KEY = 11000
CHANGED_MEANWHILE = Coded(
    "register.changed_meanwhile", "Changed by someone else during the import; import again."
)

DUPLICATE_ROW = Coded("register.duplicate_row", "Also on row {row} of this file.")

# A row's problems by field name (the API's field, mapped to the file's column when reported).
Errors = dict[str, str]
# What a register's ``parse`` makes of a row (most registers: the document's fields by name).
RowData = Any


class Register:
    """What one register declares for its import; one instance a run, so it may keep the file's state.

    Hooks, in the order the runner calls them: ``check_header`` once, then for each batch ``parse``
    (pure: row → data and errors), ``skip_row``, ``resolve`` (the batch's references, in as few
    queries as it can), ``check`` (scope, on rows that parsed), ``unique_keys`` (refused when an
    earlier row had them), ``stored`` and ``remember`` (the stored documents), ``diff`` (stored or
    None against the row: changed fields, or errors), ``resumes``, ``build`` (a new document),
    ``after_write`` (what the written rows go on to), and after the file ``finish``.
    """

    collection: str
    entity_kind: str  # the audit's entity kind, and its actions' prefix (household.create ...)
    columns: Mapping[str, str]  # field name → the file's column
    required: tuple[str, ...]  # columns the file must have
    key_field: str  # the field a clash on the natural key is reported on
    duplicate_message: str = DUPLICATE_ROW  # a second row with the same natural key; {row} is the first
    batch_size: int = IMPORT_BATCH
    counts: tuple[str, ...] = REGISTER_COUNTS  # what the result reports (its own ones in ``tallies``)
    # False for a register whose documents are only ever inserted: they carry no version nor times.
    versioned: bool = True

    def __init__(self, actor: Principal):
        self.actor = actor

    def check_header(self, header: list[str]) -> None:
        """Refuse a file whose columns the register cannot read beyond ``required`` (ValidationFailed)."""

    def parse(self, row: tabular.Row) -> tuple[RowData, Errors]:
        raise NotImplementedError

    def skip_row(self, data: RowData) -> bool:
        """Whether a row is left out without an error (counted as skipped)."""
        return False

    def resolve(self, db: Database, rows: list[RowData]) -> None:
        """Load what the batch's rows refer to, for ``check`` and ``diff``."""

    def check(self, data: RowData) -> Errors:
        """Problems of a parsed row that need the resolved references (scope, existence)."""
        return {}

    def key(self, data: RowData) -> Hashable:
        raise NotImplementedError

    def stored_key(self, document: Mapping[str, Any]) -> Hashable:
        raise NotImplementedError

    def unique_keys(self, data: RowData) -> list[tuple[str, Hashable, str]]:
        """(field, value, message with {row}) that no two rows of a file may share; the key first."""
        return [(self.key_field, self.key(data), self.duplicate_message)]

    def existing_filter(self, rows: list[RowData]) -> dict[str, Any]:
        """One query for the stored documents the batch's rows may meet (by natural key, or a superset)."""
        raise NotImplementedError

    def stored(self, db: Database, rows: list[RowData]) -> list[dict[str, Any]]:
        """The stored documents the batch's rows may meet: one query, or none if ``resolve`` read them."""
        return list(db[self.collection].find(self.existing_filter(rows)))

    def remember(self, documents: list[dict[str, Any]]) -> None:
        """See every document ``stored`` found, not only those with a row's key."""

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: RowData
    ) -> tuple[dict[str, Any], Errors]:
        """The fields a row changes on its stored document (none: unchanged; no stored one: new), or
        why the row may not be imported."""
        raise NotImplementedError

    def resumes(self, stored: Mapping[str, Any], data: RowData) -> bool:
        """Whether the row finishes a stored document an interrupted import left half done (written, its
        ``after_write`` never done): it is not written again, goes on to ``after_write`` and counts as new."""
        return False

    def build(self, data: RowData, now: datetime) -> dict[str, Any]:
        """A new document's fields (the runner adds _id and, when versioned, the version and times)."""
        raise NotImplementedError

    def after_write(self, db: Database, written: list[Write], result: IngestResult) -> dict[int, Errors]:
        """What the batch's written rows go on to (on a dry run, as if written); the rows it refuses by
        row number, whose writes it has undone."""
        return {}

    def summary_county(self) -> str | None:
        """The county the import's summary audit entry is filed under, so its staff can read it."""
        return self.actor.county_codes[0] if len(self.actor.county_codes) == 1 else None

    def finish(self, db: Database, result: IngestResult) -> None:
        """After a file that wrote something (not on a dry run)."""


class PartyRegister(Register):
    """A register whose rows name an operator by USCC and a household by number (links, payouts)."""

    def __init__(self, actor: Principal):
        super().__init__(actor)
        # Operators by USCC, kept across batches (None: no such operator); households of the batch.
        self.operators: dict[str, dict[str, Any] | None] = {}
        self.households: dict[str, dict[str, Any]] = {}

    def resolve(self, db: Database, rows: list[RowData]) -> None:
        wanted = {data["uscc"] for data in rows if data["uscc"] not in self.operators}
        if wanted:
            found = {operator["uscc"]: operator for operator in operators.matching(db, usccs=wanted)}
            self.operators.update({uscc: found.get(uscc) for uscc in wanted})
        self.households = {
            household["household_no"]: household
            for household in db[storage.HOUSEHOLDS].find(
                {"household_no": {"$in": sorted({data["household_no"] for data in rows})}},
                {"household_no": 1, "county_code": 1},
            )
        }


@dataclass
class Write:
    """A row's write: a new document (``stored`` None), the changes to a stored one, or a stored one
    the row resumes (``document`` is the stored one, written before)."""

    row: int
    stored: dict[str, Any] | None
    document: dict[str, Any]
    resumed: bool = False

    @property
    def new(self) -> bool:
        return self.stored is None or self.resumed


def run_import(
    db: Database,
    actor: Principal,
    register: Register,
    stream: IO[bytes],
    filename: str = "",
    *,
    dry_run: bool = False,
) -> IngestResult:
    """Import a register's spreadsheet; rows with any problem are rejected whole, with their row number.

    Re-importing a file changes nothing: unchanged rows are counted, not rewritten.
    """
    reader = spreadsheets.read_rows(stream, filename, required=register.required)
    result = IngestResult(dry_run=dry_run, reported=register.counts)
    seen: dict[tuple[str, Hashable], int] = {}
    try:
        register.check_header(reader.header)
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


def _reject(result: IngestResult, register: Register, row: int, errors: Mapping[str, str]) -> None:
    result.reject_row(row, errors, register.columns)


def _import_batch(
    db: Database,
    actor: Principal,
    register: Register,
    batch: list[tabular.Row],
    result: IngestResult,
    seen: dict[tuple[str, Hashable], int],
) -> None:
    parsed: list[tuple[int, RowData]] = []
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

    candidates: list[tuple[int, RowData]] = []
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

    documents = register.stored(db, [data for _number, data in candidates])
    register.remember(documents)
    stored_by_key = {register.stored_key(document): document for document in documents}
    now = utcnow()
    pending: list[Write] = []
    for number, data in candidates:
        stored = stored_by_key.get(register.key(data))
        changes, errors = register.diff(number, stored, data)
        if errors:
            _reject(result, register, number, errors)
        elif stored is None:
            pending.append(Write(number, None, _new_document(register, data, now)))
        elif register.resumes(stored, data):
            pending.append(Write(number, stored, stored, resumed=True))
        elif changes:
            pending.append(Write(number, stored, changes))
        else:
            result.unchanged += 1
    written = pending
    if not result.dry_run:
        failed = _write(db[register.collection], pending, now)
        for index in sorted(failed):
            _reject(result, register, pending[index].row, {register.key_field: CHANGED_MEANWHILE})
        written = [write for index, write in enumerate(pending) if index not in failed]
    refused = register.after_write(db, written, result) if written else {}
    for write in written:
        if write.row in refused:
            _reject(result, register, write.row, refused[write.row])
            continue
        if write.new:
            result.inserted += 1
        else:
            result.updated += 1
        if not result.dry_run:
            _audit_row(db, actor, register, write, now)


def _new_document(register: Register, data: RowData, now: datetime) -> dict[str, Any]:
    document = {"_id": ObjectId(), **register.build(data, now)}
    return (
        {**document, "version": 1, "created_at": now, "updated_at": now} if register.versioned else document
    )


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


def _write(collection: Any, pending: list[Write], now: datetime) -> set[int]:
    """Write a batch at once; the indexes of rows whose document someone else created or changed meanwhile.

    An update carries the version it was compared with in its filter, so a stale one matches nothing.
    A resumed row was written before, and is not written again.
    """
    indexes = [index for index, write in enumerate(pending) if not write.resumed]
    if not indexes:
        return set()
    writes: list[Any] = [
        InsertOne(pending[index].document)
        if pending[index].stored is None
        else UpdateOne(
            {"_id": pending[index].stored["_id"], "version": pending[index].stored["version"]},
            {"$set": {**pending[index].document, "updated_at": now}, "$inc": {"version": 1}},
        )
        for index in indexes
    ]
    try:
        matched = collection.bulk_write(writes, ordered=False).matched_count
        failed: set[int] = set()
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise
        failed = {indexes[failure["index"]] for failure in failures}
        matched = int(error.details.get("nMatched", 0))
    updates = [index for index in indexes if pending[index].stored is not None and index not in failed]
    if matched < len(updates):
        failed |= _lost_updates(collection, pending, updates)
    return failed


def _lost_updates(collection: Any, pending: list[Write], updates: list[int]) -> set[int]:
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


def _audit_row(db: Database, actor: Principal, register: Register, write: Write, now: datetime) -> None:
    if write.new:
        action, before, after = "create", None, write.document
    else:
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
