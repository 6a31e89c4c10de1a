"""A canteen's mode and place among units as the 832 system counts them (食堂情况与主管预算单位).

- ``mode``: own (自有食堂), shared (合用食堂: one unit reports for the others, ``shared_unit_ids``
  on the reporting canteen), outsourced (外包食堂: the unit still reserves, its ``contractor`` buys),
  or none (无食堂: no quota). What each mode means for the share is ``canteen_quota.exemption``.
- ``parent_id``: the supervising budget unit (主管预算单位), itself a canteen unit of the same
  county; it sees and adds up its subordinates' plans and progress (``service.canteen_rollups``).

The relations live on one side only (the reporter lists its units, a subordinate names its
parent), so there is nothing to keep in step; this module checks a change against them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import storage
from service.canteen_quota import MODES, OUTSOURCED, OWN, SHARED
from service.errors import Coded, ValidationFailed

MAX_CONTRACTOR_LENGTH = 100
MAX_SHARED_UNITS = 50


def mode_of(canteen: Mapping[str, Any]) -> str:
    """The canteen's mode; canteens stored before modes have their own."""
    return canteen.get("mode") or OWN


def _refused(field: str, code: str, message: str, **params: Any) -> ValidationFailed:
    coded = Coded(code, message, **params)
    return ValidationFailed(coded, details={field: [coded]})


def reporters_of(db: Database, unit_ids: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """For each unit another canteen reports for (合并填报), that reporting canteen, in one query."""
    ids = sorted(set(unit_ids))
    if not ids:
        return {}
    found: dict[ObjectId, dict[str, Any]] = {}
    for reporter in db[storage.CANTEENS].find(
        {"shared_unit_ids": {"$in": ids}, "mode": SHARED}, {"name": 1, "shared_unit_ids": 1}
    ):
        for unit_id in reporter["shared_unit_ids"]:
            if unit_id in ids:
                found[unit_id] = reporter
    return found


def _check_shared_units(db: Database, canteen: Mapping[str, Any], unit_ids: list[ObjectId]) -> None:
    if len(unit_ids) > MAX_SHARED_UNITS or len(set(unit_ids)) != len(unit_ids):
        raise _refused(
            "shared_unit_ids",
            "canteen.shared_units_list",
            f"List each unit once, at most {MAX_SHARED_UNITS}.",
            most=MAX_SHARED_UNITS,
        )
    if canteen["_id"] in unit_ids:
        raise _refused(
            "shared_unit_ids", "canteen.shared_with_itself", "A canteen does not report for itself."
        )
    units = list(
        db[storage.CANTEENS].find(
            {"_id": {"$in": unit_ids}, "county_code": canteen["county_code"]}, {"shared_unit_ids": 1}
        )
    )
    if len(units) != len(unit_ids):
        raise _refused(
            "shared_unit_ids",
            "canteen.shared_unit_unknown",
            "Each unit must be a canteen unit of the same county.",
        )
    if any(unit.get("shared_unit_ids") for unit in units):
        raise _refused(
            "shared_unit_ids",
            "canteen.shared_unit_reports",
            "A unit that reports for others cannot itself be reported for.",
        )
    others = {
        unit_id: reporter
        for unit_id, reporter in reporters_of(db, unit_ids).items()
        if reporter["_id"] != canteen["_id"]
    }
    if others:
        reporter = next(iter(others.values()))
        raise _refused(
            "shared_unit_ids",
            "canteen.shared_unit_taken",
            f"{reporter['name']} already reports for one of these units.",
            reporter=reporter["name"],
        )
    if reporters_of(db, [canteen["_id"]]):
        raise _refused(
            "shared_unit_ids",
            "canteen.reported_unit_reports",
            "This unit is reported for by another canteen, so it cannot report for others.",
        )


def _check_parent(db: Database, canteen: Mapping[str, Any], parent_id: ObjectId) -> None:
    """The supervising unit is a canteen unit of the same county, and never below the unit itself."""
    seen = {canteen["_id"]}
    current: ObjectId | None = parent_id
    while current is not None:
        if current in seen:
            raise _refused(
                "parent_id",
                "canteen.parent_cycle",
                "A unit cannot be supervised by itself or by a unit below it.",
            )
        seen.add(current)
        parent = db[storage.CANTEENS].find_one({"_id": current}, {"county_code": 1, "parent_id": 1})
        if parent is None or parent["county_code"] != canteen["county_code"]:
            raise _refused(
                "parent_id",
                "canteen.parent_unknown",
                "The supervising unit must be a canteen unit of the same county.",
            )
        current = parent.get("parent_id")


def checked_changes(db: Database, canteen: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The mode, shared units, contractor and parent of a change, checked against the stored units.

    Leaving the shared mode drops the units reported for; the contractor is kept only when outsourced.
    """
    checked = dict(changes)
    mode = checked.get("mode", mode_of(canteen))
    if mode not in MODES:
        raise _refused("mode", "canteen.unknown_mode", f"Unknown mode {mode!r}.", mode=mode)
    if "shared_unit_ids" in checked:
        unit_ids = list(checked["shared_unit_ids"] or [])
        if unit_ids and mode != SHARED:
            raise _refused(
                "shared_unit_ids",
                "canteen.shared_units_need_shared_mode",
                "Only a shared canteen (mode shared) reports for other units.",
            )
        if unit_ids:
            _check_shared_units(db, canteen, unit_ids)
        checked["shared_unit_ids"] = unit_ids
    elif mode != SHARED and canteen.get("shared_unit_ids"):
        checked["shared_unit_ids"] = []
    if "contractor" in checked:
        contractor = (checked["contractor"] or "").strip() or None
        if contractor is not None and len(contractor) > MAX_CONTRACTOR_LENGTH:
            raise _refused(
                "contractor",
                "field.length_max",
                f"At most {MAX_CONTRACTOR_LENGTH} characters.",
                max=MAX_CONTRACTOR_LENGTH,
            )
        checked["contractor"] = contractor
    if mode != OUTSOURCED:
        if checked.get("contractor"):
            raise _refused(
                "contractor",
                "canteen.contractor_needs_outsourced",
                "Only an outsourced canteen (mode outsourced) has a contractor.",
            )
        if canteen.get("contractor"):
            checked["contractor"] = None
    if checked.get("parent_id") is not None:
        _check_parent(db, canteen, checked["parent_id"])
    return checked
