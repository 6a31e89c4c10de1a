"""Fixtures: an app per test on its own database, a client, a CLI runner, and logged-in callers.

With TEST_MONGO_URI set, every test runs against that real MongoDB (a fresh
database each, dropped afterwards); otherwise on the in-process emulator.
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import datetime

import pytest
import time_machine

from service import create_app
from service.storage import get_storage
from tests.factories import ApiCaller, Factory, PageBrowser

TEST_MONGO_URI = os.environ.get("TEST_MONGO_URI") or None


# The clock: --clock=2027-01-01T00:30+08:00 runs the suite at that moment ----------------------------


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the offset or Z, e.g. {value}+08:00")
    return moment


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        type=_moment,
        default=None,
        metavar="MOMENT",
        help="run every test as if it started at MOMENT (ISO 8601 with its offset, e.g. "
        "2027-01-01T00:30+08:00); the clock ticks from there",
    )


_SESSION_CLOCK = pytest.StashKey[time_machine.travel]()


def pytest_sessionstart(session):
    # Collection runs at the moment too: a test may compute its parameters from "now" ...
    moment = session.config.getoption("--clock")
    if moment is not None:
        session.stash[_SESSION_CLOCK] = time_machine.travel(moment, tick=True)
        session.stash[_SESSION_CLOCK].start()


def pytest_sessionfinish(session):
    if _SESSION_CLOCK in session.stash:
        session.stash[_SESSION_CLOCK].stop()


def pytest_report_header(config):
    moment = config.getoption("--clock")
    return [f"clock: every test starts at {moment.isoformat()}"] if moment else []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # ... and every test starts at it again, its fixtures' set-up included, so a failure does not
    # depend on the order tests run in or on how long the run has lasted.
    moment = item.config.getoption("--clock")
    if moment is None:
        return (yield)
    with time_machine.travel(moment, tick=True):
        return (yield)


def make_test_app(**overrides):
    config = {
        "TESTING": True,
        "MONGO_URI": TEST_MONGO_URI,
        "DATA_DIR": None,  # tests keep the emulator in memory, whatever the shell exports
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
