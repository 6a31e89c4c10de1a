"""Requests for benefit links across counties (跨县带贫关系申请), approved by the household's county.

An enterprise links a household of its own operator's county directly. A household of another
county is its county's register: the enterprise asks, by household number, and staff of the
household's county approve (the link is then stored) or reject. The request is stored whether or
not the number exists, and the enterprise sees only what it sent and the decision, so asking never
tells it which numbers other counties have registered. Staff never see requests naming no household
of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import audit, benefit_links, link_periods, operators, storage
from service.access import ENTERPRISE, Principal
from service.clock import utcnow
from service.errors import Coded, Conflict, Forbidden, NotFound, PreconditionFailed

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
NOT_IN_SCOPE = Coded("link_request.not_in_scope", "No link request of yours has this id.")
_FIELDS = ("mechanism", "weight", "valid_from", "valid_to")


def present(request: Mapping[str, Any], actor: Principal) -> dict[str, Any]:
    """A request as ``actor`` sees it; an enterprise never learns the household's county or id."""
    view = {
        "_id": request["_id"],
        "operator_id": request["operator_id"],
        "household_no": request["household_no"],
        **{name: request.get(name) for name in _FIELDS},
        "status": request["status"],
        "link_id": request.get("link_id"),
        "decision_reason": request.get("decision_reason"),
        "created_at": request.get("created_at"),
        "decided_at": request.get("decided_at"),
        "version": request["version"],
    }
    if actor.role != ENTERPRISE:
        view["household_id"] = request.get("household_id")
        view["household_county_code"] = request.get("household_county_code")
        view["county_code"] = request.get("county_code")
    return view


