"""The catalogue list: the products a caller may see, filtered and sorted, one page read whole.

An enterprise lists its own operator's products, a canteen certified products of every county, staff
their counties'. Expiry is not stored, so "certified" and "expired" are split by ``valid_until``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.certification import CERTIFIED, EXPIRED, PUBLICIZING
from service.clock import utcnow
from service.errors import Coded, Forbidden, ValidationFailed
from service.products import present
from service.storage import sort_spec


def _status_condition(status: str, now: datetime) -> dict[str, Any]:
    # Expiry is not stored: "certified" and "expired" are both stored as certified, split by valid_until.
    if status == CERTIFIED:
        return {"status": CERTIFIED, "valid_until": {"$gt": now}}
    if status == EXPIRED:
        return {"status": CERTIFIED, "valid_until": {"$lte": now}}
    return {"status": status}


def list_products(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    operator_id: ObjectId | None = None,
    category: str | None = None,
    status: str | None = None,
    expiring_within_days: int | None = None,
    publicity_ended: bool | None = None,
    q: str | None = None,
    channel: str | None = None,
    sku: str | None = None,
    sort: str = "-created_at",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Products the caller may see; canteens see certified products of every county, and only those."""
    now = utcnow()
    conditions: list[dict[str, Any]] = []
    if actor.role == ENTERPRISE:
        conditions.append({"operator_id": actor.operator_id})
    elif actor.role == CANTEEN:
        if status not in (None, CERTIFIED):
            raise Forbidden(
                Coded("product.canteen_certified_only", "Canteen accounts see certified products only."),
                details={
                    "status": [
                        Coded(
                            "product.canteen_certified_only",
                            "Canteen accounts may list certified products only.",
                        )
                    ]
                },
            )
        status = CERTIFIED
    else:
        conditions.extend(access.staff_conditions(actor, county_code))
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if operator_id is not None:
        conditions.append({"operator_id": operator_id})
    if category is not None:
        conditions.append({"category": category})
    if status is not None:
        conditions.append(_status_condition(status, now))
    if expiring_within_days is not None:
        horizon = now + timedelta(days=expiring_within_days)
        conditions.append({"status": CERTIFIED, "valid_until": {"$gt": now, "$lte": horizon}})
    if publicity_ended is not None:
        # Publicizing products whose publicity period is over (or not): ready to certify, or still waiting.
        ends = {"$lte": now} if publicity_ended else {"$gt": now}
        conditions.append({"status": PUBLICIZING, "publicity_ends_at": ends})
    if q:
        conditions.append({"name": {"$regex": re.escape(q), "$options": "i"}})
    if sku is not None and channel is None:
        raise ValidationFailed(
            Coded("product.channel_required", "Name the channel of the SKU."),
            details={"channel": [Coded("product.channel_required", "Required with sku.")]},
        )
    if channel is not None:
        conditions.append(
            {"channel_sku_keys": f"{channel}:{sku}"} if sku is not None else {"channel_skus.channel": channel}
        )
    found, total = _page_of(db[storage.PRODUCTS], _one_query(conditions), sort_spec(sort), page, per_page)
    return [present(product, now) for product in found], total


def _one_query(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """The conditions as one filter whose fields an index can start on; a field named twice in $and."""
    query: dict[str, Any] = {}
    repeated: list[dict[str, Any]] = []
    for condition in conditions:
        if any(name in query and query[name] != value for name, value in condition.items()):
            repeated.append(condition)
        else:
            query.update(condition)
    if repeated:
        query["$and"] = repeated
    return query


# A list page reads this many ids past its own, to learn the total without counting a short list.
COUNTED_AHEAD = 100


def _page_of(
    collection: Any, query: dict[str, Any], sort: list[tuple[str, int]], page: int, per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of products and the total: the page's ids sorted by the sort's fields alone, then only
    those products read whole (each carries its certification, certificate and rate histories).

    Ids are read up to COUNTED_AHEAD past the page: when the list ends there, that read gives the
    total too (the menu's to-dos count lists that are short or empty), else the list is counted."""
    skipped = (page - 1) * per_page
    ordered = collection.find(query, {name: 1 for name, _ in sort}).sort(sort)
    ahead = [product["_id"] for product in ordered.skip(skipped).limit(per_page + COUNTED_AHEAD)]
    ids = ahead[:per_page]
    seen_the_end = len(ahead) < per_page + COUNTED_AHEAD and (bool(ahead) or page == 1)
    total = skipped + len(ahead) if seen_the_end else collection.count_documents(query)
    whole = {product["_id"]: product for product in collection.find({"_id": {"$in": ids}})} if ids else {}
    # A product is never deleted; one changed in between is shown as it is now.
    return [whole[product_id] for product_id in ids if product_id in whole], total
