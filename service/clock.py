"""Time: stored in UTC, days and months cut in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Now, in UTC, at the millisecond precision MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar day a UTC moment falls on."""
    return moment.astimezone(SHANGHAI).date()


def local_month(moment: datetime) -> str:
    """The Asia/Shanghai calendar month (YYYY-MM) a UTC moment falls in."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def start_of_local_day(day: date) -> datetime:
    """The UTC moment an Asia/Shanghai calendar day begins."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)


def end_of_local_day(day: date) -> datetime:
    """The UTC moment the next Asia/Shanghai day begins (exclusive end)."""
    return start_of_local_day(day + timedelta(days=1))


def today_local() -> date:
    return local_date(utcnow())
