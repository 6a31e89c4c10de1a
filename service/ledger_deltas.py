"""What the sale lines an ingest wrote change in the derived figures, and applying those changes.

An ingest knows, for every line it writes, the version it replaced (or that there was none). The
difference between the two, added up by the derived rows' natural key, is all a rebuild needs to
bring ``sales_daily`` and ``sales_monthly`` up to date, and, with the pool sources kept on each
``operator_pools`` row, to share again only the pools whose sources moved: so a counter push costs
the same whether its month holds ten thousand lines or a million. ``Book`` adds the differences up
(pure); :func:`apply` moves the stored rows by them, under the partition's lease
(``service.ledger_rebuilds``), and what it writes is, document for document, what a rebuild from
the lines writes (``tests/test_ledger_incremental.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo.database import Database

from service import ledger_rollups, storage

# A daily row's natural key within its county-month, in the order of ledger_rollups.KEYS.
DAILY_KEY = ledger_rollups.KEYS[storage.SALES_DAILY]
SUMMED = ledger_rollups.SUMMED
_OPERATOR = DAILY_KEY.index("operator_id")
# Past this many rows in one county-month, a difference is not kept: its operator-months are
# recomputed from the lines instead (a delta document stays far below MongoDB's 16 MB).
MAX_ROWS = 20_000

Key = tuple
Sums = list[int]


def daily_key(line: Mapping[str, Any]) -> Key:
    """The sales_daily row a stored line (or the version it replaced) is counted in."""
    buyer = line.get("buyer") or {}
    return (
        line["day"],
        line["channel"],
        line.get("operator_id"),
        line.get("product_id"),
        line["certified"],
        line["matched"],
        buyer.get("unit_id"),
    )


class Book:
    """The differences of many written lines, by county-month and daily row (pure)."""

    def __init__(self) -> None:
        self.partitions: dict[tuple[str, str], dict[Key, Sums]] = defaultdict(dict)

    def add(self, line: Mapping[str, Any], sign: int) -> None:
        rows = self.partitions[(line["county_code"], line["month"])]
        sums = rows.setdefault(daily_key(line), [0, 0, 0, 0])
        sums[0] += sign * line["amount_fen"]
        sums[1] += sign * line["quantity"]
        sums[2] += sign * line["poor_income_fen"]
        sums[3] += sign

    def replace(self, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        """A line written over ``old`` (None: a new line)."""
        if old is not None:
            self.add(old, -1)
        self.add(new, 1)

    def rows(self, partition: tuple[str, str]) -> list[dict[str, Any]]:
        """The partition's differences as rows, those that add up to nothing left out."""
        return [
            {**dict(zip(DAILY_KEY, key, strict=True)), **dict(zip(SUMMED, sums, strict=True))}
            for key, sums in self.partitions.get(partition, {}).items()
            if any(sums)
        ]


def summed(documents: Iterable[Mapping[str, Any]]) -> dict[Key, Sums]:
    """The rows of several delta documents added up by key (pure)."""
    total: dict[Key, Sums] = {}
    for document in documents:
        for row in document["rows"]:
            sums = total.setdefault(tuple(row[name] for name in DAILY_KEY), [0, 0, 0, 0])
            for index, name in enumerate(SUMMED):
                sums[index] += row[name]
    return {key: sums for key, sums in total.items() if any(sums)}


def operators_of(deltas: Mapping[Key, Sums]) -> set[Any]:
    return {key[_OPERATOR] for key in deltas}


def without_operators(deltas: Mapping[Key, Sums], operator_ids: set[Any]) -> dict[Key, Sums]:
    return {key: sums for key, sums in deltas.items() if key[_OPERATOR] not in operator_ids}


class Inconsistent(Exception):
    """The stored rows cannot have absorbed these differences (a row would count fewer than no lines)."""


