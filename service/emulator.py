"""The in-process MongoDB emulator used when no ``MONGO_URI`` is configured.

Why it exists: the service must start and be testable with no MongoDB server
at all (demos, the test suite, a laptop). ``mongomock_ng`` provides a
pymongo-compatible in-memory client, but as shipped it is unfit to sit behind a
multi-threaded web server, so :func:`apply_patches` fixes it in place
(class-level monkeypatches, nothing in site-packages is edited). The first three
problems are described here; the speed-ups after them (sections 4-9 below)
each explain themselves where they are defined.

1. **Thread safety.** mongomock_ng applies writes as read-modify-write on the
   stored dicts with no serialisation: ``find_one_and_update`` with ``$inc``
   hands two callers the same value, concurrent upserts of one key raise
   DuplicateKeyError or lose increments, a reader copying a document while a
   writer adds a field dies with "dictionary changed size during iteration",
   and concurrent deletes raise KeyError. Every public method of
   ``Collection``, ``Database``, ``MongoClient`` and the transaction methods of
   ``ClientSession`` now runs under ONE process-wide re-entrant lock, as do the
   cursor methods that materialise or walk results; a cursor materialises its
   whole result list (copies of the documents) while holding the lock.
   Real MongoDB runs operations concurrently; here they are serialised, which
   is the simplest way to give each operation MongoDB's single-document
   atomicity (and, as a side effect, makes multi-document writes atomic too).
   The wrapper also knows when the outermost call ends: a data directory's
   journal (``service/durable.py``) is written then, before the call returns.
2. **Quadratic cursor iteration.** ``Cursor.__next__`` re-sliced the full
   result list (``results[skip:][:limit]``) for every document it returned,
   so iterating N documents copied O(N^2) list items; ``aggregate()`` starts
   from ``list(find())`` and paid the same. Iteration now indexes the cached
   result list, O(1) per document.
3. **Quadratic unique-index inserts.** ``Collection._ensure_uniques`` scanned
   every document of the collection for every inserted/updated document. It is
   replaced by a lookup in a per-collection table ``index key -> [_id, ...]``
   built lazily from the documents and updated on every insert or update that
   passes the check. The table may only over-approximate: a hit is always
   re-verified against the document currently stored under that ``_id`` (so
   deleted, expired or updated-away keys never cause a false duplicate). It is
   rebuilt when the collection's document map is replaced (drop, ``$out``,
   aborted transaction), when the index object changes (dropped/re-created),
   after an update fails half-way, and once stale entries have doubled it.
   Every code path in mongomock_ng that changes a stored document calls
   ``_ensure_uniques`` first, which is what keeps the table complete.
   ``DuplicateKeyError`` (code 11000, same ``keyPattern``/``keyValue``) and
   ``insert_many``'s ``BulkWriteError`` are raised exactly as before.

Known limitations (documented rather than fixed):

* Index keys that are unhashable (sub-documents, arrays nested in arrays) fall
  back to a linear scan of the table for that key, as slow as before.
* Code that writes into ``CollectionStore`` internals directly, bypassing
  ``Collection`` methods, is not seen by the unique-key table.
* A document that does not match a unique index's ``partialFilterExpression``
  is not checked against that index at all (MongoDB semantics; stock
  mongomock_ng checked the new document's key even when it did not match).
  Sparse handling is mongomock_ng's own and unchanged.
* Collections with a TTL index still scan all documents on most operations
  (mongomock_ng expires documents eagerly on access).
"""

from __future__ import annotations

import datetime
import functools
import inspect
import itertools
import os
import threading
import types
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import mongomock_ng
from bson import Decimal128, ObjectId
from mongomock_ng import collection as _mm_collection
from mongomock_ng import filtering as _mm_filtering
from mongomock_ng import helpers as _mm_helpers
from mongomock_ng.collection import BulkOperationBuilder, Collection, Cursor
from mongomock_ng.database import Database
from mongomock_ng.filtering import filter_applies
from mongomock_ng.mongo_client import MongoClient
from mongomock_ng.session import ClientSession

