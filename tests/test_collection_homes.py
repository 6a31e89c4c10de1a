"""Products and operators each have one home: only its modules name the collection.

Every other module asks the products' modules or ``service.operators`` (by id with a scope, by ids in
one query, names for reports, look-ups by SKU, barcode, certificate number or USCC). The scan
reads every module of the service for the attribute ``storage.PRODUCTS`` / ``storage.OPERATORS``
(however ``storage`` was imported) and for the bare names imported from it.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import service
from service import storage

# The products' home is split by idea: the catalogue, its list, channel SKUs, unscoped look-ups.
HOMES = {
    "PRODUCTS": (
        "service.products",
        "service.product_listing",
        "service.product_skus",
        "service.product_lookups",
    ),
    "OPERATORS": ("service.operators",),
}
# The collections' names as strings, for a ``db["products"]`` or a ``$lookup`` from one.
NAMES = {getattr(storage, attribute): attribute for attribute in HOMES}

# (module, collection): why that module may name another home's collection.
ALLOWED = {
    # An operator moved to another county carries its products' copy of the county in the same
    # write; service.products imports service.operators, so the call cannot go the other way.
    ("service.operators", "PRODUCTS"),
}


def _modules() -> dict[str, Path]:
    found = {service.__name__: Path(service.__file__)}
    for info in pkgutil.walk_packages(service.__path__, prefix="service."):
        found[info.name] = Path(importlib.import_module(info.name).__file__)
    return found


def _is_db(node: ast.expr) -> bool:
    """``db`` or ``self.db``: a database indexed by a collection's name."""
    return (isinstance(node, ast.Name) and node.id == "db") or (
        isinstance(node, ast.Attribute) and node.attr == "db"
    )


def collections_named(source: str) -> set[str]:
    """The home collections a module's source names: ``storage.PRODUCTS``, ``x.storage.OPERATORS``,
    ``PRODUCTS`` imported from ``service.storage``, ``db["products"]`` or ``{"from": "operators"}``."""
    tree = ast.parse(source)
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in HOMES:
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "storage") or (
                isinstance(owner, ast.Attribute) and owner.attr == "storage"
            ):
                named.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("storage"):
            named.update(alias.name for alias in node.names if alias.name in HOMES)
        elif isinstance(node, ast.Subscript) and _is_db(node.value) and isinstance(node.slice, ast.Constant):
            named.update({NAMES.get(node.slice.value)} - {None})
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "from" and isinstance(value, ast.Constant):
                    named.update({NAMES.get(value.value)} - {None})
    return named


def test_the_scan_sees_attribute_access_and_imported_names():
    assert collections_named("db[storage.PRODUCTS].find({})") == {"PRODUCTS"}
    assert collections_named("storage.names_by_id(db, service.storage.OPERATORS, ids)") == {"OPERATORS"}
    assert collections_named("from service.storage import OPERATORS, USERS") == {"OPERATORS"}
    assert collections_named('db["products"].find({})') == {"PRODUCTS"}
    assert collections_named('[{"$lookup": {"from": "operators", "as": "operator"}}]') == {"OPERATORS"}
    assert collections_named('self.db["operators"].find_one({})') == {"OPERATORS"}
    assert collections_named('db[storage.USERS].find({}); other.PRODUCTS; row["products"] = 1') == set()


def test_only_the_home_names_products_and_operators():
    trespasses = {
        (name, collection)
        for name, path in _modules().items()
        for collection in collections_named(path.read_text(encoding="utf-8"))
        if name not in HOMES[collection]
    }
    assert trespasses - ALLOWED == set()


def test_every_allowance_is_still_needed():
    modules = _modules()
    stale = {
        (name, collection)
        for name, collection in ALLOWED
        if collection not in collections_named(modules[name].read_text(encoding="utf-8"))
    }
    assert stale == set()
