"""The MongoDB connection, the collection names and every index, in one place.

One ``MongoClient`` per worker process: created by the app factory with
``connect=False`` (no sockets before gunicorn forks) and re-created if the
process id changes, so a client is never shared across a fork.
With ``MONGO_URI`` unset, the in-process emulator stands in for MongoDB: in memory,
or kept in ``DATA_DIR`` when that is set (``service/durable.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
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
# A canteen's own record of its purchases; each is also a line of the sales ledger.
CANTEEN_PURCHASES = "canteen_purchases"
# The sales ledger and what is derived from it, partitioned by county and month.
SALES = "sales"
SALES_DAILY = "sales_daily"
SALES_MONTHLY = "sales_monthly"
OPERATOR_POOLS = "operator_pools"
HOUSEHOLD_INCOME = "household_income"
LEDGER_PARTITIONS = "ledger_partitions"
# An ingest's differences to the derived figures of one county-month, until a rebuild applies them.
LEDGER_DELTAS = "ledger_deltas"
# The versions of sale lines a re-import replaced, whole, with who replaced them and when.
SALE_LINE_VERSIONS = "sale_line_versions"
PRODUCTS = "products"
# Counters for human-readable numbers (e.g. certificate numbers), one document per series.
SEQUENCES = "sequences"
BENEFIT_LINKS = "benefit_links"
# An enterprise's requests to link households of another county, awaiting that county's staff.
BENEFIT_LINK_REQUESTS = "benefit_link_requests"
HOUSEHOLDS = "households"
# One document per sales import (file upload or CLI run): its source, counts and row errors.
IMPORT_RUNS = "import_runs"
# Smart cabinets (专柜/专馆/专区), keyed by cabinet number (_id), with their push secrets.
COUNTERS = "counters"
# One document per pulled shop ("taobao-api:<shop>" as _id): the end of its last completed window.
PULL_CURSORS = "pull_cursors"
# A dry run's uploaded file in chunks, kept until staff confirm the real import or it expires.
PENDING_UPLOADS = "pending_uploads"
# A county's meaning of a channel's order statuses its importer does not know (订单状态映射).
STATUS_MAPPINGS = "status_mappings"
# Townships and villages (乡镇/街道, 村/社区) by statistical code, with their names.
PLACES = "places"
# What operators actually paid households (到户资金), and figures from outside the ledger (账实相符).
PAYOUTS = "payouts"
CONTROL_TOTALS = "control_totals"
# Units that buy beside canteens (帮扶单位, 高校, 医院, 企业, 商会, partner regions' units) and their
# pairings with a county (东西部协作, 对口帮扶...), each for a period.
BUYING_UNITS = "buying_units"
PAIRINGS = "pairings"
# A buying unit's own record of its purchases and helped sales; each not already sold through a
# channel is also a line of the sales ledger.
UNIT_PURCHASES = "unit_purchases"
# Printed income statements (收益明白卡) by verification code, with the figures they were printed with.
STATEMENTS = "statements"
# The per-capita income line of a province and year (收入监测线), set by admins.
INCOME_LINES = "income_lines"

INDEXES: dict[str, list[IndexModel]] = {
    STATEMENTS: [IndexModel([("household_id", ASCENDING), ("year", ASCENDING)], name="household_year")],
    INCOME_LINES: [
        IndexModel(
            [("province_code", ASCENDING), ("year", ASCENDING)], unique=True, name="province_year_unique"
        )
    ],
    CANTEENS: [
        # The 832 importer matches buyer units by exact name within a county.
        IndexModel([("county_code", ASCENDING), ("name", ASCENDING)], unique=True, name="county_name_unique"),
        IndexModel([("name", ASCENDING)], name="name"),
    ],
    CANTEEN_PURCHASES: [
        # One record per invoice of a canteen: the claim that keeps a purchase from being counted twice.
        IndexModel(
            [("canteen_id", ASCENDING), ("invoice_no", ASCENDING)], unique=True, name="canteen_invoice_unique"
        ),
        IndexModel([("canteen_id", ASCENDING), ("date", DESCENDING)], name="canteen_date"),
        IndexModel([("county_code", ASCENDING), ("date", DESCENDING)], name="county_date"),
        IndexModel(
            [("canteen_id", ASCENDING), ("refund_of_invoice_no", ASCENDING)],
            name="canteen_refund_of",
            partialFilterExpression={"refund_of_invoice_no": {"$type": "string"}},
        ),
    ],
    SALES: [
        # The de-duplication key starts with the shard key (county_code), as a sharded cluster requires.
        IndexModel(
            [("county_code", ASCENDING), ("channel", ASCENDING), ("external_id", ASCENDING)],
            unique=True,
            name="county_channel_external_id_unique",
        ),
        # A partition's lines, and those of one operator-month (the ledger's incremental rebuild).
        IndexModel(
            [("county_code", ASCENDING), ("month", ASCENDING), ("operator_id", ASCENDING)],
            name="county_month_operator",
        ),
        IndexModel(
            [
                ("county_code", ASCENDING),
                ("matched", ASCENDING),
                ("channel", ASCENDING),
                ("raw.sku", ASCENDING),
            ],
            name="county_unmatched_sku",
        ),
        IndexModel([("product_id", ASCENDING), ("occurred_at", ASCENDING)], name="product_occurred"),
        IndexModel([("operator_id", ASCENDING), ("month", ASCENDING)], name="operator_month"),
        # A canteen lists the lines it bought, newest first.
        IndexModel([("buyer.unit_id", ASCENDING), ("_id", DESCENDING)], name="buyer_unit_newest"),
    ],
    SALE_LINE_VERSIONS: [
        # A line's history, newest first; and a county's replacements over a period.
        IndexModel([("sale_id", ASCENDING), ("recorded_at", DESCENDING)], name="sale_recorded"),
        IndexModel([("county_code", ASCENDING), ("recorded_at", DESCENDING)], name="county_recorded"),
    ],
    SALES_DAILY: [
        IndexModel(
            [("county_code", ASCENDING), ("month", ASCENDING), ("day", ASCENDING)], name="county_month_day"
        ),
        IndexModel([("operator_id", ASCENDING), ("month", ASCENDING)], name="operator_month"),
        IndexModel([("buyer_unit_id", ASCENDING), ("month", ASCENDING)], name="buyer_unit_month"),
        # Admins' all-county reports select by period alone.
        IndexModel([("month", ASCENDING)], name="month"),
        # A product's rate or certification changed: the months it sold in are found here.
        IndexModel([("product_id", ASCENDING), ("month", ASCENDING)], name="product_month"),
    ],
    SALES_MONTHLY: [
        IndexModel([("county_code", ASCENDING), ("month", ASCENDING)], name="county_month"),
        IndexModel([("month", ASCENDING)], name="month"),
        IndexModel([("operator_id", ASCENDING), ("month", ASCENDING)], name="operator_month"),
        IndexModel([("buyer_unit_id", ASCENDING), ("month", ASCENDING)], name="buyer_unit_month"),
    ],
    OPERATOR_POOLS: [
        IndexModel([("county_code", ASCENDING), ("month", ASCENDING)], name="county_month"),
        IndexModel([("operator_id", ASCENDING), ("month", ASCENDING)], name="operator_month"),
        IndexModel([("month", ASCENDING)], name="month"),
    ],
    HOUSEHOLD_INCOME: [
        IndexModel([("county_code", ASCENDING), ("month", ASCENDING)], name="county_month"),
        IndexModel([("household_id", ASCENDING), ("month", ASCENDING)], name="household_month"),
        IndexModel([("operator_id", ASCENDING), ("month", ASCENDING)], name="operator_month"),
        IndexModel([("month", ASCENDING)], name="month"),
    ],
    LEDGER_PARTITIONS: [
        IndexModel([("dirty", ASCENDING), ("county_code", ASCENDING)], name="dirty_county"),
        # The report cache stamps a year of every county's markers (a canteen buys from any county).
        IndexModel([("month", ASCENDING), ("county_code", ASCENDING)], name="month_county"),
    ],
    COUNTERS: [
        # Staff list their counties' cabinets by cabinet number (_id).
        IndexModel([("county_code", ASCENDING), ("_id", ASCENDING)], name="county_cabinet_no"),
    ],
    IMPORT_RUNS: [
        IndexModel([("county_code", ASCENDING), ("started_at", DESCENDING)], name="county_started"),
        IndexModel([("operator_id", ASCENDING), ("started_at", DESCENDING)], name="operator_started"),
        # Admins list every county's runs, newest first.
        IndexModel([("started_at", DESCENDING)], name="started"),
        # Runs whose process died are found by their last heartbeat.
        IndexModel([("status", ASCENDING), ("heartbeat_at", ASCENDING)], name="status_heartbeat"),
    ],
    PENDING_UPLOADS: [
        IndexModel([("run_id", ASCENDING), ("n", ASCENDING)], unique=True, name="run_chunk_unique"),
        # Expired files are refused by code; the TTL index only tidies up.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    PLACES: [
        # The natural key, led by the county as a sharded cluster requires (a code holds its county).
        IndexModel([("county_code", ASCENDING), ("code", ASCENDING)], unique=True, name="county_code_unique"),
        # Names looked up by code across counties (a household list of several counties).
        IndexModel([("code", ASCENDING)], name="code"),
        IndexModel(
            [("county_code", ASCENDING), ("statistical_code", ASCENDING)], name="county_statistical_code"
        ),
    ],
    BUYING_UNITS: [
        IndexModel([("county_code", ASCENDING), ("name", ASCENDING)], unique=True, name="county_name_unique"),
        # A unit clerk's scope: its unit and the units it supervises.
        IndexModel([("parent_unit_id", ASCENDING)], name="parent_unit"),
    ],
    PAIRINGS: [
        IndexModel([("county_code", ASCENDING), ("valid_from", ASCENDING)], name="county_from"),
        IndexModel([("unit_id", ASCENDING), ("valid_from", ASCENDING)], name="unit_from"),
    ],
    UNIT_PURCHASES: [
        # One record per order of a unit: the claim that keeps a purchase from being counted twice.
        IndexModel([("unit_id", ASCENDING), ("order_id", ASCENDING)], unique=True, name="unit_order_unique"),
        IndexModel([("county_code", ASCENDING), ("date", ASCENDING)], name="county_date"),
        IndexModel([("pairing_id", ASCENDING), ("date", ASCENDING)], name="pairing_date"),
    ],
    PAYOUTS: [
        # A voucher is used once per operator: the natural key of a payout and of its import.
        IndexModel(
            [("operator_id", ASCENDING), ("voucher_no", ASCENDING)],
            unique=True,
            name="operator_voucher_unique",
        ),
        IndexModel([("household_id", ASCENDING), ("period_from", ASCENDING)], name="household_period"),
        IndexModel([("county_code", ASCENDING), ("period_from", ASCENDING)], name="county_period"),
        IndexModel([("operator_id", ASCENDING), ("paid_at", DESCENDING)], name="operator_paid"),
        IndexModel([("county_code", ASCENDING), ("paid_at", DESCENDING)], name="county_paid"),
    ],
    CONTROL_TOTALS: [
        # One outside figure per county, channel and month, led by the county as a sharded cluster requires.
        IndexModel(
            [("county_code", ASCENDING), ("month", ASCENDING), ("channel", ASCENDING)],
            unique=True,
            name="county_month_channel_unique",
        ),
        IndexModel([("month", ASCENDING)], name="month"),
    ],
    STATUS_MAPPINGS: [
        IndexModel(
            [("county_code", ASCENDING), ("channel", ASCENDING), ("status", ASCENDING)],
            unique=True,
            name="county_channel_status_unique",
        ),
    ],
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
        # The log filtered by the person who made the changes.
        IndexModel([("actor.username", ASCENDING), ("at", DESCENDING)], name="actor_at"),
    ],
    OPERATORS: [
        # Partial: operators created before USCCs were recorded carry none.
        IndexModel(
            [("uscc", ASCENDING)],
            unique=True,
            name="uscc_unique",
            partialFilterExpression={"uscc": {"$type": "string"}},
        ),
        IndexModel([("county_code", ASCENDING), ("name", ASCENDING)], name="county_name"),
    ],
    PRODUCTS: [
        # Multikey: unique across products, but not within one (checked in code). Partial, because
        # MongoDB indexes an empty array as one shared key.
        IndexModel(
            [("channel_sku_keys", ASCENDING)],
            unique=True,
            name="channel_sku_keys_unique",
            partialFilterExpression={"channel_sku_keys": {"$type": "string"}},
        ),
        # Flat copy of certificates[].number (the emulator cannot index through arrays of documents).
        IndexModel(
            [("certificate_numbers", ASCENDING)],
            unique=True,
            name="certificate_numbers_unique",
            partialFilterExpression={"certificate_numbers": {"$type": "string"}},
        ),
        IndexModel(
            [("county_code", ASCENDING), ("status", ASCENDING), ("valid_until", ASCENDING)],
            name="county_status_valid_until",
        ),
        IndexModel([("status", ASCENDING), ("valid_until", ASCENDING)], name="status_valid_until"),
        IndexModel([("operator_id", ASCENDING), ("created_at", DESCENDING)], name="operator_created"),
        # Staff's catalogue list, newest first.
        IndexModel([("county_code", ASCENDING), ("created_at", DESCENDING)], name="county_created"),
        # Sales lines without a channel SKU are matched by GTIN-13.
        IndexModel(
            [("barcode", ASCENDING)], name="barcode", partialFilterExpression={"barcode": {"$type": "string"}}
        ),
    ],
    HOUSEHOLDS: [
        IndexModel([("household_no", ASCENDING)], unique=True, name="household_no_unique"),
        # Keyed hash of the head's ID number: one person heads at most one household.
        IndexModel([("id_number_hash", ASCENDING)], unique=True, name="id_number_hash_unique"),
        IndexModel([("county_code", ASCENDING), ("household_no", ASCENDING)], name="county_household_no"),
        IndexModel([("township_code", ASCENDING), ("household_no", ASCENDING)], name="township_household_no"),
        IndexModel([("village_code", ASCENDING), ("household_no", ASCENDING)], name="village_household_no"),
        # Targeting gaps: the monitored categories, or a legacy monitored status where none is recorded.
        IndexModel(
            [("category", ASCENDING), ("county_code", ASCENDING), ("status", ASCENDING)],
            name="category_county_status",
        ),
    ],
    BENEFIT_LINK_REQUESTS: [
        IndexModel([("operator_id", ASCENDING), ("created_at", DESCENDING)], name="operator_created"),
        IndexModel(
            [("household_county_code", ASCENDING), ("created_at", DESCENDING)],
            name="household_county_created",
        ),
        IndexModel([("created_at", DESCENDING)], name="created"),
    ],
    BENEFIT_LINKS: [
        # The natural key: re-importing a link finds it instead of adding a second one.
        IndexModel(
            [("operator_id", ASCENDING), ("household_id", ASCENDING), ("valid_from", ASCENDING)],
            unique=True,
            name="operator_household_from_unique",
        ),
        IndexModel([("household_id", ASCENDING), ("valid_from", ASCENDING)], name="household_from"),
        IndexModel([("operator_id", ASCENDING), ("valid_to", ASCENDING)], name="operator_to"),
        IndexModel([("county_code", ASCENDING), ("valid_from", ASCENDING)], name="county_from"),
        IndexModel([("household_county_code", ASCENDING)], name="household_county"),
    ],
}


class Storage:
    """Owns the client of this process and hands out the database."""

    def __init__(self, uri: str | None, db_name: str, data_dir: str | None = None, data_fsync: bool = True):
        self.uri = uri
        self.db_name = db_name
        self.embedded = not uri
        # The emulator's data directory (service/durable.py); None keeps the emulator in memory.
        self.data_dir = data_dir if self.embedded else None
        self.data_fsync = data_fsync
        self._lock = threading.Lock()
        self._client: Any = None
        self._pid: int | None = None
        self._directory: Any = None

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
        if self.embedded and self.data_dir:
            from service import durable

            self._directory = durable.open_directory(self.data_dir, fsync=self.data_fsync)
            log.warning(
                "MONGO_URI is not set: using the in-process MongoDB emulator, its data kept in %s "
                "(%d documents loaded in %.1f s). Set MONGO_URI to a real MongoDB for production.",
                self._directory.path,
                self._directory.loaded_documents,
                self._directory.load_seconds,
            )
            return self._directory.client
        if self.embedded:
            from service import emulator

            log.warning(
                "MONGO_URI is not set: using the in-process MongoDB emulator. "
                "Data lives in this process's memory and is LOST AT EXIT (no DATA_DIR). "
                "Set DATA_DIR to keep it, or MONGO_URI to a real MongoDB for production."
            )
            return emulator.new_client()
        return MongoClient(self.uri, connect=False, tz_aware=True, appname="consumption-aid")

    def ping(self) -> None:
        self.client.admin.command("ping")

    def close(self) -> None:
        if self._client is not None and not self.embedded:
            self._client.close()
        if self._directory is not None:
            self._directory.close()  # a snapshot if the journal holds changes, then the lock is released
            self._directory = None
        self._client = None


def page_of(collection: Any, query: dict[str, Any], sort: Any, page: int, per_page: int) -> tuple[list, int]:
    """One page of a list (page numbers from 1) and the total; for lists that are cheap to count."""
    total = collection.count_documents(query)
    cursor = collection.find(query).sort(sort).skip((page - 1) * per_page).limit(per_page)
    return list(cursor), total


def documents_by_id(
    db: Database, collection: str, ids: Iterable[Any], fields: dict[str, int] | None = None
) -> dict[Any, dict]:
    """Documents by ``_id`` in one ``$in`` query (``fields`` None: whole), unscoped: rows the caller sees."""
    wanted = sorted({value for value in ids if value is not None})
    if not wanted:
        return {}
    return {document["_id"]: document for document in db[collection].find({"_id": {"$in": wanted}}, fields)}


def names_by_id(db: Database, collection: str, ids: Iterable[Any]) -> dict[Any, str]:
    """The ``name`` of each document by ``_id`` (operators, canteens, products), in one query."""
    return {
        key: document["name"] for key, document in documents_by_id(db, collection, ids, {"name": 1}).items()
    }


def aggregate(collection: Any, pipeline: list[dict[str, Any]]) -> Any:
    """Every pipeline runs through here: a large one may spill to disk on the server instead of
    failing at its 100 MB memory limit for a stage (a province's household income, say)."""
    return collection.aggregate(pipeline, allowDiskUse=True)


def sort_spec(sort: str) -> list[tuple[str, int]]:
    """A list's ``sort`` argument ("name", "-created_at") as a MongoDB sort, ties broken by _id."""
    field = sort.lstrip("-")
    direction = -1 if sort.startswith("-") else 1
    return [(field, direction), ("_id", direction)]


# The options that make two indexes of the same name different; anything else is the server's own.
_INDEX_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")


@dataclass(frozen=True)
class IndexChange:
    """One index that is missing or whose stored definition differs from the declared one."""

    collection: str
    name: str
    action: str  # "create", or "recreate" (dropped first: its keys or options changed)
    stored_name: str | None = None

    def __str__(self) -> str:
        if self.action == "create":
            return f"{self.collection}.{self.name}: created"
        replaced = f" (stored as {self.stored_name})" if self.stored_name != self.name else ""
        return f"{self.collection}.{self.name}: dropped and recreated{replaced}, its definition changed"


def declared_indexes(*, embedded: bool = False) -> dict[str, list[IndexModel]]:
    """Every declared index; the emulator scans a whole collection on every operation once it
    has a TTL index, so there TTL indexes are declared without expiry (code refuses expired records)."""
    if not embedded:
        return INDEXES
    return {name: [_without_ttl(model) for model in models] for name, models in INDEXES.items()}


def _without_ttl(model: IndexModel) -> IndexModel:
    spec = dict(model.document)
    if "expireAfterSeconds" not in spec:
        return model
    spec.pop("expireAfterSeconds")
    keys = list(spec.pop("key").items())
    return IndexModel(keys, **spec)


def _plain(value: Any) -> Any:
    """A stored index option as plain values (servers answer with SON, Int64 or doubles)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return int(value)


def _definition(spec: dict[str, Any]) -> tuple:
    keys = spec["key"].items() if isinstance(spec["key"], dict) else spec["key"]
    # Some servers answer "unique": false where others leave the option out.
    options = tuple(
        (option, repr(None if spec.get(option) is False else _plain(spec.get(option))))
        for option in _INDEX_OPTIONS
    )
    return tuple((field, int(direction)) for field, direction in keys), options


def index_changes(db: Database, *, embedded: bool = False) -> list[IndexChange]:
    """What differs between the declared indexes and those stored: missing ones, and ones whose
    keys or options changed between versions (matched by name, or by keys under another name)."""
    changes = []
    for collection, models in declared_indexes(embedded=embedded).items():
        stored = {name: _definition(spec) for name, spec in db[collection].index_information().items()}
        for model in models:
            spec = model.document
            name, wanted = spec["name"], _definition(spec)
            if stored.get(name) == wanted:
                continue
            clash = name if name in stored else next(
                (other for other, have in stored.items() if have[0] == wanted[0] and other != "_id_"), None
            )  # fmt: skip
            changes.append(IndexChange(collection, name, "recreate" if clash else "create", clash))
    return changes


def ensure_indexes(db: Database, *, embedded: bool = False, migrate: bool = False) -> list[IndexChange]:
    """Create every missing declared index. An index whose definition changed between versions is
    dropped and recreated only with ``migrate`` (``flask db init``); otherwise it is reported and left
    alone, so start-up never stops a worker over it. Returns what was done or still needs doing."""
    declared = {
        (collection, model.document["name"]): model
        for collection, models in declared_indexes(embedded=embedded).items()
        for model in models
    }
    changes = index_changes(db, embedded=embedded)
    for change in changes:
        if change.action == "recreate":
            if not migrate:
                log.error(
                    "index %s.%s differs from its declaration; run `flask --app service db init` "
                    "to drop and recreate it",
                    change.collection,
                    change.name,
                )
                continue
            db[change.collection].drop_index(change.stored_name)
        db[change.collection].create_indexes([declared[(change.collection, change.name)]])
    return changes


def init_app(app: Flask) -> None:
    storage = Storage(
        app.config.get("MONGO_URI"),
        app.config["MONGO_DB_NAME"],
        data_dir=app.config.get("DATA_DIR"),
        data_fsync=bool(app.config.get("DATA_FSYNC", True)),
    )
    app.extensions["storage"] = storage
    app.cli.add_command(db_cli)


def get_storage() -> Storage:
    return current_app.extensions["storage"]


def get_db() -> Database:
    return get_storage().db


@click.group("db", cls=AppGroup, help="Database set-up.")
def db_cli() -> None:
    pass


@db_cli.command("init", help="Create every index; drop and recreate those whose definition changed.")
def db_init_command() -> None:
    changes = ensure_indexes(get_db(), embedded=get_storage().embedded, migrate=True)
    for change in changes:
        click.echo(str(change))
    declared = sum(len(models) for models in INDEXES.values())
    click.echo(
        f"{declared} declared indexes: {len(changes)} changed, {declared - len(changes)} already in place."
    )
