"""Reading the sales ledger: lines listed page by key, and a line's replaced versions, scoped to what the
caller may see."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, ledger_rebuilds, reconcile, sale_versions, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.errors import Coded, Forbidden, NotFound


def _scope_query(actor: Principal, county_code: str | None) -> dict[str, Any]:
    if actor.role == ENTERPRISE:
        return {"operator_id": actor.operator_id}
    if actor.role == CANTEEN:
        return {"buyer.unit_id": actor.canteen_id}
    if county_code is not None:
        access.require_county(actor, county_code)
        return {"county_code": county_code}
    return access.county_filter(actor)


def list_sales(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    channel: str | None = None,
    month: str | None = None,
    operator_id: ObjectId | None = None,
    product_id: ObjectId | None = None,
    matched: bool | None = None,
    certified: bool | None = None,
    after: ObjectId | None = None,
    per_page: int = 50,
) -> dict[str, Any]:
    """Newest first, paged by key (``after`` = the last id seen), never by counting millions of rows."""
    query = _scope_query(actor, county_code)
    for name, value in (
        ("channel", channel),
        ("month", month),
        ("operator_id", operator_id),
        ("product_id", product_id),
        ("matched", matched),
        ("certified", certified),
    ):
        if value is not None and name not in query:
            query[name] = value
    if after is not None:
        query["_id"] = {"$lt": after}
    items = list(db[storage.SALES].find(query).sort("_id", -1).limit(per_page + 1))
    has_more = len(items) > per_page
    items = items[:per_page]
    return {"items": items, "next_after": items[-1]["_id"] if has_more else None}


def get_sale(db: Database, actor: Principal, sale_id: ObjectId) -> dict[str, Any]:
    """One line the caller may see; another tenant's line answers exactly as a missing one."""
    line = db[storage.SALES].find_one({"_id": sale_id, **_scope_query(actor, None)})
    if line is None:
        raise NotFound(Coded("sale.not_found", "No such sale line."))
    return line


def sale_versions_of(db: Database, actor: Principal, sale_id: ObjectId) -> dict[str, Any]:
    """The line as it is now and the versions re-imports replaced, newest first."""
    line = get_sale(db, actor, sale_id)
    return {"sale": line, "versions": sale_versions.history(db, line, _scope_query(actor, None))}


def _staff_counties(actor: Principal, county_code: str | None) -> list[str] | None:
    if not actor.is_staff:
        raise Forbidden(
            Coded("sale.staff_only", "Only county staff and admins may rebuild or verify the ledger.")
        )
    return access.restrict_counties(actor, [county_code] if county_code else None)


def rebuild(db: Database, actor: Principal, county_code: str | None = None) -> dict[str, Any]:
    """Recompute the dirty county-months of the caller's counties now."""
    rebuilt = ledger_rebuilds.rebuild(db, _staff_counties(actor, county_code))
    return {"rebuilt": [{"county_code": county, "month": month} for county, month, _ in rebuilt]}


def verify(
    db: Database, actor: Principal, county_code: str | None, from_month: str | None, to_month: str | None
) -> dict[str, Any]:
    counties = _staff_counties(actor, county_code)
    checked, differences = reconcile.verify(db, counties, from_month, to_month)
    # The outside figures (账实相符) beside the ledger's own checks (账账相符).
    differences += reconcile.verify_control_totals(db, counties, from_month, to_month)[1]
    return {
        "partitions_checked": checked,
        "differences": [
            {
                "county_code": d.county_code,
                "month": d.month,
                "what": d.what,
                "stored": d.stored,
                "expected": d.expected,
            }
            for d in differences
        ],
    }
