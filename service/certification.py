"""The certification state machine of poverty-alleviation products (扶贫产品认定), as pure data and functions.

No database and no HTTP here: ``service.products`` reads a product, asks these
functions what may happen, and writes the result. The flow follows a typical
county: 主体申请 (submit) → 县级审定 (approve, with the township's note) → 公示
(publicize) → 认定 (certify, after publicity), with rejection back to the
applicant, the applicant's withdrawal (撤回) of an application not yet approved,
and revocation (撤销) of a certificate.

``expired`` is never stored: a certified product whose ``valid_until`` has
passed *reads* as expired, so expiry needs no scheduled job.

:func:`certified_at` and :func:`rate_at` say what held at a past moment (from the
certificate and rate histories): the sales ledger values each sale with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE
from service.errors import Coded, Conflict, Forbidden, ValidationFailed

DRAFT = "draft"
SUBMITTED = "submitted"
COUNTY_APPROVED = "county_approved"
PUBLICIZING = "publicizing"
CERTIFIED = "certified"
EXPIRED = "expired"
REJECTED = "rejected"
REVOKED = "revoked"

# What a product's ``status`` field may hold.
STORED_STATUSES = (DRAFT, SUBMITTED, COUNTY_APPROVED, PUBLICIZING, CERTIFIED, REJECTED, REVOKED)
# What reads show and list filters accept (``expired`` is derived from ``valid_until``).
STATUSES = (DRAFT, SUBMITTED, COUNTY_APPROVED, PUBLICIZING, CERTIFIED, EXPIRED, REJECTED, REVOKED)
# What waits for a county step (the review queue, 产品审核).
AWAITING_COUNTY = (SUBMITTED, COUNTY_APPROVED, PUBLICIZING)

# The applicant may freely edit these; a certified product's edits may send it back to review.
EDITABLE_STATUSES = frozenset({DRAFT, REJECTED, CERTIFIED, EXPIRED})
# Fields the certification vouches for: changing one on a certified product needs a new review.
REVIEWED_FIELDS = ("name", "operator_id", "category", "benefit_rate_bp", "channel_skus")

_STAFF = frozenset({ADMIN, COUNTY_STAFF})
_APPLICANTS = frozenset({ADMIN, COUNTY_STAFF, ENTERPRISE})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    reason_required: bool = False
    # Forward steps need an active operator; rejection and revocation never do.
    needs_active_operator: bool = False


TRANSITIONS: Mapping[str, Transition] = {
    t.action: t
    for t in (
        # An expired product is re-applied for the same way a rejected one is.
        Transition(
            "submit",
            frozenset({DRAFT, REJECTED, EXPIRED}),
            SUBMITTED,
            _APPLICANTS,
            needs_active_operator=True,
        ),
        Transition("approve", frozenset({SUBMITTED}), COUNTY_APPROVED, _STAFF, needs_active_operator=True),
        Transition(
            "reject",
            frozenset({SUBMITTED, COUNTY_APPROVED, PUBLICIZING}),
            REJECTED,
            _STAFF,
            reason_required=True,
        ),
        Transition(
            "publicize", frozenset({COUNTY_APPROVED}), PUBLICIZING, _STAFF, needs_active_operator=True
        ),
        # An objection (异议) during publicity returns the product to the applicant for changes.
        Transition("object", frozenset({PUBLICIZING}), REJECTED, _STAFF, reason_required=True),
        Transition("certify", frozenset({PUBLICIZING}), CERTIFIED, _STAFF, needs_active_operator=True),
        Transition("revoke", frozenset({CERTIFIED}), REVOKED, _STAFF, reason_required=True),
        # The enterprise takes back an application no county step has touched yet (撤回申请);
        # staff send one back with 退回 and a reason instead.
        Transition("withdraw", frozenset({SUBMITTED}), DRAFT, frozenset({ENTERPRISE})),
    )
}
ACTIONS = tuple(TRANSITIONS)


def effective_status(status: str, valid_until: datetime | None, now: datetime) -> str:
    """The status a reader sees: a certified product past its ``valid_until`` is expired."""
    if status == CERTIFIED and valid_until is not None and valid_until <= now:
        return EXPIRED
    return status


def allowed_actions(status: str, role: str) -> list[str]:
    """The actions this role may take on a product in this (effective) status, in workflow order."""
    return [t.action for t in TRANSITIONS.values() if status in t.sources and role in t.roles]


def check_transition(action: str, status: str, role: str, reason: str | None = None) -> Transition:
    """The transition ``action`` names, if this role may take it from this status; raises otherwise.

    Wrong role: Forbidden (403). Wrong status: Conflict (409) listing what this role may do now.
    A missing reason where one is required: ValidationFailed (422) naming ``reason``.
    """
    transition = TRANSITIONS[action]
    if role not in transition.roles:
        raise Forbidden(
            f"The {role} role may not {action} a product.",
            code="certification.role_not_allowed",
            params={"action": action, "role": role},
            details={"allowed": allowed_actions(status, role)},
        )
    if status not in transition.sources:
        raise Conflict(
            f"A {status} product cannot be {_past(action)}.",
            code="certification.wrong_status",
            params={"action": action, "status": status},
            details={"status": status, "allowed": allowed_actions(status, role)},
        )
    if transition.reason_required and not (reason or "").strip():
        raise ValidationFailed(
            f"A reason is required to {action} a product.",
            code="certification.reason_required",
            params={"action": action},
            details={"reason": [Coded("field.required", "Required.")]},
        )
    return transition


def _past(action: str) -> str:
    return {
        "submit": "submitted",
        "approve": "approved",
        "reject": "rejected",
        "publicize": "publicized",
        "object": "objected to",
        "certify": "certified",
        "revoke": "revoked",
        "withdraw": "withdrawn",
    }[action]


def publicity_over(publicity_ends_at: datetime | None, now: datetime) -> bool:
    """Whether the publicity period (公示期) has ended, so the product may be certified."""
    return publicity_ends_at is not None and publicity_ends_at <= now


def check_publicity_over(publicity_ends_at: datetime | None, now: datetime) -> None:
    """Certification waits for the end of the publicity period (公示期)."""
    if not publicity_over(publicity_ends_at, now):
        ends_at = publicity_ends_at.isoformat() if publicity_ends_at else None
        raise Conflict(
            "The publicity period has not ended yet.",
            code="certification.publicity_not_over",
            params={"publicity_ends_at": ends_at},
            details={"publicity_ends_at": ends_at},
        )


def publicity_periods(history: Iterable[Mapping[str, Any]]) -> list[tuple[datetime, datetime | None]]:
    """When each publicity (公示) of a product started, and when it was set to end."""
    return [
        (entry["at"], entry.get("publicity_ends_at")) for entry in history if entry.get("to") == PUBLICIZING
    ]


def last_return(status: str, history: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The step that sent a rejected product back to its applicant (退回 or 异议), with its reason."""
    if status != REJECTED:
        return None
    return next((entry for entry in reversed(list(history)) if entry.get("to") == REJECTED), None)


