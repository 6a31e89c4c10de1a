"""Configuration: defaults, then the environment, then the mapping a test passes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.xlsx_reader import DEFAULT_LIMITS


class Config:
    """Defaults. Every setting the service reads is declared here."""

    SECRET_KEY = "dev-only-change-me"
    # Unset: the in-process emulator (in memory, or in DATA_DIR when that is set).
    MONGO_URI: str | None = None
    MONGO_DB_NAME = "consumption_aid"
    # With MONGO_URI unset: the emulator keeps its data in this directory (a journal and a snapshot)
    # and survives restarts; unset too, the data lives in memory only (the tests). ./scripts/run sets it.
    DATA_DIR: str | None = None
    # fdatasync the journal before a write returns, so a power cut loses nothing either (about 0.2 ms
    # a write, BENCHMARKS.md); false leaves the last seconds of writes to the OS page cache.
    DATA_FSYNC = True
    # "auto": load the demo county on the embedded emulator, never on a real server.
    DEMO_ON_START = "auto"
    TESTING = False

    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    # An uploaded xlsx is refused before it expands past these (adapters/xlsx_reader.py reads it
    # streamed, its defaults here): rows holding a value, cells (empty ones too), bytes unzipped, how
    # many times one part of over 1 MiB expands, and parts in the zip. Exports stay far below them.
    XLSX_MAX_ROWS = DEFAULT_LIMITS.max_rows
    XLSX_MAX_CELLS = DEFAULT_LIMITS.max_cells
    XLSX_MAX_UNCOMPRESSED_BYTES = DEFAULT_LIMITS.max_uncompressed_bytes
    XLSX_MAX_COMPRESSION_RATIO = DEFAULT_LIMITS.max_compression_ratio
    XLSX_MAX_MEMBERS = DEFAULT_LIMITS.max_members
    JSON_AS_ASCII = False

    # An argon2.profiles name; tests use CHEAPEST to stay fast.
    ARGON2_PROFILE = "RFC_9106_LOW_MEMORY"
    TOKEN_TTL_SECONDS = 8 * 3600
    # Failed logins per window: per account, and (higher, so one clerk's typos never lock out the
    # colleagues behind the same NAT) per address.
    LOGIN_MAX_FAILURES = 5
    LOGIN_MAX_FAILURES_PER_ADDRESS = 30
    LOGIN_FAILURE_WINDOW_SECONDS = 60
    # Keyed hash for household ID numbers; production must set its own.
    PII_HASH_KEY = "dev-only-pii-key"
    # Key of the statements' verification codes (收益明白卡); changing it supersedes every printed code.
    STATEMENT_CODE_KEY = "dev-only-statement-key"
    # The Chinese TrueType font of the statements' PDF (Debian's fonts-wqy-microhei), and its face in a .ttc.
    FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    FONT_SUBFONT_INDEX = 0

    # Product certification (扶贫产品认定): publicity (公示) period, validity, certificate numbers.
    PUBLICITY_DAYS = 7
    CERTIFICATION_VALID_DAYS = 730
    CERTIFICATE_PREFIX = "FP"

    # The open-platform pull of one shop (flask --app service sales pull --channel taobao-api).
    # Key and secret come from the environment only; the secret signs requests and is never logged.
    TAOBAO_API_BASE_URL = "https://eco.taobao.com/router/rest"
    TAOBAO_API_APP_KEY: str | None = None
    TAOBAO_API_APP_SECRET: str | None = None
    # The shop's name keys its saved cursor; its sales go to this county's ledger.
    TAOBAO_API_SHOP: str | None = None
    TAOBAO_API_COUNTY_CODE: str | None = None
    TAOBAO_API_METHOD = "taobao.trades.sold.increment.get"
    TAOBAO_API_PAGE_SIZE = 100
    TAOBAO_API_CONNECT_TIMEOUT = 5.0
    TAOBAO_API_READ_TIMEOUT = 30.0
    # Retries per request (timeouts, dropped connections, 429, 5xx), exponential backoff with jitter.
    TAOBAO_API_RETRIES = 5
    TAOBAO_API_BACKOFF_FACTOR = 0.5
    TAOBAO_API_BACKOFF_MAX = 60.0
    TAOBAO_API_BACKOFF_JITTER = 0.5
    # Pull up to now minus this: the platform indexes the latest changes late.
    TAOBAO_API_LAG_SECONDS = 120

    # node_modules of package.json: the pages' charting library, served locally (no CDN).
    ASSETS_DIR = str(Path(__file__).resolve().parent.parent / "node_modules")
    # Cookies over HTTPS only; set true behind a TLS-terminating proxy.
    SESSION_COOKIE_SECURE = False
    # Reverse proxies in front of the service whose X-Forwarded-For/-Proto/-Host are believed
    # (the client's address for login limits, the scheme for links); 0 believes none of them.
    TRUSTED_PROXIES = 0
    # Flask's own defaults would send the session cookie without SameSite; declared here so they hold.
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True

    # Keep the dashboard's groupings of the derived ledger between requests, per process, while their
    # county-months are unchanged (service/report_cache.py): at most this many, of this many rows in all.
    REPORT_CACHE = True
    REPORT_CACHE_ENTRIES = 256
    REPORT_CACHE_ROWS = 100_000

    TIMEZONE = "Asia/Shanghai"
    LOG_LEVEL = "INFO"
    LOG_JSON = True

    API_TITLE = "消费帮扶产品目录与销售台账 Consumption-aid catalogue and sales ledger"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    # Served from the installed swagger-ui-bundle package: no CDN on an intranet.
    OPENAPI_SWAGGER_UI_URL = "/api/docs/static/"
    API_SPEC_OPTIONS = {"security": [{"bearerAuth": []}]}


# Settings read from the environment, with the type each is parsed as.
_ENV_SETTINGS: dict[str, type] = {
    "SECRET_KEY": str,
    "ASSETS_DIR": str,
    "SESSION_COOKIE_SECURE": bool,
    "TRUSTED_PROXIES": int,
    "MONGO_URI": str,
    "MONGO_DB_NAME": str,
    "DATA_DIR": str,
    "DATA_FSYNC": bool,
    "DEMO_ON_START": str,
    "MAX_CONTENT_LENGTH": int,
    "XLSX_MAX_ROWS": int,
    "XLSX_MAX_CELLS": int,
    "XLSX_MAX_UNCOMPRESSED_BYTES": int,
    "XLSX_MAX_COMPRESSION_RATIO": int,
    "XLSX_MAX_MEMBERS": int,
    "TOKEN_TTL_SECONDS": int,
    "LOGIN_MAX_FAILURES": int,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": int,
    "LOGIN_FAILURE_WINDOW_SECONDS": int,
    "PII_HASH_KEY": str,
    "STATEMENT_CODE_KEY": str,
    "FONT_PATH": str,
    "FONT_SUBFONT_INDEX": int,
    "PUBLICITY_DAYS": int,
    "CERTIFICATION_VALID_DAYS": int,
    "CERTIFICATE_PREFIX": str,
    "REPORT_CACHE": bool,
    "REPORT_CACHE_ENTRIES": int,
    "REPORT_CACHE_ROWS": int,
    "LOG_LEVEL": str,
    "LOG_JSON": bool,
    "TAOBAO_API_BASE_URL": str,
    "TAOBAO_API_APP_KEY": str,
    "TAOBAO_API_APP_SECRET": str,
    "TAOBAO_API_SHOP": str,
    "TAOBAO_API_COUNTY_CODE": str,
    "TAOBAO_API_METHOD": str,
    "TAOBAO_API_PAGE_SIZE": int,
    "TAOBAO_API_CONNECT_TIMEOUT": float,
    "TAOBAO_API_READ_TIMEOUT": float,
    "TAOBAO_API_RETRIES": int,
    "TAOBAO_API_BACKOFF_FACTOR": float,
    "TAOBAO_API_BACKOFF_MAX": float,
    "TAOBAO_API_BACKOFF_JITTER": float,
    "TAOBAO_API_LAG_SECONDS": float,
}


def _parse(kind: type, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """All configuration read from the environment, in one place."""
    environ = os.environ if environ is None else environ
    return {
        name: _parse(kind, environ[name])
        for name, kind in _ENV_SETTINGS.items()
        if environ.get(name, "") != ""
    }
