"""A household's income statement (收益明白卡): one page per household and year, and its verification code.

The figures are those of the household's income (service/income_explanation.py) for January to
December. Each printed statement carries a short code, a keyed hash of the household, the year and
the figures; staff type the code to load the figures again, and learn whether they changed since
the page was printed (superseded). A code is kept with the figures it was printed with, in
``statements``, keyed by the code itself so every worker may print the same page at once.
Statements are for county staff and admins: they hand them to households.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from flask import current_app
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import access, income_explanation, pii, places, storage, yearly_income
from service import households as household_records
from service.access import Principal
from service.clock import today_local, utcnow
from service.errors import Coded, Forbidden, NotFound, ValidationFailed

CODE_LENGTH = 10
# Base32's alphabet, so a code read aloud or typed has no 0/O or 1/I to confuse.
CODE_PATTERN = re.compile(rf"^[A-Z2-7]{{{CODE_LENGTH}}}$")
FIRST_YEAR = 2014  # the register (建档立卡) began in 2014
LAST_YEAR = 2100
NOT_YOURS = Coded("statement.not_in_scope", "No statement of yours has this code.")


def _require_staff(actor: Principal) -> None:
    if not actor.is_staff:
        raise Forbidden(
            Coded("statement.staff_only", "Only county staff and admins print and check income statements.")
        )


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationFailed(
            Coded("statement.bad_year", f"A year from {FIRST_YEAR} to {LAST_YEAR}.", first=FIRST_YEAR),
            details={"year": [Coded("statement.bad_year", "A year such as 2020.", first=FIRST_YEAR)]},
        )


# The code --------------------------------------------------------------------------------------


def figures_of(household_id: ObjectId, year: int, income: Mapping[str, Any]) -> dict[str, Any]:
    """What a code vouches for: the household, the year, each share with its working, the totals."""
    return {
        "household_id": str(household_id),
        "year": year,
        "total_fen": income["total_fen"],
        "paid_fen": income["paid_fen"],
        "shares": [
            [
                item["month"],
                str(item["operator_id"]),
                item["pool_fen"],
                item["weighted"],
                item["total_weighted"],
                item["share_fen"],
            ]
            for item in income["items"]
        ],
    }


def code_of(figures: Mapping[str, Any]) -> str:
    """The first 50 bits of HMAC-SHA256(STATEMENT_CODE_KEY, figures), in base32."""
    key = current_app.config["STATEMENT_CODE_KEY"].encode()
    message = json.dumps(figures, sort_keys=True, separators=(",", ":")).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:CODE_LENGTH]


def grouped(code: str) -> str:
    """ABCDEFGHJK → ABCDE-FGHJK, as printed."""
    return f"{code[:5]}-{code[5:]}"


def normalized_code(text: str) -> str:
    """A typed code in its stored form (case, spaces and dashes ignored), or a coded refusal."""
    code = re.sub(r"[\s\-]", "", str(text or "")).upper()
    if not CODE_PATTERN.match(code):
        raise ValidationFailed(
            Coded("statement.bad_code", "A verification code is 10 letters and digits, e.g. ABCDE-FGH23."),
            details={"code": [Coded("statement.bad_code", "A verification code is 10 letters and digits.")]},
        )
    return code


# One household's statement ------------------------------------------------------------------------


def _statement(db: Database, actor: Principal, household: Mapping[str, Any], year: int) -> dict[str, Any]:
    from_month, to_month = yearly_income.year_months(year)
    income = income_explanation.household_income(
        db, actor, household["_id"], from_month=from_month, to_month=to_month
    )
    figures = figures_of(household["_id"], year, income)
    return {
        "household": _household_view(household),
        "year": year,
        "income": income,
        "figures": figures,
        "code": code_of(figures),
    }


def _household_view(household: Mapping[str, Any]) -> dict[str, Any]:
    """What a statement shows of a household: never the clear ID number, the head's name masked."""
    return {
        "_id": household["_id"],
        "household_no": household.get("household_no"),
        "head_name_masked": pii.mask_name(household.get("head_name")),
        "id_number_masked": household.get("id_number_masked"),
        "members": household.get("members"),
        "status": household.get("status"),
        "county_code": household.get("county_code"),
        "township_code": household.get("township_code"),
        "village_code": household.get("village_code"),
    }


