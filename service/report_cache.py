"""Report groupings kept between requests, keyed by the state of the county-months they were read from.

The county reports' cost is a few groupings of the derived ledger
(:class:`service.report_context.ReportContext`): ``sales_monthly`` by month and channel and by
operator and product, ``household_income`` by household, the ``operator_pools`` totals and the
pools nobody shares. Those collections are written only by a rebuild of one county-month
(``service.ledger_rollups``), which holds the partition's lease on its marker in ``ledger_partitions``
while it writes and sets ``rebuilt_at`` when it cleans it; every ingest and correction raises the
marker's ``generation`` and marks it dirty first. So a grouping is kept under its scope and the *stamp*
of its county-months — each marker's generation, dirty flag, lease holder and ``rebuilt_at``, or
"absent" for a county-month never written — read in one query on the markers' ``_id`` index:

- it is stored only if every county-month was clean and unleased, and the stamp read after computing
  equals the one read before (a mark, a rebuild or a first sale in between changes it);
- any later mark changes the stamp, so an entry is never read again once its data moved on, and the
  least recently used entries are dropped past the size limits.

A grouping over several months is merged from each month's grouping
(``report_pipelines.merge_*``), each kept by the same rules under its month's part of the stamp
read before anything was computed: an entry read for a month reflects that month as the stamp
says, so the merge reflects the period as ``before`` says, and is kept under it only if the whole
stamp did not move meanwhile. The first view after a change recomputes only the months it touched.

What the reports add up from those groupings in Python (channels, rankings, townships, the
households by income and their distribution: ``ReportContext.figure``) is a pure function of them,
computed from groupings read under the same stamp, and is kept under it by the same two rules.

The canteens' quotas add up the raw ``sales`` lines the canteens bought in a year
(``ReportContext.canteen_purchase_sums``), grouped and kept month by month the same way. A sale
line is written only by an ingest or a rematch, which open a ticket on (or mark) its county-month
(generation raised, dirty) before writing and raise its generation again when done, or by a
rebuild bringing its certification and rate up to date, which holds the lease and sets
``rebuilt_at`` when done: so every write to a line changes the stamp of its county-month, as every
write to the derived ledger does. A canteen buys from sellers
of any county, so each month's sums are stamped by every county's markers of that month (a
county-month's first sale adds its marker to that stamp). The canteens, their plans and today's
date are read fresh, and the quota figures computed from them and the kept sums on every request.

Everything else the reports show is read fresh on every request: names of products, operators,
household heads and townships, the certification status (as of now) and the list of county-months
being recomputed. Kept rows are shared between requests: a report copies a row before adding a name.

Each process (each gunicorn worker) keeps its own cache: correct across workers because the stamp is
read from the database. ``REPORT_CACHE`` turns it off; ``REPORT_CACHE_ENTRIES`` and
``REPORT_CACHE_ROWS`` bound it (a kept row is a few hundred bytes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sized
from typing import Any

from flask import Flask
from pymongo.database import Database

from service import storage
from service.partitions import partition_id

ABSENT = "absent"
# A scope of more county-months than this is computed every time rather than stamped with a huge query.
MAX_STAMPED_PARTITIONS = 2400
_STAMP_FIELDS = {"generation": 1, "dirty": 1, "lease": 1, "rebuilt_at": 1}


def stamp_query(county_codes: Iterable[str] | None, months: list[str]) -> dict[str, Any] | None:
    """ledger_partitions → the markers of a scope's county-months (None: too many to stamp)."""
    if county_codes is None:
        # Every county: the markers of the period (one per county-month that ever had sales), on the
        # month_county index; read_stamp gives up past MAX_STAMPED_PARTITIONS of them.
        return {"month": {"$gte": months[0], "$lte": months[-1]}}
    counties = sorted(set(county_codes))
    if len(counties) * len(months) > MAX_STAMPED_PARTITIONS:
        return None
    return {"_id": {"$in": [partition_id(county, month) for county in counties for month in months]}}


def _marker_state(marker: dict[str, Any]) -> tuple:
    lease = marker.get("lease")
    return (
        marker.get("generation", 0),
        bool(marker.get("dirty", False)),
        lease.get("owner") if isinstance(lease, dict) else lease,
        marker.get("rebuilt_at"),
    )


class Stamp:
    """The state of a scope's county-months: equal stamps mean the derived ledger did not change."""

    def __init__(self, states: tuple[tuple[str, Any], ...]) -> None:
        self.states = states

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stamp) and other.states == self.states

    def __hash__(self) -> int:
        return hash(self.states)

    @property
    def clean(self) -> bool:
        """No county-month is dirty or being rebuilt: the figures read now are final."""
        return all(state == ABSENT or (not state[1] and state[2] is None) for _, state in self.states)


def read_stamp(db: Database, county_codes: Iterable[str] | None, months: list[str]) -> Stamp | None:
    """The stamp of these counties (None: every county) over these months, in one query; None if too big."""
    counties = None if county_codes is None else sorted(set(county_codes))
    query = stamp_query(counties, months)
    if query is None:
        return None
    markers = db[storage.LEDGER_PARTITIONS].find(query, _STAMP_FIELDS).limit(MAX_STAMPED_PARTITIONS + 1)
    found = {marker["_id"]: _marker_state(marker) for marker in markers}
    if len(found) > MAX_STAMPED_PARTITIONS:
        return None
    if counties is not None:
        for key in query["_id"]["$in"]:
            found.setdefault(key, ABSENT)
    return Stamp(tuple(sorted(found.items())))


class ReportCache:
    """A bounded least-recently-used map of computed groupings, safe across a worker's threads."""

    def __init__(self, max_entries: int, max_rows: int) -> None:
        self.max_entries = max_entries
        self.max_rows = max_rows
        self._entries: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.stored = self.refused = 0

    def __len__(self) -> int:
        return len(self._entries)

    def kept_keys(self) -> list[tuple]:
        """The kept entries' keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def get(self, key: tuple) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return False, None
            self._entries.move_to_end(key)
            self.hits += 1
            return True, entry[0]

    def put(self, key: tuple, value: Any) -> None:
        rows = len(value) if isinstance(value, Sized) else 1
        if rows > self.max_rows or self.max_entries < 1:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._rows -= previous[1]
            self._entries[key] = (value, rows)
            self._rows += rows
            self.stored += 1
            while len(self._entries) > self.max_entries or self._rows > self.max_rows:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._rows -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._rows = 0

    def read_through(
        self,
        key: tuple,
        before: Stamp | None,
        compute: Callable[[], Any],
        stamp_now: Callable[[], Stamp | None],
    ) -> Any:
        """The grouping kept for ``key`` at stamp ``before`` (read before anything was computed), or
        computed now and kept only if ``before`` was clean and the stamp did not move meanwhile."""
        if before is None:
            return compute()
        found, value = self.get((*key, before))
        if found:
            return value
        value = compute()
        if before.clean and stamp_now() == before:
            self.put((*key, before), value)
        else:
            with self._lock:
                self.refused += 1
        return value


def for_app(app: Flask) -> ReportCache | None:
    """The app's cache in this process, or None when ``REPORT_CACHE`` is off."""
    if not app.config["REPORT_CACHE"]:
        return None
    cache = app.extensions.get("report_cache")
    if cache is None:
        made = ReportCache(app.config["REPORT_CACHE_ENTRIES"], app.config["REPORT_CACHE_ROWS"])
        cache = app.extensions.setdefault("report_cache", made)
    return cache
