"""The in-process emulator: mongomock_ng made thread-safe, O(1) per cursor step and fast on unique indexes.

On stock mongomock_ng the $inc/upsert/reader concurrency tests, the two slicing
counts, the unique-insert call count, the partial-index test and the
idempotency test fail, and the 20,000-document batch takes about nine minutes.
The rest pin down that the patched paths still behave as before (cursor
skip/limit, DuplicateKeyError / BulkWriteError details, sparse, compound and
multikey unique indexes, same-key insert races).
"""

from __future__ import annotations

import datetime
import sys
import threading
from collections.abc import Callable

import pytest
from mongomock_ng.collection import Collection, Cursor
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from service.emulator import apply_patches, new_client


@pytest.fixture
def mdb():
    return new_client()["emulator_test"]


@pytest.fixture
def frequent_thread_switches():
    """Make the interpreter switch threads very often so that races show up on every run."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run target(i) in `count` threads released together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as error:  # collected and asserted on by the caller
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "worker threads hung"
    return errors


# --- thread safety -----------------------------------------------------------------------------


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_inc_on_one_document_loses_nothing(mdb):
    counters = mdb["counters"]
    counters.insert_one({"_id": "hits", "n": 0, "seq": 0})
    handed_out: list[int] = []

    def work(_: int) -> None:
        for _ in range(500):
            counters.update_one({"_id": "hits"}, {"$inc": {"n": 1}})
            after = counters.find_one_and_update(
                {"_id": "hits"}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER
            )
            handed_out.append(after["seq"])

    assert run_threads(8, work) == []
    final = counters.find_one({"_id": "hits"})
    assert (final["n"], final["seq"]) == (8 * 500, 8 * 500)
    # Each find_one_and_update saw its own increment: a sequence never hands out a number twice.
    assert sorted(handed_out) == list(range(1, 8 * 500 + 1))


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_upserts_under_unique_index_make_one_document_per_key(mdb):
    counters = mdb["per_key"]
    counters.create_index("key", unique=True)

    def work(thread: int) -> None:
        for i in range(250):
            key = f"k{(i + thread) % 50}"
            counters.update_one({"key": key}, {"$inc": {"n": 1}}, upsert=True)

    assert run_threads(8, work) == []
    docs = list(counters.find({}, {"_id": 0}))
    assert len(docs) == 50
    assert sorted(d["key"] for d in docs) == sorted(f"k{i}" for i in range(50))
    assert {d["n"] for d in docs} == {8 * 250 // 50}


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_inserts_of_the_same_unique_key_keep_exactly_one(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    inserted = []

    def work(_: int) -> None:
        for i in range(100):
            try:
                users.insert_one({"username": f"u{i}"})
                inserted.append(i)
            except DuplicateKeyError:
                pass

    assert run_threads(8, work) == []
    assert sorted(inserted) == list(range(100))
    assert users.count_documents({}) == 100
    assert len(users.distinct("username")) == 100


@pytest.mark.usefixtures("frequent_thread_switches")
def test_readers_iterating_while_writers_write_never_fail(mdb):
    items = mdb["items"]
    items.insert_many([{"n": i, "tags": ["a", "b"], "sub": {"v": i}} for i in range(100)])
    stop = threading.Event()

    def work(thread: int) -> None:
        if thread < 4:  # writers: add and remove fields in place, insert, delete
            try:
                for i in range(40):
                    items.insert_one({"n": 1000 + i, "tags": ["c"], "sub": {"v": i}})
                    field = f"f{thread}_{i}"
                    items.update_many(
                        {"n": {"$lt": 50}}, {"$set": {field: i, f"sub.{field}": i}, "$push": {"tags": "x"}}
                    )
                    items.update_many({"n": {"$lt": 50}}, {"$unset": {field: "", f"sub.{field}": ""}})
                    items.delete_one({"n": {"$gte": 1000}})
            finally:
                stop.set()
        else:  # readers
            while not stop.is_set():
                seen = [
                    (doc["n"], len(doc["tags"]), doc["sub"]["v"]) for doc in items.find({"n": {"$gte": 0}})
                ]
                assert len(seen) >= 100
                items.count_documents({"tags": "x"})
                list(items.aggregate([{"$group": {"_id": None, "total": {"$sum": "$sub.v"}}}]))

    assert run_threads(8, work) == []
    assert items.count_documents({}) == 100
    assert all(len(doc) == 4 and len(doc["sub"]) == 1 for doc in items.find())


# --- cursor iteration: O(1) per document -----------------------------------------------------


class _SliceCountingList(list):
    """A result list that counts how many items slicing copies out of it."""

    copied = 0

    def __getitem__(self, index):
        item = super().__getitem__(index)
        if isinstance(index, slice):
            type(self).copied += len(item)
        return item


@pytest.fixture
def copied_by_slicing(monkeypatch):
    """Swap every cursor's cached results for a _SliceCountingList; yields a reader of the copy count."""
    compute = Cursor._compute_results

    def counting_compute(self, with_limit_and_skip=False):
        if self._results and not isinstance(self._results, _SliceCountingList):
            self._results = _SliceCountingList(self._results)
        return compute(self, with_limit_and_skip)

    monkeypatch.setattr(Cursor, "_compute_results", counting_compute)
    _SliceCountingList.copied = 0
    return lambda: _SliceCountingList.copied


