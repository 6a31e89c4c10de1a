"""What a unit clerk (role ``unit``, 采购单位经办人) does: log and import the purchases of its units (its
own and those it supervises), list them, and read their pairings and figures.

The clerk's units are checked here first; the county's purchase functions then run for a principal
of that one county still bound to the unit (``access.for_unit_county``), so the records and the audit
name the clerk, and ``buying_units.visible_unit`` keeps it to its units. A unit that is not the
clerk's answers exactly as a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import IO, Any

from bson import ObjectId
from pymongo.database import Database

from adapters import tabular
from service import access, buyer_reports, buying_units, registers, storage, unit_purchases
from service.access import UNIT, Principal
from service.errors import Coded, Forbidden
from service.purchase_ledger import RECORDED
from service.unit_purchase_inputs import PurchaseInput
from service.unit_purchase_upload import UnitPurchaseRegister


def _own_unit(db: Database, clerk: Principal) -> dict[str, Any]:
    if clerk.role != UNIT or clerk.unit_id is None:
        raise Forbidden(Coded("access.unit_only", "Only a unit clerk acts for its unit."))
    return buying_units.visible_unit(db, clerk, clerk.unit_id)


def clerk_units(db: Database, clerk: Principal) -> list[dict[str, Any]]:
    """The clerk's units, its own first, then those it supervises by name."""
    own = _own_unit(db, clerk)
    ids = buying_units.clerk_unit_ids(db, clerk)[1:]
    others = buying_units.units_by_id(db, ids).values()
    return [own, *sorted(others, key=lambda unit: (unit["name"], unit["_id"]))]


def _acting(db: Database, clerk: Principal) -> Principal:
    return access.for_unit_county(clerk, _own_unit(db, clerk)["county_code"])


def log_purchase(db: Database, clerk: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Log a purchase of one of the clerk's units (its own when none is named)."""
    data = {**data, "unit_id": data.get("unit_id") or clerk.unit_id}
    acting = _acting(db, clerk)
    unit_purchases.unit_for_log(db, acting, data["unit_id"])
    return unit_purchases.log_purchase(db, acting, data)


class ClerkPurchaseRegister(UnitPurchaseRegister):
    """The import of a clerk's file: rows of its units only; an empty unit cell is its own unit."""

    def __init__(self, actor: Principal, county_code: str, filename: str, units: list[dict[str, Any]]):
        super().__init__(actor, county_code, filename)
        self.own_name = units[0]["name"]
        self.unit_ids = {unit["_id"] for unit in units}

    def parse(self, row: tabular.Row) -> tuple[PurchaseInput, dict[str, str]]:
        purchase, errors = super().parse(row)
        if not purchase.unit_name:
            purchase.unit_name = self.own_name
            errors.pop("unit_name", None)
        return purchase, errors

    def check(self, data: PurchaseInput) -> dict[str, str]:
        assert self.lookups is not None
        unit = self.lookups.unit_for(data)
        if unit is None or unit["_id"] not in self.unit_ids:
            name = data.unit_name or ""
            return {
                "unit_name": Coded(
                    "unit_purchase.unknown_unit", f"No buying unit of this county is named {name}.", name=name
                )
            }
        return super().check(data)


def import_purchases(
    db: Database, clerk: Principal, stream: IO[bytes], filename: str = "", *, dry_run: bool = False
) -> dict[str, Any]:
    """Import the clerk's purchases in the template's columns; rows naming other units are refused."""
    units = clerk_units(db, clerk)
    county = units[0]["county_code"]
    acting = access.for_unit_county(clerk, county)
    register = ClerkPurchaseRegister(acting, county, filename, units)
    return registers.run_import(db, acting, register, stream, filename, dry_run=dry_run).as_dict()


def list_purchases(
    db: Database,
    clerk: Principal,
    *,
    unit_id: ObjectId | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """The recorded purchases of the clerk's units (or of one of them), newest first."""
    _own_unit(db, clerk)
    ids = buying_units.clerk_unit_ids(db, clerk)
    if unit_id is not None:
        ids = [buying_units.visible_unit(db, clerk, unit_id)["_id"]]
    query = {"unit_id": {"$in": ids}, "ledger_status": RECORDED}
    return storage.page_of(db[storage.UNIT_PURCHASES], query, [("date", -1), ("_id", -1)], page, per_page)


def get_purchase(db: Database, clerk: Principal, purchase_id: ObjectId) -> dict[str, Any]:
    _own_unit(db, clerk)
    ids = buying_units.clerk_unit_ids(db, clerk)
    found = db[storage.UNIT_PURCHASES].find_one({"_id": purchase_id, "unit_id": {"$in": ids}})
    if found is None:
        raise Forbidden(Coded("unit_purchase.not_in_scope", "No purchase of yours has this id."))
    return found


def unit_pairings(db: Database, clerk: Principal) -> list[dict[str, Any]]:
    """The pairings of the clerk's units, earliest first."""
    _own_unit(db, clerk)
    ids = buying_units.clerk_unit_ids(db, clerk)
    return list(db[storage.PAIRINGS].find({"unit_id": {"$in": ids}}).sort([("valid_from", 1), ("_id", 1)]))


def figures(
    db: Database, clerk: Principal, first: date | None = None, last: date | None = None
) -> dict[str, Any]:
    """The clerk's units' part of the county's buyers report: totals, by pairing and by unit.

    The county's figures are computed as staff see them, then narrowed to the clerk's units, so a unit's
    page and the county's report always agree.
    """
    units = clerk_units(db, clerk)
    ids = {unit["_id"] for unit in units}
    report = buyer_reports.buyers_report(db, _acting(db, clerk), units[0]["county_code"], first, last)
    by_unit = [row for row in report["by_unit"] if row["unit_id"] in ids]
    by_pairing = [row for row in report["by_pairing"] if row["unit_id"] in ids]
    totals = {
        name: sum(row[name] for row in by_unit)
        for name in ("direct_fen", "helped_fen", "total_fen", "double_counted_fen", "lines")
    }
    return {
        "units": units,
        "from_date": report["from_date"],
        "to_date": report["to_date"],
        **totals,
        "by_unit": by_unit,
        "by_pairing": by_pairing,
    }
