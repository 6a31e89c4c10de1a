"""The derived figures of one county-month partition, computed from the raw ledger.

Pipelines are built by pure functions (unit-tested without a database); the
reports read only the collections written here, never the raw ledger.

- ``sales_daily``: sales by day, channel, operator, product, certified, matched and buyer unit.
- ``sales_monthly``: the same by month; its size is bounded by the catalogue, not by the number of
  sales, so the reports that read it stay as fast at a million lines as at ten thousand.
- ``operator_pools``: per operator and month, the pool of poor-household income and its sources.
- ``household_income``: per operator, household and month, the household's share of the pool.

Every derived row belongs to one operator-month (unmatched lines form the group of no operator) and
carries an ``_id`` made of its natural key, so one operator-month's rows can be recomputed and
replaced alone and the result is the very document a whole-partition rebuild writes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from pymongo import DeleteOne, InsertOne, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from service import attribution, link_periods, storage
from service.clock import start_of_local_day

DERIVED = (storage.SALES_DAILY, storage.SALES_MONTHLY, storage.OPERATOR_POOLS, storage.HOUSEHOLD_INCOME)
SUMMED = ("sales_fen", "quantity", "poor_income_fen", "lines")
MONTHLY_KEY = ("channel", "operator_id", "product_id", "certified", "matched", "buyer_unit_id")
# Each derived row's natural key within its county-month; every one starts with its operator.
KEYS = {
    storage.SALES_DAILY: ("day", *MONTHLY_KEY),
    storage.SALES_MONTHLY: MONTHLY_KEY,
    storage.OPERATOR_POOLS: ("operator_id",),
    storage.HOUSEHOLD_INCOME: ("operator_id", "household_id"),
}


def row_id(name: str, row: dict[str, Any]) -> str:
    """A derived row's ``_id``: its county-month and a digest of its natural key (pure)."""
    key = "|".join(str(row.get(field)) for field in KEYS[name])
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return f"{row['county_code']}:{row['month']}:{digest}"


def with_ids(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"_id": row_id(name, row), **row} for row in rows]


def _group_match(county_code: str, month: str, operator_ids: Iterable[Any] | None) -> dict[str, Any]:
    """A county-month, or only these operator-months of it (``None`` stands for unmatched lines)."""
    match: dict[str, Any] = {"county_code": county_code, "month": month}
    if operator_ids is not None:
        wanted = sorted(set(operator_ids), key=str)
        # One operator-month (a counter push) as an equality: every backend serves it from the index.
        match["operator_id"] = wanted[0] if len(wanted) == 1 else {"$in": wanted}
    return match