def request_link(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """An enterprise asks to link a household of any county by its number; always stored as pending."""
    if actor.role != ENTERPRISE:
        raise Forbidden(
            Coded("link_request.enterprise_only", "Only an enterprise requests links; staff create them.")
        )
    operator = operators.find_operator(db, actor.operator_id, {"county_code": 1})
    if operator is None:
        raise Forbidden(Coded("link_request.no_operator", "Your account is bound to no market operator."))
    link_periods.check_period(data["valid_from"], data.get("valid_to"))
    household = db[storage.HOUSEHOLDS].find_one(
        {"household_no": data["household_no"]}, {"county_code": 1, "household_no": 1}
    )
    now = utcnow()
    request = {
        "operator_id": operator["_id"],
        "county_code": operator.get("county_code"),
        "household_no": data["household_no"],
        "household_id": household["_id"] if household else None,
        "household_county_code": household["county_code"] if household else None,
        "mechanism": data["mechanism"],
        "weight": data["weight"],
        "valid_from": data["valid_from"].isoformat(),
        "valid_to": data["valid_to"].isoformat() if data.get("valid_to") else None,
        "status": PENDING,
        "requested_by": actor.as_actor(),
        "version": 1,
        "created_at": now,
    }
    request["_id"] = db[storage.BENEFIT_LINK_REQUESTS].insert_one(request).inserted_id
    audit.record(
        db,
        actor,
        "benefit_link_request.create",
        entity_kind="benefit_link_request",
        entity_id=request["_id"],
        county_code=request["household_county_code"],
        after=request,
    )
    return present(request, actor)


def _scope(actor: Principal) -> dict[str, Any]:
    if actor.role == ENTERPRISE:
        return {"operator_id": actor.operator_id}
    if actor.is_admin:
        return {}
    if not actor.is_staff:
        raise Forbidden(Coded("link_request.canteen_refused", "Canteen accounts cannot see link requests."))
    return {"household_county_code": {"$in": list(actor.county_codes)}}


def list_requests(
    db: Database, actor: Principal, *, status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """An enterprise's own requests; staff those naming households of their counties; newest first."""
    query = _scope(actor)
    if status is not None:
        query["status"] = status
    found, total = storage.page_of(
        db[storage.BENEFIT_LINK_REQUESTS], query, [("created_at", -1), ("_id", -1)], page, per_page
    )
    return [present(request, actor) for request in found], total


def _load(db: Database, actor: Principal, request_id: ObjectId) -> dict[str, Any]:
    """A request in ``actor``'s scope; a missing one and another's answer alike (admins: 404)."""
    request = db[storage.BENEFIT_LINK_REQUESTS].find_one({"_id": request_id, **_scope(actor)})
    if request is None:
        raise (
            NotFound(Coded("link_request.not_in_scope", "No such link request."))
            if actor.is_admin
            else Forbidden(NOT_IN_SCOPE)
        )
    return request


def get_request(db: Database, actor: Principal, request_id: ObjectId) -> dict[str, Any]:
    return present(_load(db, actor, request_id), actor)


def _decide(
    db: Database, actor: Principal, request: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    now = utcnow()
    result = db[storage.BENEFIT_LINK_REQUESTS].update_one(
        {"_id": request["_id"], "version": request["version"], "status": PENDING},
        {
            "$set": {**changes, "decided_at": now, "decided_by": actor.as_actor()},
            "$inc": {"version": 1},
        },
    )
    if result.matched_count == 0:
        raise PreconditionFailed("The request was decided meanwhile; read it again.")
    after = db[storage.BENEFIT_LINK_REQUESTS].find_one({"_id": request["_id"]})
    audit.record(
        db,
        actor,
        f"benefit_link_request.{changes['status']}",
        entity_kind="benefit_link_request",
        entity_id=request["_id"],
        county_code=request.get("household_county_code"),
        before=dict(request),
        after=after,
        note=changes.get("decision_reason"),
    )
    return present(after, actor)


def _pending(db: Database, actor: Principal, request_id: ObjectId) -> dict[str, Any]:
    if not actor.is_staff:
        raise Forbidden(
            Coded(
                "link_request.county_staff_only",
                "Only staff of the household's county decide a link request.",
            )
        )
    request = _load(db, actor, request_id)
    if request["status"] != PENDING:
        raise Conflict(
            Coded(
                "link_request.already_decided",
                f"The request is already {request['status']}.",
                link_request_status=request["status"],
            )
        )
    return request


def approve(db: Database, actor: Principal, request_id: ObjectId) -> dict[str, Any]:
    """Staff of the household's county store the requested link (the operator's county may differ)."""
    request = _pending(db, actor, request_id)
    operator = operators.find_operator(db, request["operator_id"])
    household = db[storage.HOUSEHOLDS].find_one({"_id": request["household_id"]})
    if operator is None or household is None:
        raise Conflict(
            Coded(
                "link_request.party_gone",
                "The operator or household of this request is no longer registered.",
            )
        )
    data = {name: request.get(name) for name in _FIELDS}
    data["valid_from"] = date.fromisoformat(data["valid_from"])
    data["valid_to"] = date.fromisoformat(data["valid_to"]) if data["valid_to"] else None
    # Claimed first, so two approvals at once never store two links.
    claimed = _decide(db, actor, request, {"status": APPROVED})
    try:
        link = benefit_links.insert_link(db, actor, operator, household, data)
    except Exception:
        db[storage.BENEFIT_LINK_REQUESTS].update_one(
            {"_id": request["_id"]},
            {"$set": {"status": PENDING, "decided_at": None, "decided_by": None}, "$inc": {"version": 1}},
        )
        raise
    db[storage.BENEFIT_LINK_REQUESTS].update_one({"_id": request["_id"]}, {"$set": {"link_id": link["_id"]}})
    return {**claimed, "link_id": link["_id"]}


def reject(db: Database, actor: Principal, request_id: ObjectId, reason: str) -> dict[str, Any]:
    request = _pending(db, actor, request_id)
    return _decide(db, actor, request, {"status": REJECTED, "decision_reason": reason})
