"""Poverty-alleviation products (扶贫产品): the catalogue, certification and effective-dated benefit rates.

A product belongs to one market operator and carries that operator's county.
The enterprise (or county staff on its behalf) registers and submits it; county
staff approve, publicize (公示), certify and revoke it, following the pure
state machine in ``service.certification``. Certification has a validity
period; expiry is computed when a product is read, never by a scheduled job.

The sales ledger values a sale with ``service.certification``'s :func:`rate_at` and
:func:`certified_at`: the rate and the certification that held at the moment of the sale.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bson import ObjectId
from flask import current_app, has_app_context
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.base import CHANNELS as SALE_CHANNELS
from service import access, audit, certification, operators, partitions, product_skus, storage
from service.access import CANTEEN, ENTERPRISE, Principal
from service.certification import CERTIFIED, DRAFT, EXPIRED, rate_at
from service.clock import SHANGHAI, local_date, start_of_local_day, today_local, utcnow
from service.config import Config
from service.errors import Coded, Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed

CATEGORIES = (
    "grain_oil",  # 粮油
    "meat_eggs",  # 畜禽肉蛋
    "aquatic",  # 水产
    "vegetables",  # 蔬菜
    "fruit",  # 水果
    "tea",  # 茶叶
    "herbs",  # 中药材
    "dried_goods",  # 干货
    "processed_food",  # 加工食品
    "handicraft",  # 手工艺品
    "other",  # 其他
)
CHANNELS = SALE_CHANNELS
SORTS = (
    "name",
    "-name",
    "created_at",
    "-created_at",
    "price_fen",
    "-price_fen",
    "valid_until",
    "-valid_until",
)

# Plain fields copied from a create or patch body as they are.
_PLAIN_FIELDS = (
    "name",
    "category",
    "spec",
    "unit",
    "price_fen",
    "origin_county_code",
    "brand",
    "barcode",
    "annual_output",
    "annual_output_unit",
    "annual_value_fen",
)


def effective_status(product: dict[str, Any], now: datetime) -> str:
    return certification.effective_status(product["status"], product.get("valid_until"), now)


def present(product: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A product as readers see it: its effective status and the rate in force now."""
    now = now or utcnow()
    return {**product, "status": effective_status(product, now), "benefit_rate_bp": rate_at(product, now)}


def _setting(name: str) -> Any:
    if has_app_context():
        return current_app.config.get(name, getattr(Config, name))
    return getattr(Config, name)


def certificate_validity() -> timedelta:
    """How long a certificate holds from its certification (CERTIFICATION_VALID_DAYS)."""
    return timedelta(days=_setting("CERTIFICATION_VALID_DAYS"))


# Access -----------------------------------------------------------------------------------------


NO_SUCH_PRODUCT = Coded("product.not_found", "No such product.")
# Missing and another tenant's answer alike, so no one learns which products another tenant has.
NOT_IN_SCOPE = Coded("product.not_in_scope", "No product of yours has this id.")


def _load(db: Database, product_id: ObjectId) -> dict[str, Any]:
    product = db[storage.PRODUCTS].find_one({"_id": product_id})
    if product is None:
        raise NotFound(NO_SUCH_PRODUCT)
    return product


def _load_visible(db: Database, actor: Principal, product_id: ObjectId, now: datetime) -> dict[str, Any]:
    """A product the actor may read: staff in their counties, an enterprise its operator's, a canteen
    certified ones; one 403 for a missing product and for one out of scope (admins: 404).

    The scope goes into the query, so both cases cost the same query.
    """
    query: dict[str, Any] = {"_id": product_id}
    if actor.role == ENTERPRISE:
        query["operator_id"] = actor.operator_id
    elif actor.role != CANTEEN:
        query.update(access.county_filter(actor))
    product = db[storage.PRODUCTS].find_one(query)
    if product is None or (actor.role == CANTEEN and effective_status(product, now) != CERTIFIED):
        raise NotFound(NO_SUCH_PRODUCT) if actor.is_admin else Forbidden(NOT_IN_SCOPE)
    return product


def _load_writable(db: Database, actor: Principal, product_id: ObjectId, now: datetime) -> dict[str, Any]:
    """A product the actor may change; a canteen is refused by its role, before any product is read."""
    if actor.role == CANTEEN:
        raise Forbidden(
            Coded("access.canteen_on_operator", "Canteen accounts cannot act on market operators.")
        )
    return _load_visible(db, actor, product_id, now)