def test_iterating_a_cursor_does_not_copy_the_results_per_document(mdb, copied_by_slicing):
    n = 2000
    mdb["docs"].insert_many([{"i": i} for i in range(n)])

    assert [doc["i"] for doc in mdb["docs"].find()] == list(range(n))
    assert copied_by_slicing() <= 2 * n  # stock mongomock_ng: ~n * n / 2


def test_aggregate_does_not_copy_its_input_per_document(mdb, copied_by_slicing):
    n = 2000
    mdb["docs"].insert_many([{"k": i % 10, "v": i} for i in range(n)])

    groups = list(
        mdb["docs"].aggregate([{"$group": {"_id": "$k", "s": {"$sum": "$v"}}}, {"$sort": {"_id": 1}}])
    )
    assert [g["s"] for g in groups] == [sum(range(k, n, 10)) for k in range(10)]
    assert copied_by_slicing() <= 2 * n


def test_cursor_skip_limit_sort_and_indexing_still_behave(mdb):
    docs = mdb["docs"]
    docs.insert_many([{"i": i} for i in range(20)])

    def values(cursor):
        return [doc["i"] for doc in cursor]

    assert values(docs.find().skip(3).limit(4)) == [3, 4, 5, 6]
    assert values(docs.find().limit(-2)) == [0, 1]
    assert values(docs.find(skip=18, limit=5)) == [18, 19]
    assert values(docs.find().skip(25)) == []
    assert values(docs.find().sort("i", -1).limit(3)) == [19, 18, 17]
    assert values(docs.find()[5:8]) == [5, 6, 7]
    assert docs.find().skip(2)[1]["i"] == 3
    assert values(docs.find({"i": {"$gt": 100}})) == []

    cursor = docs.find({"i": {"$lt": 3}})
    assert cursor.alive
    assert values(cursor) == [0, 1, 2]
    assert not cursor.alive
    with pytest.raises(StopIteration):
        next(cursor)
    cursor.rewind()
    assert values(cursor) == [0, 1, 2]
    assert values(docs.find({"i": {"$lt": 3}}).clone()) == [0, 1, 2]


# --- unique indexes: fast, and exactly as strict as before -----------------------------------


def test_unique_inserts_do_not_rescan_the_collection_per_document(mdb, monkeypatch):
    calls = 0
    compute = Collection._compute_index_entries

    def counting(doc, unique, is_sparse):
        nonlocal calls
        calls += 1
        return compute(doc, unique, is_sparse)

    monkeypatch.setattr(Collection, "_compute_index_entries", staticmethod(counting))
    users = mdb["users"]
    users.create_index("username", unique=True)
    n = 400
    for i in range(n):
        users.insert_one({"username": f"u{i}"})
    users.insert_many([{"username": f"v{i}"} for i in range(n)])

    assert users.count_documents({}) == 2 * n
    assert calls <= 6 * n  # stock mongomock_ng: ~2 * n * n


