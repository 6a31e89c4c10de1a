"""Unmatched sales (未匹配到产品的销售): the SKUs nobody has mapped yet, and mapping them.

A sale line whose channel SKU and barcode match no product is stored with ``matched: false``
and counts for no household. `service.unmatched_sales` holds the one definition of those sales
(lines of the period's Asia/Shanghai months, amounts net of refunds), read by the county
dashboard's card (``unmatched_sales.unmatched_sales_fen``) and by the list county staff map from
(:func:`unmatched_report`): grouped by channel and raw SKU (by barcode when the source gave
no SKU), searchable, each with the county's products most likely to be it. Staff map several
SKUs at once (:func:`map_skus`): every row is checked before any is written, and the county's
lines are then matched again once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from adapters.base import CHANNELS
from service import (
    access,
    ledger_rebuilds,
    operators,
    product_listing,
    product_lookups,
    products,
    report_cache,
    report_scope,
    storage,
    unmatched_sales,
)
from service.access import Principal
from service.certification import CERTIFIED
from service.clock import today_local
from service.errors import Coded, Forbidden, ValidationFailed

# Unmatched SKUs are few; a report longer than this is cut, and says so.
MAX_GROUPS = 1000
# What a search may be: a SKU, a barcode or a few words of a product's name.
MAX_SEARCH_CHARS = 100
# Suggestions offered per SKU, and how many of the county's products are weighed for them.
MAX_SUGGESTIONS = 5
MAX_CANDIDATES = 1000
# The most SKUs one batch maps (a page of the list is 50).
MAX_BATCH = 200
# Below this name similarity a product is no suggestion at all.
MIN_SIMILARITY_PCT = 20
BARCODE, NAME = "barcode", "name"
# A batch row's refusals, by their stable codes.
UNKNOWN_CHANNEL = "unknown_channel"
NO_SUCH_PRODUCT = "no_such_product"
SKU_HELD = "sku_held_by_another_product"
SKU_TWICE = "sku_mapped_twice_in_batch"


class MappingRefused(ValidationFailed):
    """A batch of SKU mappings with at least one refused row: nothing was written."""

    code = "sku_mapping_refused"


# The list -------------------------------------------------------------------------------------------


def search_match(q: str) -> dict[str, Any]:
    """Lines whose raw SKU, barcode or title contains the text, any case (pure; the text is escaped)."""
    pattern = {"$regex": re.escape(q[:MAX_SEARCH_CHARS]), "$options": "i"}
    return {"$or": [{"raw.sku": pattern}, {"raw.barcode": pattern}, {"raw.title": pattern}]}


def unmatched_pipeline(
    county_codes: Iterable[str],
    from_month: str,
    to_month: str,
    channel: str | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    """Unmatched lines of these counties by channel, raw SKU and barcode (pure).

    This reads the raw ``sales`` collection, unlike the other reports: acceptable because
    unmatched lines are few, and the match is served by the ``county_unmatched_sku`` index.
    """
    match = unmatched_sales.unmatched_match(county_codes, from_month, to_month, channel)
    if q:
        match = {"$and": [match, search_match(q)]}
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
    """One item per channel and SKU (barcodes folded in), or per barcode where there is no SKU (pure).

    ``barcodes`` keeps every barcode the item's lines carried, for the suggestions.
    """
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group in groups:
        key = group["_id"]
        sku = key.get("sku") or None
        barcode = None if sku else key.get("barcode") or None
        identity = (key["county_code"], key["channel"], sku, barcode)
        item = merged.get(identity)
        if item is None:
            item = merged[identity] = {
                "county_code": key["county_code"],
                "channel": key["channel"],
                "sku": sku,
                "barcode": barcode,
                **{
                    name: group[name]
                    for name in ("lines", "quantity", "sales_fen", "first_seen", "last_seen")
                },
                "sample_title": group.get("sample_title"),
                "barcodes": [],
            }
        else:
            for name in ("lines", "quantity", "sales_fen"):
                item[name] += group[name]
            item["first_seen"] = min(item["first_seen"], group["first_seen"])
            item["last_seen"] = max(item["last_seen"], group["last_seen"])
            item["sample_title"] = item["sample_title"] or group.get("sample_title")
        if key.get("barcode") and key["barcode"] not in item["barcodes"]:
            item["barcodes"] = sorted([*item["barcodes"], key["barcode"]])
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
        raise Forbidden(
            Coded("unmatched.staff_only", "Only county staff and admins may read unmatched sales.")
        )
    if county_code is not None:
        access.require_county(actor, county_code)
        return [county_code]
    if actor.is_admin:
        # Without a county the match could not use the county_unmatched_sku index.
        raise ValidationFailed(
            Coded("import.county_required", "Name the county."),
            details={"county_code": [Coded("import.county_required", "Required for admins.")]},
        )
    return list(actor.county_codes)


def unmatched_report(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    channel: str | None = None,
    q: str | None = None,
    product_q: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    page: int | None = 1,
    per_page: int = 50,
    cache: report_cache.ReportCache | None = None,
) -> dict[str, Any]:
    """Unmatched sales of the staff member's counties in the period, biggest first, for mapping.

    The period defaults as the dashboard's does (this year so far), so both show one total. The
    items of ``page`` carry their suggestions; ``page=None`` gives every item without them.
    """
    counties = _counties(actor, county_code)
    scope = report_scope.resolve_scope(
        actor, county_code=county_code, from_month=from_month, to_month=to_month, today=today_local()
    )
    q = (q or "").strip()[:MAX_SEARCH_CHARS] or None
    if cache is None or q:
        pipeline = unmatched_pipeline(counties, scope.from_month, scope.to_month, channel, q)
        items = merge_groups(storage.aggregate(db[storage.SALES], pipeline))
    else:
        items = merge_groups(_groups_by_month(db, cache, counties, scope.from_month, scope.to_month, channel))
    kept = items[:MAX_GROUPS]
    shown = kept if page is None else kept[(page - 1) * per_page : page * per_page]
    if page is not None:
        add_suggestions(db, actor, shown, product_q)
    return {
        "county_codes": counties,
        "channel": channel,
        "q": q,
        "from_month": scope.from_month,
        "to_month": scope.to_month,
        "groups": len(items),
        "lines": sum(item["lines"] for item in items),
        "sales_fen": sum(item["sales_fen"] for item in items),
        "truncated": len(items) > MAX_GROUPS,
        "page": page,
        "per_page": per_page,
        "items": shown,
    }


def _groups_by_month(
    db: Database,
    cache: report_cache.ReportCache,
    counties: list[str],
    from_month: str,
    to_month: str,
    channel: str | None,
) -> list[dict[str, Any]]:
    """The unmatched groups of each month, each kept while its county-months are unchanged: after a
    sale only that sale's month is grouped again (every change to a line marks its county-month)."""
    groups: list[dict[str, Any]] = []
    for month in report_scope.months_between(from_month, to_month):

        def group(month: str = month) -> list[dict[str, Any]]:
            pipeline = unmatched_pipeline(counties, month, month, channel)
            return list(storage.aggregate(db[storage.SALES], pipeline))

        def stamp(month: str = month) -> report_cache.Stamp | None:
            return report_cache.read_stamp(db, counties, [month])

        key = ("unmatched_groups", db.name, tuple(sorted(counties)), channel, month)
        groups += cache.read_through(key, stamp(), group, stamp)
    return groups


