"""A product's channel SKUs ("channel:sku" keys): each held by one product at most, checked before a
write and named in the 409 when another product holds it."""

from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId
from pymongo.database import Database

from service import storage
from service.errors import Coded, Conflict, ValidationFailed


def sku_keys(channel_skus: Iterable[dict[str, str]]) -> list[str]:
    """The flattened "channel:sku" keys, refusing a key listed twice in one product."""
    keys: list[str] = []
    for item in channel_skus:
        key = f"{item['channel']}:{item['sku']}"
        if key in keys:
            raise ValidationFailed(
                Coded("product.sku_twice", f"The SKU {key} is listed twice.", sku=key),
                details={"channel_skus": [Coded("product.sku_twice", f"{key} is listed twice.", sku=key)]},
            )
        keys.append(key)
    return keys


def sku_conflict(db: Database, keys: list[str], product_id: ObjectId | None) -> Conflict | None:
    """A 409 naming the first SKU another product already holds, if any does."""
    if not keys:
        return None
    holder = db[storage.PRODUCTS].find_one(
        {"channel_sku_keys": {"$in": keys}, "_id": {"$ne": product_id}},
        {"name": 1, "channel_sku_keys": 1},
    )
    if holder is None:
        return None
    key = next(key for key in keys if key in holder["channel_sku_keys"])
    return Conflict(
        Coded(
            "product.sku_taken",
            f"The SKU {key} is already registered to product {holder['name']!r} ({holder['_id']}).",
            sku=key.partition(":")[2],
            product=holder["name"],
        ),
        details={
            "channel_skus": [
                Coded(
                    "product.sku_used",
                    f"{key} is already registered to product {holder['_id']}.",
                    sku=key.partition(":")[2],
                )
            ],
            "product_id": str(holder["_id"]),
        },
    )


def check_skus_free(db: Database, keys: list[str], product_id: ObjectId | None) -> None:
    conflict = sku_conflict(db, keys, product_id)
    if conflict is not None:
        raise conflict


def duplicate_key_conflict(db: Database, keys: list[str], product_id: ObjectId | None) -> Conflict:
    """The 409 for a unique-index violation that slipped past the checks (a concurrent write)."""
    return sku_conflict(db, keys, product_id) or Conflict(
        Coded(
            "product.saved_meanwhile",
            "Another product was saved with the same SKU or certificate number at the same time; try again.",
        ),
        details={"channel_skus": [Coded("product.saved_meanwhile", "Conflicts with a concurrent change.")]},
    )
