"""The open-platform pull: a shop's orders fetched window by window into the sales ledger.

``flask --app service sales pull --channel taobao-api [--since ISO] [--until ISO]`` walks
from the shop's saved cursor (or ``--since``) to ``--until`` (default: now minus a small
lag, since the platform indexes recent changes late) in windows of at most one hour. Each
window's pages are fetched until ``has_next`` is false, its lines are ingested, and only
then does the cursor (``pull_cursors``: the end of the last fully-completed window) move
on. A pull that stops part-way therefore resumes at the first window it did not finish;
the ledger de-duplicates on the order id, so a window fetched twice never counts twice.

The cursor only moves forward, and only over windows contiguous with it: a ``--since``
later than the cursor pulls that period without moving the cursor past the gap it leaves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pymongo.database import Database

from adapters import taobao_api
from adapters.base import Skipped
from adapters.taobao_api import PullError, TopClient, TopSettings
from service import ledger, ledger_rebuilds, storage
from service.clock import SHANGHAI, utcnow
from service.errors import Coded, ValidationFailed
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
# Settings the pull needs, by config key (each read from the environment of the same name).
REQUIRED_SETTINGS = (
    "TAOBAO_API_BASE_URL",
    "TAOBAO_API_APP_KEY",
    "TAOBAO_API_APP_SECRET",
    "TAOBAO_API_SHOP",
    "TAOBAO_API_COUNTY_CODE",
)


@dataclass(frozen=True)
class PullSettings:
    """One shop's pull: how to call the platform, and whose ledger its sales belong to."""

    top: TopSettings
    shop: str
    county_code: str
    lag: timedelta = timedelta(minutes=2)
    window: timedelta = WINDOW

    @property
    def cursor_id(self) -> str:
        return f"{taobao_api.NAME}:{self.shop}"


def settings_from_config(config: Mapping[str, Any]) -> PullSettings:
    """The pull's settings from the app config; names (never values) of missing ones are reported."""
    missing = [name for name in REQUIRED_SETTINGS if not config.get(name)]
    if missing:
        raise ValidationFailed(
            Coded(
                "pull.not_configured",
                "The Taobao API pull is not configured: set " + ", ".join(missing) + " in the environment.",
                names=missing,
            ),
            details={name: [Coded("pull.not_set", "Not set.")] for name in missing},
        )
    top = TopSettings(
        base_url=config["TAOBAO_API_BASE_URL"],
        app_key=config["TAOBAO_API_APP_KEY"],
        app_secret=config["TAOBAO_API_APP_SECRET"],
        method=config["TAOBAO_API_METHOD"],
        page_size=int(config["TAOBAO_API_PAGE_SIZE"]),
        connect_timeout=float(config["TAOBAO_API_CONNECT_TIMEOUT"]),
        read_timeout=float(config["TAOBAO_API_READ_TIMEOUT"]),
        retries=int(config["TAOBAO_API_RETRIES"]),
        backoff_factor=float(config["TAOBAO_API_BACKOFF_FACTOR"]),
        backoff_max=float(config["TAOBAO_API_BACKOFF_MAX"]),
        backoff_jitter=float(config["TAOBAO_API_BACKOFF_JITTER"]),
    )
    return PullSettings(
        top=top,
        shop=config["TAOBAO_API_SHOP"],
        county_code=config["TAOBAO_API_COUNTY_CODE"],
        lag=timedelta(seconds=float(config["TAOBAO_API_LAG_SECONDS"])),
    )


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or date-time from the command line; without an offset it is Asia/Shanghai."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(UTC)


def windows(start: datetime, end: datetime, size: timedelta = WINDOW) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end) windows of at most ``size`` covering the period, without gaps."""
    while start < end:
        stop = min(start + size, end)
        yield start, stop
        start = stop


def _whole_second(moment: datetime) -> datetime:
    # The platform's times have whole seconds; windows cut finer would overlap or leave slivers.
    return moment.replace(microsecond=0)


def get_cursor(db: Database, settings: PullSettings) -> datetime | None:
    """The end of the shop's last fully-completed window, or None before its first pull."""
    document = db[storage.PULL_CURSORS].find_one({"_id": settings.cursor_id})
    if document is None or document.get("cursor") is None:
        return None
    cursor = document["cursor"]
    return cursor if cursor.tzinfo else cursor.replace(tzinfo=UTC)


def _advance(db: Database, settings: PullSettings, end: datetime) -> None:
    db[storage.PULL_CURSORS].update_one(
        {"_id": settings.cursor_id},
        {
            # $max: a slower concurrent run can never move the cursor back.
            "$max": {"cursor": end},
            "$set": {
                "source": taobao_api.NAME,
                "shop": settings.shop,
                "county_code": settings.county_code,
                "updated_at": utcnow(),
            },
        },
        upsert=True,
    )


