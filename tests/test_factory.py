"""The app factory and the two storage modes."""

from __future__ import annotations

import pymongo
import pytest

import service
from service import config as config_module
from service.storage import INDEXES, Storage, get_storage
from tests.conftest import TEST_MONGO_URI, make_test_app


def test_config_layers_defaults_then_environment_then_mapping(monkeypatch):
    monkeypatch.setenv("TOKEN_TTL_SECONDS", "120")
    monkeypatch.setenv("MONGO_DB_NAME", "from_env")
    app = make_test_app(MONGO_DB_NAME="from_mapping")
    assert app.config["LOGIN_MAX_FAILURES"] == config_module.Config.LOGIN_MAX_FAILURES
    assert app.config["TOKEN_TTL_SECONDS"] == 120
    assert app.config["MONGO_DB_NAME"] == "from_mapping"


def test_environment_booleans_and_integers_are_parsed():
    parsed = config_module.from_env({"LOG_JSON": "false", "MAX_CONTENT_LENGTH": "1024", "MONGO_URI": ""})
    assert parsed == {"LOG_JSON": False, "MAX_CONTENT_LENGTH": 1024}


def test_the_package_exposes_a_factory_and_no_app():
    assert callable(service.create_app)
    assert not any(type(value).__name__ == "Flask" for value in vars(service).values())


def test_each_app_gets_its_own_storage():
    first, second = make_test_app(), make_test_app()
    assert first.extensions["storage"] is not second.extensions["storage"]


@pytest.mark.skipif(TEST_MONGO_URI is not None, reason="checks the embedded default")
def test_without_mongo_uri_the_emulator_is_used(app, caplog):
    with app.app_context():
        storage = get_storage()
        assert storage.embedded
        assert type(storage.client).__module__.startswith("mongomock_ng")


def test_with_mongo_uri_a_lazy_pymongo_client_is_made():
    storage = Storage("mongodb://db.invalid:27017", "x")
    client = storage.client
    assert isinstance(client, pymongo.MongoClient)
    assert not storage.embedded
    client.close()


def test_the_client_is_made_again_in_a_forked_process(monkeypatch):
    storage = Storage(None, "x")
    first = storage.client
    assert storage.client is first
    monkeypatch.setattr("service.storage.os.getpid", lambda: -1)
    assert storage.client is not first


def test_start_up_creates_every_declared_index(db):
    for collection, models in INDEXES.items():
        names = set(db[collection].index_information())
        assert {model.document["name"] for model in models} <= names, collection


def test_db_init_command_is_idempotent(runner):
    first = runner.invoke(args=["db", "init"])
    second = runner.invoke(args=["db", "init"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "0 changed" in second.output


def test_probes(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"


def test_readyz_reports_an_unreachable_database(app, client, monkeypatch):
    def broken_ping():
        raise pymongo.errors.ServerSelectionTimeoutError("down")

    monkeypatch.setattr(app.extensions["storage"], "ping", broken_ping)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unreachable"
