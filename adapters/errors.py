"""The errors adapters raise, and the coded text every refusal carries.

A row an adapter cannot read is a ``RowError`` value, never an exception; a file it cannot read at all
(unreadable, empty, another platform's export, a report without its other half) raises
:class:`FileRefused`, which the service turns into its own validation error with the same message
and details.

Every message is a :class:`Coded` text: it reads as its English sentence (the API's language) and
carries a stable code and the values in it, so a page translates it by code, never by its wording.
"""

from __future__ import annotations

from typing import Any

# Codes of the adapters' file and cell refusals (the pages' catalogue has a text for each).
FILE_EMPTY = "file.empty"
FILE_UNREADABLE = "file.unreadable"
FILE_TOO_LARGE = "file.too_large"
FILE_WRONG_LAYOUT = "file.wrong_layout"
FILE_OTHER_CHANNEL = "file.other_channel"
FILE_DUPLICATE_COLUMN = "file.duplicate_column"
FILE_MISSING_COLUMNS = "file.missing_columns"
FILE_MISSING_PART = "file.missing_part"
FILE_COUNT = "file.count"
FILE_STOPPED = "file.stopped"
FILE_NONE = "file.none"
CELL_SHORTENED = "cell.shortened"
FILE_OLD_WORKBOOK = "file.old_workbook"
FILE_NOT_XLSX = "file.not_xlsx"
FILE_MIXED_ENCODING = "file.mixed_encoding"
FILE_NOT_TEXT = "file.not_text"
FILE_UNKNOWN_ENCODING = "file.unknown_encoding"
FILE_BAD_CSV = "file.bad_csv"
FILE_CUT_SHORT = "file.cut_short"
CELL_EMPTY = "cell.empty"
CELL_BAD_AMOUNT = "cell.bad_amount"
CELL_BELOW_FEN = "cell.below_fen"
CELL_AMOUNT_TOO_LARGE = "cell.amount_too_large"
CELL_NEGATIVE_AMOUNT = "cell.negative_amount"
CELL_BAD_PERCENT = "cell.bad_percent"
CELL_NOT_WHOLE = "cell.not_whole_number"
CELL_BAD_QUANTITY = "cell.bad_quantity"
CELL_BAD_DATE = "cell.bad_date"
CELL_NOT_A_DATE = "cell.not_a_date"
CELL_HAS_TIME = "cell.has_time"
CELL_SERIAL_RANGE = "cell.serial_out_of_range"
CELL_DIGITS_LOST = "cell.digits_lost"
CELL_BAD_IDENTIFIER = "cell.bad_identifier"
CELL_BAD_FLAG = "cell.bad_flag"
ROW_UNKNOWN_STATUS = "row.unknown_status"
ROW_BAD_EVENT = "row.bad_event"
ROW_UNKNOWN_FIELDS = "row.unknown_fields"
ROW_NOT_TEXT = "row.not_text"
ROW_BAD_JSON = "row.bad_json"
ROW_ORDER_UNREADABLE = "row.order_unreadable"
ROW_OVER_PAYMENT = "row.over_payment"
ROW_INVALID = "row.invalid"


class Coded(str):
    """An English message with its stable ``code`` and the ``params`` it was written from."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, text: str, **params: Any) -> Coded:
        message = super().__new__(cls, text)
        message.code = code
        message.params = params
        return message

    def format(self, *args: Any, **kwargs: Any) -> Coded:
        # marshmallow formats a field's message before raising it; the code survives.
        return Coded(self.code, str.format(self, *args, **kwargs), **self.params)

    def __reduce__(self):
        return _rebuild, (self.code, str(self), self.params)


def _rebuild(code: str, text: str, params: dict[str, Any]) -> Coded:
    return Coded(code, text, **params)


def code_of(message: Any) -> tuple[str | None, dict[str, Any]]:
    """A message's code and params; (None, {}) for a plain text."""
    if isinstance(message, Coded):
        return message.code, dict(message.params)
    return None, {}


def message_of(error: BaseException) -> str:
    """An exception's message, keeping its code when it was raised with a coded text."""
    first = error.args[0] if error.args else ""
    return first if isinstance(first, Coded) else str(error)


class FileRefused(Exception):
    """A file (or an export's set of files) that cannot be read; ``details`` are keyed by field."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
