"""Products looked up for other modules, unscoped: the callers check access themselves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import storage


def documents_by_id(
    db: Database, ids: Iterable[Any], fields: dict[str, int]
) -> dict[ObjectId, dict[str, Any]]:
    """Products by id in one query, unscoped: for rows the caller may already see."""
    return storage.documents_by_id(db, storage.PRODUCTS, ids, fields)


def names_by_id(db: Database, ids: Iterable[Any]) -> dict[ObjectId, str]:
    """Product names by id in one query, unscoped: for rows the caller may already see."""
    return storage.names_by_id(db, storage.PRODUCTS, ids)


def matching(
    db: Database,
    fields: dict[str, int],
    *,
    ids: Iterable[ObjectId] = (),
    sku_keys: Iterable[str] = (),
    barcodes: Iterable[str] = (),
    certificate_numbers: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Products named by any of these ids, "channel:sku" keys, GTIN-13 barcodes or certificate
    numbers, in one query whose every branch starts on an index."""
    keys = {
        "_id": ids,
        "channel_sku_keys": sku_keys,
        "barcode": barcodes,
        "certificate_numbers": certificate_numbers,
    }
    wanted = {name: sorted(set(values)) for name, values in keys.items()}
    conditions = [{name: {"$in": values}} for name, values in wanted.items() if values]
    if not conditions:
        return []
    query = conditions[0] if len(conditions) == 1 else {"$or": conditions}
    return list(db[storage.PRODUCTS].find(query, fields))


def of_counties(
    db: Database, county_codes: Iterable[str] | None, operator_id: ObjectId | None, fields: dict[str, int]
) -> list[dict[str, Any]]:
    """Every product of these counties (None: of all) and of this operator (None: of any), unscoped."""
    query: dict[str, Any] = {}
    if county_codes is not None:
        codes = list(county_codes)
        query["county_code"] = codes[0] if len(codes) == 1 else {"$in": codes}
    if operator_id is not None:
        query["operator_id"] = operator_id
    return list(db[storage.PRODUCTS].find(query, fields))


def count(db: Database) -> int:
    """How many products are registered, of every county."""
    return db[storage.PRODUCTS].count_documents({})