__all__ = ["apply_patches", "flush_before_return", "new_client", "operation_lock", "refuse_operations"]

# The one lock every emulator operation runs under (re-entrant: operations call each other).
_LOCK = threading.RLock()
_PATCH_LOCK = threading.Lock()
_patched = False
# How deep the lock-holding thread is in emulator calls; 0 means the outermost call has returned.
_depth = 0
# Objects with a flush() to run before the outermost call returns (a data directory's journal).
_pending: dict[Any, None] = {}
# Set once this process's data can no longer be trusted: every operation then raises what it builds.
_refusal: Callable[[], BaseException] | None = None


def _reset_lock_in_child() -> None:
    global _LOCK, _depth, _refusal
    _LOCK = threading.RLock()
    _depth = 0
    _pending.clear()
    _refusal = None


# A child forked while another thread held the lock would otherwise deadlock on its first query.
os.register_at_fork(after_in_child=_reset_lock_in_child)

# Cursor methods that materialise or walk the results (everything else only sets options).
_CURSOR_METHODS = ("_compute_results", "__next__", "next", "__getitem__", "distinct", "explain")
_SESSION_METHODS = ("start_transaction", "commit_transaction", "abort_transaction", "end_session")


def apply_patches() -> None:
    """Patch mongomock_ng in place (thread safety, O(1) cursor steps, fast unique checks). Idempotent."""
    global _patched
    with _PATCH_LOCK:
        if _patched:
            return
        # Order matters: the fast __next__ is installed first so that it, too, gets the lock.
        _patch_cursor_iteration()
        _patch_unique_checks()
        _patch_in_operator()
        _patch_aggregate_match()
        _patch_group_stage()
        _patch_index_lookups()
        _patch_sort_stage()
        _patch_document_copies()
        _patch_locking()
        _patched = True


def new_client(**kwargs: Any) -> mongomock_ng.MongoClient:
    """A fresh emulator client; ``tz_aware=True`` unless overridden (like the real client).

    Empty unless ``_store`` gives it a server store (a data directory's, already loaded).
    """
    apply_patches()
    kwargs.setdefault("tz_aware", True)
    return mongomock_ng.MongoClient(**kwargs)


def operation_lock() -> threading.RLock:
    """The lock every emulator operation holds; hold it to read or write the stores directly."""
    return _LOCK


def flush_before_return(journal: Any) -> None:
    """Have ``journal.flush()`` run before the current outermost emulator call returns (or raises)."""
    _pending[journal] = None


def refuse_operations(make_error: Callable[[], BaseException] | None) -> None:
    """From now on every emulator operation raises ``make_error()`` (None: serve again)."""
    global _refusal
    _refusal = make_error


# --- 1. one process-wide lock ----------------------------------------------------------------


def _flush_pending() -> None:
    while _pending:
        journal = next(iter(_pending))
        del _pending[journal]
        journal.flush()