def test_a_large_batch_into_a_unique_index_finishes_and_still_catches_duplicates(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    n = 20_000

    result = users.insert_many([{"username": f"user-{i:05d}"} for i in range(n)])

    assert len(result.inserted_ids) == n
    assert users.count_documents({}) == n
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"username": "user-12345"})
    users.insert_one({"username": "user-20000"})
    assert users.count_documents({}) == n + 1


def test_duplicate_against_an_existing_document_raises_with_details(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.insert_one({"username": "ann"})

    with pytest.raises(DuplicateKeyError) as caught:
        users.insert_one({"username": "ann", "extra": 1})

    assert caught.value.code == 11000
    assert caught.value.details == {"keyPattern": {"username": 1}, "keyValue": {"username": "ann"}}
    assert users.count_documents({}) == 1


def test_insert_many_ordered_stops_at_the_first_duplicate(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.insert_one({"username": "b"})

    with pytest.raises(BulkWriteError) as caught:
        users.insert_many([{"username": "a"}, {"username": "b"}, {"username": "c"}, {"username": "a"}])

    details = caught.value.details
    assert details["nInserted"] == 1
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000)]
    assert sorted(users.distinct("username")) == ["a", "b"]


def test_insert_many_unordered_skips_every_duplicate_including_within_the_batch(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.insert_one({"username": "b"})

    with pytest.raises(BulkWriteError) as caught:
        users.insert_many(
            [{"username": "a"}, {"username": "b"}, {"username": "c"}, {"username": "a"}], ordered=False
        )

    details = caught.value.details
    assert details["nInserted"] == 2
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000), (3, 11000)]
    assert sorted(users.distinct("username")) == ["a", "b", "c"]


def test_updates_and_upserts_cannot_create_duplicates(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.insert_many([{"_id": 1, "username": "a"}, {"_id": 2, "username": "b"}])

    with pytest.raises(DuplicateKeyError):
        users.update_one({"_id": 2}, {"$set": {"username": "a"}})
    with pytest.raises(DuplicateKeyError):
        users.replace_one({"_id": 2}, {"username": "a"})
    with pytest.raises(DuplicateKeyError):
        users.update_one({"_id": 3}, {"$set": {"username": "a"}}, upsert=True)
    assert users.find_one({"_id": 2})["username"] == "b"
    assert users.count_documents({}) == 2

    users.update_one({"_id": 2}, {"$set": {"username": "b2"}})  # the old key is free again...
    users.insert_one({"_id": 4, "username": "b"})
    with pytest.raises(DuplicateKeyError):  # ...and the new one is taken
        users.insert_one({"username": "b2"})


def test_freed_keys_can_be_reused(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.insert_one({"username": "a"})

    users.delete_one({"username": "a"})
    users.insert_one({"username": "a"})
    users.find_one_and_delete({"username": "a"})
    users.insert_one({"username": "a"})

    mdb.drop_collection("users")
    users.insert_many([{"username": "a"}, {"username": "a"}])  # the index went with the collection
    users.delete_many({})
    users.create_index("username", unique=True)
    users.insert_one({"username": "a"})
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"username": "a"})

    users.drop_index("username_1")
    users.insert_one({"username": "a"})
    assert users.count_documents({"username": "a"}) == 2


def test_aborted_transaction_restores_the_keys_it_changed(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.insert_one({"username": "a"})

    with mdb.client.start_session() as session:
        session.start_transaction()
        users.update_one({"username": "a"}, {"$set": {"username": "z"}}, session=session)
        users.insert_one({"username": "a"}, session=session)
        session.abort_transaction()

    assert users.distinct("username") == ["a"]
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"username": "a"})


def test_a_rejected_document_leaves_no_trace_in_other_unique_indexes(mdb):
    users = mdb["users"]
    users.create_index("username", unique=True)
    users.create_index("email", unique=True)
    users.insert_one({"username": "a", "email": "a@x"})

    with pytest.raises(DuplicateKeyError) as caught:
        users.insert_one({"username": "b", "email": "a@x"})
    assert caught.value.details["keyPattern"] == {"email": 1}

    users.insert_one({"username": "b", "email": "b@x"})
    assert users.count_documents({}) == 2


