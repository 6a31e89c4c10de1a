"""A household's categories over time (户类型, 监测对象类别, 识别监测时间, 风险消除), pure.

A household's history is a list of dated entries, oldest first, each the whole state from its
``valid_from`` day (Asia/Shanghai, ISO text "2023-03-15") until the next entry's:

- ``household_type``: exited (脱贫户) or ordinary (一般农户);
- ``monitoring_category``: None, or one of the three kinds of 防止返贫监测对象;
- ``identified_on``: the day it was identified for monitoring (识别监测时间);
- ``risk_removed_on`` and ``removal_method``: the day its risk was removed (风险消除) and how.

A monitored household is 监测对象 from ``identified_on`` up to the day before ``risk_removed_on``.
A month belongs to the category that held on its **last day**: a household identified on the 20th
is 监测对象 for that month; one whose risk was removed on the 15th is not, for that month or after.

A household with no history (registered before categories were kept) has one derived from its
register status: 脱贫监测户 → 脱贫不稳定户, 边缘户 → 边缘易致贫户 (an ordinary household), the rest 脱贫户.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from adapters.errors import Coded

HOUSEHOLD_TYPES = {"exited": "脱贫户", "ordinary": "一般农户"}
MONITORING_CATEGORIES = {"unstable": "脱贫不稳定户", "edge": "边缘易致贫户", "sudden": "突发严重困难户"}
REMOVAL_METHODS = {"assisted": "帮扶消除", "natural": "自然消除"}
# What a month is reported under: the monitoring category while monitored, else the household type.
CATEGORY_LABELS = {**MONITORING_CATEGORIES, **HOUSEHOLD_TYPES}
MONITORED = tuple(MONITORING_CATEGORIES)
# The labels the older registers used for what are now monitoring categories.
LEGACY_CATEGORY_LABELS = {"边缘户": "edge", "脱贫监测户": "unstable"}
# Register statuses (service.vocabulary.HOUSEHOLD_STATUS_LABELS) as a history when none is kept.
STATUS_STATES = {
    "poor": ("exited", None),
    "exited": ("exited", None),
    "monitored": ("exited", "unstable"),
    "edge": ("ordinary", "edge"),
}
# The register (建档立卡) began in 2014: the earliest registration a household can have.
REGISTER_BEGAN = date(2014, 1, 1)
FIELDS = (
    "valid_from",
    "household_type",
    "monitoring_category",
    "identified_on",
    "risk_removed_on",
    "removal_method",
)
DATE_FIELDS = ("valid_from", "identified_on", "risk_removed_on")

Entry = dict[str, Any]


def _day(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def entry(
    valid_from: date | str,
    household_type: str,
    monitoring_category: str | None = None,
    identified_on: date | str | None = None,
    risk_removed_on: date | str | None = None,
    removal_method: str | None = None,
) -> Entry:
    """One dated entry, its days as ISO text (as stored)."""
    return {
        "valid_from": _day(valid_from),
        "household_type": household_type,
        "monitoring_category": monitoring_category,
        "identified_on": _day(identified_on),
        "risk_removed_on": _day(risk_removed_on),
        "removal_method": removal_method,
    }


def readable(history: Iterable[Entry]) -> list[dict[str, Any]]:
    """A history with its days as dates (for schemas and pages) and each category's label."""
    return [
        {
            **item,
            **{name: date.fromisoformat(item[name]) if item.get(name) else None for name in DATE_FIELDS},
            "household_type_label": HOUSEHOLD_TYPES.get(item.get("household_type")),
            "monitoring_category_label": MONITORING_CATEGORIES.get(item.get("monitoring_category")),
            "removal_method_label": REMOVAL_METHODS.get(item.get("removal_method")),
        }
        for item in history
    ]


def history_of(household: Mapping[str, Any]) -> list[Entry]:
    """A household's history: the stored one, or one derived from its register status."""
    stored = household.get("categories")
    if stored:
        return list(stored)
    household_type, category = STATUS_STATES.get(household.get("status"), ("exited", None))
    began = _day(registered_on(household))
    return [entry(began, household_type, category, began if category else None)]


def registered_on(household: Mapping[str, Any]) -> date:
    """The day a household was registered (登记日期); the register's beginning when not recorded."""
    stored = household.get("registered_on")
    return date.fromisoformat(stored) if stored else REGISTER_BEGAN


def state_at(history: Iterable[Entry], day: date) -> Entry | None:
    """The entry in force on ``day`` (None before the first)."""
    found = None
    text = day.isoformat()
    for item in history:
        if item["valid_from"] <= text:
            found = item
    return found


def category_of(item: Entry | None, day: date) -> str | None:
    """What an entry makes a household on ``day``: its monitoring category while monitored, else its type."""
    if item is None:
        return None
    category = item.get("monitoring_category")
    text = day.isoformat()
    identified, removed = item.get("identified_on"), item.get("risk_removed_on")
    if category and (identified is None or identified <= text) and (removed is None or text < removed):
        return category
    return item["household_type"]


def category_at(history: Iterable[Entry], day: date) -> str | None:
    """The category that held on ``day`` (None before the history begins)."""
    return category_of(state_at(list(history), day), day)


def last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def category_in_month(history: Iterable[Entry], year: int, month: int) -> str | None:
    """The category a month is attributed to: the one that held on its last day."""
    return category_at(history, last_day(year, month))


def category_in(history: Iterable[Entry], month: str) -> str | None:
    """:func:`category_in_month` of a "YYYY-MM" month."""
    year, number = (int(part) for part in month.split("-"))
    return category_in_month(history, year, number)