def moved(
    county_code: str, month: str, name: str, deltas: list[dict[str, Any]], stored: Mapping[str, dict]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of one derived collection after the differences: (rows to write, ids to delete) (pure)."""
    writes, deletions = [], []
    for delta in deltas:
        row = {"county_code": county_code, "month": month, **delta}
        row_id = ledger_rollups.row_id(name, row)
        before = stored.get(row_id)
        if before is not None:
            row = {**before, **{field: before[field] + delta[field] for field in SUMMED}}
        if row["lines"] < 0 or (row["lines"] == 0 and any(row[field] for field in SUMMED)):
            raise Inconsistent(f"{name} {row_id}")
        if row["lines"] == 0:
            if before is not None:
                deletions.append(row_id)
        else:
            writes.append({"_id": row_id, **{k: v for k, v in row.items() if k != "_id"}})
    return writes, deletions


def moved_sources(pools: Iterable[Mapping[str, Any]], deltas: Mapping[Key, Sums]) -> list[dict[str, Any]]:
    """The pool sources of the operators with certified differences, after them (pure)."""
    sources: dict[tuple, dict[str, Any]] = {}
    for pool in pools:
        for source in pool.get("sources", []):
            key = (pool["operator_id"], source["product_id"], source["channel"])
            sources[key] = {"operator_id": pool["operator_id"], **source}
    for key, sums in deltas.items():
        row = dict(zip(DAILY_KEY, key, strict=True))
        if not row["certified"]:
            continue
        source = sources.setdefault(
            (row["operator_id"], row["product_id"], row["channel"]),
            {
                "operator_id": row["operator_id"],
                "product_id": row["product_id"],
                "channel": row["channel"],
                "poor_income_fen": 0,
                "sales_fen": 0,
                "lines": 0,
            },
        )
        source["sales_fen"] += sums[0]
        source["poor_income_fen"] += sums[2]
        source["lines"] += sums[3]
    if any(source["lines"] < 0 for source in sources.values()):
        raise Inconsistent("operator_pools sources")
    return [source for source in sources.values() if source["lines"] > 0]


def apply(
    db: Database,
    county_code: str,
    month: str,
    deltas: Mapping[Key, Sums],
    before_write: Callable[[], object],
) -> dict[str, int]:
    """Move a partition's stored rows by these differences; call it only holding the partition's lease.

    Everything is computed before anything is written, so ``Inconsistent`` leaves the rows as they
    were (the caller then recomputes those operator-months from the lines).
    """
    shard = {"county_code": county_code, "month": month}
    daily = [
        {**dict(zip(DAILY_KEY, key, strict=True)), **dict(zip(SUMMED, sums, strict=True))}
        for key, sums in deltas.items()
    ]
    writes: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
    # The ids stored before: under the lease nobody else writes these rows, so a new one is inserted.
    stored: dict[str, set[str]] = {}
    for name, rows in (
        (storage.SALES_DAILY, daily),
        (storage.SALES_MONTHLY, ledger_rollups.monthly_rows(daily)),
    ):
        ids = sorted({ledger_rollups.row_id(name, {**shard, **row}) for row in rows})
        found = {row["_id"]: row for row in db[name].find({"_id": {"$in": ids}, **shard})}
        stored[name] = set(found)
        writes[name] = moved(county_code, month, name, rows, found)
    certified = {key: sums for key, sums in deltas.items() if key[DAILY_KEY.index("certified")]}
    pooled = sorted(operators_of(certified), key=str)
    pools = list(db[storage.OPERATOR_POOLS].find({**shard, "operator_id": {"$in": pooled}})) if pooled else []
    sources = moved_sources(pools, certified)
    shared: dict[str, list[dict[str, Any]]] = {}
    if pooled:
        shared[storage.OPERATOR_POOLS], shared[storage.HOUSEHOLD_INCOME] = ledger_rollups.share_pools(
            db, county_code, month, sources
        )
    for name, (rows, deletions) in writes.items():
        before_write()
        ledger_rollups.write_rows(db[name], shard, deletions, rows, stored[name])
    if pooled:
        ledger_rollups.replace_partition(
            db, county_code, month, shared, before_write=before_write, operator_ids=pooled
        )
    return {"rows_moved": sum(len(rows) + len(deletions) for rows, deletions in writes.values())}


# Delta documents: an ingest's differences for one county-month, kept until a rebuild applies them.


def delta_id(ticket: str, county_code: str, month: str) -> str:
    return f"{ticket}:{county_code}:{month}"


def keep(db: Database, ticket: str, county_code: str, month: str, rows: list[dict[str, Any]]) -> None:
    db[storage.LEDGER_DELTAS].replace_one(
        {"_id": delta_id(ticket, county_code, month)},
        {"county_code": county_code, "month": month, "ticket": ticket, "rows": rows},
        upsert=True,
    )


def kept(db: Database, county_code: str, month: str, tickets: Iterable[str]) -> list[dict[str, Any]]:
    ids = sorted(delta_id(ticket, county_code, month) for ticket in tickets)
    return list(db[storage.LEDGER_DELTAS].find({"_id": {"$in": ids}})) if ids else []


def discard(db: Database, county_code: str, month: str, tickets: Iterable[str]) -> None:
    ids = sorted(delta_id(ticket, county_code, month) for ticket in tickets)
    if ids:
        db[storage.LEDGER_DELTAS].delete_many({"_id": {"$in": ids}})