def monthly_rows(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The daily rows of one partition added up by month (pure)."""
    months: dict[tuple, dict[str, Any]] = {}
    for row in daily:
        key = tuple(row[name] for name in MONTHLY_KEY)
        total = months.get(key)
        if total is None:
            months[key] = {name: value for name, value in row.items() if name != "day"}
        else:
            for name in SUMMED:
                total[name] += row[name]
    return list(months.values())


def month_bounds(month: str) -> tuple[Any, Any]:
    """The UTC moments an Asia/Shanghai calendar month (YYYY-MM) starts and ends (exclusive)."""
    year, number = int(month[:4]), int(month[5:7])
    following = date(year + (number == 12), number % 12 + 1, 1)
    return start_of_local_day(date(year, number, 1)), start_of_local_day(following)


def daily_pipeline(
    county_code: str, month: str, operator_ids: Iterable[Any] | None = None
) -> list[dict[str, Any]]:
    return [
        {"$match": _group_match(county_code, month, operator_ids)},
        {
            "$group": {
                "_id": {
                    "day": "$day",
                    "channel": "$channel",
                    "operator_id": "$operator_id",
                    "product_id": "$product_id",
                    "certified": "$certified",
                    "matched": "$matched",
                    "buyer_unit_id": "$buyer.unit_id",
                },
                "sales_fen": {"$sum": "$amount_fen"},
                "quantity": {"$sum": "$quantity"},
                "poor_income_fen": {"$sum": "$poor_income_fen"},
                "lines": {"$sum": 1},
            }
        },
    ]


def pool_sources_pipeline(
    county_code: str, month: str, operator_ids: Iterable[Any] | None = None
) -> list[dict[str, Any]]:
    """Certified lines by operator, product and channel: what each pool is made of."""
    return [
        {"$match": {**_group_match(county_code, month, operator_ids), "certified": True}},
        {
            "$group": {
                "_id": {"operator_id": "$operator_id", "product_id": "$product_id", "channel": "$channel"},
                "poor_income_fen": {"$sum": "$poor_income_fen"},
                "sales_fen": {"$sum": "$amount_fen"},
                "lines": {"$sum": 1},
            }
        },
    ]


def links_query(operator_ids: Iterable[Any], month: str) -> dict[str, Any]:
    """Benefit links of these operators active on at least one day of the month."""
    start, end = month_bounds(month)
    return {
        "operator_id": {"$in": sorted(operator_ids)},
        "valid_from": {"$lt": end},
        "$or": [{"valid_to": None}, {"valid_to": {"$gt": start}}],
    }


def _daily_rows(
    db: Database, county_code: str, month: str, operator_ids: Iterable[Any] | None
) -> list[dict[str, Any]]:
    rows = []
    for group in storage.aggregate(db[storage.SALES], daily_pipeline(county_code, month, operator_ids)):
        key = group["_id"]
        rows.append(
            {
                "county_code": county_code,
                "month": month,
                "day": key["day"],
                "channel": key["channel"],
                "operator_id": key.get("operator_id"),
                "product_id": key.get("product_id"),
                "certified": key["certified"],
                "matched": key["matched"],
                "buyer_unit_id": key.get("buyer_unit_id"),
                "sales_fen": group["sales_fen"],
                "quantity": group["quantity"],
                "poor_income_fen": group["poor_income_fen"],
                "lines": group["lines"],
            }
        )
    rows.sort(key=lambda row: (row["day"], row["channel"], str(row["operator_id"]), str(row["product_id"])))
    return rows


def allocate(
    county_code: str,
    month: str,
    sources: list[dict[str, Any]],
    links: list[dict[str, Any]],
    households: dict[Any, dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pools and household shares of one partition from its sources and links (pure)."""
    year, number = int(month[:4]), int(month[5:7])
    sources_by_operator: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for source in sources:
        sources_by_operator[source["operator_id"]].append(source)
    links_by_operator: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        links_by_operator[link["operator_id"]].append(link)

    pools, incomes = [], []
    for operator_id in sorted(sources_by_operator, key=str):
        operator_sources = sorted(
            sources_by_operator[operator_id], key=lambda s: (str(s["product_id"]), s["channel"])
        )
        pool_fen = sum(source["poor_income_fen"] for source in operator_sources)
        claims_by_household: dict[Any, dict[str, Any]] = {}
        for link in links_by_operator.get(operator_id, []):
            days = link_periods.active_days_in_month(link, year, number)
            household = households.get(link["household_id"])
            if days <= 0 or household is None:
                continue
            claim = claims_by_household.setdefault(
                link["household_id"], {"household": household, "weighted": 0, "links": []}
            )
            claim["weighted"] += link["weight"] * days
            claim["links"].append(
                {
                    "link_id": link["_id"],
                    "mechanism": link.get("mechanism"),
                    "weight": link["weight"],
                    "active_days": days,
                }
            )
        ordered = sorted(claims_by_household.items(), key=lambda item: item[1]["household"]["household_no"])
        total_weighted = sum(claim["weighted"] for _, claim in ordered)
        allocated = bool(ordered) and pool_fen != 0
        shares = (
            attribution.share_pool(
                pool_fen,
                [
                    attribution.Claim(claim["household"]["household_no"], claim["weighted"])
                    for _, claim in ordered
                ],
            )
            if allocated
            else [0] * len(ordered)
        )
        pools.append(
            {
                "county_code": county_code,
                "month": month,
                "operator_id": operator_id,
                "pool_fen": pool_fen,
                "certified_sales_fen": sum(source["sales_fen"] for source in operator_sources),
                "lines": sum(source["lines"] for source in operator_sources),
                "households": len(ordered),
                "total_weighted": total_weighted,
                "allocated_fen": pool_fen if ordered else 0,
                "unallocated_fen": 0 if ordered else pool_fen,
                "sources": [
                    {
                        key: source[key]
                        for key in ("product_id", "channel", "poor_income_fen", "sales_fen", "lines")
                    }
                    for source in operator_sources
                ],
            }
        )
        for (household_id, claim), share in zip(ordered, shares, strict=True):
            household = claim["household"]
            incomes.append(
                {
                    "county_code": county_code,
                    "month": month,
                    "operator_id": operator_id,
                    "household_id": household_id,
                    "household_no": household["household_no"],
                    "household_county_code": household.get("county_code"),
                    "township_code": household.get("township_code"),
                    "members": household.get("members", 0),
                    "weighted": claim["weighted"],
                    "total_weighted": total_weighted,
                    "pool_fen": pool_fen,
                    "share_fen": share,
                    "links": claim["links"],
                }
            )
    return pools, incomes


def share_pools(
    db: Database, county_code: str, month: str, sources: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pools of these sources' operators and the households' shares, with their ``_id``s, from
    the benefit links and households as they are now."""
    operator_ids = {source["operator_id"] for source in sources}
    links = list(db[storage.BENEFIT_LINKS].find(links_query(operator_ids, month))) if operator_ids else []
    household_ids = sorted({link["household_id"] for link in links})
    households = {
        household["_id"]: household
        for household in db[storage.HOUSEHOLDS].find(
            {"_id": {"$in": household_ids}},
            {"household_no": 1, "county_code": 1, "township_code": 1, "members": 1},
        )
    }
    pools, incomes = allocate(county_code, month, sources, links, households)
    return with_ids(storage.OPERATOR_POOLS, pools), with_ids(storage.HOUSEHOLD_INCOME, incomes)


def compute_partition(
    db: Database, county_code: str, month: str, operator_ids: Iterable[Any] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every derived document of one county-month (or of these operator-months of it), with its
    ``_id``, computed from the raw ledger as it is now."""
    if operator_ids is not None:
        operator_ids = sorted(set(operator_ids), key=str)
    daily = _daily_rows(db, county_code, month, operator_ids)
    sources = [
        {**group["_id"], **{k: group[k] for k in ("poor_income_fen", "sales_fen", "lines")}}
        for group in storage.aggregate(
            db[storage.SALES], pool_sources_pipeline(county_code, month, operator_ids)
        )
    ]
    pools, incomes = share_pools(db, county_code, month, sources)
    return {
        storage.SALES_DAILY: with_ids(storage.SALES_DAILY, daily),
        storage.SALES_MONTHLY: with_ids(storage.SALES_MONTHLY, monthly_rows(daily)),
        storage.OPERATOR_POOLS: pools,
        storage.HOUSEHOLD_INCOME: incomes,
    }


def replace_partition(
    db: Database,
    county_code: str,
    month: str,
    derived: dict[str, list[dict]],
    before_write: Callable[[], object] | None = None,
    operator_ids: Iterable[Any] | None = None,
) -> None:
    """Make a partition's stored rows (or those of these operator-months) exactly ``derived`` (in the
    collections it names).

    Rows are keyed by ``_id`` (``row_id``): the rows no longer derived are deleted first, then each
    changed or new row is replaced in place (upserted), one collection after another, so a reader
    may, for an instant, miss a row or see an old value, never see a row twice. Call it only holding
    the partition's lease (``ledger_rebuilds.rebuild_partition``); ``before_write`` renews the lease before
    each collection (and raises if it was lost).
    """
    scope = _group_match(county_code, month, operator_ids)
    # Every write names the derived collections' shard key (county_code, month).
    shard = {"county_code": county_code, "month": month}
    for name in DERIVED:
        if name not in derived:
            continue
        if before_write is not None:
            before_write()
        collection = db[name]
        wanted = {row["_id"]: row for row in derived[name]}
        stored = {row["_id"]: row for row in collection.find(scope)}
        write_rows(
            collection,
            shard,
            [key for key in stored if key not in wanted],
            [row for key, row in wanted.items() if stored.get(key) != row],
            set(stored),
        )


def write_rows(
    collection: Collection,
    shard: dict[str, Any],
    deletions: Iterable[str],
    rows: Iterable[dict[str, Any]],
    stored_ids: set[str],
) -> None:
    """Delete these derived rows, then write these (by ``_id``, within their county-month).

    Under the partition's lease nobody else writes them, so a row not stored before is inserted,
    which costs less than an upsert; should a holder whose lease expired have written it meanwhile,
    it is replaced after all.
    """
    stale = [DeleteOne({"_id": key, **shard}) for key in deletions]
    if stale:
        collection.bulk_write(stale, ordered=False)
    rows = list(rows)
    changed = [
        ReplaceOne({"_id": row["_id"], **shard}, dict(row))
        if row["_id"] in stored_ids
        else InsertOne(dict(row))
        for row in rows
    ]
    if not changed:
        return
    try:
        collection.bulk_write(changed, ordered=False)
    except BulkWriteError as error:
        failed = error.details.get("writeErrors", [])
        if not failed or any(entry.get("code") != DUPLICATE_KEY for entry in failed):
            raise
        again = [rows[entry["index"]] for entry in failed]
        collection.bulk_write(
            [ReplaceOne({"_id": row["_id"], **shard}, dict(row), upsert=True) for row in again]
        )


DUPLICATE_KEY = 11000


def stored_partition(db: Database, county_code: str, month: str) -> dict[str, list[dict[str, Any]]]:
    """The derived documents as stored, for comparison with a recompute."""
    return {name: list(db[name].find({"county_code": county_code, "month": month})) for name in DERIVED}


def all_partitions(db: Database, county_codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every county-month that has sales (or had derived figures), in order."""
    match: dict[str, Any] = {}
    if county_codes is not None:
        match["county_code"] = {"$in": list(county_codes)}
    found = set()
    for name in (storage.SALES, storage.SALES_DAILY):
        pipeline = [
            {"$match": match},
            {"$group": {"_id": {"county_code": "$county_code", "month": "$month"}}},
        ]
        found |= {
            (group["_id"]["county_code"], group["_id"]["month"])
            for group in storage.aggregate(db[name], pipeline)
        }
    return sorted(found)
