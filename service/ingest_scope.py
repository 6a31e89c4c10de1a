"""Where one ingest writes (IngestScope), and the lines its scope keeps it from writing.

An ingest writes into one county; an enterprise's ingest only its own operator's products, and
never over an order line already stored for another operator (or by staff, unmatched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from adapters.base import RowError, SaleLine
from adapters.errors import Coded
from service.access import ENTERPRISE, Principal


@dataclass(frozen=True)
class IngestScope:
    """Where an ingest writes: one county, and for an enterprise, only its own operator's products."""

    county_code: str
    operator_id: ObjectId | None = None

    @classmethod
    def for_actor(cls, actor: Principal, county_code: str) -> IngestScope:
        return cls(county_code, actor.operator_id if actor.role == ENTERPRISE else None)


# An enterprise changes only its own operator's lines: an order line already stored for another operator
# (or by staff, unmatched) is never overwritten from an enterprise's file.
FOREIGN_LINE = Coded(
    "line.not_yours", "This order line is already in the ledger and is not yours to change; ask county staff."
)


def owned_by_another(stored: dict[str, Any], scope: IngestScope) -> bool:
    return scope.operator_id is not None and stored.get("operator_id") != scope.operator_id


def scope_problem(line: SaleLine, product: dict[str, Any] | None, scope: IngestScope) -> RowError | None:
    if product is None:
        if scope.operator_id is not None:
            return RowError(
                line.row,
                "sku",
                Coded("line.no_product_of_yours", "No product of yours has this SKU or barcode."),
            )
        return None
    if scope.operator_id is not None and product["operator_id"] != scope.operator_id:
        return RowError(
            line.row, "sku", Coded("line.other_operator", "This product belongs to another market operator.")
        )
    if product["county_code"] != scope.county_code:
        return RowError(
            line.row,
            "sku",
            Coded(
                "line.other_county",
                f"This product belongs to county {product['county_code']}, not {scope.county_code}.",
                product_county=product["county_code"],
                county_code=scope.county_code,
            ),
        )
    return None