def _operator_for(db: Database, actor: Principal, operator_id: ObjectId | None) -> dict[str, Any]:
    """The operator a product is registered for, checked against the caller's scope."""
    if operator_id is None:
        if actor.role != ENTERPRISE:
            raise ValidationFailed(
                Coded("product.operator_required", "Name the operator the product belongs to."),
                details={"operator_id": [Coded("field.required", "Required.")]},
            )
        operator_id = actor.operator_id
    operator = operators.find_operator(db, operator_id)
    if operator is None:
        raise ValidationFailed(
            Coded("operator.not_found", "No such operator."),
            details={"operator_id": [Coded("operator.not_found", "No such operator.")]},
        )
    access.require_operator(actor, operator["_id"], operator["county_code"])
    return operator


def _require_active(operator: dict[str, Any]) -> None:
    if operator.get("status", operators.ACTIVE) != operators.ACTIVE:
        raise Conflict(
            Coded(
                "product.operator_suspended",
                "The operator is suspended; its products cannot be registered or advanced.",
            ),
            details={"operator_id": [Coded("operator.suspended", "The operator is suspended.")]},
        )


# Benefit rates ----------------------------------------------------------------------------------


def _rate_history_with(
    history: list[dict[str, Any]], rate_bp: int, valid_from: datetime
) -> list[dict[str, Any]]:
    """The history with a rate from ``valid_from`` on (replacing an entry of the same moment), sorted."""
    kept = [entry for entry in history if entry["valid_from"] != valid_from]
    kept.append({"benefit_rate_bp": rate_bp, "valid_from": valid_from})
    return sorted(kept, key=lambda entry: entry["valid_from"])


def _check_output_unit(product: dict[str, Any]) -> None:
    if product.get("annual_output") is not None and not product.get("annual_output_unit"):
        raise ValidationFailed(
            Coded("product.output_unit_required", "Give the unit of the annual output."),
            details={
                "annual_output_unit": [Coded("product.output_unit_required", "Required with annual_output.")]
            },
        )


def _rate_start(day: date | None) -> datetime:
    return start_of_local_day(day or today_local())


# Reading ----------------------------------------------------------------------------------------


def get_product(db: Database, actor: Principal, product_id: ObjectId) -> dict[str, Any]:
    now = utcnow()
    return present(_load_visible(db, actor, product_id, now), now)


# Registering and editing ------------------------------------------------------------------------


def _history_entry(
    actor: Principal, at: datetime, from_status: str | None, to_status: str, reason: str | None, **extra: Any
) -> dict[str, Any]:
    return {"at": at, "by": actor.as_actor(), "from": from_status, "to": to_status, "reason": reason, **extra}


def create_product(
    db: Database, actor: Principal, data: dict[str, Any], *, at: datetime | None = None
) -> dict[str, Any]:
    """Register a draft product for an operator (the enterprise itself, or staff on its behalf).

    ``at``: when it was registered, now unless the demo county is given its past.
    """
    _check_output_unit(data)
    operator = _operator_for(db, actor, data.get("operator_id"))
    _require_active(operator)
    channel_skus = list(data.get("channel_skus") or [])
    keys = product_skus.sku_keys(channel_skus)
    product_skus.check_skus_free(db, keys, None)
    now = at or utcnow()
    product: dict[str, Any] = {
        "operator_id": operator["_id"],
        "county_code": operator["county_code"],
        **{name: data.get(name) for name in _PLAIN_FIELDS},
        "origin_county_code": data.get("origin_county_code") or operator["county_code"],
        "benefit_rate_history": [
            {
                "benefit_rate_bp": data["benefit_rate_bp"],
                "valid_from": _rate_start(data.get("benefit_rate_valid_from") or local_date(now)),
            }
        ],
        "channel_skus": channel_skus,
        "channel_sku_keys": keys,
        "status": DRAFT,
        "status_history": [_history_entry(actor, now, None, DRAFT, None)],
        "township_review_note": None,
        "publicity_ends_at": None,
        "certificate_no": None,
        "certified_at": None,
        "valid_until": None,
        "certificates": [],
        "certificate_numbers": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": actor.as_actor(),
    }
    try:
        product["_id"] = db[storage.PRODUCTS].insert_one(product).inserted_id
    except DuplicateKeyError as error:
        raise product_skus.duplicate_key_conflict(db, keys, None) from error
    audit.record(
        db,
        actor,
        "product.create",
        entity_kind="product",
        entity_id=product["_id"],
        county_code=product["county_code"],
        after=product,
    )
    return present(product, now)


def _end_current_certificate(
    certificates: list[dict[str, Any]], now: datetime, reason: str
) -> list[dict[str, Any]]:
    """The certificate history with the certificate in force now ended at ``now``."""
    return [
        {**certificate, "ended_at": now, "end_reason": reason}
        if certification.certificate_in_force(certificate, now)
        else certificate
        for certificate in certificates
    ]


_CLEARED_CERTIFICATE = {"certificate_no": None, "certified_at": None, "valid_until": None}


