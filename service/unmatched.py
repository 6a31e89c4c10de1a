"""Unmatched sales (未匹配到产品的销售): the SKUs nobody has mapped yet, and mapping them.

A sale line whose channel SKU and barcode match no product is stored with
``matched: false`` and counts for no household. County staff list those lines
grouped by channel and raw SKU (by barcode when the source gave no SKU), map a
SKU to a product, and the ledger re-matches the county's unmatched lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, ledger, products, storage
from service.access import Principal
from service.errors import Forbidden, ValidationFailed

# Unmatched SKUs are few; a report longer than this is cut, and says so.
MAX_GROUPS = 1000


def unmatched_pipeline(county_codes: Iterable[str], channel: str | None = None) -> list[dict[str, Any]]:
    """Unmatched lines of these counties by channel, raw SKU and barcode (pure).

    This reads the raw ``sales`` collection, unlike the other reports: acceptable because
    unmatched lines are few, and the match is served by the ``county_unmatched_sku`` index.
    """
    match: dict[str, Any] = {"county_code": {"$in": sorted(county_codes)}, "matched": False}
    if channel is not None:
        match["channel"] = channel
    return [
        {"$match": match},
        {
            "$group": {
                "_id": {
                    "county_code": "$county_code",
                    "channel": "$channel",
                    "sku": "$raw.sku",
                    "barcode": "$raw.barcode",
                },
                "lines": {"$sum": 1},
                "quantity": {"$sum": "$quantity"},
                "sales_fen": {"$sum": "$amount_fen"},
                "first_seen": {"$min": "$occurred_at"},
                "last_seen": {"$max": "$occurred_at"},
                "sample_title": {"$max": "$raw.title"},
            }
        },
    ]


def merge_groups(groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per channel and SKU (barcodes folded in), or per barcode where there is no SKU (pure)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group in groups:
        key = group["_id"]
        sku = key.get("sku") or None
        barcode = None if sku else key.get("barcode") or None
        identity = (key["county_code"], key["channel"], sku, barcode)
        item = merged.get(identity)
        if item is None:
            merged[identity] = {
                "county_code": key["county_code"],
                "channel": key["channel"],
                "sku": sku,
                "barcode": barcode,
                **{
                    name: group[name]
                    for name in ("lines", "quantity", "sales_fen", "first_seen", "last_seen")
                },
                "sample_title": group.get("sample_title"),
            }
            continue
        for name in ("lines", "quantity", "sales_fen"):
            item[name] += group[name]
        item["first_seen"] = min(item["first_seen"], group["first_seen"])
        item["last_seen"] = max(item["last_seen"], group["last_seen"])
        item["sample_title"] = item["sample_title"] or group.get("sample_title")
    return sorted(
        merged.values(),
        key=lambda item: (
            -item["sales_fen"],
            -item["lines"],
            item["channel"],
            item["sku"] or "",
            item["barcode"] or "",
        ),
    )


def _counties(actor: Principal, county_code: str | None) -> list[str]:
    if not actor.is_staff:
        raise Forbidden("Only county staff and admins may read unmatched sales.")
    if county_code is not None:
        access.require_county(actor, county_code)
        return [county_code]
    if actor.is_admin:
        # Without a county the match could not use the county_unmatched_sku index.
        raise ValidationFailed("Name the county.", details={"county_code": ["Required for admins."]})
    return list(actor.county_codes)


def unmatched_report(
    db: Database, actor: Principal, *, county_code: str | None = None, channel: str | None = None
) -> dict[str, Any]:
    """Unmatched sales of the staff member's counties, biggest first, for mapping SKUs to products."""
    counties = _counties(actor, county_code)
    items = merge_groups(storage.aggregate(db[storage.SALES], unmatched_pipeline(counties, channel)))
    return {
        "county_codes": counties,
        "channel": channel,
        "groups": len(items),
        "lines": sum(item["lines"] for item in items),
        "sales_fen": sum(item["sales_fen"] for item in items),
        "truncated": len(items) > MAX_GROUPS,
        "items": items[:MAX_GROUPS],
    }


def map_sku(db: Database, actor: Principal, channel: str, sku: str, product_id: ObjectId) -> dict[str, Any]:
    """Add the SKU to the product (staff of its county), then match the county's unmatched lines again."""
    product = products.add_channel_sku(db, actor, product_id, channel, sku)
    rematched = ledger.rematch(db, [product["county_code"]])
    return {
        "product_id": product["_id"],
        "county_code": product["county_code"],
        "channel": channel,
        "sku": sku,
        "product_version": product["version"],
        **rematched,
    }
