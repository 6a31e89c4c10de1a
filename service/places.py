"""The place register: townships (乡镇/街道) and villages (村/社区) under their statistical codes.

The one home of "the name of a code": pages, downloads and API answers ask :func:`names` (one query
for many codes) and show a code without a name as the code itself, while :func:`unnamed_codes` lists
the codes households use that have no name yet, for staff to fill in.

Staff import their county's part of the national statistical division-code file (统计用区划代码,
名称, 城乡分类代码), xlsx or CSV, through the register runner. A township's 12-digit code ends in
000 and is kept under its first 9 digits, as households keep their township; a village keeps all 12.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import IO, Any

from pymongo import ReturnDocument
from pymongo.database import Database

from adapters import tabular
from service import access, audit, registers, storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Coded, Forbidden, ValidationFailed

TOWNSHIP = "township"
VILLAGE = "village"
LEVELS = (TOWNSHIP, VILLAGE)
# 城乡分类代码 (统计上划分城乡的规定): the class of a village-level place.
URBAN_RURAL_CLASSES = {
    "111": "主城区",
    "112": "城乡结合区",
    "121": "镇中心区",
    "122": "镇乡结合区",
    "123": "特殊区域",
    "210": "乡中心区",
    "220": "村庄",
}
MAX_NAME_LENGTH = 60
COUNTY_CODE = re.compile(r"^\d{6}$")
STATISTICAL_CODE = re.compile(r"^\d{12}$")
PLACE_CODE_DIGITS = r"\d{9}|\d{12}"  # a township's code, or a village's
PLACE_CODE = re.compile(rf"^({PLACE_CODE_DIGITS})$")

# The national file's columns and the fields they fill.
COLUMNS = {"statistical_code": "统计用区划代码", "name": "名称", "urban_rural_code": "城乡分类代码"}
REQUIRED_COLUMNS = ("统计用区划代码", "名称")
_VISIBLE_FIELDS = (
    "_id",
    "code",
    "statistical_code",
    "level",
    "county_code",
    "township_code",
    "name",
    "urban_rural_code",
    "version",
    "created_at",
    "updated_at",
)


def place_of(statistical_code: str) -> tuple[str, str] | None:
    """(level, code) of a 12-digit statistical code; None for a county or anything above it."""
    if statistical_code[6:] == "000000":
        return None
    if statistical_code[9:] == "000":
        return TOWNSHIP, statistical_code[:9]
    return VILLAGE, statistical_code


def statistical_code_of(code: str) -> str:
    """The 12-digit statistical code of a place code (a township's 9 digits padded with 000)."""
    return code if len(code) == 12 else code + "000"


# Names ------------------------------------------------------------------------------------------


def names(db: Database, codes: Iterable[str | None]) -> dict[str, str]:
    """The names of township (9-digit) and village (12-digit) codes, in one query; unknown ones absent."""
    wanted = sorted({code for code in codes if isinstance(code, str) and PLACE_CODE.match(code)})
    if not wanted:
        return {}
    found = db[storage.PLACES].find({"code": {"$in": wanted}}, {"code": 1, "name": 1})
    return {place["code"]: place["name"] for place in found}


def shown(code: str | None, known: Mapping[str, str]) -> str | None:
    """How a code reads to people: its name, or the code itself when it has none yet."""
    return known.get(code, code) if code else code


def with_names(db: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows carrying township_code / village_code, each given township_name / village_name (None: no name)."""
    known = names(db, (row.get(field) for row in rows for field in ("township_code", "village_code")))
    for row in rows:
        if "township_code" in row:
            row["township_name"] = known.get(row["township_code"])
        if "village_code" in row:
            row["village_name"] = known.get(row["village_code"])
    return rows


# Reading ----------------------------------------------------------------------------------------


def _require_staff_of(actor: Principal, county_code: str) -> None:
    """Staff of the county (or an admin); another county and a malformed one answer alike."""
    if not actor.is_staff:
        raise Forbidden("Only county staff and admins keep the place register.", code="place.staff_only")
    access.require_county(actor, county_code)


def present(place: Mapping[str, Any]) -> dict[str, Any]:
    return {name: place.get(name) for name in _VISIBLE_FIELDS}


def list_places(
    db: Database,
    actor: Principal,
    county_code: str,
    *,
    level: str | None = None,
    township_code: str | None = None,
    page: int = 1,
    per_page: int = 200,
) -> tuple[list[dict[str, Any]], int]:
    """A county's townships and villages in code order (a township before its villages)."""
    _require_staff_of(actor, county_code)
    query: dict[str, Any] = {"county_code": county_code}
    if level is not None:
        query["level"] = level
    if township_code is not None:
        query["township_code"] = township_code
    found, total = storage.page_of(db[storage.PLACES], query, [("statistical_code", 1)], page, per_page)
    return [present(place) for place in found], total


def household_counts(db: Database, county_code: str) -> dict[str, dict[str, Any]]:
    """Households and people per village of a county's register (codes as the households hold them)."""
    pipeline = [
        {"$match": {"county_code": county_code}},
        {
            "$group": {
                "_id": "$village_code",
                "township_code": {"$first": "$township_code"},
                "households": {"$sum": 1},
                "people": {"$sum": "$members"},
            }
        },
        {"$sort": {"_id": 1}},
    ]
    return {row["_id"]: row for row in storage.aggregate(db[storage.HOUSEHOLDS], pipeline) if row["_id"]}


def overview(db: Database, actor: Principal, county_code: str) -> dict[str, Any]:
    """A county's townships, each with its villages, households and people, names where known.

    Codes households use but the register lacks appear too, named by their code.
    """
    _require_staff_of(actor, county_code)
    counts = household_counts(db, county_code)
    places = {place["code"]: place for place in db[storage.PLACES].find({"county_code": county_code})}
    townships: dict[str, dict[str, Any]] = {}

    def township(code: str) -> dict[str, Any]:
        if code not in townships:
            place = places.get(code, {})
            townships[code] = {"code": code, "name": place.get("name"), "villages": []}
            townships[code].update(households=0, people=0)
        return townships[code]

    village_codes = sorted(
        {code for code, place in places.items() if place["level"] == VILLAGE} | set(counts)
    )
    for code in sorted(code for code, place in places.items() if place["level"] == TOWNSHIP):
        township(code)
    for code in village_codes:
        count = counts.get(code, {})
        place = places.get(code, {})
        village = {
            "code": code,
            "name": place.get("name"),
            "urban_rural_code": place.get("urban_rural_code"),
            "households": count.get("households", 0),
            "people": count.get("people", 0),
        }
        owner = township(code[:9])
        owner["villages"].append(village)
        owner["households"] += village["households"]
        owner["people"] += village["people"]
    return {"county_code": county_code, "townships": [townships[code] for code in sorted(townships)]}


def unnamed_codes(db: Database, actor: Principal, county_code: str) -> list[dict[str, Any]]:
    """Township and village codes the county's households use that have no name in the register."""
    found = overview(db, actor, county_code)
    missing = []
    for township in found["townships"]:
        if township["name"] is None:
            missing.append(
                {"code": township["code"], "level": TOWNSHIP, "households": township["households"]}
            )
        missing.extend(
            {"code": village["code"], "level": VILLAGE, "households": village["households"]}
            for village in township["villages"]
            if village["name"] is None
        )
    return missing


# Writing ----------------------------------------------------------------------------------------


def _validated(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A place's fields from a statistical code, a name and an urban-rural class, and the problems."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    raw = str(data.get("statistical_code") or "").strip()
    if not STATISTICAL_CODE.match(raw):
        errors["statistical_code"] = Coded(
            "place.bad_code", "A statistical code (统计用区划代码) is 12 digits.", value=raw
        )
    else:
        place = place_of(raw)
        if place is None:
            errors["statistical_code"] = Coded(
                "place.not_township_or_village",
                f"{raw} is a county or a larger division, not a township or a village.",
                value=raw,
            )
        else:
            level, code = place
            fields.update(
                code=code,
                statistical_code=raw,
                level=level,
                county_code=raw[:6],
                township_code=raw[:9],
            )
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = Coded("place.name_required", "The name (名称) is required.")
    elif len(name) > MAX_NAME_LENGTH:
        errors["name"] = Coded(
            "place.name_too_long", f"A name has at most {MAX_NAME_LENGTH} characters.", limit=MAX_NAME_LENGTH
        )
    fields["name"] = name
    urban_rural = str(data.get("urban_rural_code") or "").strip() or None
    if urban_rural is not None and urban_rural not in URBAN_RURAL_CLASSES:
        errors["urban_rural_code"] = Coded(
            "place.bad_urban_rural_code",
            "The urban-rural class (城乡分类代码) is one of " + ", ".join(URBAN_RURAL_CLASSES) + ".",
            value=urban_rural,
        )
    elif urban_rural is not None and fields.get("level") == TOWNSHIP:
        errors["urban_rural_code"] = Coded(
            "place.township_has_no_class", "A township has no urban-rural class; leave it empty."
        )
    fields["urban_rural_code"] = urban_rural
    return fields, errors


def _outside(county_code: str) -> Coded:
    return Coded(
        "place.outside_county",
        f"The place is not in county {county_code}, the county of this register.",
        county_code=county_code,
    )


def save_place(
    db: Database,
    actor: Principal,
    county_code: str,
    *,
    code: str,
    name: str,
    urban_rural_code: str | None = None,
) -> dict[str, Any]:
    """Name one township or village (a code the households use, say); creates or renames, audited."""
    _require_staff_of(actor, county_code)
    fields, errors = _validated(
        {"statistical_code": statistical_code_of(code), "name": name, "urban_rural_code": urban_rural_code}
    )
    if not errors and fields["county_code"] != county_code:
        errors["code"] = _outside(county_code)
    if errors:
        details = {("code" if key == "statistical_code" else key): [value] for key, value in errors.items()}
        raise ValidationFailed(next(iter(errors.values())), details=details)
    now = utcnow()
    before = db[storage.PLACES].find_one({"county_code": county_code, "code": fields["code"]})
    after = db[storage.PLACES].find_one_and_update(
        {"county_code": county_code, "code": fields["code"]},
        {
            "$set": {**fields, "updated_at": now},
            "$inc": {"version": 1},
            "$setOnInsert": {"created_at": now},
        },
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    audit.record(
        db,
        actor,
        "place.update" if before else "place.create",
        entity_kind="place",
        entity_id=after["_id"],
        county_code=county_code,
        before=before,
        after=after,
    )
    return present(after)


def import_places(
    db: Database,
    actor: Principal,
    county_code: str,
    stream: IO[bytes],
    filename: str = "",
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import the county's part of the national division-code file; rows above the township are skipped.

    Keyed by the code: a re-import renames what changed and leaves the rest as it was.
    """
    _require_staff_of(actor, county_code)
    register = PlaceRegister(actor, county_code)
    return registers.run_import(db, actor, register, stream, filename, dry_run=dry_run).as_dict()


class PlaceRegister(registers.Register):
    """The place register's import: keyed by code, within one county."""

    collection = storage.PLACES
    entity_kind = "place"
    columns = COLUMNS
    required = REQUIRED_COLUMNS
    key_field = "statistical_code"
    duplicate_message = "Also on row {row} of this file."

    def __init__(self, actor: Principal, county_code: str):
        super().__init__(actor)
        self.county_code = county_code

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
        data = {name: row.get(column) for name, column in COLUMNS.items()}
        raw = str(data["statistical_code"]).strip()
        if COLUMNS["statistical_code"] in row.imprecise:
            return data, {
                "statistical_code": Coded(
                    "place.code_lost_digits",
                    "Excel stored this code as a number and lost its last digits; "
                    "format the column as text and enter it again.",
                )
            }
        if STATISTICAL_CODE.match(raw) and place_of(raw) is None:
            return {"above_township": True}, {}
        return _validated(data)

    def skip_row(self, data: Mapping[str, Any]) -> bool:
        return bool(data.get("above_township"))

    def check(self, data: dict[str, Any]) -> dict[str, str]:
        if data["county_code"] != self.county_code:
            return {"statistical_code": _outside(self.county_code)}
        return {}

    def key(self, data: Mapping[str, Any]) -> str:
        return data["code"]

    def stored_key(self, document: Mapping[str, Any]) -> str:
        return document["code"]

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"county_code": self.county_code, "code": {"$in": [data["code"] for data in rows]}}

    def diff(
        self, row_number: int, stored: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if stored is None:
            return {}, {}
        compared = ("name", "urban_rural_code")
        return {name: data[name] for name in compared if stored.get(name) != data[name]}, {}

    def build(self, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        return dict(data)

    def summary_county(self) -> str | None:
        return self.county_code


# The demo county --------------------------------------------------------------------------------

_VILLAGE_NAMES = (
    "桂花", "新民", "团结", "胜利", "白云", "红星", "双河", "青山", "龙潭", "杨湾", "三元", "长岭",
    "金塘", "柳林", "石桥", "大井", "花园", "光明", "永安", "高峰", "莲塘", "双龙", "新庄", "松山",
)  # fmt: skip


def demo_register(
    county_code: str, county_name: str, townships: Iterable[tuple[str, str]], villages_per_township: int
) -> bytes:
    """A county's division-code file as the statistics bureau publishes it (UTF-8 CSV): the county,
    its townships (``(3-digit code, name)``) and villages numbered from 200, with plausible names."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["统计用区划代码", "名称", "城乡分类代码"])
    writer.writerow([f"{county_code}000000", county_name, ""])
    for index, (code, name) in enumerate(townships):
        writer.writerow([f"{county_code}{code}000", name, ""])
        for number in range(villages_per_township):
            village = _VILLAGE_NAMES[(index * 5 + number * 7) % len(_VILLAGE_NAMES)]
            kind = "社区居委会" if number == 0 else "村委会"
            urban_rural = "121" if number == 0 else "220"
            writer.writerow([f"{county_code}{code}{200 + number:03d}", f"{village}{kind}", urban_rural])
    return text.getvalue().encode("utf-8")