def update_product(
    db: Database, actor: Principal, product_id: ObjectId, expected_version: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Edit a draft, rejected, certified or expired product.

    On a certified product, a change to a field the certification vouches for (name, operator,
    category, benefit rate, channel SKUs) sends it back to review; other changes do not.
    """
    now = utcnow()
    before = _load_writable(db, actor, product_id, now)
    if before["version"] != expected_version:
        raise PreconditionFailed("If-Match does not match the current version; read it again.")
    update: dict[str, Any] = {}
    for name in _PLAIN_FIELDS:
        if name in changes and changes[name] != before.get(name):
            update[name] = changes[name]
    _check_output_unit({**before, **update})

    if "operator_id" in changes and changes["operator_id"] != before["operator_id"]:
        if actor.role == ENTERPRISE:
            raise Forbidden(
                Coded("product.enterprise_move", "An enterprise cannot move a product to another operator."),
                details={"operator_id": [Coded("field.staff_only", "Only county staff may change this.")]},
            )
        operator = _operator_for(db, actor, changes["operator_id"])
        _require_active(operator)
        update["operator_id"] = operator["_id"]
        update["county_code"] = operator["county_code"]

    keys = before.get("channel_sku_keys") or []
    if "channel_skus" in changes:
        new_keys = product_skus.sku_keys(changes["channel_skus"])
        if new_keys != keys:
            update["channel_skus"] = changes["channel_skus"]
            update["channel_sku_keys"] = keys = new_keys

    if "benefit_rate_valid_from" in changes and "benefit_rate_bp" not in changes:
        raise ValidationFailed(
            Coded(
                "product.rate_start_alone",
                "benefit_rate_valid_from applies only together with a benefit_rate_bp.",
            ),
            details={
                "benefit_rate_valid_from": [
                    Coded("product.rate_start_alone", "Send it with the benefit_rate_bp it applies to.")
                ]
            },
        )
    if "benefit_rate_bp" in changes:
        day = changes.get("benefit_rate_valid_from") or today_local()
        if day < today_local() and not actor.is_staff:
            # Recorded sales keep their rate; only county staff may correct a past rate (audited).
            raise ValidationFailed(
                Coded("product.rate_in_past", "A benefit rate change cannot start in the past."),
                details={
                    "benefit_rate_valid_from": [
                        Coded("date.not_past", "Must be today or later (Asia/Shanghai).")
                    ]
                },
            )
        valid_from = _rate_start(day)
        if rate_at(before, valid_from) != changes["benefit_rate_bp"]:
            update["benefit_rate_history"] = _rate_history_with(
                before.get("benefit_rate_history") or [], changes["benefit_rate_bp"], valid_from
            )

    if not update:
        return present(before, now)
    changed = ["benefit_rate_bp" if name == "benefit_rate_history" else name for name in update]
    status = effective_status(before, now)
    next_status = certification.status_after_edit(status, changed)
    if "channel_sku_keys" in update:
        product_skus.check_skus_free(db, keys, product_id)
    push: dict[str, Any] = {}
    note = None
    if next_status is not None:
        reviewed = sorted(set(changed) & set(certification.REVIEWED_FIELDS))
        note = "Sent back for review after changes to " + ", ".join(reviewed) + "."
        update["status"] = next_status
        update["certificates"] = _end_current_certificate(before["certificates"], now, "sent_back_for_review")
        update.update(_CLEARED_CERTIFICATE)
        push["status_history"] = _history_entry(actor, now, status, next_status, note)
    update.update(updated_at=now, version=expected_version + 1)
    operation: dict[str, Any] = {"$set": update}
    if push:
        operation["$push"] = push
    try:
        result = db[storage.PRODUCTS].update_one({"_id": product_id, "version": expected_version}, operation)
    except DuplicateKeyError as error:
        raise product_skus.duplicate_key_conflict(db, keys, product_id) from error
    if result.matched_count == 0:
        raise PreconditionFailed("The product was changed by someone else; read it again.")
    after = _load(db, product_id)
    if "operator_id" in update:
        partitions.mark_product_changed(db, product_id)
    elif "benefit_rate_history" in update:
        partitions.mark_product_changed(db, product_id, since=_rate_start(day))
    audit.record(
        db,
        actor,
        "product.update",
        entity_kind="product",
        entity_id=product_id,
        county_code=after["county_code"],
        before=before,
        after=after,
        note=note,
    )
    return present(after, now)


def add_channel_sku(
    db: Database, actor: Principal, product_id: ObjectId, channel: str, sku: str
) -> dict[str, Any]:
    """Staff map a channel SKU to a product (from the unmatched-sales report).

    Unlike an edit, this never sends a certified product back to review: the staff
    mapping is itself the review, and it is audit-logged. 409 if another product holds
    the SKU; mapping a SKU the product already has changes nothing.
    """
    if not actor.is_staff:
        raise Forbidden(
            Coded("product.map_staff_only", "Only county staff and admins may map SKUs to products.")
        )
    if channel not in CHANNELS:
        raise ValidationFailed(
            Coded("line.unknown_channel", f"Unknown channel {channel!r}.", channel=channel),
            details={"channel": [Coded("import.choose_channel", "Unknown channel.")]},
        )
    before = _load_writable(db, actor, product_id, utcnow())
    key = f"{channel}:{sku}"
    if key in (before.get("channel_sku_keys") or []):
        return present(before)
    product_skus.check_skus_free(db, [key], product_id)
    now = utcnow()
    try:
        result = db[storage.PRODUCTS].update_one(
            {"_id": product_id, "version": before["version"]},
            {
                "$push": {"channel_skus": {"channel": channel, "sku": sku}, "channel_sku_keys": key},
                "$set": {"updated_at": now},
                "$inc": {"version": 1},
            },
        )
    except DuplicateKeyError as error:
        raise product_skus.duplicate_key_conflict(db, [key], product_id) from error
    if result.matched_count == 0:
        raise PreconditionFailed("The product was changed by someone else at the same time; try again.")
    after = _load(db, product_id)
    audit.record(
        db,
        actor,
        "product.map_sku",
        entity_kind="product",
        entity_id=product_id,
        county_code=after["county_code"],
        before=before,
        after=after,
        note=f"Staff mapped {key} to the product; no review needed.",
    )
    return present(after, now)


# Certification ----------------------------------------------------------------------------------


def _next_certificate_number(db: Database, county_code: str, now: datetime) -> str:
    """FP{county}{year}{seq:05d}: a per-county, per-year sequence (numbers of failed writes are skipped)."""
    prefix = f"{_setting('CERTIFICATE_PREFIX')}{county_code}{now.astimezone(SHANGHAI).year}"
    counter = db[storage.SEQUENCES].find_one_and_update(
        {"_id": f"certificate:{prefix}"},
        {"$inc": {"value": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return f"{prefix}{counter['value']:05d}"


def transition(
    db: Database,
    actor: Principal,
    product_id: ObjectId,
    action: str,
    *,
    reason: str | None = None,
    township_review_note: str | None = None,
    expected_version: int | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Move a product through certification (submit, approve, reject, publicize, object, certify, revoke).

    The wrong role is 403, the wrong status 409 listing what the caller may do now. ``at``: when
    the step is taken, now unless the demo county is given its past (its rules apply as of then).
    """
    now = at or utcnow()
    product = _load_writable(db, actor, product_id, now)
    status = effective_status(product, now)
    step = certification.check_transition(action, status, actor.role, reason)
    version = product["version"]
    if expected_version is not None and expected_version != version:
        raise PreconditionFailed("If-Match does not match the current version; read it again.")
    if step.needs_active_operator:
        _require_active(operators.find_operator(db, product["operator_id"]) or {})
    reason = (reason or "").strip() or None
    extra: dict[str, Any] = {}
    update: dict[str, Any] = {"status": step.target}
    push: dict[str, Any] = {}

    if action == "submit" and status == EXPIRED:
        update.update(_CLEARED_CERTIFICATE)
    elif action == "approve":
        update["township_review_note"] = township_review_note
        extra["township_review_note"] = township_review_note
    elif action == "publicize":
        update["publicity_ends_at"] = now + timedelta(days=_setting("PUBLICITY_DAYS"))
        extra["publicity_ends_at"] = update["publicity_ends_at"]
    elif action == "certify":
        certification.check_publicity_over(product.get("publicity_ends_at"), now)
        certificate = {
            "number": _next_certificate_number(db, product["county_code"], now),
            "certified_at": now,
            "valid_until": now + certificate_validity(),
            "ended_at": None,
            "end_reason": None,
        }
        update.update(
            certificate_no=certificate["number"],
            certified_at=now,
            valid_until=certificate["valid_until"],
        )
        push["certificates"] = certificate
        push["certificate_numbers"] = certificate["number"]
        extra["certificate_no"] = certificate["number"]
    elif action == "revoke":
        update["certificates"] = _end_current_certificate(product["certificates"], now, "revoked")

    push["status_history"] = _history_entry(actor, now, status, step.target, reason, action=action, **extra)
    update.update(updated_at=now, version=version + 1)
    try:
        result = db[storage.PRODUCTS].update_one(
            {"_id": product_id, "version": version, "status": product["status"]},
            {"$set": update, "$push": push},
        )
    except DuplicateKeyError as error:
        raise product_skus.duplicate_key_conflict(db, [], product_id) from error
    if result.matched_count == 0:
        raise PreconditionFailed("The product was changed by someone else; read it again.")
    after = _load(db, product_id)
    audit.record(
        db,
        actor,
        f"product.{action}",
        entity_kind="product",
        entity_id=product_id,
        county_code=after["county_code"],
        before=product,
        after=after,
        note=reason,
    )
    return present(after, now)