def _with_place_names(db: Database, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = places.names(
        db,
        (s["household"][field] for s in statements for field in ("township_code", "village_code")),
    )
    for statement in statements:
        view = statement["household"]
        view["township_name"] = places.shown(view["township_code"], known)
        view["village_name"] = places.shown(view["village_code"], known)
    return statements


def _remember(db: Database, actor: Principal, statement: Mapping[str, Any]) -> None:
    """Keep the printed code with its figures; printing the same figures again keeps the first print."""
    household = statement["household"]
    now = utcnow()
    update = {
        "$setOnInsert": {
            "household_id": household["_id"],
            "county_code": household["county_code"],
            "year": statement["year"],
            "figures": statement["figures"],
            "printed_at": now,
            "printed_by": actor.as_actor(),
        },
        "$set": {"last_printed_at": now},
    }
    try:
        db[storage.STATEMENTS].update_one({"_id": statement["code"]}, update, upsert=True)
    except DuplicateKeyError:  # another worker inserted the same code first: ours is then an update
        db[storage.STATEMENTS].update_one({"_id": statement["code"]}, {"$set": {"last_printed_at": now}})


def household_statement(db: Database, actor: Principal, household_id: ObjectId, year: int) -> dict[str, Any]:
    """One household's statement for a year, its code remembered (staff of its county, admins)."""
    _require_staff(actor)
    _check_year(year)
    household = household_records.load_visible(db, actor, household_id)
    statement = _with_place_names(db, [_statement(db, actor, household, year)])[0]
    _remember(db, actor, statement)
    return statement


def village_statements(
    db: Database, actor: Principal, county_code: str, village_code: str, year: int
) -> list[dict[str, Any]]:
    """The statements of a village's households with any income in the year, by household number."""
    _require_staff(actor)
    _check_year(year)
    access.require_county(actor, county_code)
    if not (village_code.isdigit() and len(village_code) == 12 and village_code.startswith(county_code)):
        raise NotFound(
            Coded(
                "statement.village_outside_county",
                f"County {county_code} has no village {village_code}.",
                village=village_code,
                county_code=county_code,
            )
        )
    found = list(
        db[storage.HOUSEHOLDS]
        .find({"county_code": county_code, "village_code": village_code})
        .sort([("household_no", 1), ("_id", 1)])
    )
    with_income = yearly_income.year_income(db, (household["_id"] for household in found), year)
    chosen = [household for household in found if household["_id"] in with_income]
    if not chosen:
        raise NotFound(
            Coded(
                "statement.village_without_income",
                f"No household of village {village_code} has consumption-aid income in {year}.",
                village=village_code,
                year=year,
            )
        )
    statements = _with_place_names(db, [_statement(db, actor, household, year) for household in chosen])
    for statement in statements:
        _remember(db, actor, statement)
    return statements


# Checking a code --------------------------------------------------------------------------------


def verify_code(db: Database, actor: Principal, text: str) -> dict[str, Any]:
    """The figures a code was printed with, the same household's figures now, and whether they differ.

    A code of another county answers as an unknown one does (admins: 404).
    """
    _require_staff(actor)
    code = normalized_code(text)
    printed = db[storage.STATEMENTS].find_one({"_id": code, **access.county_filter(actor)})
    if printed is None:
        raise NotFound(NOT_YOURS) if actor.is_admin else Forbidden(NOT_YOURS)
    household = household_records.load_visible(db, actor, printed["household_id"])
    now = _with_place_names(db, [_statement(db, actor, household, printed["year"])])[0]
    then = printed["figures"]
    return {
        "code": code,
        "code_grouped": grouped(code),
        "household": now["household"],
        "year": printed["year"],
        "printed_at": printed["printed_at"],
        "superseded": now["code"] != code,
        "printed": {
            "total_fen": then["total_fen"],
            "paid_fen": then["paid_fen"],
            "shares": len(then["shares"]),
        },
        "current": {
            "total_fen": now["income"]["total_fen"],
            "paid_fen": now["income"]["paid_fen"],
            "shares": len(now["figures"]["shares"]),
            "code": now["code"],
            "code_grouped": grouped(now["code"]),
        },
    }


def printed_on() -> str:
    today = today_local()
    return f"{today.year}年{today.month}月{today.day}日"
