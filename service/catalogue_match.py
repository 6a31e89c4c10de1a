"""The catalogue matcher: a sale line's product by id, channel SKU or barcode, loaded batch by batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from adapters.base import SaleLine
from service import product_lookups


class Catalogue:
    """Products by id, channel SKU and barcode, loaded batch by batch with one query each."""

    FIELDS = {
        "operator_id": 1,
        "county_code": 1,
        "channel_sku_keys": 1,
        "barcode": 1,
        "certificates": 1,
        "benefit_rate_history": 1,
        "name": 1,
    }

    def __init__(self, db: Database):
        self.db = db
        self.by_id: dict[ObjectId, dict[str, Any]] = {}
        self.by_sku: dict[str, dict[str, Any]] = {}
        self.by_barcode: dict[str, dict[str, Any]] = {}
        self._asked: set[str] = set()

    def _remember(self, product: dict[str, Any]) -> None:
        self.by_id[product["_id"]] = product
        for key in product.get("channel_sku_keys") or []:
            self.by_sku[key] = product
        if product.get("barcode"):
            self.by_barcode[product["barcode"]] = product

    def load(self, lines: Iterable[SaleLine]) -> None:
        ids, skus, barcodes = set(), set(), set()
        for line in lines:
            if line.product_id and f"id:{line.product_id}" not in self._asked:
                ids.add(ObjectId(line.product_id))
            if line.sku and f"{line.channel}:{line.sku}" not in self._asked:
                skus.add(f"{line.channel}:{line.sku}")
            if line.barcode and f"bar:{line.barcode}" not in self._asked:
                barcodes.add(line.barcode)
        if not (ids or skus or barcodes):
            return
        self._asked.update({f"id:{i}" for i in ids} | skus | {f"bar:{b}" for b in barcodes})
        for product in product_lookups.matching(
            self.db, self.FIELDS, ids=ids, sku_keys=skus, barcodes=barcodes
        ):
            self._remember(product)

    def match(self, line: SaleLine) -> dict[str, Any] | None:
        """The channel's SKU mapping first, then the barcode."""
        if line.product_id:
            return self.by_id.get(ObjectId(line.product_id))
        if line.sku and (product := self.by_sku.get(f"{line.channel}:{line.sku}")):
            return product
        if line.barcode:
            return self.by_barcode.get(line.barcode)
        return None
