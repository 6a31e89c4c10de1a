"""When a benefit link is in force: its Asia/Shanghai days, stored as UTC instants (valid_from the
start of the first day, valid_to the start of the day after the last, None while open-ended), the
days it counts in a month, and the checks on a period's first and last day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapters.errors import Coded
from service.clock import end_of_local_day, local_date, start_of_local_day
from service.errors import invalid_fields

# Dates outside this range are typos (and would overflow the UTC conversion at the extremes).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def first_day(link: Mapping[str, Any]) -> date:
    """The first Asia/Shanghai day a stored link is active."""
    return local_date(as_utc(link["valid_from"]))


def last_day(link: Mapping[str, Any]) -> date | None:
    """The last Asia/Shanghai day a stored link is active (inclusive), or None while open-ended."""
    valid_to = link.get("valid_to")
    return None if valid_to is None else local_date(as_utc(valid_to)) - timedelta(days=1)


def _end_day(link: Mapping[str, Any]) -> date | None:
    """The first day a stored link is no longer active (exclusive end), or None."""
    valid_to = link.get("valid_to")
    return None if valid_to is None else local_date(as_utc(valid_to))


def active_days_in_month(link: Mapping[str, Any], year: int, month: int) -> int:
    """Days of an Asia/Shanghai calendar month on which a stored link is active.

    ``link`` is a stored link: ``valid_from`` and ``valid_to`` are UTC instants
    (valid_to exclusive, None = open-ended). A link starting on the 10th of a
    31-day month and open-ended counts 22 days; one outside the month counts 0.
    """
    month_start = date(year, month, 1)
    month_end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    start = max(month_start, first_day(link))
    end_day = _end_day(link)
    end = month_end if end_day is None else min(month_end, end_day)
    return max(0, (end - start).days)


def period(start: date, last: date | None) -> tuple[datetime, datetime | None]:
    return start_of_local_day(start), (None if last is None else end_of_local_day(last))


def overlaps(
    start: datetime, end: datetime | None, other_start: datetime, other_end: datetime | None
) -> bool:
    return (end is None or other_start < end) and (other_end is None or start < other_end)


def describe(link: Mapping[str, Any]) -> str:
    last = last_day(link)
    return f"from {first_day(link)} " + (f"to {last}" if last else "with no end date")


def check_days(start: date | None, last: date | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if start is not None and not FIRST_DAY <= start <= LAST_DAY:
        errors["valid_from"] = Coded(
            "date.range",
            f"The start date is between {FIRST_DAY} and {LAST_DAY}.",
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
    if last is not None and not FIRST_DAY <= last <= LAST_DAY:
        errors["valid_to"] = Coded(
            "date.range",
            f"The end date is between {FIRST_DAY} and {LAST_DAY}.",
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
    elif start is not None and last is not None and last < start:
        errors["valid_to"] = Coded("date.end_before_start", "The last day is before the first day.")
    return errors


def check_period(start: date, last: date | None) -> None:
    """A link's first and last day (inclusive) are sane and in order, else 422 naming the field."""
    raise_if(check_days(start, last))


def raise_if(errors: Mapping[str, str]) -> None:
    if errors:
        raise invalid_fields(errors)