def test_sparse_unique_index_ignores_documents_without_the_field(mdb):
    people = mdb["people"]
    people.create_index("email", unique=True, sparse=True)
    people.insert_many([{"name": "a"}, {"name": "b"}, {"name": "c", "email": "c@x"}])

    with pytest.raises(DuplicateKeyError):
        people.insert_one({"name": "d", "email": "c@x"})
    people.insert_one({"name": "e"})
    assert people.count_documents({}) == 4


def test_non_sparse_unique_index_treats_a_missing_field_as_null(mdb):
    people = mdb["people"]
    people.create_index("email", unique=True)
    people.insert_one({"name": "a"})

    with pytest.raises(DuplicateKeyError):
        people.insert_one({"name": "b"})
    with pytest.raises(DuplicateKeyError):
        people.insert_one({"name": "c", "email": None})


def test_partial_unique_index_only_constrains_matching_documents(mdb):
    accounts = mdb["accounts"]
    accounts.create_index("login", unique=True, partialFilterExpression={"active": True})
    accounts.insert_many(
        [
            {"_id": 1, "login": "a", "active": False},
            {"_id": 2, "login": "a", "active": False},
            {"_id": 3, "login": "a", "active": True},
        ]
    )

    with pytest.raises(DuplicateKeyError):
        accounts.insert_one({"login": "a", "active": True})
    with pytest.raises(DuplicateKeyError):
        accounts.update_one({"_id": 1}, {"$set": {"active": True}})
    accounts.insert_one({"_id": 4, "login": "a", "active": False})  # not in the index: no conflict

    accounts.update_one({"_id": 3}, {"$set": {"active": False}})
    accounts.update_one({"_id": 1}, {"$set": {"active": True}})
    assert accounts.count_documents({"login": "a"}) == 4


def test_compound_and_multikey_unique_indexes(mdb):
    rows = mdb["rows"]
    rows.create_index([("county", 1), ("code", 1)], unique=True)
    rows.insert_many([{"county": "x", "code": 1}, {"county": "y", "code": 1}, {"county": "x", "code": 2}])
    with pytest.raises(DuplicateKeyError) as caught:
        rows.insert_one({"county": "x", "code": 2})
    assert caught.value.details == {
        "keyPattern": {"county": 1, "code": 1},
        "keyValue": {"county": "x", "code": 2},
    }

    tagged = mdb["tagged"]
    tagged.create_index("tags", unique=True)
    tagged.insert_one({"tags": ["a", "b"]})
    with pytest.raises(DuplicateKeyError):
        tagged.insert_one({"tags": ["c", "b"]})
    tagged.insert_one({"tags": ["c", "d"]})

    nested = mdb["nested"]
    nested.create_index("ref", unique=True)
    nested.insert_one({"ref": {"kind": "user", "id": 1}})  # unhashable key value
    nested.insert_one({"ref": {"kind": "user", "id": 2}})
    with pytest.raises(DuplicateKeyError):
        nested.insert_one({"ref": {"kind": "user", "id": 1}})


def test_expired_documents_do_not_block_their_key(mdb):
    tokens = mdb["tokens"]
    tokens.create_index("token", unique=True)
    tokens.create_index("expires_at", expireAfterSeconds=0)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    tokens.insert_one({"token": "t", "expires_at": past})
    tokens.insert_one({"token": "t", "expires_at": past})  # the first one has expired meanwhile
    assert tokens.count_documents({}) == 0


# --- the module's own contract ---------------------------------------------------------------


def test_apply_patches_is_idempotent():
    apply_patches()
    find, ensure_uniques, step = Collection.find, Collection._ensure_uniques, Cursor.__next__
    apply_patches()

    assert (Collection.find, Collection._ensure_uniques, Cursor.__next__) == (find, ensure_uniques, step)
    assert not getattr(Collection.find.__wrapped__, "_emulator_locked", False)  # wrapped exactly once


def test_new_client_returns_aware_utc_datetimes_and_is_empty():
    client = new_client()
    stamp = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=datetime.UTC)
    client["db"]["events"].insert_one({"at": stamp})

    assert client["db"]["events"].find_one()["at"] == stamp
    assert client["db"]["events"].find_one()["at"].tzinfo is not None
    assert new_client().list_database_names() == []
    assert [ix["name"] for ix in client["db"]["events"].list_indexes()] == ["_id_"]


