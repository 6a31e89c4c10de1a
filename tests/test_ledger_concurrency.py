"""Ingests and rebuilds of one county-month at the same time: the figures at rest are never wrong.

Threads share one database handle. On the emulator every operation is atomic on its own, but
threads still interleave between operations; with TEST_MONGO_URI set the same tests run over the
wire protocol, where operations themselves run concurrently, and processes join in too.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import MongoClient

from service import ledger, ledger_rebuilds, ledger_rollups, ledger_writes, partitions, reconcile, storage
from service.ingest_scope import IngestScope
from tests.conftest import TEST_MONGO_URI
from tests.test_ledger import COUNTY, MARCH, certified, line  # noqa: F401  (the fixture)

MONTH = "2024-03"


@pytest.fixture(autouse=True)
def _switch_often():
    """Make the interpreter switch threads far more often, so the interleavings actually happen."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def _run_together(workers: list) -> None:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work):
        try:
            barrier.wait()
            work()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert errors == []


def _stored_keys(db, name: str) -> Counter:
    key = {
        storage.SALES_DAILY: ("day", *ledger_rollups.MONTHLY_KEY),
        storage.SALES_MONTHLY: ledger_rollups.MONTHLY_KEY,
        storage.OPERATOR_POOLS: ("operator_id",),
        storage.HOUSEHOLD_INCOME: ("operator_id", "household_id"),
    }[name]
    return Counter(tuple(str(row.get(k)) for k in key) for row in db[name].find({"month": MONTH}))


def _assert_figures(db, amounts: dict[str, int]) -> None:
    """The stored figures are exactly those of the lines written, each row once, and verify agrees."""
    for name in ledger_rollups.DERIVED:
        doubled = {key: n for key, n in _stored_keys(db, name).items() if n > 1}
        assert doubled == {}, f"{name} rows stored more than once"
    monthly = list(db[storage.SALES_MONTHLY].find({"county_code": COUNTY, "month": MONTH}))
    assert sum(row["sales_fen"] for row in monthly) == sum(amounts.values())
    assert sum(row["lines"] for row in monthly) == len(amounts)
    pool = sum(p["pool_fen"] for p in db[storage.OPERATOR_POOLS].find({"month": MONTH}))
    expected_pool = sum(
        s["poor_income_fen"] for s in db[storage.SALES].find({"month": MONTH, "certified": True})
    )
    assert pool == expected_pool
    assert reconcile.verify(db)[1] == []


def _ingest_batch(db, prefix: str, count: int, amounts: dict[str, int], lock: threading.Lock) -> None:
    for number in range(count):
        external_id = f"{prefix}-{number}"
        amount = 1_000 + 7 * number + len(prefix)
        with lock:
            amounts[external_id] = amount
        ledger.ingest(db, [line(external_id, amount)], IngestScope(COUNTY))


def test_concurrent_rebuilds_of_one_partition_never_double_count(db, certified):  # noqa: F811
    amounts = {f"A-{n}": 10_000 + n for n in range(30)}
    ledger.ingest(
        db, [line(key, value) for key, value in amounts.items()], IngestScope(COUNTY), rebuild=False
    )
    for _ in range(10):
        partitions.mark_dirty(db, [(COUNTY, MONTH)])
        _run_together([lambda: ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH) for _ in range(4)])
        _assert_figures(db, amounts)
        assert partitions.dirty_partitions(db) == []


def test_concurrent_ingests_and_rebuilds_leave_exact_figures(db, certified):  # noqa: F811
    amounts: dict[str, int] = {}
    lock = threading.Lock()
    for round_number in range(3):
        prefixes = [f"{letter}{round_number}" for letter in "BCDE"]
        workers = [lambda prefix=prefix: _ingest_batch(db, prefix, 6, amounts, lock) for prefix in prefixes]
        workers += [lambda: [ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH) for _ in range(6)]] * 2
        _run_together(workers)
        # The last rebuild to finish saw every mark: the partition is clean and exact.
        assert partitions.dirty_partitions(db) == []
        _assert_figures(db, amounts)