def _record_run(db: Database, settings: PullSettings, report: PullReport) -> None:
    db[storage.PULL_CURSORS].update_one(
        {"_id": settings.cursor_id},
        {
            "$set": {
                "source": taobao_api.NAME,
                "shop": settings.shop,
                "county_code": settings.county_code,
                "last_run": {
                    "at": utcnow(),
                    "since": report.since,
                    "until": report.until,
                    "windows": report.windows,
                    "error": report.error,
                    **report.counts(),
                },
            }
        },
        upsert=True,
    )


@dataclass
class PullReport:
    """What one run did: the period, windows and pages done, ingest counts, and why it stopped early."""

    since: datetime | None = None
    until: datetime | None = None
    windows: int = 0
    pages: int = 0
    orders: int = 0
    # Orders that were never a sale (unpaid, closed before payment): counted, not stored.
    skipped: int = 0
    cursor: datetime | None = None
    cursor_moved: bool = False
    error: str | None = None
    failed_window: tuple[datetime, datetime] | None = None
    result: IngestResult = field(default_factory=IngestResult)

    def counts(self) -> dict[str, int]:
        """The ledger's counts, with the orders skipped before the ledger added in."""
        counts = self.result.counts()
        counts["rows"] += self.skipped
        counts["skipped"] += self.skipped
        return counts


def pull(
    db: Database,
    settings: PullSettings,
    session: requests.Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] | None = None,
) -> PullReport:
    """Pull the shop's orders modified in [since or cursor, until) into the ledger, window by window.

    Stops at the first window that cannot be completed, with ``error`` set and the cursor at
    the end of the window before it; the next run starts there.
    """
    cursor = get_cursor(db, settings)
    start = since if since is not None else cursor
    if start is None:
        raise ValidationFailed(
            Coded(
                "pull.since_required",
                f"Shop {settings.shop} has no saved cursor yet: give --since for its first pull.",
                shop=settings.shop,
            ),
            details={"since": [Coded("field.required", "Required for the first pull.")]},
        )
    start = _whole_second(start)
    # Never past now minus the lag: a cursor in the future would skip what changes until then.
    latest = clock() - settings.lag
    end = _whole_second(latest if until is None else min(until, latest))
    report = PullReport(since=start, until=end, cursor=cursor)
    if end <= start:
        if since is None:
            # Run again before anything new could be pulled (a frequent schedule): nothing to do.
            return report
        raise ValidationFailed(
            Coded("pull.empty_period", "Nothing to pull: the period ends before it starts."),
            details={"until": [Coded("date.end_before_start", "Before since.")]},
        )
    client = TopClient(session, settings.top, clock=clock, sleep=sleep or time.sleep)
    scope = IngestScope(settings.county_code)
    log.info("taobao-api pull of shop %s from %s to %s", settings.shop, start.isoformat(), end.isoformat())
    # One rebuild of the touched months at the end, not one per window; an interrupted run
    # leaves them marked dirty and rebuilds them below.
    try:
        with ledger_rebuilds.deferred_rebuilds(db):
            for window_start, window_end in windows(start, end, settings.window):
                _pull_window(db, client, scope, window_start, window_end, report)
                if report.cursor is None or window_start <= report.cursor < window_end:
                    _advance(db, settings, window_end)
                    report.cursor = window_end
                    report.cursor_moved = True
                report.windows += 1
    except PullError as error:
        report.error = str(error)
        ledger_rebuilds.rebuild(db, [settings.county_code])
        log.warning(
            "taobao-api pull of shop %s stopped in window %s–%s: %s",
            settings.shop,
            report.failed_window[0].isoformat() if report.failed_window else "?",
            report.failed_window[1].isoformat() if report.failed_window else "?",
            error,
        )
    _record_run(db, settings, report)
    return report


def _pull_window(
    db: Database,
    client: TopClient,
    scope: IngestScope,
    start: datetime,
    end: datetime,
    report: PullReport,
) -> None:
    """Every page of one window, then one ingest: a window's lines are stored whole or not at all."""
    report.failed_window = (start, end)
    items: list[taobao_api.Item] = []
    for page in client.fetch_window(start, end):
        report.pages += 1
        report.orders += page.orders
        items.extend(page.items)
    lines = [item for item in taobao_api.with_item_ids(items) if not isinstance(item, Skipped)]
    report.skipped += len(items) - len(lines)
    ledger.ingest(db, lines, scope, result=report.result)
    report.failed_window = None
    log.info(
        "taobao-api window %s–%s: %d order line(s), %d ingested",
        start.isoformat(),
        end.isoformat(),
        len(items),
        len(lines),
    )


def run_pull(
    db: Database,
    config: Mapping[str, Any],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PullReport:
    """The CLI's entry point: settings from the config, a retrying session, one pull."""
    settings = settings_from_config(config)
    with taobao_api.make_session(settings.top) as session:
        return pull(db, settings, session, since=since, until=until)