def _count_calls(monkeypatch, module, name):
    calls = {"n": 0}
    original = getattr(module, name)

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_in_over_strings_compares_by_set_not_by_every_pair(mdb, monkeypatch):
    from mongomock_ng import filtering

    mdb.c.insert_many([{"k": f"key-{i}"} for i in range(500)])
    wanted = [f"key-{i}" for i in range(0, 1000, 2)]
    comparisons = _count_calls(monkeypatch, filtering, "operator_eq")
    found = sorted(doc["k"] for doc in mdb.c.find({"k": {"$in": wanted}}))
    assert found == sorted(f"key-{i}" for i in range(0, 500, 2))
    assert comparisons["n"] < 1000  # stock: 500 documents × 500 values
    assert mdb.c.count_documents({"k": {"$nin": wanted}}) == 250


def test_in_with_mixed_types_keeps_mongodb_semantics(mdb):
    mdb.c.insert_many([{"k": 1}, {"k": "1"}, {"k": None}, {}, {"k": ["a", "b"]}, {"k": "a"}])
    assert mdb.c.count_documents({"k": {"$in": ["1"]}}) == 1
    assert mdb.c.count_documents({"k": {"$in": [None]}}) == 2
    assert mdb.c.count_documents({"k": {"$in": ["a"]}}) == 2
    assert mdb.c.count_documents({"k": {"$in": ["b", "zzz"]}}) == 1


def test_aggregate_copies_only_what_its_leading_match_selects(mdb, monkeypatch):
    mdb.c.insert_many([{"county": str(i % 10), "v": i} for i in range(1000)])
    from mongomock_ng import aggregate

    seen = {}
    original = aggregate.process_pipeline

    def spy(collection, *args, **kwargs):
        seen["input"] = len(collection)
        return original(collection, *args, **kwargs)

    monkeypatch.setattr(aggregate, "process_pipeline", spy)
    result = list(
        mdb.c.aggregate([{"$match": {"county": "3"}}, {"$group": {"_id": None, "v": {"$sum": "$v"}}}])
    )
    assert result == [{"_id": None, "v": sum(range(3, 1000, 10))}]
    assert seen["input"] == 100  # stock: the whole collection, 1,000


def test_group_finds_the_same_groups_without_sorting(mdb, monkeypatch):
    from mongomock_ng import filtering

    mdb.c.insert_many(
        [{"a": i % 3, "b": {"x": i % 2}, "flag": i % 2 == 0, "v": i} for i in range(300)] + [{"v": 1000}]
    )
    comparisons = _count_calls(monkeypatch, filtering, "bson_compare")
    groups = list(mdb.c.aggregate([{"$group": {"_id": {"a": "$a", "b": "$b"}, "n": {"$sum": 1}}}]))
    assert comparisons["n"] == 0  # stock: an O(n log n) sort of BSON comparisons
    counts = {(g["_id"].get("a"), (g["_id"].get("b") or {}).get("x")): g["n"] for g in groups}
    assert counts == {(a, x): 50 for a in range(3) for x in range(2)} | {(None, None): 1}
    flags = {g["_id"]: g["n"] for g in mdb.c.aggregate([{"$group": {"_id": "$flag", "n": {"$sum": 1}}}])}
    assert flags == {True: 150, False: 150, None: 1}


def test_equality_queries_read_through_a_declared_index(mdb, monkeypatch):
    from mongomock_ng import filtering

    mdb.c.create_index([("county", 1), ("month", 1)])
    mdb.c.insert_many(
        [{"county": str(i % 10), "month": f"2024-{i % 12 + 1:02d}", "v": i} for i in range(1200)]
    )
    applied = _count_calls(monkeypatch, filtering, "filter_applies")
    found = list(mdb.c.find({"county": "3", "month": "2024-04"}))
    assert sorted(doc["v"] for doc in found) == [i for i in range(1200) if i % 10 == 3 and i % 12 == 3]
    assert applied["n"] < 50  # stock: one per document, 1,200


