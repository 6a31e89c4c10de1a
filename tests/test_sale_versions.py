"""A changed sale line keeps the version it replaced: whole, with the runs that wrote and replaced it."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from bson import ObjectId
from pymongo import MongoClient

from service import ledger, sale_versions, storage
from service.ingest_scope import IngestScope
from tests.conftest import TEST_MONGO_URI
from tests.test_ledger import COUNTY, certified, line  # noqa: F401  (the fixture)
from tests.test_ledger_concurrency import _run_together, _switch_often  # noqa: F401  (the fixture)


def ingest(db, lines, **kwargs):
    return ledger.ingest(db, lines, IngestScope(COUNTY), **kwargs)


def _versions(db, external_id: str) -> list[dict]:
    stored = db[storage.SALES].find_one({"external_id": external_id})
    return sale_versions.history(db, stored, {})


def test_a_changed_amount_keeps_the_old_version_with_both_runs(db, certified):  # noqa: F811
    first_run, second_run = ObjectId(), ObjectId()
    ingest(db, [line("A-1", 10_000)], run_id=first_run, actor="alice")
    result = ingest(db, [line("A-1", 8_000)], run_id=second_run, actor="bob")
    assert result.counts()["updated"] == 1
    [version] = _versions(db, "A-1")
    assert version["confirmed"] is True
    assert version["previous"]["amount_fen"] == 10_000
    assert version["previous"]["import_run_id"] == first_run
    assert version["replaced_by"]["import_run_id"] == second_run
    assert version["replaced_by"]["actor"] == "bob"
    assert version["replaced_by"]["source"] == "jd"
    current = db[storage.SALES].find_one({"external_id": "A-1"})
    assert current["amount_fen"] == 8_000
    assert version["replaced_by"]["fingerprint"] == current["fingerprint"]
    assert version["replaced_by"]["write_id"] == current["write_id"]


def test_an_unchanged_re_import_keeps_no_version(db, certified):  # noqa: F811
    ingest(db, [line("A-1", 10_000), line("A-2", 500)])
    result = ingest(db, [line("A-1", 10_000), line("A-2", 500)])
    assert result.counts()["unchanged"] == 2
    assert db[storage.SALE_LINE_VERSIONS].count_documents({}) == 0


def test_a_dry_run_keeps_no_version(db, certified):  # noqa: F811
    ingest(db, [line("A-1", 10_000)])
    ingest(db, [line("A-1", 8_000)], dry_run=True)
    assert db[storage.SALE_LINE_VERSIONS].count_documents({}) == 0


def test_each_change_keeps_one_version_and_a_retry_stores_none_twice(db, certified):  # noqa: F811
    for amount in (10_000, 9_000, 10_000, 8_000):
        ingest(db, [line("A-1", amount)])
    # The same content twice is two versions: each write has its own id.
    assert sorted(v["previous"]["amount_fen"] for v in _versions(db, "A-1")) == [9_000, 10_000, 10_000]
    current = db[storage.SALES].find_one({"external_id": "A-1"})
    first = sale_versions.record(db, [current], current["updated_at"])
    assert sale_versions.record(db, [current], current["updated_at"]) == first
    assert db[storage.SALE_LINE_VERSIONS].count_documents({}) == 4
    assert len(_versions(db, "A-1")) == 3  # the line still holds the fourth: not replaced


def test_a_version_kept_before_an_update_that_never_came_is_not_shown(db, certified):  # noqa: F811
    ingest(db, [line("A-1", 10_000)])
    stored = db[storage.SALES].find_one({"external_id": "A-1"})
    sale_versions.record(db, [stored], stored["updated_at"])  # and then the process stops
    assert _versions(db, "A-1") == []
    ingest(db, [line("A-1", 7_000)], actor="carol")  # the next change confirms that very document
    [version] = _versions(db, "A-1")
    assert version["previous"]["amount_fen"] == 10_000 and version["replaced_by"]["actor"] == "carol"


def test_a_version_whose_replacer_stopped_before_confirming_it_is_still_shown(db, certified, monkeypatch):  # noqa: F811
    ingest(db, [line("A-1", 10_000)])
    monkeypatch.setattr(sale_versions, "confirm", lambda *args, **kwargs: None)
    ingest(db, [line("A-1", 7_000)])
    [version] = _versions(db, "A-1")
    assert version["confirmed"] is False and version["previous"]["amount_fen"] == 10_000


# Several writers at once -------------------------------------------------------------------------


def _count_landed_updates(db, monkeypatch) -> list[int]:
    """Every update of a sale line that matched, as the server reported it."""
    landed: list[int] = []
    collection_type = type(db[storage.SALES])
    real_bulk_write = collection_type.bulk_write
    lock = threading.Lock()

    def counting(self, requests, *args, **kwargs):
        written = real_bulk_write(self, requests, *args, **kwargs)
        # The ledger's replacements, conditional on the version read (not a rebuild's refresh).
        if self.name == storage.SALES and any(
            "fingerprint" in (getattr(r, "_filter", None) or {}) for r in requests
        ):
            with lock:
                landed.append(written.matched_count)
        return written

    monkeypatch.setattr(collection_type, "bulk_write", counting)
    return landed


def _assert_one_chain(db, external_id: str, updates: int) -> None:
    """Exactly the versions of the updates that happened, each replaced by the next, the last by the line."""
    current = db[storage.SALES].find_one({"external_id": external_id})
    versions = list(db[storage.SALE_LINE_VERSIONS].find({"sale_id": current["_id"]}))
    confirmed = [v for v in versions if v["confirmed"]]
    assert len(confirmed) == updates
    assert len(sale_versions.history(db, current, {})) == updates
    by_writer = {v["previous"]["write_id"]: v for v in confirmed}
    assert len(by_writer) == updates
    # Walk back from the line: each write id names the version it replaced, down to the first insert.
    write_id, walked = current["write_id"], 0
    replaced = {v["replaced_by"]["write_id"]: v for v in confirmed}
    while write_id in replaced:
        write_id = replaced[write_id]["previous"]["write_id"]
        walked += 1
    assert walked == updates


def test_threads_changing_one_line_keep_exactly_the_versions_replaced(db, certified, monkeypatch):  # noqa: F811
    ingest(db, [line("A-1", 1)])
    landed = _count_landed_updates(db, monkeypatch)

    def writer(offset):
        def work():
            for number in range(5):
                # Writers 0 and 2 share their amounts: the same content from two ingests at once.
                ingest(db, [line("A-1", 100 * (offset % 2) + number + 2)])

        return work

    _run_together([writer(offset) for offset in range(3)])
    assert sum(landed) > 0
    _assert_one_chain(db, "A-1", sum(landed))


def test_a_writer_that_lost_the_race_never_claims_the_version_it_read(db, certified, monkeypatch):  # noqa: F811
    """The loser reads 10 000 and keeps it; the winner replaces it first and confirms last."""
    ingest(db, [line("A-1", 10_000)])
    real_record, real_confirm = sale_versions.record, sale_versions.confirm
    started, deferred = [], []

    def record_then_let_another_write(*args):
        kept = real_record(*args)
        if not started:
            started.append("loser")
            monkeypatch.setattr(sale_versions, "confirm", lambda *a, **k: deferred.append((a, k)))
            ingest(db, [line("A-1", 9_000)], actor="winner")
            monkeypatch.setattr(sale_versions, "confirm", real_confirm)
        return kept

    monkeypatch.setattr(sale_versions, "record", record_then_let_another_write)
    ingest(db, [line("A-1", 8_000)], actor="loser")
    for args, kwargs in deferred:
        real_confirm(*args, **kwargs)
    newer, older = _versions(db, "A-1")
    assert (older["previous"]["amount_fen"], older["replaced_by"]["actor"]) == (10_000, "winner")
    assert (newer["previous"]["amount_fen"], newer["replaced_by"]["actor"]) == (9_000, "loser")
    assert db[storage.SALES].find_one({"external_id": "A-1"})["amount_fen"] == 8_000
    _assert_one_chain(db, "A-1", 2)


def _process_writer(uri: str, db_name: str, offset: int) -> None:
    client = MongoClient(uri, tz_aware=True)
    try:
        for number in range(5):
            ledger.ingest(client[db_name], [line("A-1", 1_000 * offset + number + 2)], IngestScope(COUNTY))
    finally:
        client.close()


@pytest.mark.skipif(TEST_MONGO_URI is None, reason="processes need a server: set TEST_MONGO_URI")
def test_processes_changing_one_line_keep_one_unbroken_chain_of_versions(db, certified):  # noqa: F811
    ingest(db, [line("A-1", 1)])
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_process_writer, args=(TEST_MONGO_URI, db.name, offset))
        for offset in range(1, 4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [process.exitcode for process in processes] == [0] * len(processes)
    # Every content differs, so every ingest's line landed once: 15 updates over the first insert.
    _assert_one_chain(db, "A-1", 15)


# Over HTTP ---------------------------------------------------------------------------------------


def test_an_enterprise_reads_its_line_history_and_another_operators_answers_as_missing(login, db, factory):
    mine = factory.operator(COUNTY)
    theirs = factory.operator(COUNTY)
    factory.product(mine["_id"], channel_skus=[{"channel": "jd", "sku": "MINE"}])
    factory.product(theirs["_id"], channel_skus=[{"channel": "jd", "sku": "THEIRS"}])
    for amount in (10_000, 9_000):
        ingest(db, [line("M-1", amount, sku="MINE"), line("T-1", amount, sku="THEIRS")])
    own = db[storage.SALES].find_one({"external_id": "M-1"})
    other = db[storage.SALES].find_one({"external_id": "T-1"})
    enterprise = login("enterprise", operator_id=mine["_id"])

    history = enterprise.get(f"/api/v1/sales/{own['_id']}/versions")
    assert history.status_code == 200
    assert history.json["sale"]["amount_fen"] == 9_000
    assert [v["line"]["amount_fen"] for v in history.json["versions"]] == [10_000]

    foreign = enterprise.get(f"/api/v1/sales/{other['_id']}/versions")
    missing = enterprise.get(f"/api/v1/sales/{ObjectId()}/versions")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json["error"]["code"] == missing.json["error"]["code"]
    assert foreign.json["error"]["message"] == missing.json["error"]["message"]


def test_staff_of_another_county_cannot_read_a_line_history(login, db, certified):  # noqa: F811
    for amount in (10_000, 9_000):
        ingest(db, [line("A-1", amount)])
    stored = db[storage.SALES].find_one({"external_id": "A-1"})
    assert login("county_staff").get(f"/api/v1/sales/{stored['_id']}/versions").status_code == 200
    elsewhere = login("county_staff", county_codes=["341822"])
    assert elsewhere.get(f"/api/v1/sales/{stored['_id']}/versions").status_code == 404