def test_a_rebuild_racing_an_ingest_never_cleans_the_partition_without_its_lines(db, certified, monkeypatch):  # noqa: F811
    """The rebuild reads the ingest's first mark, sums the ledger before the write, and would clean."""
    real_write = ledger_writes.write

    def rebuild_just_before_the_write(db_, *args, **kwargs):
        ledger_rebuilds.rebuild_partition(db_, COUNTY, MONTH)
        real_write(db_, *args, **kwargs)

    monkeypatch.setattr(ledger_writes, "write", rebuild_just_before_the_write)
    ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY), rebuild=False)  # and then it crashes
    assert partitions.dirty_partitions(db) == [(COUNTY, MONTH)]
    monkeypatch.setattr(ledger_writes, "write", real_write)
    ledger_rebuilds.rebuild(db)
    _assert_figures(db, {"A-1": 10_000})


def test_a_rebuild_never_writes_while_another_holds_the_partition(db, certified, monkeypatch):  # noqa: F811
    """A second rebuild starts just as the first one writes sales_daily."""
    ledger.ingest(db, [line("A-1", 10_000), line("A-2", 500)], IngestScope(COUNTY), rebuild=False)
    collection_type = type(db[storage.SALES_DAILY])
    real_bulk_write = collection_type.bulk_write
    started = []

    def write_after_another_rebuild(self, requests, *args, **kwargs):
        if self.name == storage.SALES_DAILY and not started:
            started.append("second rebuild")
            started.append(ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH))
        return real_bulk_write(self, requests, *args, **kwargs)

    monkeypatch.setattr(collection_type, "bulk_write", write_after_another_rebuild)
    ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH)
    assert started == ["second rebuild", {"busy": 1}]
    _assert_figures(db, {"A-1": 10_000, "A-2": 500})


def test_an_expired_lease_is_taken_over_and_the_old_holder_stops_writing(db, certified):  # noqa: F811
    ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY), rebuild=False)
    assert partitions.acquire_lease(db, COUNTY, MONTH, "crashed") is not None
    assert ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH) == {"busy": 1}
    assert partitions.dirty_partitions(db) == [(COUNTY, MONTH)]
    expired = datetime.now(UTC) - timedelta(seconds=1)
    db[storage.LEDGER_PARTITIONS].update_one(
        {"_id": f"{COUNTY}:{MONTH}"}, {"$set": {"lease.expires_at": expired}}
    )
    assert "busy" not in ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH)
    assert partitions.dirty_partitions(db) == []
    with pytest.raises(partitions.LeaseLost):
        partitions.renew_lease(db, COUNTY, MONTH, "crashed")
    _assert_figures(db, {"A-1": 10_000})


# Processes, over the wire protocol only (the emulator lives inside one process) ---------------------


def _process_worker(uri: str, db_name: str, prefix: str, count: int) -> None:
    client = MongoClient(uri, tz_aware=True)
    try:
        db = client[db_name]
        for number in range(count):
            ledger.ingest(db, [line(f"{prefix}-{number}", 2_000 + number)], IngestScope(COUNTY))
            ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH)
    finally:
        client.close()


@pytest.mark.skipif(TEST_MONGO_URI is None, reason="processes need a server: set TEST_MONGO_URI")
def test_processes_ingesting_and_rebuilding_one_partition_leave_exact_figures(db, certified):  # noqa: F811
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_process_worker, args=(TEST_MONGO_URI, db.name, prefix, 5))
        for prefix in "PQRS"
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [process.exitcode for process in processes] == [0] * len(processes)
    amounts = {f"{prefix}-{number}": 2_000 + number for prefix in "PQRS" for number in range(5)}
    assert partitions.dirty_partitions(db) == []
    _assert_figures(db, amounts)
