"""Special counters (专柜 smart cabinets): one sale or refund event as a canonical sale line.

The same event object arrives two ways: pushed by a cabinet in real time
(service/counters.py) and in the cabinet operator's daily export, JSON Lines
with one event per line (the ``counter`` file adapter here). Both go through
:func:`parse_event`, so a line is read the same way whichever way it came and
the ledger de-duplicates the two on the cabinet number and event id.

Event object::

    {"event_id": "E-1", "cabinet_no": "ZG-001", "type": "sale" | "refund",
     "sku": "...", "barcode": "6901234567892", "quantity": 2, "amount_fen": 1160,
     "occurred_at": "2024-03-15T10:00:00+08:00", "refund_of": null}

``sku`` or ``barcode`` (or both) names the product. Quantities and amounts are
written as positive numbers for both types; a refund becomes a negative line
naming the sale event it reverses (``refund_of``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from stdnum import ean

from adapters.base import RowError, SaleLine, register
from adapters.quoting import quoted

EVENT_TYPES = ("sale", "refund")
EVENT_FIELDS = frozenset(
    {"event_id", "cabinet_no", "type", "sku", "barcode", "quantity", "amount_fen", "occurred_at", "refund_of"}
)
MAX_ID_LENGTH = 200
MAX_SKU_LENGTH = 100
# 扶贫网机柜编号: letters, digits, '-' and '_' (it appears in URLs).
CABINET_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class _Invalid(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _text(obj: Mapping[str, Any], name: str, *, required: bool, limit: int) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise _Invalid(name, f"{name} is required.")
        return None
    if not isinstance(value, str):
        raise _Invalid(name, f"{name} must be a string.")
    value = value.strip()
    if not value or len(value) > limit:
        raise _Invalid(name, f"{name} must be 1–{limit} characters.")
    return value


def _whole(obj: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = obj.get(name)
    # bool is an int in Python; true is not a quantity.
    if type(value) is not int:
        raise _Invalid(name, f"{name} must be a whole number" + (" (fen)." if name.endswith("_fen") else "."))
    if value < minimum:
        raise _Invalid(name, f"{name} must be at least {minimum} (refunds are written as positive numbers).")
    return value


def _moment(obj: Mapping[str, Any]) -> datetime:
    value = obj.get("occurred_at")
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("occurred_at", "occurred_at is required (ISO 8601 with an offset).")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Invalid("occurred_at", f"{quoted(value)} is not an ISO 8601 date-time.") from None
    if moment.tzinfo is None:
        # A cabinet's local clock without an offset is ambiguous across the country's devices.
        raise _Invalid("occurred_at", "occurred_at needs a UTC offset (e.g. +08:00).")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _barcode(obj: Mapping[str, Any]) -> str | None:
    value = _text(obj, "barcode", required=False, limit=13)
    if value is None:
        return None
    if len(value) != 13 or not value.isascii() or not value.isdigit() or not ean.is_valid(value):
        raise _Invalid("barcode", f"{quoted(value)} is not a valid GTIN-13.")
    return value


def line_id(cabinet_no: str, event_id: str) -> str:
    """The ledger's id of a cabinet's event: the cabinet number, then the event id."""
    return f"{cabinet_no}:{event_id}"


def parse_event(obj: Any, row: int | None, *, channel: str = "counter") -> SaleLine | RowError:
    """One cabinet event as a sale line (a refund as a negative line), or why it cannot be read.

    ``channel`` is the cabinet's kind (``counter`` 专柜, ``pavilion`` 专馆, ``zone`` 专区); the
    daily export is the 专柜 operator's, so the file adapter keeps the default.
    """
    if not isinstance(obj, dict):
        return RowError(row, None, "An event must be a JSON object.")
    unknown = sorted(str(key) for key in obj if key not in EVENT_FIELDS)
    if unknown:
        return RowError(row, unknown[0], f"Unknown field(s): {', '.join(unknown)}.")
    try:
        event_id = _text(obj, "event_id", required=True, limit=MAX_ID_LENGTH)
        cabinet_no = _text(obj, "cabinet_no", required=True, limit=64)
        if not CABINET_NO.match(cabinet_no or ""):
            raise _Invalid("cabinet_no", f"{quoted(cabinet_no)} is not a cabinet number.")
        kind = obj.get("type")
        if kind not in EVENT_TYPES:
            raise _Invalid("type", "type must be 'sale' or 'refund'.")
        sku = _text(obj, "sku", required=False, limit=MAX_SKU_LENGTH)
        barcode = _barcode(obj)
        if sku is None and barcode is None:
            raise _Invalid("sku", "Give the product's sku or barcode.")
        quantity = _whole(obj, "quantity", minimum=1)
        amount_fen = _whole(obj, "amount_fen", minimum=0)
        occurred_at = _moment(obj)
        refund_of = _text(obj, "refund_of", required=kind == "refund", limit=MAX_ID_LENGTH)
        if kind == "sale" and refund_of is not None:
            raise _Invalid("refund_of", "Only a refund names the event it reverses.")
        if refund_of is not None and refund_of == event_id:
            raise _Invalid("refund_of", "A refund cannot reverse itself.")
    except _Invalid as problem:
        return RowError(row, problem.field, problem.message)
    sign = -1 if kind == "refund" else 1
    return SaleLine(
        channel=channel,
        # Event ids are unique within a cabinet only: two cabinets' "E-1" are two sales.
        external_id=line_id(cabinet_no, event_id),  # type: ignore[arg-type]  # required above
        occurred_at=occurred_at,
        quantity=sign * quantity,
        amount_fen=sign * amount_fen,
        unit_price_fen=amount_fen // quantity if amount_fen % quantity == 0 else None,
        sku=sku,
        barcode=barcode,
        refund_of=None if refund_of is None else line_id(cabinet_no, refund_of),
        row=row,
    )


@register
class CounterAdapter:
    """The 专柜 operator's daily export: JSON Lines, one event object per line (UTF-8)."""

    name = "counter"
    channel = "counter"
    label = "消费扶贫专柜日导出"
    media = ("jsonl",)

    def parse(self, stream: IO[bytes], filename: str) -> Iterator[SaleLine | RowError]:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                yield RowError(number, None, "The line is not UTF-8 text.")
                continue
            if not text:
                continue
            try:
                obj = json.loads(text)
            except ValueError as error:
                yield RowError(number, None, f"The line is not valid JSON: {error}.")
                continue
            yield parse_event(obj, number)
