"""What one ingest did, line by line counted, with the first row errors kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.base import RowError
from adapters.quoting import row_message

MAX_KEPT_ERRORS = 1000


@dataclass
class IngestResult:
    """What one ingest did, line by line counted."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    unmatched: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    partitions: set[tuple[str, str]] = field(default_factory=set)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        self.add_error(error)

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append({**error.as_dict(), "message": row_message(error.message)})

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "unmatched": self.unmatched,
            "errors": self.error_count,
        }
