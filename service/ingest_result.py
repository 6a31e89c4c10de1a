"""What one import did, row by row: the one result of sales ingests and register imports alike.

Counts (rows read, inserted, updated, unchanged, skipped, rejected, and what an import counts of
its own), and the first row errors kept, masked and bounded, each with its code and values so
pages translate it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.base import RowError
from adapters.errors import code_of
from adapters.quoting import row_message

MAX_KEPT_ERRORS = 1000
# The counts a register import reports, and those a sales ingest does ("errors": its row errors).
REGISTER_COUNTS = ("rows", "inserted", "updated", "unchanged", "skipped", "rejected")
INGEST_COUNTS = (*REGISTER_COUNTS, "unmatched", "errors")


@dataclass
class IngestResult:
    """What one import or ingest did, line by line counted."""

    dry_run: bool = False
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    unmatched: int = 0
    # Counts of an import's own (a canteen upload's purchases that do not count toward the share).
    tallies: Counter[str] = field(default_factory=Counter)
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    partitions: set[tuple[str, str]] = field(default_factory=set)
    reported: tuple[str, ...] = INGEST_COUNTS

    @property
    def errors_truncated(self) -> bool:
        return self.error_count > len(self.errors)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        self.add_error(error)

    def add_error(self, error: RowError) -> None:
        self._keep({"row": error.row, "field": error.field}, error.message)

    def reject_row(self, row: int, problems: Mapping[str, str], columns: Mapping[str, str]) -> None:
        """Count a rejected file row; its problems by field, each reported with the file's column."""
        self.rejected += 1
        for name, message in problems.items():
            self._keep({"row": row, "field": name, "column": columns.get(name, "")}, message)

    def _keep(self, where: dict[str, Any], message: str) -> None:
        self.error_count += 1
        if len(self.errors) >= MAX_KEPT_ERRORS:
            return
        code, params = code_of(message)
        kept = {**where, "message": row_message(message)}
        # The code and its values travel with the kept error, so pages translate it by code.
        self.errors.append({**kept, "code": code, "params": params} if code else kept)

    def counts(self) -> dict[str, int]:
        values = {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "unmatched": self.unmatched,
            "errors": self.error_count,
        }
        return {name: values.get(name, self.tallies[name]) for name in self.reported}

    def summary(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.counts().items())

    def as_dict(self) -> dict[str, Any]:
        """A file import's answer: its counts, and the row errors kept."""
        return {
            **self.counts(),
            "dry_run": self.dry_run,
            "errors": self.errors,
            "errors_truncated": self.errors_truncated,
        }
