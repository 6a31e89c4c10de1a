"""The income line (收入监测线) of a province and year, and households' consumption-aid income against it.

After 2020 the monitoring line is a per-capita yearly income set per province and year (e.g. 4,000
yuan for 2020); admins keep it here, audited. The progress compares, for each 脱贫户 and 监测对象 of
a county, the per-capita income that consumption aid brought (estimated and paid, ÷ members) with
the line, village by village. It never decides anything about a household: every answer carries
the sentence that says so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import access, audit, household_categories, places, storage, yearly_income
from service.access import Principal
from service.clock import today_local, utcnow
from service.errors import Coded, Forbidden, ValidationFailed

NOT_A_DECISION = "本页数据仅反映消费帮扶带来的收益，不作为脱贫退出或监测识别的依据。"
PROVINCE_CODE = re.compile(r"^\d{2}$")
FIRST_YEAR = 2014
LAST_YEAR = 2100
MAX_LINE_FEN = 100_000_000  # one million yuan a person: anything above is a typo
# The categories compared with the line.
CATEGORY_LABELS = {"exited": "脱贫户", "monitored": "监测对象"}
# What the category history needs of a household (service/household_categories.py).
_CATEGORY_FIELDS = ("status", "categories", "registered_on")


def category_of(household: Mapping[str, Any], year: int) -> str | None:
    """The household's category for the line in ``year`` (exited / monitored), None when neither
    (一般农户): the one that held on the year's last day, or today while the year runs."""
    day = min(date(year, 12, 31), today_local())
    category = household_categories.category_at(household_categories.history_of(household), day)
    if household_categories.is_monitored(category):
        return "monitored"
    return "exited" if category == "exited" else None


