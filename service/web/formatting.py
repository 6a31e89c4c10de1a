"""How the pages show values: yuan from fen, Shanghai dates, Chinese labels (pure, no request)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from service.clock import SHANGHAI
from service.vocabulary import (
    ACTION_LABELS,
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    HOUSEHOLD_STATUS_LABELS,
    LINK_REQUEST_STATUS_LABELS,
    MECHANISMS,
    OPERATOR_KIND_LABELS,
    OPERATOR_STATUS_LABELS,
    ROLE_LABELS,
    STATUS_LABELS,
    UNIT_TYPE_LABELS,
)
from service.xlsx import percent_bp

LABELS: dict[str, dict[str, str]] = {
    "action": ACTION_LABELS,
    "channel": CHANNEL_LABELS,
    "category": CATEGORY_LABELS,
    "status": STATUS_LABELS,
    "mechanism": MECHANISMS,
    "role": ROLE_LABELS,
    "operator_kind": OPERATOR_KIND_LABELS,
    "operator_status": OPERATOR_STATUS_LABELS,
    "household_status": HOUSEHOLD_STATUS_LABELS,
    "link_request_status": LINK_REQUEST_STATUS_LABELS,
    "unit_type": UNIT_TYPE_LABELS,
}


def yuan(fen: Any, blank: str = "—") -> str:
    """Integer fen as yuan with two decimals and thousands separators: 123456789 → '1,234,567.89'."""
    if fen is None or fen == "":
        return blank
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"money must be integer fen, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def yuan_input(fen: Any) -> str:
    """Fen as the value of a yuan input box (no separators): 150 → '1.50'."""
    if fen is None or fen == "":
        return ""
    return yuan(fen).replace(",", "")


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:
        # Stored times are UTC; the driver may hand them back naive.

        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


def local_date(value: Any, blank: str = "—") -> str:
    if value is None or value == "":
        return blank
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def local_datetime(value: Any, blank: str = "—") -> str:
    if value is None or value == "":
        return blank
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def label(value: Any, kind: str) -> str:
    """The Chinese label of a code (channel, category, status, mechanism, role, operator type)."""
    if value is None or value == "":
        return "—"
    return LABELS.get(kind, {}).get(value, str(value))


def number(value: Any, blank: str = "—") -> str:
    if value is None:
        return blank
    return f"{value:,}"


FILTERS = {
    "yuan": yuan,
    "yuan_input": yuan_input,
    "percent_bp": percent_bp,
    "local_date": local_date,
    "local_datetime": local_datetime,
    "label": label,
    "number": number,
}
