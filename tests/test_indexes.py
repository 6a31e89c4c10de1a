"""Declared indexes: created at start-up, reported when a stored one changed, migrated by `db init`."""

from __future__ import annotations

import logging

from pymongo import ASCENDING

from service import storage
from tests.conftest import make_test_app


def test_a_new_database_gets_every_declared_index(db, app):
    assert storage.index_changes(db, embedded=app.extensions["storage"].embedded) == []
    assert "status_heartbeat" in db[storage.IMPORT_RUNS].index_information()


def _tamper(db) -> None:
    """An older version's definitions: same name, other options; same keys, other name."""
    products = db[storage.PRODUCTS]
    products.drop_index("barcode")
    products.create_index([("barcode", ASCENDING)], name="barcode")  # no partial filter
    runs = db[storage.IMPORT_RUNS]
    runs.drop_index("started")
    runs.create_index([("started_at", -1)], name="started_at_-1")


def test_start_up_reports_a_changed_index_and_still_starts(app, db, caplog):
    _tamper(db)
    embedded = app.extensions["storage"].embedded
    with caplog.at_level(logging.ERROR, logger="service.storage"):
        if embedded:  # each emulator client has its own data: start-up's own step, on this database
            storage.ensure_indexes(db, embedded=True)
        else:
            again = make_test_app(MONGO_DB_NAME=app.extensions["storage"].db_name)
            assert again.test_client().get("/healthz").status_code == 200
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "products.barcode differs from its declaration" in logged
    assert "import_runs.started differs from its declaration" in logged
    changed = {(c.collection, c.name, c.action) for c in storage.index_changes(db, embedded=embedded)}
    assert changed == {("products", "barcode", "recreate"), ("import_runs", "started", "recreate")}


def test_db_init_drops_and_recreates_changed_indexes_and_says_so(app, db, runner):
    _tamper(db)
    result = runner.invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert "products.barcode: dropped and recreated, its definition changed" in result.output
    assert "import_runs.started: dropped and recreated (stored as started_at_-1)" in result.output
    assert storage.index_changes(db, embedded=app.extensions["storage"].embedded) == []
    assert "partialFilterExpression" in db[storage.PRODUCTS].index_information()["barcode"]
    again = runner.invoke(args=["db", "init"])
    assert "0 changed" in again.output