def editable(status: str) -> bool:
    """Whether the applicant may edit a product in this (effective) status."""
    return status in EDITABLE_STATUSES


def status_after_edit(status: str, changed_fields: Iterable[str]) -> str | None:
    """The status an edit moves a product to (None: unchanged); raises if the product is under review."""
    if not editable(status):
        raise Conflict(
            f"A {status} product cannot be edited; it is under review or closed.",
            code="certification.not_editable",
            params={"status": status},
            details={"status": status, "editable_in": sorted(EDITABLE_STATUSES)},
        )
    if status == CERTIFIED and set(changed_fields) & set(REVIEWED_FIELDS):
        return SUBMITTED
    return None


def certificate_in_force(certificate: Mapping[str, Any], moment: datetime) -> bool:
    """Whether one certificate covered this moment: issued, not yet expired, not yet ended early."""
    if certificate["certified_at"] > moment or certificate["valid_until"] <= moment:
        return False
    ended_at = certificate.get("ended_at")
    return ended_at is None or ended_at > moment


# Effective-dated rules the sales ledger values a sale with ----------------------------------------


def rate_at(product: dict[str, Any], moment: datetime) -> int:
    """The benefit rate (bp) in force at ``moment``: the last history entry starting at or before it.

    0 before the first entry: no rate had been declared then.
    """
    rate = 0
    for entry in product.get("benefit_rate_history") or []:
        if entry["valid_from"] > moment:
            break
        rate = entry["benefit_rate_bp"]
    return rate


def certified_at(product: dict[str, Any], moment: datetime) -> bool:
    """Whether the product held an unexpired certificate at ``moment``.

    Read from the certificate history, so a product revoked or sent back for review
    later was still certified before that happened.
    """
    return any(certificate_in_force(certificate, moment) for certificate in product.get("certificates") or [])
