"""The reads the county reports of one request share (:class:`ReportContext`), once per scope.

With a :class:`service.report_cache.ReportCache`, the groupings of the derived ledger and the
canteens' purchase sums come from it while the county-months they were read from are unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from bson import ObjectId
from flask import Flask
from pymongo.database import Database

from service import canteen_quota, report_cache, storage
from service.report_pipelines import (
    household_month_pipeline,
    household_totals_pipeline,
    merge_household_totals,
    merge_in_month_order,
    merge_pool_totals,
    merge_sales_rows,
    monthly_pipeline,
    pool_totals_pipeline,
    product_sales_pipeline,
    stale_partitions_query,
    unallocated_pipeline,
)
from service.report_scope import ReportScope, months_between, scope_counties


class ReportContext:
    """The reads the reports of one request share, each made once per scope.

    The county dashboard runs seven reports over one period: with a context they read
    household_income once (not three times) and sales_monthly twice (not six times). Rows it
    returns are shared between reports (and, with a ``cache``, between requests): read them,
    never change them. With a :class:`service.report_cache.ReportCache`, the groupings of the
    derived ledger come from it while their county-months are unchanged.
    """

    def __init__(self, db: Database, cache: report_cache.ReportCache | None = None) -> None:
        self.db = db
        self.cache = cache
        self._reads: dict[tuple, Any] = {}

    def _once(self, key: tuple, read: Callable[[], Any]) -> Any:
        if key not in self._reads:
            self._reads[key] = read()
        return self._reads[key]

    def _aggregate(self, collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(storage.aggregate(self.db[collection], pipeline))

    def _kept(
        self,
        key: tuple,
        stamp_key: tuple,
        stamp: Callable[[], report_cache.Stamp | None],
        read: Callable[[], Any],
    ) -> Any:
        """A read once per request, from the cache while the county-months ``stamp`` reads are unchanged."""
        if self.cache is None:
            return self._once(key, read)
        # Read before anything it covers is computed, so an entry is never newer than its stamp.
        before = self._once(("stamp", *stamp_key), stamp)
        return self._once(key, lambda: self.cache.read_through((self.db.name, *key), before, read, stamp))

    def _derived(self, key: tuple, scope: ReportScope, read: Callable[[], Any]) -> Any:
        """A grouping of the derived ledger, stamped by the scope's county-months."""
        return self._kept(key, ("scope", scope), lambda: self._stamp(scope), read)

    def _grouping(
        self,
        key: tuple,
        scope: ReportScope,
        read: Callable[[ReportScope], Any],
        read_month: Callable[[ReportScope], Any],
        merge: Callable[[list[Any]], Any],
    ) -> Any:
        """A grouping of the derived ledger over the scope's period (``read`` runs its pipeline).

        With a cache it is merged from each month's grouping (``read_month``), each kept under its own
        month's stamp, so the first view after a change recomputes only the months that changed.
        """
        if self.cache is None:
            return self._once(key, lambda: read(scope))
        before = self._once(("stamp", "scope", scope), lambda: self._stamp(scope))
        months = months_between(scope.from_month, scope.to_month)
        if before is None or len(months) == 1:
            return self._derived(key, scope, lambda: read(scope))
        return self._derived(
            key,
            scope,
            lambda: merge([self._month(key, scope, before, month, read_month) for month in months]),
        )

    def _month(
        self,
        key: tuple,
        scope: ReportScope,
        before: report_cache.Stamp,
        month: str,
        read_month: Callable[[ReportScope], Any],
    ) -> Any:
        """One month's grouping, kept under that month's part of the period's stamp read before."""
        one = dataclasses.replace(scope, from_month=month, to_month=month)
        month_before = report_cache.Stamp(
            tuple(state for state in before.states if state[0].endswith(f":{month}"))
        )
        return self.cache.read_through(
            (self.db.name, "month", key[0], one, *key[2:]),
            month_before,
            lambda: read_month(one),
            lambda: self._stamp(one),
        )

    def _stamp(self, scope: ReportScope) -> report_cache.Stamp | None:
        return report_cache.read_stamp(
            self.db, scope_counties(self.db, scope), months_between(scope.from_month, scope.to_month)
        )

    def figure(self, scope: ReportScope, name: str, compute: Callable[[], Any], *args: Any) -> Any:
        """What a pure function adds up from the scope's groupings (``compute`` reads them through this
        context), kept with them under the same stamp: as current as the groupings it was added up from."""
        return self._derived(("figure", name, scope, *args), scope, compute)

    def household_totals(self, scope: ReportScope, township_code: str | None = None) -> list[dict[str, Any]]:
        """One row per household with a non-zero income in the period (:func:`household_totals_pipeline`)."""

        def read(part: ReportScope, nonzero: bool = True) -> list[dict[str, Any]]:
            pipeline = household_totals_pipeline(part, township_code=township_code, nonzero=nonzero)
            return self._aggregate(storage.HOUSEHOLD_INCOME, pipeline)

        return self._grouping(
            ("household_totals", scope, township_code),
            scope,
            read,
            lambda part: read(part, nonzero=False),
            merge_household_totals,
        )

    def household_months(self, scope: ReportScope) -> list[dict[str, Any]]:
        """Each household's income in each month of the period (:func:`household_month_pipeline`)."""

        def read(part: ReportScope) -> list[dict[str, Any]]:
            return self._aggregate(storage.HOUSEHOLD_INCOME, household_month_pipeline(part))

        return self._grouping(("household_months", scope), scope, read, read, merge_in_month_order)

    def month_channel_sales(self, scope: ReportScope) -> list[dict[str, Any]]:
        """Sales by month, channel and flags (:func:`monthly_pipeline`)."""

        def read(part: ReportScope) -> list[dict[str, Any]]:
            return self._aggregate(storage.SALES_MONTHLY, monthly_pipeline(part))

        return self._grouping(("monthly", scope), scope, read, read, merge_sales_rows)

    def product_sales(self, scope: ReportScope) -> list[dict[str, Any]]:
        """Sales by operator, product and flags (:func:`product_sales_pipeline`)."""

        def read(part: ReportScope) -> list[dict[str, Any]]:
            return self._aggregate(storage.SALES_MONTHLY, product_sales_pipeline(part))

        return self._grouping(("products", scope), scope, read, read, merge_sales_rows)

    def pool_totals(self, scope: ReportScope) -> dict[str, Any]:
        """The period's pools, allocated and unallocated, in one row (:func:`pool_totals_pipeline`)."""

        def read(part: ReportScope) -> dict[str, Any]:
            return next(iter(self._aggregate(storage.OPERATOR_POOLS, pool_totals_pipeline(part))), {})

        return self._grouping(("pools", scope), scope, read, read, merge_pool_totals)

    def unallocated_pools(self, scope: ReportScope) -> list[dict[str, Any]]:
        """The period's pools no household was linked to share (:func:`unallocated_pipeline`)."""

        def read(part: ReportScope) -> list[dict[str, Any]]:
            return self._aggregate(storage.OPERATOR_POOLS, unallocated_pipeline(part))

        return self._grouping(("unallocated", scope), scope, read, read, merge_in_month_order)

    def canteen_purchase_sums(self, canteen_ids: Iterable[ObjectId], year: int) -> dict[Any, dict[str, int]]:
        """Per canteen, its ledger lines of ``year`` added up by the quota rule (``purchase_sums``).

        Read from the raw ``sales``, written only under a mark of their county-month: stamped by
        every county's county-months of the year, since a canteen buys from sellers of any county.
        """
        ids = tuple(sorted(set(canteen_ids)))
        if not ids:
            return {}
        # Kept month by month: after a sale only its month is grouped again.
        groups: list[dict[str, Any]] = []
        for number in range(1, 13):
            month = f"{year:04d}-{number:02d}"
            groups += self._kept(
                ("canteen_groups", ids, month),
                ("every county", month),
                lambda month=month: report_cache.read_stamp(self.db, None, [month]),
                lambda number=number: self._aggregate(
                    storage.SALES, canteen_quota.sums_pipeline(ids, year, number)
                ),
            )
        return canteen_quota.purchase_sums(groups, year)

    def stale_partitions(self, scope: ReportScope) -> list[dict[str, str]]:
        """The county-months in scope whose figures are being recomputed."""
        return self._once(("stale", scope), lambda: _stale_partitions(self.db, scope))


def for_app(db: Database, app: Flask) -> ReportContext:
    """A context for one request, over the app's report cache in this process (none if it is off)."""
    return ReportContext(db, cache=report_cache.for_app(app))


def _stale_partitions(db: Database, scope: ReportScope) -> list[dict[str, str]]:
    query = stale_partitions_query(scope_counties(db, scope), scope.from_month, scope.to_month)
    return [
        {"county_code": partition["county_code"], "month": partition["month"]}
        for partition in db[storage.LEDGER_PARTITIONS]
        .find(query, {"county_code": 1, "month": 1})
        .sort([("county_code", 1), ("month", 1)])
    ]