def test_index_reads_see_updates_deletes_and_new_documents(mdb):
    mdb.c.create_index([("k", 1)])
    mdb.c.insert_many([{"k": "a", "n": i} for i in range(5)])
    assert mdb.c.count_documents({"k": "a"}) == 5
    mdb.c.update_one({"n": 0}, {"$set": {"k": "b"}})
    mdb.c.delete_one({"n": 1})
    mdb.c.insert_one({"k": "a", "n": 9})
    mdb.c.update_many({"k": {"$in": ["a"]}}, {"$set": {"seen": True}})
    assert sorted(d["n"] for d in mdb.c.find({"k": "a"})) == [2, 3, 4, 9]
    assert [d["n"] for d in mdb.c.find({"k": "b"})] == [0]
    assert mdb.c.count_documents({"k": "a", "seen": True}) == 4
    mdb.c.drop()
    assert mdb.c.count_documents({"k": "a"}) == 0


def test_a_document_moved_between_index_entries_is_found_once_by_an_in_over_both(mdb):
    """An update leaves the old entry behind (entries may hold too much); an $in over the old and the
    new value must still return the document once, or a $group counts it twice."""
    mdb.c.create_index([("county", 1), ("month", 1), ("operator", 1)])
    mdb.c.insert_one({"county": "1", "month": "2024-02", "operator": "a", "amount": 5})
    mdb.c.update_one({"county": "1"}, {"$set": {"operator": "b"}})
    spec = {"county": "1", "month": "2024-02", "operator": {"$in": ["a", "b"]}}
    assert len(list(mdb.c.find(spec))) == 1
    assert mdb.c.count_documents(spec) == 1
    totals = list(mdb.c.aggregate([{"$match": spec}, {"$group": {"_id": None, "n": {"$sum": 1}}}]))
    assert totals == [{"_id": None, "n": 1}]
    mdb.d.create_index([("tags", 1)])
    mdb.d.insert_one({"tags": ["x", "y"]})
    assert len(list(mdb.d.find({"tags": {"$in": ["x", "y"]}}))) == 1


def test_partial_and_sparse_indexes_are_never_used_for_reads(mdb):
    mdb.c.create_index([("k", 1)], partialFilterExpression={"k": {"$type": "string"}}, name="partial")
    mdb.c.insert_many([{"k": "a"}, {"k": "a", "x": 1}])
    assert mdb.c.count_documents({"k": "a"}) == 2
    mdb.d.create_index([("k", 1)], sparse=True)
    mdb.d.insert_many([{"k": "a"}, {"j": 1}])
    assert mdb.d.count_documents({"k": "a"}) == 1


def test_sort_stage_on_plain_values_needs_no_bson_comparisons(mdb, monkeypatch):
    from mongomock_ng import filtering

    mdb.c.insert_many([{"m": f"2024-{i % 12 + 1:02d}", "n": i} for i in range(240)])
    comparisons = _count_calls(monkeypatch, filtering, "bson_compare")
    rows = list(mdb.c.aggregate([{"$sort": {"m": -1, "n": 1}}]))
    assert comparisons["n"] == 0  # stock: a BSON comparison per pair compared
    assert [r["m"] for r in rows[:2]] == ["2024-12", "2024-12"] and rows[0]["n"] < rows[1]["n"]
    assert rows[-1]["m"] == "2024-01"
    mixed = (
        list(mdb.d.aggregate([{"$sort": {"v": 1}}])) if mdb.d.insert_many([{"v": 2}, {"v": "a"}, {}]) else []
    )
    assert [r.get("v") for r in mixed] == [None, 2, "a"]


def test_document_copies_share_immutable_values_but_not_containers(mdb, monkeypatch):
    from mongomock_ng import collection

    moment = datetime.datetime(2024, 3, 15, tzinfo=datetime.UTC)
    mdb.c.insert_one({"k": 1, "name": "茶", "at": moment, "tags": ["a"], "nested": {"fen": 150, "list": [1]}})
    copies = _count_calls(monkeypatch, collection.copy, "copy")
    found = mdb.c.find_one({"k": 1})
    assert copies["n"] == 0  # stock: copy.copy() for every scalar of the document
    assert found["at"] == moment and found["nested"] == {"fen": 150, "list": [1]}
    found["tags"].append("b")
    found["nested"]["list"].append(2)
    assert mdb.c.find_one({"k": 1})["tags"] == ["a"]
    assert mdb.c.find_one({"k": 1})["nested"]["list"] == [1]
