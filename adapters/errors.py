"""The one error an adapter raises: a file refused as a whole.

A row an adapter cannot read is a ``RowError`` value, never an exception; a file it cannot read at all
(unreadable, empty, another platform's export, a report without its other half) raises
:class:`FileRefused`, which the service turns into its own validation error with the same message
and details.
"""

from __future__ import annotations

from typing import Any


class FileRefused(Exception):
    """A file (or an export's set of files) that cannot be read; ``details`` are keyed by field."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
