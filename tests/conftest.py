"""Fixtures: an app per test on its own database, a client, a CLI runner, and logged-in callers.

With TEST_MONGO_URI set, every test runs against that real MongoDB (a fresh
database each, dropped afterwards); otherwise on the in-process emulator.
"""

from __future__ import annotations

import os
import uuid

import pytest

from service import create_app
from service.storage import get_storage
from tests.factories import ApiCaller, Factory, PageBrowser

TEST_MONGO_URI = os.environ.get("TEST_MONGO_URI") or None


def make_test_app(**overrides):
    config = {
        "TESTING": True,
        "MONGO_URI": TEST_MONGO_URI,
        "MONGO_DB_NAME": f"test_{uuid.uuid4().hex[:12]}",
        "DEMO_ON_START": "false",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "test-secret",
        "PII_HASH_KEY": "test-pii-key",
        "ARGON2_PROFILE": "CHEAPEST",
    }
    config.update(overrides)
    return create_app(config)


def _drop(app) -> None:
    with app.app_context():
        storage = get_storage()
        if not storage.embedded:
            storage.client.drop_database(storage.db_name)
        storage.close()


@pytest.fixture
def app():
    app = make_test_app()
    yield app
    _drop(app)


@pytest.fixture
def db(app):
    with app.app_context():
        yield get_storage().db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def factory(app, db):
    return Factory(app, db)


@pytest.fixture
def login(app, factory):
    """login(role, **binding) -> an ApiCaller holding a fresh account's token."""

    def _login(role: str, **binding) -> ApiCaller:
        user, password = factory.user(role, **binding)
        caller = ApiCaller(app.test_client())
        caller.login(user["username"], password)
        caller.user = user
        return caller

    return _login


@pytest.fixture
def page_login(app, factory):
    """page_login(role, **binding) -> a PageBrowser logged in through the login form."""

    def _login(role: str, **binding) -> PageBrowser:
        user, password = factory.user(role, **binding)
        browser = PageBrowser(app.test_client())
        browser.login(user["username"], password)
        browser.user = user
        return browser

    return _login
