"""The MongoDB connection, the collection names and every index, in one place.

One ``MongoClient`` per worker process: created by the app factory with
``connect=False`` (no sockets before gunicorn forks) and re-created if the
process id changes, so a client is never shared across a fork.
With ``MONGO_URI`` unset, the in-process emulator stands in for MongoDB.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database

log = logging.getLogger(__name__)

# Collection names.
USERS = "users"
AUTH_TOKENS = "auth_tokens"
LOGIN_FAILURES = "login_failures"
AUDIT_LOG = "audit_log"
OPERATORS = "operators"
CANTEENS = "canteens"

INDEXES: dict[str, list[IndexModel]] = {
    USERS: [
        IndexModel([("username", ASCENDING)], unique=True, name="username_unique"),
        IndexModel([("county_codes", ASCENDING)], name="county_codes"),
    ],
    AUTH_TOKENS: [
        IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
        # Expired tokens are refused by code; the TTL index only tidies up.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    LOGIN_FAILURES: [
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    AUDIT_LOG: [
        IndexModel([("county_code", ASCENDING), ("at", DESCENDING)], name="county_at"),
        IndexModel([("entity.kind", ASCENDING), ("entity.id", ASCENDING)], name="entity"),
        IndexModel([("at", DESCENDING)], name="at"),
    ],
}


class Storage:
    """Owns the client of this process and hands out the database."""

    def __init__(self, uri: str | None, db_name: str):
        self.uri = uri
        self.db_name = db_name
        self.embedded = not uri
        self._lock = threading.Lock()
        self._client: Any = None
        self._pid: int | None = None

    @property
    def client(self) -> Any:
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            with self._lock:
                if self._client is None or self._pid != pid:
                    self._client = self._connect()
                    self._pid = pid
        return self._client

    @property
    def db(self) -> Database:
        return self.client[self.db_name]

    def _connect(self) -> Any:
        if self.embedded:
            from service import emulator

            log.warning(
                "MONGO_URI is not set: using the in-process MongoDB emulator. "
                "Data lives in this process's memory and is LOST AT EXIT. "
                "Set MONGO_URI to a real MongoDB for anything but a demo or tests."
            )
            return emulator.new_client()
        return MongoClient(self.uri, connect=False, tz_aware=True, appname="consumption-aid")

    def ping(self) -> None:
        self.client.admin.command("ping")

    def close(self) -> None:
        if self._client is not None and not self.embedded:
            self._client.close()
        self._client = None


def ensure_indexes(db: Database) -> None:
    """Create every declared index; creating an existing one is a no-op."""
    for name, models in INDEXES.items():
        db[name].create_indexes(models)


def init_app(app: Flask) -> None:
    storage = Storage(app.config.get("MONGO_URI"), app.config["MONGO_DB_NAME"])
    app.extensions["storage"] = storage
    app.cli.add_command(db_cli)


def get_storage() -> Storage:
    return current_app.extensions["storage"]


def get_db() -> Database:
    return get_storage().db


@click.group("db", cls=AppGroup, help="Database set-up.")
def db_cli() -> None:
    pass


@db_cli.command("init", help="Create every index (idempotent).")
def db_init_command() -> None:
    ensure_indexes(get_db())
    click.echo(f"Indexes ensured on {sum(len(m) for m in INDEXES.values())} index definitions.")
