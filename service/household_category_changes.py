"""A household's category over time (脱贫户, 监测对象, 一般农户): dated changes, and the targeting gaps.

The rules of one entry and of a history are ``service.household_categories``'; this module reads and
changes a stored household's history, and lists the monitored households no benefit link reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, audit, households, places, storage
from service import household_categories as categories
from service.access import Principal
from service.clock import start_of_local_day, today_local, utcnow
from service.errors import PreconditionFailed


def _change_entry(data: Mapping[str, Any]) -> categories.Entry:
    return categories.entry(
        data.get("valid_from"),
        data.get("household_type"),
        data.get("monitoring_category"),
        data.get("identified_on"),
        data.get("risk_removed_on"),
        data.get("removal_method"),
    )


def category_history(db: Database, actor: Principal, household_id: ObjectId) -> dict[str, Any]:
    """A household's categories over time, and the one that holds today."""
    household = households.load_visible(db, actor, household_id)
    history = categories.history_of(household)
    return {
        "_id": household["_id"],
        "registered_on": categories.registered_on(household),
        "recorded": bool(household.get("categories")),
        "category": categories.current_category(history, today_local()),
        "items": categories.readable(history),
        "version": household["version"],
    }


def change_category(
    db: Database, actor: Principal, household_id: ObjectId, expected_version: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Record a dated change of a household's category (in force from ``valid_from``; the same day's
    earlier change is replaced). Days before the household's registration or after today are refused."""
    households.require_staff(actor)
    before = households.load_visible(db, actor, household_id)
    if before["version"] != expected_version:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    item = _change_entry(data)
    households.raise_if(
        categories.check_entry(item, registered=categories.registered_on(before), today=today_local())
    )
    history = categories.with_entry(categories.history_of(before), item)
    update = {
        "categories": history,
        "category": categories.current_category(history, today_local()),
        "updated_at": utcnow(),
    }
    result = db[storage.HOUSEHOLDS].update_one(
        {"_id": household_id, "version": expected_version}, {"$set": update, "$inc": {"version": 1}}
    )
    if result.matched_count == 0:
        raise PreconditionFailed("The household changed since you read it; read it again.")
    after = households.load(db, household_id)
    audit.record(
        db,
        actor,
        "household.category_change",
        entity_kind="household",
        entity_id=household_id,
        county_code=after["county_code"],
        before=before,
        after=after,
    )
    return category_history(db, actor, household_id)


def _monitored_query() -> dict[str, Any]:
    """Households monitored now: by their recorded category, or by their status when none is recorded."""
    legacy = [status for status, (_type, category) in categories.STATUS_STATES.items() if category]
    return {
        "$or": [
            {"category": {"$in": list(categories.MONITORED)}},
            {"category": None, "status": {"$in": legacy}},
        ]
    }


def targeting_gaps(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Monitored households (监测对象) no benefit link reaches today: the targeting gaps (staff)."""
    households.require_staff(actor)
    conditions = [*access.staff_conditions(actor, county_code), _monitored_query()]
    counties = [county_code] if county_code else None if actor.is_admin else list(actor.county_codes)
    if county_code:
        conditions.append({"county_code": county_code})
    start = start_of_local_day(today_local())
    active: list[dict[str, Any]] = [
        {"valid_from": {"$lte": start}},
        {"$or": [{"valid_to": None}, {"valid_to": {"$gt": start}}]},
    ]
    if counties is not None:
        active.append({"household_county_code": {"$in": counties}})
    linked = db[storage.BENEFIT_LINKS].distinct("household_id", {"$and": active})
    conditions.append({"_id": {"$nin": linked}})
    found, total = storage.page_of(
        db[storage.HOUSEHOLDS], {"$and": conditions}, [("household_no", 1)], page, per_page
    )
    return places.with_names(db, [households.present(household, actor) for household in found]), total
