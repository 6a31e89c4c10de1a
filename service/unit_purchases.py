"""Unit purchases (单位采购): a buying unit's purchases and helped sales, logged one by one or imported,
and handed to the sales ledger.

Each purchase is kept twice, as canteen purchases are: the unit's own record in ``unit_purchases``,
unique per (unit_id, order_id), and a ledger ``SaleLine`` of channel ``unit_purchase`` — except a helped
sale a channel already brought into the ledger, which is recorded and flagged ``double_counted``
(``service.unit_purchase_checks`` says how a purchase becomes its line).

The write order that never counts a purchase twice (claim, ledger, recorded) is
``service.purchase_ledger``'s. Records are never edited. A file is imported by
``service.unit_purchase_upload``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import access, audit, buying_units, purchase_ledger, storage
from service.access import Principal
from service.errors import Coded, Conflict, Forbidden, NotFound, invalid_fields
from service.purchase_ledger import RECORDED, resumable
from service.unit_purchase_checks import Lookups, Prepared, prepare
from service.unit_purchase_inputs import from_api

ALREADY_LOGGED = Coded("unit_purchase.order_used", "Already logged for this unit.")
# Ledger error fields, as this module's fields.
_LEDGER_FIELDS = {"occurred_at": "date", "external_id": "order_id"}


def order_logged(existing: Mapping[str, Any]) -> Coded:
    return Coded(
        "unit_purchase.duplicate_order",
        f"Order {existing['order_id']} is already logged for this unit "
        f"(dated {existing['date']}, {existing['amount_fen']} fen).",
        order_id=existing["order_id"],
        date=existing["date"],
        amount_fen=existing["amount_fen"],
    )


def ledger_problem(item: Prepared, error: Mapping[str, Any]) -> tuple[str, Coded]:
    return purchase_ledger.ledger_problem(error, _LEDGER_FIELDS, "order_id", item.purchase.product_field)


# Logging one ------------------------------------------------------------------------------------------


def unit_for_log(db: Database, actor: Principal, unit_id: ObjectId) -> dict[str, Any]:
    """The unit a purchase is logged for; a refusal names the field (missing and not yours alike)."""
    try:
        return buying_units.visible_unit(db, actor, unit_id)
    except (Forbidden, NotFound) as error:
        error.details = {"unit_id": [buying_units.UNIT_NOT_IN_SCOPE]}
        raise


def log_purchase(
    db: Database, actor: Principal, data: Mapping[str, Any], *, rebuild: bool = True
) -> dict[str, Any]:
    """Log one purchase or helped sale of a unit and hand it to the ledger; 409 on a known order id."""
    unit = unit_for_log(db, actor, data["unit_id"])
    purchase = from_api(data)
    lookups = Lookups(db, actor, unit["county_code"])
    lookups.load([purchase])
    item, errors = prepare(purchase, lookups, actor, source={"kind": "api"})
    collection = db[storage.UNIT_PURCHASES]
    existing = collection.find_one({"unit_id": unit["_id"], "order_id": purchase.order_id})
    resuming = existing is not None and resumable(existing, purchase)
    if existing is not None and not resuming:
        raise Conflict(order_logged(existing), details={"order_id": [ALREADY_LOGGED]})
    if item is None:
        raise invalid_fields(errors)
    taken = Conflict(
        Coded(
            "unit_purchase.order_logged",
            f"Order {purchase.order_id} is already logged for this unit.",
            order_id=purchase.order_id,
        ),
        details={"order_id": [ALREADY_LOGGED]},
    )
    record = purchase_ledger.log_one(
        db,
        collection,
        item,
        existing if resuming else None,
        taken=taken,
        problem=ledger_problem,
        rebuild=rebuild,
    )
    audit.record(
        db,
        actor,
        "unit_purchase.create",
        entity_kind="unit_purchase",
        entity_id=record["_id"],
        county_code=record["county_code"],
        after=record,
    )
    return record


# Reading ----------------------------------------------------------------------------------------------


def list_purchases(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    unit_id: ObjectId | None = None,
    pairing_id: ObjectId | None = None,
    mode: str | None = None,
    from_date: Any = None,
    to_date: Any = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Purchases of the staff member's counties, newest first."""
    conditions = access.staff_conditions(actor, county_code)
    conditions.append({"ledger_status": RECORDED})
    if county_code is not None:
        conditions.append({"county_code": county_code})
    if unit_id is not None:
        buying_units.visible_unit(db, actor, unit_id)
        conditions.append({"unit_id": unit_id})
    if pairing_id is not None:
        conditions.append({"pairing_id": pairing_id})
    if mode is not None:
        conditions.append({"mode": mode})
    if from_date is not None:
        conditions.append({"date": {"$gte": from_date.isoformat()}})
    if to_date is not None:
        conditions.append({"date": {"$lte": to_date.isoformat()}})
    query = {"$and": conditions}
    return storage.page_of(db[storage.UNIT_PURCHASES], query, [("date", -1), ("_id", -1)], page, per_page)