# Suggestions ----------------------------------------------------------------------------------------


def _normalised(text: str) -> str:
    """Lower case without spaces and punctuation, so 【特产】 and brackets weigh nothing."""
    return "".join(char for char in text.lower() if char.isalnum())


def name_similarity_pct(title: str | None, name: str) -> int:
    """How alike a sale line's title and a product's name are, 0–100 (pure).

    A name found whole inside the title (shops dress names up: 【枞阳特产】有机大米 5kg) counts
    at least 80.
    """
    a, b = _normalised(title or ""), _normalised(name)
    if not a or not b:
        return 0
    ratio = SequenceMatcher(None, a, b, autojunk=False).ratio()
    if len(b) >= 2 and (b in a or a in b):
        ratio = max(ratio, 0.8 + 0.2 * ratio)
    return round(ratio * 100)


def rank_suggestions(
    item: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]], limit: int = MAX_SUGGESTIONS
) -> list[dict[str, Any]]:
    """The products most likely to be the item's: same barcode first, then by name similarity (pure)."""
    barcodes = set(item.get("barcodes") or ([item["barcode"]] if item.get("barcode") else []))
    ranked = []
    for product in candidates:
        if product.get("barcode") and product["barcode"] in barcodes:
            reason, score = BARCODE, 100
        else:
            reason, score = NAME, name_similarity_pct(item.get("sample_title"), product["name"])
            if score < MIN_SIMILARITY_PCT:
                continue
        ranked.append(
            (reason != BARCODE, -score, product["name"], str(product["_id"]), reason, score, product)
        )
    ranked.sort(key=lambda entry: entry[:4])
    return [
        {**suggestion_fields(product), "reason": reason, "similarity_pct": score}
        for *_key, reason, score, product in ranked[:limit]
    ]


def suggestion_fields(product: Mapping[str, Any]) -> dict[str, Any]:
    """What tells two products of one name apart: operator, specification, status."""
    return {
        "product_id": product["_id"],
        "name": product["name"],
        "spec": product.get("spec"),
        "unit": product.get("unit"),
        "barcode": product.get("barcode"),
        "status": product["status"],
        "certified": product["status"] == CERTIFIED,
        "operator_id": product["operator_id"],
        "operator_name": product.get("operator_name"),
    }


