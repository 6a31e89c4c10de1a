"""Spreadsheet uploads as the service reads them: within the app's limits, a refused file a
ValidationFailed.

The reader itself is the adapters' (adapters/tabular.py), pure and shared with the channel adapters;
this module gives it the limits configured for the running app (service/config.py: XLSX_MAX_*) and
turns its ``FileRefused`` into the service's error, whether the file is refused at once (empty, a
missing column) or part-way (cut short, another encoding).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from flask import current_app, has_app_context

from adapters.errors import FileRefused
from adapters.tabular import Row, RowReader
from adapters.tabular import read_rows as read_file_rows
from adapters.xlsx_reader import DEFAULT_LIMITS, ReadLimits
from service.errors import refused_file


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