def _locked(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _depth
        with _LOCK:
            if _refusal is not None:
                raise _refusal()
            _depth += 1
            try:
                result = fn(*args, **kwargs)
                # Generator methods (e.g. list_indexes) would otherwise run their body after the lock is gone.
                if isinstance(result, types.GeneratorType):
                    result = iter(list(result))
            except BaseException:
                _depth -= 1
                # A call that failed half-way may still have changed documents: those are written too.
                if not _depth and _pending:
                    _flush_pending()
                raise
            _depth -= 1
            # Nothing a caller was told about may live only in memory (see service/durable.py).
            if not _depth and _pending:
                _flush_pending()
            return result

    wrapper._emulator_locked = True
    return wrapper


def _lock_methods(cls, names) -> None:
    for name in names:
        attr = inspect.getattr_static(cls, name, None)
        if isinstance(attr, property):
            if attr.fget is not None and not getattr(attr.fget, "_emulator_locked", False):
                setattr(cls, name, property(_locked(attr.fget), attr.fset, attr.fdel, attr.__doc__))
        elif inspect.isfunction(attr) and not getattr(attr, "_emulator_locked", False):
            setattr(cls, name, _locked(attr))


def _public_functions(cls) -> list[str]:
    return [name for name, attr in vars(cls).items() if not name.startswith("_") and inspect.isfunction(attr)]


def _patch_locking() -> None:
    # Every public operation: the store's own reader/writer lock does not make read-modify-write atomic.
    _lock_methods(Collection, _public_functions(Collection))
    # Collection/database creation and listing mutate/iterate shared dicts too.
    _lock_methods(Database, _public_functions(Database))
    _lock_methods(MongoClient, _public_functions(MongoClient))
    # Aborting a transaction swaps whole document maps.
    _lock_methods(ClientSession, _SESSION_METHODS)
    # The deprecated initialize_*_bulk_op() builders are executed outside any Collection method.
    _lock_methods(BulkOperationBuilder, ["execute"])
    # Cursors: results are computed (copied out of the store) inside the lock, never lazily outside it.
    _lock_methods(Cursor, (*_CURSOR_METHODS, "alive"))


# --- 2. O(1) cursor steps --------------------------------------------------------------------


def _patch_cursor_iteration() -> None:
    original_next = Cursor.__next__

    @functools.wraps(original_next)
    def __next__(self):
        # Index the cached results instead of re-slicing them per document (O(N^2) -> O(N) per scan).
        skip, limit = self._skip, self._limit
        if not isinstance(skip, int) or skip < 0 or (limit and not isinstance(limit, int)):
            return original_next(self)  # odd skip/limit values: keep the original slicing semantics
        if limit and self._emitted >= abs(limit):
            raise StopIteration
        results = self._compute_results()
        position = skip + self._emitted
        if position >= len(results):
            raise StopIteration
        self._emitted += 1
        return _mm_collection._cast_document_class(
            results[position], self.collection.codec_options.document_class
        )

    Cursor.__next__ = __next__
    Cursor.next = __next__


# --- 3. unique indexes without a full scan per document --------------------------------------


class _UniqueTable:
    """Index entries of one unique index: entry tuple -> ids of documents that had it (a superset)."""

    __slots__ = ("by_entry", "config", "rebuild_above", "recorded", "unhashable")

    def __init__(self, config: dict, documents):
        self.config = config
        self.by_entry: dict[tuple, list] = {}
        self.unhashable: list[tuple[tuple, Any]] = []  # (entry, id) for entries that cannot be hashed
        self.recorded = 0
        for doc_key, doc in documents.items():
            entries = _index_entries(doc, config)
            if entries:
                self.add(entries, doc_key)
        # Keys of deleted documents linger until looked up again; rebuilding once the table has doubled
        # bounds that garbage at amortised O(1) per write.
        self.rebuild_above = 2 * self.recorded + _REBUILD_SLACK

    def add(self, entries, doc_key) -> None:
        self.recorded += len(entries)
        for entry in entries:
            try:
                ids = self.by_entry.setdefault(entry, [])
            except TypeError:
                self.unhashable.append((entry, doc_key))
                continue
            if doc_key not in ids:
                ids.append(doc_key)

    def candidates(self, entry) -> list:
        try:
            found = list(self.by_entry.get(entry, ()))
        except TypeError:  # unhashable entry: compare against everything (slow, but rare)
            found = [key for known, ids in self.by_entry.items() if known == entry for key in ids]
        found.extend(key for known, key in self.unhashable if known == entry)
        return found

    def forget(self, entry, stale: list) -> None:
        try:
            ids = self.by_entry.get(entry)
        except TypeError:
            ids = None
        if ids is not None:
            ids[:] = [key for key in ids if key not in stale]
        self.unhashable[:] = [(e, k) for e, k in self.unhashable if not (k in stale and e == entry)]


class _StoreUniqueTables:
    __slots__ = ("documents_ref", "tables")

    def __init__(self, documents):
        self.documents_ref = weakref.ref(documents)
        self.tables: dict[str, _UniqueTable] = {}


# Entries a table may gather beyond twice its size at the last build before it is rebuilt.
_REBUILD_SLACK = 1024

# CollectionStore -> its tables; dies with the store.
_UNIQUE_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _store_key(doc_id):
    # mongomock_ng stores documents with a dict _id under hashdict(_id).
    return _mm_helpers.hashdict(doc_id) if isinstance(doc_id, dict) else doc_id


def _index_entries(doc, index: dict):
    """The doc's entries in this unique index, or None when the index does not cover the doc."""
    partial = index.get("partialFilterExpression")
    if partial is not None and not filter_applies(partial, doc):
        return None
    return Collection._compute_index_entries(doc, index.get("key"), index.get("sparse"))


def _table_for(store, name: str, index: dict) -> tuple[_UniqueTable, bool]:
    """The up-to-date table of one unique index, and whether it was (re)built just now."""
    documents = store._documents
    state = _UNIQUE_TABLES.get(store)
    if state is None or state.documents_ref() is not documents:
        # New store, or its document map was replaced (drop, $out, aborted transaction): start over.
        state = _UNIQUE_TABLES[store] = _StoreUniqueTables(documents)
    table = state.tables.get(name)
    # Identity, not equality: a dropped and re-created index missed the writes made in between.
    if table is None or table.config is not index or table.recorded > table.rebuild_above:
        table = state.tables[name] = _UniqueTable(index, documents)
        return table, True
    return table, False


def _check_uniques(collection, new_data) -> None:
    """Collection._ensure_uniques with a table lookup instead of a scan; raises the same DuplicateKeyError."""
    store = collection._store
    new_key = _store_key(new_data.get("_id"))
    passed = []
    built = False
    try:
        for name, index in list(store.indexes.items()):
            if not index.get("unique"):
                continue
            new_entries = _index_entries(new_data, index)
            if new_entries is None:
                continue
            table, just_built = _table_for(store, name, index)
            built = built or just_built
            for entry in new_entries:
                _raise_if_taken(store, index, table, entry, new_key, new_data)
            passed.append((table, new_entries))
    except _mm_collection.DuplicateKeyError:
        if built:
            # Built from a store holding this (rejected, about to be reverted) document: drop it.
            _UNIQUE_TABLES.pop(store, None)
        raise
    # Record the new keys only once every unique index accepted the document.
    for table, new_entries in passed:
        table.add(new_entries, new_key)


def _raise_if_taken(store, index, table, entry, new_key, new_data) -> None:
    stale = []
    for doc_key in table.candidates(entry):
        if doc_key == new_key:
            continue
        doc = store._documents.get(doc_key)
        doc_entries = None if doc is None else _index_entries(doc, index)
        if doc_entries is not None and entry in doc_entries:
            unique = index.get("key")
            raise _mm_collection.DuplicateKeyError(
                "E11000 Duplicate Key Error",
                11000,
                {
                    "keyPattern": dict(unique),
                    "keyValue": {k: _mm_helpers.get_value_by_dot(new_data, k) for k, _ in unique},
                },
            )
        stale.append(doc_key)  # deleted, expired or updated away since it was recorded
    if stale:
        table.forget(entry, stale)


def _patch_unique_checks() -> None:
    original = Collection._ensure_uniques

    @functools.wraps(original)
    def _ensure_uniques(self, new_data):
        # The stock check scans the whole collection per written document (10k inserts took ~100 s).
        _check_uniques(self, new_data)

    Collection._ensure_uniques = _ensure_uniques
    original_update_documents = Collection._update_documents

    @functools.wraps(original_update_documents)
    def _update_documents(self, *args, **kwargs):
        try:
            return original_update_documents(self, *args, **kwargs)
        except _mm_collection.DuplicateKeyError:
            raise  # the document was restored (or the upsert rolled back): the tables are still right
        except Exception:
            # A failed update can leave a document half-changed without a unique check: rebuild next time.
            _UNIQUE_TABLES.pop(self._store, None)
            raise

    Collection._update_documents = _update_documents


# --- 4. $in over a set ---------------------------------------------------------------------------
# ``$in`` compared every document value with every listed value (a batch's 1,000 ids times every
# document). For lists of plain strings and ObjectIds, equality is exact, so a set gives the
# same answer; the set is built once per list object and reused for every document of the scan.

_SET_TYPES = (str, ObjectId)
_in_sets: dict[int, tuple[Any, frozenset]] = {}


def _members(search_val: Any) -> frozenset | None:
    cached = _in_sets.get(id(search_val))
    if cached is not None and cached[0] is search_val:
        return cached[1]
    if not isinstance(search_val, (list, tuple)) or not search_val:
        return None
    if not all(type(value) in _SET_TYPES for value in search_val):
        return None
    members = frozenset(search_val)
    if len(_in_sets) > 64:
        _in_sets.clear()
    _in_sets[id(search_val)] = (search_val, members)
    return members


def _patch_in_operator() -> None:
    original = _mm_filtering._in_op

    def fast_in(doc_val, search_val):
        members = _members(search_val)
        if members is None:
            return original(doc_val, search_val)
        values = doc_val if isinstance(doc_val, (list, tuple)) else (doc_val,)
        return any(type(value) in _SET_TYPES and value in members for value in values)

    _mm_filtering._in_op = fast_in
    operator_map = _mm_filtering._filterer_inst._operator_map
    operator_map["$in"] = fast_in
    operator_map["$nin"] = lambda doc_val, search_val: not fast_in(doc_val, search_val)


# --- 5. aggregate() filters before it copies ------------------------------------------------------
# aggregate() copied the whole collection (``list(find())``) before its first stage ran; a leading
# ``$match`` is now given to find(), so only the matching documents are copied.


def _patch_aggregate_match() -> None:
    from mongomock_ng import aggregate as _mm_aggregate

    def aggregate(self, pipeline, session=None, allowDiskUse=False, **unused_kwargs):
        # allowDiskUse lets a server spill a large stage to disk; the emulator has no disk to spill to.
        for param in unused_kwargs:
            _mm_helpers.warn_noop(param, "aggregate")
        stages = list(pipeline)
        query = {}
        if stages and set(stages[0]) == {"$match"} and "$expr" not in stages[0]["$match"]:
            query = stages.pop(0)["$match"]
        return _mm_aggregate.process_pipeline(list(self.find(query)), self.database, stages, session)

    aggregate.__doc__ = Collection.aggregate.__doc__
    Collection.aggregate = aggregate


# --- 6. $group by hashing, not sorting -------------------------------------------------------------
# $group sorted every document by its BSON-compared key (hundreds of thousands of comparisons for
# a few thousand documents) only to feed itertools.groupby. Grouping by a hashable form of the key
# gives the same groups; MongoDB does not order $group's output either.


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return ("d", tuple((key, _hashable(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return ("l", tuple(_hashable(item) for item in value))
    # True == 1 in Python but not in MongoDB: keep the type apart for booleans.
    return ("b", value) if isinstance(value, bool) else value


def _patch_group_stage() -> None:
    from mongomock_ng import aggregate as _mm_aggregate

    original = _mm_aggregate._handle_group_stage

    def handle_group_stage(in_collection, database, options, user_vars):
        group_id = options["_id"]
        if group_id is None:
            return original(in_collection, database, options, user_vars)
        groups: dict[Any, tuple[Any, list]] = {}
        try:
            for doc in in_collection:
                key = _mm_aggregate._parse_expression(group_id, doc, user_vars=user_vars)
                key = None if key is _mm_aggregate.NOTHING else key
                groups.setdefault(_hashable(key), (key, []))[1].append(doc)
        except TypeError:
            # An unhashable key part (e.g. a regex): the original sorting path handles it.
            return original(in_collection, database, options, user_vars)
        result = []
        for key, members in groups.values():
            document = _mm_aggregate._accumulate_group(options, members, user_vars=user_vars)
            document["_id"] = key
            result.append(document)
        return result

    _mm_aggregate._handle_group_stage = handle_group_stage
    _mm_aggregate._PIPELINE_HANDLERS["$group"] = handle_group_stage


# --- 7. equality look-ups through the declared indexes ---------------------------------------------
# Every find() scanned the whole collection. A query that gives plain string or ObjectId values for
# the leading fields of a declared index (``{"county_code": c, "month": m}``, or the last of them as
# ``$in``) now starts from that index's entries. As with the unique tables, an entry table may hold
# too much, never too little: it is filled from the same hook every insert and update passes
# through, and the full filter is applied again to every candidate, so stale entries never match.

_LOOKUP_TYPES = (str, ObjectId)


class _LookupTable:
    """Leading-field entries of one index -> ids of the documents that had them (a superset)."""

    __slots__ = ("by_entry", "config", "fields", "rebuild_above", "recorded", "usable")

    def __init__(self, config: dict, fields: tuple[str, ...], documents):
        self.config = config
        self.fields = fields
        self.by_entry: dict[tuple, dict] = {}
        self.recorded = 0
        self.usable = True
        for doc_key, doc in documents.items():
            self.add(doc, doc_key)
        self.rebuild_above = 2 * self.recorded + _REBUILD_SLACK

    def add(self, doc, doc_key) -> None:
        entries = Collection._compute_index_entries(doc, [(name, 1) for name in self.fields], False)
        for entry in entries or ():
            self.recorded += 1
            try:
                self.by_entry.setdefault(entry, {})[doc_key] = None
            except TypeError:
                self.usable = False  # an unhashable value (a sub-document): scan instead


class _StoreLookupTables:
    __slots__ = ("documents_ref", "tables")

    def __init__(self, documents):
        self.documents_ref = weakref.ref(documents)
        self.tables: dict[tuple[str, tuple[str, ...]], _LookupTable] = {}


_LOOKUP_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lookup_state(store) -> _StoreLookupTables:
    documents = store._documents
    state = _LOOKUP_TABLES.get(store)
    if state is None or state.documents_ref() is not documents:
        state = _LOOKUP_TABLES[store] = _StoreLookupTables(documents)
    return state


def _plain(value: Any) -> bool:
    return type(value) in _LOOKUP_TYPES


def _lookup_plan(store, spec: dict) -> tuple[str, dict, tuple[str, ...], list[tuple]] | None:
    """The index whose leading fields this filter pins down the most, and the entries to read."""
    best = None
    for name, index in list(store.indexes.items()):
        if index.get("sparse") or index.get("partialFilterExpression") is not None:
            continue  # such an index does not hold every document
        fields: list[str] = []
        choices: list[list] = []
        for field_name, _order in index.get("key", ()):
            wanted = spec.get(field_name, _MISSING)
            if _plain(wanted):
                values = [wanted]
            elif (
                isinstance(wanted, dict)
                and set(wanted) == {"$in"}
                and isinstance(wanted["$in"], (list, tuple))
                and wanted["$in"]
                and all(_plain(value) for value in wanted["$in"])
            ):
                values = list(dict.fromkeys(wanted["$in"]))
            else:
                break
            fields.append(field_name)
            choices.append(values)
            if len(values) > 1:
                break  # an $in ends the usable prefix, as it does for a real index scan
        if fields and (best is None or len(fields) > len(best[2])):
            best = (name, index, tuple(fields), [tuple(combo) for combo in itertools.product(*choices)])
    return best


_MISSING = object()


def _candidates(collection, spec: Any) -> list | None:
    """Documents that may match ``spec``, read through an index; None when no index applies."""
    if not isinstance(spec, dict) or not spec:
        return None
    store = collection._store
    documents = store._documents
    wanted_id = spec.get("_id", _MISSING)
    if _plain(wanted_id):
        keys = [wanted_id]
    elif (
        isinstance(wanted_id, dict) and set(wanted_id) == {"$in"} and all(_plain(v) for v in wanted_id["$in"])
    ):
        keys = list(dict.fromkeys(wanted_id["$in"]))
    else:
        plan = _lookup_plan(store, spec)
        if plan is None:
            return None
        name, index, fields, entries = plan
        state = _lookup_state(store)
        table = state.tables.get((name, fields))
        if table is None or table.config is not index or table.recorded > table.rebuild_above:
            table = state.tables[(name, fields)] = _LookupTable(index, fields, documents)
        if not table.usable:
            return None
        # A document may sit under several entries (a stale one after an update moved it, or one per
        # element of an array): each is a candidate once, or a query would return it twice.
        keys = list(dict.fromkeys(key for entry in entries for key in table.by_entry.get(entry, ())))
    return [documents[key] for key in keys if key in documents]


def _record_lookup_entries(collection, new_data) -> None:
    state = _LOOKUP_TABLES.get(collection._store)
    if state is None or state.documents_ref() is not collection._store._documents:
        return
    new_key = _store_key(new_data.get("_id"))
    for table in state.tables.values():
        table.add(new_data, new_key)


def _patch_index_lookups() -> None:
    checked = Collection._ensure_uniques

    @functools.wraps(checked)
    def _ensure_uniques(self, new_data):
        checked(self, new_data)
        # Every insert and update passes here with the document's new state: keep the tables complete.
        _record_lookup_entries(self, new_data)

    Collection._ensure_uniques = _ensure_uniques
    original_iter = Collection._iter_documents

    @functools.wraps(original_iter)
    def _iter_documents(self, filter):
        candidates = _candidates(self, filter)
        if candidates is None:
            return original_iter(self, filter)
        return (document for document in candidates if filter_applies(filter, document))

    Collection._iter_documents = _iter_documents


# --- 8. $sort on plain values ----------------------------------------------------------------------
# The $sort stage wrapped every value in a BSON comparator. When every value of a sort key is of one
# plain type (all strings, all numbers, or all datetimes), Python's own ordering is the BSON ordering.

_PLAIN_SORT_KINDS = ((str,), (int, float), (datetime.datetime,))


def _plain_sort_values(values: list) -> bool:
    for kinds in _PLAIN_SORT_KINDS:
        if all(isinstance(value, kinds) and not isinstance(value, bool) for value in values):
            return True
    return False


def _patch_sort_stage() -> None:
    from mongomock_ng import aggregate as _mm_aggregate

    original = _mm_aggregate._handle_sort_stage

    def handle_sort_stage(in_collection, database, options, user_vars):
        documents = list(in_collection)
        for sort_key, _direction in reversed(list(options.items())):
            values = [_mm_filtering.resolve_key(sort_key, document) for document in documents]
            if not _plain_sort_values(values):
                return original(in_collection, database, options, user_vars)
        for sort_key, direction in reversed(list(options.items())):
            documents.sort(
                key=lambda document: _mm_filtering.resolve_key(sort_key, document), reverse=direction < 0
            )
        return documents

    _mm_aggregate._handle_sort_stage = handle_sort_stage
    _mm_aggregate._PIPELINE_HANDLERS["$sort"] = handle_sort_stage


# --- 9. Copies of documents share immutable values ----------------------------------------------------
# Every document find() returns is copied field by field, and every scalar went through copy.copy(), a
# dispatch per value that took about a third of a report's time. The scalars BSON stores are immutable
# in Python, so the copy shares them; dicts and lists are still copied, anything else as before.

_IMMUTABLE_TYPES = frozenset(
    {str, int, float, bool, type(None), bytes, datetime.datetime, ObjectId, Decimal128}
)


def _patch_document_copies() -> None:
    original = _mm_collection._copy_field

    def copy_field(value, container):
        kind = type(value)
        if kind in _IMMUTABLE_TYPES:
            return value
        if kind is list:
            return [copy_field(item, container) for item in value]
        if kind is dict or isinstance(value, Mapping):
            copied = container()
            for key, item in value.items():
                copied[key] = copy_field(item, container)
            return copied
        return original(value, container)

    _mm_collection._copy_field = copy_field
