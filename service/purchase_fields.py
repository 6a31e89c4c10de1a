"""The fields every logged purchase states, canteen's and unit's alike: reading them from a file's cells
and the checks that do not depend on who bought (the date, the reference, lengths)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters import tabular
from adapters.errors import CELL_DIGITS_LOST, CELL_EMPTY, CELL_NOT_WHOLE, Coded, message_of
from service.clock import today_local

# An invoice number, order id or evidence number.
MAX_REFERENCE_LENGTH = 64
MAX_TEXT_LENGTH = 100
# 财库〔2019〕27号 started the purchases this service counts; earlier dates are typos.
FIRST_DAY = date(2019, 1, 1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_code(value: Any) -> str | None:
    """An identifier as typed: full-width folded, blanks removed; None when empty."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def clean_uscc(value: Any) -> str | None:
    """A unified social credit code (统一社会信用代码) as typed, upper case."""
    code = clean_code(value)
    return code.upper() if code else None


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip(" \t\r\n\u3000\u00a0")
    return text or None


def whole_number(text: str) -> int | None:
    """A whole number, negative too (a return), as a spreadsheet writes it; None when it is not one."""
    value = unicodedata.normalize("NFKC", text or "").strip().replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def read_cells(
    row: tabular.Row, columns: Mapping[str, str], codes: Iterable[str], errors: dict[str, str]
) -> tuple[date | None, int | None, int | None]:
    """The date, quantity and amount (fen) of a purchase's row; unreadable cells go to ``errors``, as do
    the ``codes`` fields Excel stored as numbers."""
    day = quantity = amount_fen = None
    try:
        day = tabular.parse_local_date(row.get(columns["date"]))
    except ValueError as error:
        errors["date"] = message_of(error)
    for name in codes:
        if columns[name] in row.imprecise:
            errors[name] = Coded(
                CELL_DIGITS_LOST,
                "Excel stored this as a number and lost its last digits; "
                "format the column as text and enter it again.",
            )
    text = row.get(columns["quantity"])
    quantity = whole_number(text)
    if quantity is None:
        errors["quantity"] = (
            Coded(CELL_NOT_WHOLE, f"{text!r} is not a whole number.", value=text)
            if text
            else Coded(CELL_EMPTY, "The quantity is empty.", column=columns["quantity"])
        )
    try:
        amount_fen = tabular.parse_yuan_to_fen(row.get(columns["amount_fen"]))
    except ValueError as error:
        errors["amount_fen"] = message_of(error)
    return day, quantity, amount_fen


def printable_reference(value: str) -> bool:
    """An invoice number, order id or evidence number: 1 to MAX_REFERENCE_LENGTH printable characters."""
    return 0 < len(value) <= MAX_REFERENCE_LENGTH and not _CONTROL.search(value)


def check_date(day: date | None, errors: dict[str, str]) -> None:
    """A purchase is dated neither in the future (Asia/Shanghai) nor before FIRST_DAY."""
    today = today_local()
    if day is not None and day > today:
        errors["date"] = Coded(
            "date.in_future",
            f"{day} is in the future (today is {today} in Asia/Shanghai).",
            day=day.isoformat(),
            today=today.isoformat(),
        )
    elif day is not None and day < FIRST_DAY:
        errors["date"] = Coded(
            "date.too_early",
            f"{day} is before {FIRST_DAY}; check the year.",
            day=day.isoformat(),
            first=FIRST_DAY.isoformat(),
        )


def check_lengths(purchase: Any, names: Iterable[str], errors: dict[str, str]) -> None:
    """Free-text fields (names, units, descriptions) of at most MAX_TEXT_LENGTH characters."""
    for name in names:
        value = getattr(purchase, name)
        if value is not None and len(value) > MAX_TEXT_LENGTH:
            errors[name] = Coded(
                "field.length_max", f"At most {MAX_TEXT_LENGTH} characters.", max=MAX_TEXT_LENGTH
            )
