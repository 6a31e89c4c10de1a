"""Records the filters an app sends to MongoDB, to check each against the declared indexes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from service import storage

# Collections that grow with sales, households or time: a query on them must start on an index.
GROWING = (
    storage.SALES, storage.SALES_DAILY, storage.SALES_MONTHLY, storage.OPERATOR_POOLS,
    storage.HOUSEHOLD_INCOME, storage.HOUSEHOLDS, storage.BENEFIT_LINKS, storage.AUDIT_LOG,
    storage.CANTEEN_PURCHASES, storage.IMPORT_RUNS, storage.PRODUCTS, storage.OPERATORS,
    storage.LEDGER_PARTITIONS, storage.AUTH_TOKENS, storage.USERS, storage.PENDING_UPLOADS,
    storage.SALE_LINE_VERSIONS, storage.BENEFIT_LINK_REQUESTS, storage.LOGIN_FAILURES,
    storage.STATUS_MAPPINGS,
)  # fmt: skip
_FILTERED = ("find", "find_one", "count_documents", "update_one", "update_many", "delete_one", "delete_many",
             "find_one_and_update", "distinct")  # fmt: skip


@dataclass(frozen=True)
class Shape:
    collection: str
    operation: str
    fields: frozenset[str]
    alternatives: tuple[frozenset[str], ...] = ()  # the branches of a top-level $or
    options: frozenset[str] = frozenset()

    def __str__(self) -> str:
        branches = " or ".join(str(sorted(branch)) for branch in self.alternatives)
        return f"{self.collection}.{self.operation} on {sorted(self.fields)}" + (
            f" + ({branches})" if branches else ""
        )


def shape(collection: str, operation: str, query: Any) -> Shape:
    query = query or {}
    fields: set[str] = set()
    alternatives: tuple[frozenset[str], ...] = ()
    for key, value in query.items():
        if key == "$and":
            for part in value:
                inner = shape(collection, operation, part)
                fields |= inner.fields
                alternatives += inner.alternatives
        elif key == "$or":
            alternatives += tuple(shape(collection, operation, part).fields for part in value)
        elif not key.startswith("$"):
            fields.add(key)
    return Shape(collection, operation, frozenset(fields), alternatives)


def _first_match(pipeline: list[dict[str, Any]]) -> dict[str, Any]:
    return pipeline[0].get("$match", {}) if pipeline else {}


@contextlib.contextmanager
def recording(db) -> Iterator[set[Shape]]:
    """Every filter sent through the collections of ``db``'s client class while the block runs."""
    shapes: set[Shape] = set()
    cls = type(db[storage.SALES])
    originals = {name: getattr(cls, name) for name in (*_FILTERED, "aggregate") if hasattr(cls, name)}

    def wrap(name: str, original: Any) -> Any:
        def recorded(self, *args: Any, **kwargs: Any) -> Any:
            if self.name in GROWING:
                if name == "aggregate":
                    query = _first_match(args[0] if args else kwargs.get("pipeline", []))
                    found = shape(self.name, name, query)
                    shapes.add(Shape(**{**found.__dict__, "options": frozenset(kwargs)}))
                    return original(self, *args, **kwargs)
                elif name == "distinct":
                    query = args[1] if len(args) > 1 else kwargs.get("filter")
                else:
                    query = args[0] if args else kwargs.get("filter")
                shapes.add(shape(self.name, name, query))
            return original(self, *args, **kwargs)

        return recorded

    for name, original in originals.items():
        setattr(cls, name, wrap(name, original))
    try:
        yield shapes
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def leading_fields(collection: str) -> set[str]:
    """The first field of each declared index of a collection (and _id)."""
    return {"_id"} | {next(iter(model.document["key"])) for model in storage.INDEXES.get(collection, [])}


def unsupported(shapes: set[Shape]) -> list[str]:
    """The shapes no declared index can start on: a full scan of a growing collection."""
    problems = []
    for found in shapes:
        leading = leading_fields(found.collection)
        if found.fields & leading:
            continue
        if found.alternatives and all(branch & leading for branch in found.alternatives):
            continue
        problems.append(str(found))
    return sorted(problems)
