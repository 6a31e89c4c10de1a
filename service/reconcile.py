"""Reconciliation (账账相符, 账实相符): recompute every figure from the raw ledger and list any difference.

The recompute here takes a second, independent path: it reads the raw lines and
sums them in Python instead of trusting the stored line fields or the rollup
pipelines, then checks the invariants an auditor checks — shares add up to their
pools, pools add up to the certified lines' income — and compares each channel's sales with the figure
from outside the ledger (a settlement statement: service/control_totals.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from service import catalogue_match, control_totals, ledger_rollups, product_lookups, sale_lines, storage


@dataclass(frozen=True)
class Difference:
    county_code: str
    month: str
    what: str
    stored: Any
    expected: Any

    def __str__(self) -> str:
        return (
            f"{self.county_code} {self.month} {self.what}: stored {self.stored!r}, expected {self.expected!r}"
        )


def _recompute(
    db: Database, county_code: str, month: str
) -> tuple[list[Difference], dict[str, list[dict[str, Any]]]]:
    differences = []
    lines = list(db[storage.SALES].find({"county_code": county_code, "month": month}))
    product_ids = sorted({line["product_id"] for line in lines if line.get("product_id")})
    catalogue = product_lookups.documents_by_id(db, product_ids, catalogue_match.Catalogue.FIELDS)
    daily: dict[tuple, dict[str, Any]] = {}
    sources: dict[tuple, dict[str, Any]] = {}
    for line in lines:
        product = catalogue.get(line["product_id"]) if line.get("product_id") else None
        expected = sale_lines.attribute(product, line["occurred_at"], line["amount_fen"])
        for name in ("certified", "benefit_rate_bp", "poor_income_fen"):
            if line.get(name) != expected[name]:
                differences.append(
                    Difference(
                        county_code,
                        month,
                        f"line {line['channel']}:{line['external_id']} {name}",
                        line.get(name),
                        expected[name],
                    )
                )
        unit_id = (line.get("buyer") or {}).get("unit_id")
        key = (
            line["day"],
            line["channel"],
            line.get("operator_id"),
            line.get("product_id"),
            expected["certified"],
            line.get("product_id") is not None,
            unit_id,
        )
        row = daily.setdefault(key, {"sales_fen": 0, "quantity": 0, "poor_income_fen": 0, "lines": 0})
        row["sales_fen"] += line["amount_fen"]
        row["quantity"] += line["quantity"]
        row["poor_income_fen"] += expected["poor_income_fen"]
        row["lines"] += 1
        if expected["certified"]:
            source = sources.setdefault(
                (line["operator_id"], line["product_id"], line["channel"]),
                {"poor_income_fen": 0, "sales_fen": 0, "lines": 0},
            )
            source["poor_income_fen"] += expected["poor_income_fen"]
            source["sales_fen"] += line["amount_fen"]
            source["lines"] += 1
    daily_rows = [
        {
            "county_code": county_code,
            "month": month,
            "day": key[0],
            "channel": key[1],
            "operator_id": key[2],
            "product_id": key[3],
            "certified": key[4],
            "matched": key[5],
            "buyer_unit_id": key[6],
            **totals,
        }
        for key, totals in daily.items()
    ]
    source_rows = [
        {"operator_id": key[0], "product_id": key[1], "channel": key[2], **totals}
        for key, totals in sources.items()
    ]
    operator_ids = {row["operator_id"] for row in source_rows}
    links = (
        list(db[storage.BENEFIT_LINKS].find(ledger_rollups.links_query(operator_ids, month)))
        if operator_ids
        else []
    )
    households = {
        household["_id"]: household
        for household in db[storage.HOUSEHOLDS].find(
            {"_id": {"$in": sorted({link["household_id"] for link in links})}}
        )
    }
    pools, incomes = ledger_rollups.allocate(county_code, month, source_rows, links, households)
    return differences, {
        storage.SALES_DAILY: daily_rows,
        storage.SALES_MONTHLY: ledger_rollups.monthly_rows(daily_rows),
        storage.OPERATOR_POOLS: pools,
        storage.HOUSEHOLD_INCOME: incomes,
    }


_KEYS = ledger_rollups.KEYS


def _grouped(name: str, documents: Iterable[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """Rows by their natural key, every copy kept: a row stored twice must show, not collapse."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for document in documents:
        groups[tuple(str(document.get(key)) for key in _KEYS[name])].append(document)
    return groups


def _normal(name: str, value: Any) -> Any:
    """A field's value with the order of its list made canonical (links come in query order)."""
    if name == "links" and isinstance(value, list):
        return sorted(value, key=lambda link: str(link.get("link_id")))
    return value


