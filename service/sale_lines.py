"""A sale line as the ledger stores it: its checks, its fingerprint, its catalogue-derived fields, its key.

``validate_line`` holds the checks that need no database; ``line_document`` is the stored line,
attributed (certification, benefit rate, poor-household income) as the catalogue held at the time
of the sale; ``LINE_KEY`` is the natural key and the sales collection's shard key.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from adapters.base import BUYER_TYPES, CHANNELS, RowError, SaleLine
from adapters.errors import Coded
from service import attribution, certification
from service.clock import local_date, local_month
from service.ingest_scope import IngestScope

# Sources' clocks drift; a line a few minutes "in the future" is not an error.
FUTURE_TOLERANCE = timedelta(minutes=10)


def validate_line(line: SaleLine, now: datetime) -> RowError | None:
    """Checks that need no database: the shape and sense of one canonical line."""

    def error(field_name: str, message: Coded) -> RowError:
        return RowError(line.row, field_name, message)

    if line.channel not in CHANNELS:
        return error(
            "channel",
            Coded("line.unknown_channel", f"Unknown channel {line.channel!r}.", channel=line.channel),
        )
    if not line.external_id or len(line.external_id) > 200:
        return error(
            "external_id",
            Coded("line.bad_external_id", "An order or event id of 1–200 characters is required."),
        )
    if line.occurred_at.tzinfo is None:
        return error("occurred_at", Coded("line.no_time_zone", "The time has no time zone."))
    if line.occurred_at > now + FUTURE_TOLERANCE:
        return error("occurred_at", Coded("line.in_future", "The date is in the future."))
    if type(line.quantity) is not int or type(line.amount_fen) is not int:
        return error(
            "amount_fen",
            Coded("line.not_whole", "Quantity and amount must be whole numbers (amounts in fen)."),
        )
    is_refund = line.refund_of is not None
    if (line.quantity < 0 or line.amount_fen < 0) and not is_refund:
        return error(
            "quantity",
            Coded("line.negative_not_refund", "A negative quantity or amount is only allowed for a refund."),
        )
    if is_refund and (line.quantity > 0 or line.amount_fen > 0):
        return error(
            "amount_fen",
            Coded("line.refund_positive", "A refund carries a negative (or zero) quantity and amount."),
        )
    if line.unit_price_fen is not None and line.unit_price_fen < 0:
        return error("unit_price_fen", Coded("line.negative_price", "The unit price cannot be negative."))
    if line.buyer_type not in BUYER_TYPES:
        return error(
            "buyer_type", Coded("line.unknown_buyer_type", f"Unknown buyer type {line.buyer_type!r}.")
        )
    if line.product_id is not None and not ObjectId.is_valid(line.product_id):
        return error("product_id", Coded("line.bad_product_id", "Not a valid product id."))
    if line.buyer_unit_id is not None and not ObjectId.is_valid(line.buyer_unit_id):
        return error("buyer_unit_id", Coded("line.bad_unit_id", "Not a valid unit id."))
    return None


def fingerprint(line: SaleLine) -> str:
    """A digest of what the source said about a line; equal digests mean nothing changed."""
    parts = (
        line.occurred_at.isoformat(timespec="milliseconds"),
        line.quantity,
        line.amount_fen,
        line.unit_price_fen,
        line.sku,
        line.barcode,
        line.title,
        line.product_id,
        line.refund_of,
        line.buyer_type,
        line.buyer_unit_id,
        line.buyer_name,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def attribute(product: dict[str, Any] | None, occurred_at: datetime, amount_fen: int) -> dict[str, Any]:
    """The line's catalogue-derived fields: what held at the time of the sale."""
    if product is None:
        return {
            "product_id": None,
            "operator_id": None,
            "matched": False,
            "certified": False,
            "benefit_rate_bp": 0,
            "poor_income_fen": 0,
        }
    certified = certification.certified_at(product, occurred_at)
    rate = certification.rate_at(product, occurred_at)
    return {
        "product_id": product["_id"],
        "operator_id": product["operator_id"],
        "matched": True,
        "certified": certified,
        "benefit_rate_bp": rate,
        "poor_income_fen": attribution.poor_income_fen(amount_fen, rate, certified),
    }


def line_document(line: SaleLine, scope: IngestScope, product: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "county_code": scope.county_code,
        "channel": line.channel,
        "external_id": line.external_id,
        "occurred_at": line.occurred_at,
        "day": local_date(line.occurred_at).isoformat(),
        "month": local_month(line.occurred_at),
        "quantity": line.quantity,
        "unit_price_fen": line.unit_price_fen,
        "amount_fen": line.amount_fen,
        "refund_of": line.refund_of,
        "buyer": {
            "type": line.buyer_type,
            "unit_id": ObjectId(line.buyer_unit_id) if line.buyer_unit_id else None,
            "name": line.buyer_name,
        },
        "raw": {"sku": line.sku, "barcode": line.barcode, "title": line.title, "product_id": line.product_id},
        "fingerprint": fingerprint(line),
        **attribute(product, line.occurred_at, line.amount_fen),
    }


# A sale line's natural key and the sales collection's shard key; every write names it, so a sharded
# cluster routes each update to one shard.
LINE_KEY = ("county_code", "channel", "external_id")


def line_filter(line: dict[str, Any]) -> dict[str, Any]:
    """The filter that updates one stored line: its shard key, and its ``_id`` where known."""
    key = {name: line[name] for name in LINE_KEY}
    return {**key, "_id": line["_id"]} if "_id" in line else key
