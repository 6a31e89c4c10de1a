"""User accounts: creating, listing and disabling them, with their role bindings."""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import access, audit, auth, operators, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, UNIT, Principal
from service.clock import utcnow
from service.errors import Coded, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

MIN_PASSWORD_LENGTH = 10
# Accounts bound to one party of a county, which that county's staff manage.
PARTY_ROLES = (ENTERPRISE, CANTEEN, UNIT)


def _binding(db: Database, data: dict[str, Any]) -> dict[str, Any]:
    """The role's binding (counties, operator, canteen or buying unit), checked against what exists."""
    role = data["role"]
    if role == UNIT:
        unit = db[storage.BUYING_UNITS].find_one({"_id": data.get("unit_id")})
        if unit is None:
            raise ValidationFailed(
                Coded("account.unit_required", "A unit account is bound to an existing buying unit."),
                details={"unit_id": [Coded("buying_unit.not_in_scope", "No such buying unit.")]},
            )
        return {
            "county_codes": [unit["county_code"]],
            "operator_id": None,
            "canteen_id": None,
            "unit_id": unit["_id"],
        }
    if role == ADMIN:
        return {"county_codes": [], "operator_id": None, "canteen_id": None}
    if role == COUNTY_STAFF:
        codes = sorted(set(data.get("county_codes") or []))
        if not codes:
            raise ValidationFailed(
                Coded("account.county_required", "County staff need at least one county."),
                details={"county_codes": [Coded("account.county_required", "Required for county_staff.")]},
            )
        return {"county_codes": codes, "operator_id": None, "canteen_id": None}
    if role == ENTERPRISE:
        operator = operators.find_operator(db, data.get("operator_id"))
        if operator is None:
            raise ValidationFailed(
                Coded("account.operator_required", "An enterprise account is bound to an existing operator."),
                details={"operator_id": [Coded("operator.not_found", "No such operator.")]},
            )
        return {
            "county_codes": [operator["county_code"]],
            "operator_id": operator["_id"],
            "canteen_id": None,
        }
    canteen = db[storage.CANTEENS].find_one({"_id": data.get("canteen_id")})
    if canteen is None:
        raise ValidationFailed(
            Coded("account.canteen_required", "A canteen account is bound to an existing canteen unit."),
            details={"canteen_id": [Coded("canteen.not_in_scope", "No such canteen.")]},
        )
    return {"county_codes": [canteen["county_code"]], "operator_id": None, "canteen_id": canteen["_id"]}


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            Coded("account.password_too_short", "The password is too short."),
            details={
                field: [
                    Coded(
                        "field.length_min",
                        f"At least {MIN_PASSWORD_LENGTH} characters.",
                        min=MIN_PASSWORD_LENGTH,
                    )
                ]
            },
        )


def _require_may_manage(actor: Principal, user: dict[str, Any]) -> None:
    """Admins manage everyone; county staff manage enterprise, canteen and unit accounts of their counties."""
    if actor.is_admin:
        return
    if actor.role != COUNTY_STAFF or user["role"] not in PARTY_ROLES:
        raise Forbidden(Coded("account.admin_only", "Only admins may manage staff and admin accounts."))
    for code in user.get("county_codes") or []:
        access.require_county(actor, code)


def create_user(db: Database, actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    _check_password(data["password"])
    user = {
        "username": data["username"],
        "display_name": data.get("display_name") or data["username"],
        "role": data["role"],
        **_binding(db, data),
        "active": True,
        "created_at": utcnow(),
    }
    _require_may_manage(actor, user)
    user["password_hash"] = auth.hash_password(data["password"])
    try:
        user["_id"] = db[storage.USERS].insert_one(user).inserted_id
    except DuplicateKeyError as error:
        raise Conflict(
            Coded(
                "account.username_taken",
                f"The username {data['username']!r} is taken.",
                username=data["username"],
            ),
            details={"username": [Coded("account.username_used", "Already taken.")]},
        ) from error
    audit.record(
        db,
        actor,
        "user.create",
        entity_kind="user",
        entity_id=user["_id"],
        county_code=(user["county_codes"] or [None])[0],
        after=user,
    )
    return user


def _visible_query(actor: Principal) -> dict[str, Any]:
    if actor.is_admin:
        return {}
    return {"county_codes": {"$in": list(actor.county_codes)}, "role": {"$in": list(PARTY_ROLES)}}


def list_users(
    db: Database,
    actor: Principal,
    *,
    role: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Accounts the actor may manage, by username; ``q`` matches the username or display name."""
    visible = _visible_query(actor)
    conditions = [visible] if visible else []
    if role is not None:
        conditions.append({"role": role})
    if q:
        pattern = {"$regex": re.escape(q.strip()), "$options": "i"}
        conditions.append({"$or": [{"username": pattern}, {"display_name": pattern}]})
    query = {"$and": conditions} if conditions else {}
    return storage.page_of(db[storage.USERS], query, [("username", 1)], page, per_page)


def get_user(db: Database, actor: Principal, user_id: ObjectId) -> dict[str, Any]:
    user = db[storage.USERS].find_one({"_id": user_id})
    if user is None:
        raise NotFound(Coded("account.not_found", "No such user."))
    if actor.user_id != user_id:
        _require_may_manage(actor, user)
    return user


def update_user(db: Database, actor: Principal, user_id: ObjectId, changes: dict[str, Any]) -> dict[str, Any]:
    """Disable or re-enable an account, or set a new password; either revokes its tokens."""
    before = get_user(db, actor, user_id)
    _require_may_manage(actor, before)
    update: dict[str, Any] = {}
    if "active" in changes:
        update["active"] = changes["active"]
    if "display_name" in changes:
        update["display_name"] = changes["display_name"]
    if "password" in changes:
        _check_password(changes["password"])
        update["password_hash"] = auth.hash_password(changes["password"])
    if not update:
        return before
    db[storage.USERS].update_one({"_id": user_id}, {"$set": update})
    if update.get("active") is False or "password_hash" in update:
        auth.revoke_all_tokens(db, user_id)
    after = db[storage.USERS].find_one({"_id": user_id})
    audit.record(
        db,
        actor,
        "user.update",
        entity_kind="user",
        entity_id=user_id,
        county_code=(before.get("county_codes") or [None])[0],
        before=before,
        after=after,
    )
    return after


def change_own_password(
    db: Database,
    actor: Principal,
    current_password: str,
    new_password: str,
    *,
    address: str = "unknown",
) -> None:
    """Set one's own password after proving the current one; every session of the account ends.

    All the account's tokens are revoked, the caller's own included: whoever knew the old password
    is signed out everywhere, and the caller signs in again with the new one.
    """
    _check_password(new_password, "new_password")
    user = get_user(db, actor, actor.user_id)
    try:
        # Checked as a login is, so wrong guesses count toward (and are stopped by) the login throttle;
        # the token this login issues is revoked with all the others below.
        auth.login(db, user["username"], current_password, address)
    except Unauthorized as error:
        raise ValidationFailed(
            Coded("account.wrong_password", "The current password is wrong."),
            details={"current_password": [Coded("account.wrong_password", "Wrong password.")]},
        ) from error
    db[storage.USERS].update_one(
        {"_id": user["_id"]}, {"$set": {"password_hash": auth.hash_password(new_password)}}
    )
    auth.revoke_all_tokens(db, user["_id"])
    audit.record(
        db,
        actor,
        "user.password_change",
        entity_kind="user",
        entity_id=user["_id"],
        county_code=(user.get("county_codes") or [None])[0],
    )