def county_candidates(
    db: Database, actor: Principal, county_code: str, product_q: str | None = None
) -> list[dict[str, Any]]:
    """The county's products, certified or not, with their operators' names (narrowed by name)."""
    found, _total = product_listing.list_products(
        db,
        actor,
        county_code=county_code,
        q=(product_q or "").strip()[:MAX_SEARCH_CHARS] or None,
        sort="name",
        per_page=MAX_CANDIDATES,
    )
    names = operators.names_by_id(db, (product["operator_id"] for product in found))
    return [{**product, "operator_name": names.get(product["operator_id"])} for product in found]


def add_suggestions(
    db: Database, actor: Principal, items: list[dict[str, Any]], product_q: str | None = None
) -> None:
    """Each item's suggestions from its own county's products (a SKU maps within its county)."""
    candidates = {
        county: county_candidates(db, actor, county, product_q)
        for county in sorted({item["county_code"] for item in items})
    }
    for item in items:
        item["suggestions"] = rank_suggestions(item, candidates[item["county_code"]])


# Mapping --------------------------------------------------------------------------------------------


def _sku_holders(db: Database, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The product holding each of these "channel:sku" keys, in one query."""
    wanted = set(keys)
    found = product_lookups.matching(
        db, {"name": 1, "county_code": 1, "channel_sku_keys": 1}, sku_keys=wanted
    )
    return {key: product for product in found for key in product["channel_sku_keys"] if key in wanted}


def mapping_refusals(
    db: Database, actor: Principal, mappings: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], dict[ObjectId, dict[str, Any]]]:
    """Every row of a batch checked (nothing written): its refusals, and the products it names."""
    found = product_lookups.documents_by_id(db, (row["product_id"] for row in mappings), {"county_code": 1})
    holders = _sku_holders(db, (f"{row['channel']}:{row['sku']}" for row in mappings))
    refusals: list[dict[str, Any]] = []
    first_product: dict[str, ObjectId] = {}

    def refuse(index: int, row: Mapping[str, Any], code: str, message: str, **params: Any) -> None:
        refusals.append(
            {"row": index, "channel": row["channel"], "sku": row["sku"], "code": code, "message": message}
            | params
        )

    for index, row in enumerate(mappings):
        key = f"{row['channel']}:{row['sku']}"
        product = found.get(row["product_id"])
        holder = holders.get(key)
        if row["channel"] not in CHANNELS:
            refuse(index, row, UNKNOWN_CHANNEL, f"Unknown channel {row['channel']!r}.")
        elif product is None or not actor.sees_county(product["county_code"]):
            # Another county's product answers as a missing one.
            refuse(index, row, NO_SUCH_PRODUCT, "No such product.")
        elif holder is not None and holder["_id"] != row["product_id"]:
            named = {"holder_name": holder["name"]} if actor.sees_county(holder["county_code"]) else {}
            refuse(index, row, SKU_HELD, f"Another product already holds {key}.", **named)
        elif first_product.setdefault(key, row["product_id"]) != row["product_id"]:
            refuse(index, row, SKU_TWICE, f"{key} is mapped to two products in this batch.")
    return refusals, found


def map_skus(db: Database, actor: Principal, mappings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Map several channel SKUs to products of the staff member's counties, all or nothing.

    Every row is checked first; if any is refused nothing is written and the error names each
    refused row (its index from 0). Each mapping is audited on its product; the counties'
    unmatched lines are then matched again once.
    """
    if not actor.is_staff:
        raise Forbidden(
            Coded("product.map_staff_only", "Only county staff and admins may map SKUs to products.")
        )
    if not mappings or len(mappings) > MAX_BATCH:
        raise ValidationFailed(
            Coded("unmatched.batch_size", f"Map from 1 to {MAX_BATCH} SKUs at once.", most=MAX_BATCH),
            details={"mappings": [Coded("field.range", f"From 1 to {MAX_BATCH}.", min=1, max=MAX_BATCH)]},
        )
    refusals, found = mapping_refusals(db, actor, mappings)
    if refusals:
        raise MappingRefused(
            f"{len(refusals)} of {len(mappings)} mappings refused; none was saved.",
            details={"rows": refusals},
        )
    mapped = []
    for row in mappings:
        product = products.add_channel_sku(db, actor, row["product_id"], row["channel"], row["sku"])
        mapped.append(
            {
                "product_id": product["_id"],
                "county_code": product["county_code"],
                "channel": row["channel"],
                "sku": row["sku"],
                "product_version": product["version"],
            }
        )
    counties = sorted({found[row["product_id"]]["county_code"] for row in mappings})
    return {"mapped": mapped, "county_codes": counties, **ledger_rebuilds.rematch(db, counties)}


def map_sku(db: Database, actor: Principal, channel: str, sku: str, product_id: ObjectId) -> dict[str, Any]:
    """Add the SKU to the product (staff of its county), then match the county's unmatched lines again."""
    product = products.add_channel_sku(db, actor, product_id, channel, sku)
    rematched = ledger_rebuilds.rematch(db, [product["county_code"]])
    return {
        "product_id": product["_id"],
        "county_code": product["county_code"],
        "channel": channel,
        "sku": sku,
        "product_version": product["version"],
        **rematched,
    }