def is_monitored(category: str | None) -> bool:
    return category in MONITORING_CATEGORIES


def current_category(history: Iterable[Entry], today: date) -> str | None:
    return category_at(history, today)


# Changes --------------------------------------------------------------------------------------


def check_entry(item: Entry, *, registered: date, today: date) -> dict[str, Coded]:
    """Problems of one entry by field: unknown codes, days before registration or after today, and
    removal details that do not go together."""
    errors: dict[str, Coded] = {}
    if item.get("household_type") not in HOUSEHOLD_TYPES:
        choices = "、".join(HOUSEHOLD_TYPES.values())
        errors["household_type"] = Coded("category.bad_type", f"The household type is one of {choices}.")
    category = item.get("monitoring_category")
    if category is not None and category not in MONITORING_CATEGORIES:
        choices = "、".join(MONITORING_CATEGORIES.values())
        errors["monitoring_category"] = Coded(
            "category.bad_category", f"The monitoring category is empty or one of {choices}."
        )
    method = item.get("removal_method")
    if method is not None and method not in REMOVAL_METHODS:
        choices = "、".join(REMOVAL_METHODS.values())
        errors["removal_method"] = Coded("category.bad_method", f"The removal method is one of {choices}.")
    for name in DATE_FIELDS:
        text = item.get(name)
        if text is None:
            continue
        day = date.fromisoformat(text)
        if day < registered:
            errors[name] = Coded(
                "category.before_registration",
                f"{day} is before the household's registration on {registered}.",
                day=text,
                registered_on=registered.isoformat(),
            )
        elif day > today:
            errors[name] = Coded("category.in_future", f"{day} is after today.", day=text)
    if item.get("valid_from") is None:
        errors["valid_from"] = Coded(
            "category.valid_from_required", "The day the change takes effect is required."
        )
    identified, removed = item.get("identified_on"), item.get("risk_removed_on")
    if category is None:
        for name in ("identified_on", "risk_removed_on", "removal_method"):
            if item.get(name) is not None and name not in errors:
                errors[name] = Coded(
                    "category.not_monitored",
                    "Only a monitored household (监测对象) has this; leave it empty.",
                )
        return errors
    if identified is None and "identified_on" not in errors:
        errors["identified_on"] = Coded(
            "category.identified_required",
            "A monitored household needs its identification day (识别监测时间).",
        )
    if removed is not None and method is None and "removal_method" not in errors:
        errors["removal_method"] = Coded(
            "category.method_required", "A removed risk needs the way it was removed (风险消除方式)."
        )
    if method is not None and removed is None and "risk_removed_on" not in errors:
        errors["risk_removed_on"] = Coded(
            "category.removed_on_required", "A removal method needs the day the risk was removed."
        )
    if identified and removed and removed < identified and "risk_removed_on" not in errors:
        errors["risk_removed_on"] = Coded(
            "category.removed_before_identified",
            f"The risk cannot be removed ({removed}) before the household was identified ({identified}).",
            day=removed,
            identified_on=identified,
        )
    return errors


def with_entry(history: Iterable[Entry], item: Entry) -> list[Entry]:
    """The history with ``item`` in force from its day: it replaces an entry of the same day."""
    kept = [old for old in history if old["valid_from"] != item["valid_from"]]
    return sorted([*kept, {name: item.get(name) for name in FIELDS}], key=lambda old: old["valid_from"])


def snapshot_entries(
    household_type: str,
    monitoring_category: str | None,
    identified_on: str | None,
    risk_removed_on: str | None,
    removal_method: str | None,
    *,
    registered: date,
) -> list[Entry]:
    """The dated entries a monitoring system's row (the state as exported) stands for: the household's
    type from its registration, the monitoring from its identification, the removal from its day."""
    if monitoring_category is None:
        return [entry(registered, household_type)]
    entries = [entry(identified_on, household_type, monitoring_category, identified_on)]
    if identified_on != registered.isoformat():
        entries.insert(0, entry(registered, household_type))
    if risk_removed_on is not None:
        entries.append(
            entry(
                risk_removed_on,
                household_type,
                monitoring_category,
                identified_on,
                risk_removed_on,
                removal_method,
            )
        )
    return entries


def merged(history: Iterable[Entry], entries: Iterable[Entry]) -> list[Entry]:
    """The history with ``entries`` put in (each replacing an entry of its day)."""
    result = list(history)
    for item in entries:
        result = with_entry(result, item)
    return result


def month_split(
    rows: Iterable[Mapping[str, Any]], histories: Mapping[Any, list[Entry]]
) -> dict[str | None, dict[str, int]]:
    """Income by category: ``rows`` are a household's income in one month ({_id: {household_id, month},
    income_fen}); each month's income goes to the category that held then. A household is counted
    once, under the category of the latest month in which it had income (so counts add up too)."""
    split: dict[str | None, dict[str, int]] = {}
    latest: dict[Any, tuple[str, str | None]] = {}
    totals: dict[Any, int] = {}
    for row in rows:
        household, month = row["_id"]["household_id"], row["_id"]["month"]
        category = category_in(histories.get(household, []), month)
        split.setdefault(category, {"income_fen": 0, "households": 0})["income_fen"] += row["income_fen"]
        totals[household] = totals.get(household, 0) + row["income_fen"]
        if row["income_fen"] and (household not in latest or latest[household][0] < month):
            latest[household] = (month, category)
    # Counted as the reports count households benefited: those whose income in the period is not zero.
    for household, (_month, category) in latest.items():
        if totals[household]:
            split.setdefault(category, {"income_fen": 0, "households": 0})["households"] += 1
    return split