def _bad(code: str, message: str, field: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(Coded(code, message, **params), details={field: [Coded(code, message, **params)]})


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        message = f"A year from {FIRST_YEAR} to {LAST_YEAR}."
        raise _bad("income_line.bad_year", message, "year", first=FIRST_YEAR)


def _check(province_code: str, year: int) -> None:
    if not PROVINCE_CODE.match(province_code or ""):
        raise _bad("income_line.bad_province", "A province is its 2-digit code, e.g. 34.", "province_code")
    _check_year(year)


def _provinces_of(actor: Principal) -> set[str] | None:
    """The provinces whose lines staff read (None: every one, for admins)."""
    if not actor.is_staff:
        raise Forbidden(Coded("income_line.staff_only", "Only county staff and admins see income lines."))
    if actor.is_admin:
        return None
    return {county[:2] for county in actor.county_codes}


def present(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: line.get(name)
        for name in ("province_code", "year", "amount_fen", "note", "updated_at", "updated_by")
    }


def list_lines(db: Database, actor: Principal, year: int | None = None) -> list[dict[str, Any]]:
    """Lines of the caller's provinces (admins: all), newest year first."""
    provinces = _provinces_of(actor)
    query: dict[str, Any] = {}
    if provinces is not None:
        query["province_code"] = {"$in": sorted(provinces)}
    if year is not None:
        query["year"] = int(year)
    found = db[storage.INCOME_LINES].find(query).sort([("year", -1), ("province_code", 1)])
    return [present(line) for line in found]


def line_for(db: Database, province_code: str, year: int) -> dict[str, Any] | None:
    line = db[storage.INCOME_LINES].find_one({"province_code": province_code, "year": int(year)})
    return present(line) if line else None


def set_line(
    db: Database, actor: Principal, province_code: str, year: int, amount_fen: int, note: str | None = None
) -> dict[str, Any]:
    """Set a province's line for a year (admins only: every county of the province reads it); audited."""
    if not actor.is_admin:
        raise Forbidden(
            Coded(
                "income_line.admin_only", "Only admins set a province's income line (its counties share it)."
            )
        )
    _check(province_code, year)
    if not 0 < int(amount_fen) <= MAX_LINE_FEN:
        raise _bad(
            "income_line.bad_amount",
            f"A line is more than 0 and at most {MAX_LINE_FEN // 100} yuan a person.",
            "amount_fen",
            most=MAX_LINE_FEN // 100,
        )
    key = {"province_code": province_code, "year": int(year)}
    fields = {
        "amount_fen": int(amount_fen),
        "note": note,
        "updated_at": utcnow(),
        "updated_by": actor.as_actor(),
    }
    collection = db[storage.INCOME_LINES]
    before = collection.find_one(key)
    try:
        collection.update_one(key, {"$set": fields}, upsert=True)
    except DuplicateKeyError:  # another request created it at the same moment: set it over that one
        collection.update_one(key, {"$set": fields})
    after = collection.find_one(key)
    audit.record(
        db,
        actor,
        "income_line.set",
        entity_kind="income_line",
        entity_id=f"{province_code}-{year}",
        before=present(before) if before else None,
        after=present(after),
    )
    return present(after)


# Progress against the line ------------------------------------------------------------------------


def _per_capita(fen: int, members: int) -> int:
    """Per person, in whole fen (rounded down: a household never looks above the line by rounding)."""
    return fen // members if members > 0 else fen


def _reaches(fen: int, members: int, line_fen: int | None) -> bool | None:
    """Income ≥ line × members, compared in whole fen (no division, so no rounding)."""
    if line_fen is None:
        return None
    return fen >= line_fen * max(members, 1)


def progress(db: Database, actor: Principal, county_code: str, year: int) -> dict[str, Any]:
    """Each 脱贫户 and 监测对象 of the county: per-capita income from consumption aid, estimated and
    paid, against the province's line for the year, by village (staff of the county, admins)."""
    _provinces_of(actor)
    access.require_county(actor, county_code)
    _check_year(year)
    line = line_for(db, county_code[:2], year)
    line_fen = line["amount_fen"] if line else None
    shown = ("household_no", "head_name", "village_code", "township_code", "members", *_CATEGORY_FIELDS)
    register = db[storage.HOUSEHOLDS].find({"county_code": county_code}, {name: 1 for name in shown})
    chosen = [(household, category_of(household, year)) for household in register]
    chosen = [(household, category) for household, category in chosen if category]
    incomes = yearly_income.year_income(db, (household["_id"] for household, _ in chosen), year)
    by_village: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for household, category in chosen:
        income = incomes.get(household["_id"], yearly_income.YearIncome())
        members = int(household.get("members") or 0)
        by_village[household.get("village_code") or ""].append(
            {
                "household_id": household["_id"],
                "household_no": household.get("household_no"),
                "head_name": household.get("head_name"),
                "members": members,
                "category": category,
                "category_label": CATEGORY_LABELS[category],
                "estimated_fen": income.estimated_fen,
                "paid_fen": income.paid_fen,
                "per_capita_estimated_fen": _per_capita(income.estimated_fen, members),
                "per_capita_paid_fen": _per_capita(income.paid_fen, members),
                "estimated_reaches_line": _reaches(income.estimated_fen, members, line_fen),
                "paid_reaches_line": _reaches(income.paid_fen, members, line_fen),
            }
        )
    known = places.names(db, [*by_village, *(code[:9] for code in by_village)])
    villages = []
    for village_code in sorted(by_village):
        rows = sorted(
            by_village[village_code], key=lambda row: (row["household_no"] or "", str(row["household_id"]))
        )
        villages.append(
            {
                "village_code": village_code,
                "village_name": known.get(village_code),
                "township_name": known.get(village_code[:9]),
                "households": len(rows),
                "members": sum(row["members"] for row in rows),
                "estimated_fen": sum(row["estimated_fen"] for row in rows),
                "paid_fen": sum(row["paid_fen"] for row in rows),
                "estimated_reaching": sum(1 for row in rows if row["estimated_reaches_line"]),
                "paid_reaching": sum(1 for row in rows if row["paid_reaches_line"]),
                "items": rows,
            }
        )
    return {
        "county_code": county_code,
        "province_code": county_code[:2],
        "year": year,
        "line": line,
        "notice": NOT_A_DECISION,
        "category_labels": CATEGORY_LABELS,
        "villages": villages,
    }