def _compare_rows(
    county_code: str, month: str, name: str, stored: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> list[Difference]:
    """Every derived row missing, unexpected, stored more than once, or differing in any field."""
    differences = []
    have, want = _grouped(name, stored), _grouped(name, expected)
    for key in sorted(set(have) | set(want)):
        label = f"{name} {'/'.join(key)}"
        copies, should = have.get(key, []), want.get(key, [])
        if len(copies) != len(should):
            what = "missing" if not copies else "unexpected" if not should else "rows"
            differences.append(Difference(county_code, month, f"{label} {what}", len(copies), len(should)))
        if not copies or not should:
            continue
        target = should[0]
        # The _id is the natural key's: what lets one operator-month's rows be replaced alone.
        want_id = ledger_rollups.row_id(name, target)
        for got_id in sorted({str(copy.get("_id")) for copy in copies} - {want_id}):
            differences.append(Difference(county_code, month, f"{label} _id", got_id, want_id))
        fields = sorted(set(target) | {field for copy in copies for field in copy} - {"_id"})
        for field_name in fields:
            want_value = _normal(field_name, target.get(field_name))
            seen = set()
            for copy in copies:
                got = _normal(field_name, copy.get(field_name))
                if got != want_value and repr(got) not in seen:
                    seen.add(repr(got))
                    differences.append(
                        Difference(county_code, month, f"{label} {field_name}", got, want_value)
                    )
    return differences


def verify_partition(db: Database, county_code: str, month: str) -> list[Difference]:
    differences, expected = _recompute(db, county_code, month)
    stored = ledger_rollups.stored_partition(db, county_code, month)
    for name in ledger_rollups.DERIVED:
        differences.extend(_compare_rows(county_code, month, name, stored[name], expected[name]))
    # The invariants, on what is stored, every stored row counted.
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pool in stored[storage.OPERATOR_POOLS]:
        pools[str(pool["operator_id"])].append(pool)
    shares: dict[str, int] = defaultdict(int)
    for income in stored[storage.HOUSEHOLD_INCOME]:
        shares[str(income["operator_id"])] += income["share_fen"]
    lines_income: dict[str, int] = defaultdict(int)
    for pool in expected[storage.OPERATOR_POOLS]:
        lines_income[str(pool["operator_id"])] = pool["pool_fen"]
    for operator_id in sorted(set(pools) | set(shares) | set(lines_income)):
        rows = pools.get(operator_id, [])
        allocated = sum(pool["allocated_fen"] for pool in rows)
        pool_fen = sum(pool["pool_fen"] for pool in rows)
        if shares.get(operator_id, 0) != allocated:
            differences.append(
                Difference(
                    county_code,
                    month,
                    f"shares of operator {operator_id}",
                    shares.get(operator_id, 0),
                    allocated,
                )
            )
        split = sum(pool["allocated_fen"] + pool["unallocated_fen"] for pool in rows)
        if split != pool_fen:
            differences.append(
                Difference(county_code, month, f"pool of operator {operator_id} split", split, pool_fen)
            )
        sourced = sum(source["poor_income_fen"] for pool in rows for source in pool.get("sources") or [])
        if sourced != pool_fen:
            differences.append(
                Difference(
                    county_code, month, f"pool of operator {operator_id} vs its sources", pool_fen, sourced
                )
            )
        if pool_fen != lines_income.get(operator_id, 0):
            differences.append(
                Difference(
                    county_code,
                    month,
                    f"pool of operator {operator_id} vs its certified lines",
                    pool_fen,
                    lines_income.get(operator_id, 0),
                )
            )
    certified_income = sum(row["poor_income_fen"] for row in stored[storage.SALES_DAILY] if row["certified"])
    pooled = sum(pool["pool_fen"] for pool in stored[storage.OPERATOR_POOLS])
    if certified_income != pooled:
        differences.append(
            Difference(county_code, month, "pools vs certified income", pooled, certified_income)
        )
    monthly_sales = sum(row["sales_fen"] for row in stored[storage.SALES_MONTHLY])
    daily_sales = sum(row["sales_fen"] for row in stored[storage.SALES_DAILY])
    if monthly_sales != daily_sales:
        differences.append(
            Difference(county_code, month, "monthly sales vs daily sales", monthly_sales, daily_sales)
        )
    return differences


def _checked_partitions(db: Database, county_codes: Iterable[str] | None) -> list[tuple[str, str]]:
    """Every county-month with sales or with derived rows of any kind (a stray pool included)."""
    found = set(ledger_rollups.all_partitions(db, county_codes))
    match: dict[str, Any] = {}
    if county_codes is not None:
        match["county_code"] = {"$in": list(county_codes)}
    pipeline = [{"$match": match}, {"$group": {"_id": {"county_code": "$county_code", "month": "$month"}}}]
    for name in (storage.SALES_MONTHLY, storage.OPERATOR_POOLS, storage.HOUSEHOLD_INCOME):
        found |= {
            (group["_id"]["county_code"], group["_id"]["month"])
            for group in storage.aggregate(db[name], pipeline)
        }
    return sorted(found)


def verify(
    db: Database,
    county_codes: Iterable[str] | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> tuple[int, list[Difference]]:
    """(partitions checked, differences) over the chosen counties and months."""
    partitions = [
        (county, month)
        for county, month in _checked_partitions(db, county_codes)
        if (from_month is None or month >= from_month) and (to_month is None or month <= to_month)
    ]
    differences = []
    for county, month in partitions:
        differences.extend(verify_partition(db, county, month))
    return len(partitions), differences


def verify_control_totals(
    db: Database,
    county_codes: Iterable[str] | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
) -> tuple[int, list[Difference]]:
    """(control totals compared, differences): each channel's ledger sales against its outside figure."""
    checked, found = control_totals.compare(db, county_codes, from_month, to_month)
    return checked, [
        Difference(county, month, f"channel {channel} sales vs control total", ledger_fen, outside_fen)
        for county, month, channel, ledger_fen, outside_fen in found
    ]
