"""Spreadsheet uploads as the service reads them: within the app's limits, a refused file a
ValidationFailed, and the row-by-row report of a register import.

The reader itself is the adapters' (adapters/tabular.py), pure and shared with the channel adapters;
this module gives it the limits configured for the running app (service/config.py: XLSX_MAX_*) and
turns its ``FileRefused`` into the service's error, whether the file is refused at once (empty, a
missing column) or part-way (cut short, another encoding).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from flask import current_app, has_app_context

from adapters.errors import FileRefused, code_of
from adapters.quoting import row_message
from adapters.tabular import Row, RowReader
from adapters.tabular import read_rows as read_file_rows
from adapters.xlsx_reader import DEFAULT_LIMITS, ReadLimits
from service.errors import refused_file

MAX_REPORTED_ERRORS = 1000


def read_limits() -> ReadLimits:
    """The workbook limits of the running app, or the defaults outside one (scripts, unit tests)."""
    if not has_app_context():
        return DEFAULT_LIMITS
    config = current_app.config
    return ReadLimits(
        max_rows=int(config["XLSX_MAX_ROWS"]),
        max_cells=int(config["XLSX_MAX_CELLS"]),
        max_uncompressed_bytes=int(config["XLSX_MAX_UNCOMPRESSED_BYTES"]),
        max_compression_ratio=int(config["XLSX_MAX_COMPRESSION_RATIO"]),
        max_members=int(config["XLSX_MAX_MEMBERS"]),
    )


class UploadRows(Iterator[Row]):
    """The data rows of an upload; ``header`` is read. A file that turns unreadable part-way raises
    ValidationFailed from the row where reading stopped."""

    def __init__(self, reader: RowReader):
        self._reader = reader
        self.header = reader.header

    def __iter__(self) -> UploadRows:
        return self

    def __next__(self) -> Row:
        try:
            return next(self._reader)
        except FileRefused as error:
            raise refused_file(error) from error

    def close(self) -> None:
        self._reader.close()


def read_rows(stream: IO[bytes], filename: str = "", *, required: Iterable[str] = ()) -> UploadRows:
    """Rows of an uploaded xlsx or CSV file, streamed within the app's limits; ``required`` columns
    are checked at once. Raises ValidationFailed for a file that cannot be read."""
    try:
        reader = read_file_rows(stream, filename, required=required, limits=read_limits())
    except FileRefused as error:
        raise refused_file(error) from error
    return UploadRows(reader)


@dataclass
class ImportReport:
    """What an import did, row by row: counts, and each rejected row's problems with its row number."""

    dry_run: bool = False
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def reject(self, row: int, problems: Iterable[tuple[str, str, str]]) -> None:
        """Count a rejected row; problems are (field, column, message)."""
        self.rejected += 1
        for field_name, column, message in problems:
            if len(self.errors) >= MAX_REPORTED_ERRORS:
                self.errors_truncated = True
                return
            found = {"row": row, "field": field_name, "column": column, "message": row_message(message)}
            code, params = code_of(message)
            # The code and its values travel with the stored error, so pages translate it by code.
            self.errors.append({**found, "code": code, "params": params} if code else found)

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }

    def summary(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.counts().items())

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.counts(),
            "dry_run": self.dry_run,
            "errors": self.errors,
            "errors_truncated": self.errors_truncated,
        }
