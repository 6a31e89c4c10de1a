"""The emulator's stores that report every change of their documents, indexes and options.

mongomock_ng keeps each collection in a ``CollectionStore``; these subclasses tell a change log
(the open data directory) which documents were put or deleted, whose indexes or options changed,
and which collections were dropped or reset. :func:`apply` re-applies one recorded after-image
to the stores, bypassing the capture, as start-up replays the journal.
"""

from __future__ import annotations

from typing import Any, Protocol

from mongomock_ng import helpers as _mm_helpers
from mongomock_ng.store import CollectionStore, DatabaseStore, ServerStore


class ChangeLog(Protocol):
    """Where the stores report their changes (service.durable.DataDirectory)."""

    def touched(self, store: Any, key: Any) -> None: ...

    def meta_changed(self, store: Any) -> None: ...

    def reset(self, store: Any) -> None: ...

    def dropped(self, db_name: str, name: str) -> None: ...


class JournaledServerStore(ServerStore):
    def __init__(self, journal: ChangeLog):
        super().__init__()
        self._journal = journal

    def __getitem__(self, db_name):
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = _JournaledDatabaseStore(self._journal, db_name)
            return db


class _JournaledDatabaseStore(DatabaseStore):
    def __init__(self, journal: ChangeLog, name: str):
        super().__init__()
        self._journal = journal
        self._name = name

    def __getitem__(self, col_name):
        try:
            return self._collections[col_name]
        except KeyError:
            col = self._collections[col_name] = _JournaledCollectionStore(self._journal, self._name, col_name)
            return col

    def rename(self, name, new_name):
        super().rename(name, new_name)
        self._journal.dropped(self._name, name)
        self._journal.reset(self._collections[new_name])


class _JournaledCollectionStore(CollectionStore):
    _journal: ChangeLog | None = None

    def __init__(self, journal: ChangeLog, db_name: str, name: str):
        super().__init__(name)
        self.db_name = db_name
        self._journal = journal

    # mongomock_ng replaces the whole index map in places (drop_indexes): a property sees that too.
    @property
    def indexes(self) -> dict:
        return self._index_map

    @indexes.setter
    def indexes(self, value: dict) -> None:
        self._index_map = value
        if self._journal is not None:
            self._journal.meta_changed(self)

    def __setitem__(self, key, val):
        super().__setitem__(key, val)
        self._journal.touched(self, key)

    def __delitem__(self, key):
        super().__delitem__(key)
        self._journal.touched(self, key)

    def create(self, **options):
        super().create(**options)
        self._journal.meta_changed(self)

    def create_index(self, index_name, index_dict):
        super().create_index(index_name, index_dict)
        self._journal.meta_changed(self)

    def drop_index(self, index_name):
        super().drop_index(index_name)
        self._journal.meta_changed(self)

    def drop(self):
        super().drop()
        self._journal.reset(self)

    def abort_transaction(self):
        super().abort_transaction()
        self._journal.reset(self)


def _store_key(doc_id: Any) -> Any:
    return _mm_helpers.hashdict(doc_id) if isinstance(doc_id, dict) else doc_id


def meta_op(store: _JournaledCollectionStore) -> dict:
    return {
        "o": "meta",
        "d": store.db_name,
        "c": store.name,
        "indexes": [[name, config] for name, config in store.indexes.items()],
        "options": store.options,
        "created": bool(store._is_force_created),
    }


def put_op(store: _JournaledCollectionStore, document: dict) -> dict:
    return {"o": "put", "d": store.db_name, "c": store.name, "doc": document}


def apply(server: ServerStore, op: dict) -> None:
    """Re-apply one after-image to the stores, bypassing the change capture."""
    store = server[op["d"]][op["c"]]
    kind = op["o"]
    if kind == "put":
        document = op["doc"]
        store._documents[_store_key(document["_id"])] = document
    elif kind == "del":
        store._documents.pop(_store_key(op["id"]), None)
    elif kind == "meta":
        indexes = {}
        for name, config in op["indexes"]:
            config["key"] = [tuple(part) for part in config["key"]]
            indexes[name] = config
        store._index_map = indexes
        store._ttl_indexes = {
            name: config for name, config in indexes.items() if config.get("expireAfterSeconds") is not None
        }
        store.options = op["options"]
        store._is_force_created = op["created"]
    elif kind == "drop":
        CollectionStore.drop(store)
    else:
        raise ValueError(f"unknown change kind {kind!r}")
