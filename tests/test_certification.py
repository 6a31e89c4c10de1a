"""The certification state machine as pure data and functions, tested without HTTP or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service import certification as cert
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, ROLES
from service.certification import certified_at
from service.errors import Conflict, Forbidden, ValidationFailed

T0 = datetime(2021, 3, 1, 2, 0, tzinfo=UTC)

# (action, from, to, roles that may take it): the workflow the brief specifies, written out by hand.
EXPECTED = [
    ("submit", "draft", "submitted", {ADMIN, COUNTY_STAFF, ENTERPRISE}),
    ("submit", "rejected", "submitted", {ADMIN, COUNTY_STAFF, ENTERPRISE}),
    ("submit", "expired", "submitted", {ADMIN, COUNTY_STAFF, ENTERPRISE}),
    ("approve", "submitted", "county_approved", {ADMIN, COUNTY_STAFF}),
    ("reject", "submitted", "rejected", {ADMIN, COUNTY_STAFF}),
    ("reject", "county_approved", "rejected", {ADMIN, COUNTY_STAFF}),
    ("reject", "publicizing", "rejected", {ADMIN, COUNTY_STAFF}),
    ("publicize", "county_approved", "publicizing", {ADMIN, COUNTY_STAFF}),
    ("object", "publicizing", "rejected", {ADMIN, COUNTY_STAFF}),
    ("certify", "publicizing", "certified", {ADMIN, COUNTY_STAFF}),
    ("revoke", "certified", "revoked", {ADMIN, COUNTY_STAFF}),
    ("withdraw", "submitted", "draft", {ENTERPRISE}),
]


def test_the_table_holds_exactly_the_specified_transitions():
    actual = {
        (action, source, step.target, frozenset(step.roles))
        for action, step in cert.TRANSITIONS.items()
        for source in step.sources
    }
    expected = {(action, source, target, frozenset(roles)) for action, source, target, roles in EXPECTED}
    assert actual == expected


@pytest.mark.parametrize(
    ("action", "source", "target", "role"),
    [(a, s, t, r) for a, s, t, roles in EXPECTED for r in sorted(roles)],
)
def test_an_allowed_transition_leads_to_its_target(action, source, target, role):
    assert cert.check_transition(action, source, role, reason="检查不合格").target == target


@pytest.mark.parametrize(
    ("action", "source", "role"),
    [(a, s, r) for a, s, _, roles in EXPECTED for r in sorted(set(ROLES) - roles)],
)
def test_a_transition_by_a_role_not_named_is_forbidden(action, source, role):
    with pytest.raises(Forbidden):
        cert.check_transition(action, source, role, reason="x")


def test_an_enterprise_cannot_certify_even_a_product_ready_for_it():
    with pytest.raises(Forbidden) as error:
        cert.check_transition("certify", "publicizing", ENTERPRISE)
    assert error.value.details == {"allowed": []}


@pytest.mark.parametrize(
    ("action", "status", "role", "allowed"),
    [
        ("approve", "draft", COUNTY_STAFF, ["submit"]),
        ("certify", "submitted", COUNTY_STAFF, ["approve", "reject"]),
        ("submit", "submitted", ENTERPRISE, ["withdraw"]),
        ("revoke", "expired", ADMIN, ["submit"]),
        ("publicize", "publicizing", COUNTY_STAFF, ["reject", "object", "certify"]),
        ("submit", "revoked", COUNTY_STAFF, []),
        ("submit", "certified", ENTERPRISE, []),
    ],
)
def test_a_transition_from_the_wrong_status_is_a_conflict_listing_what_the_role_may_do(
    action, status, role, allowed
):
    with pytest.raises(Conflict) as error:
        cert.check_transition(action, status, role, reason="x")
    assert error.value.details["allowed"] == allowed
    assert error.value.details["status"] == status


@pytest.mark.parametrize(
    ("action", "status"), [("reject", "submitted"), ("object", "publicizing"), ("revoke", "certified")]
)
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_rejection_objection_and_revocation_need_a_reason(action, status, reason):
    with pytest.raises(ValidationFailed) as error:
        cert.check_transition(action, status, COUNTY_STAFF, reason=reason)
    assert "reason" in error.value.details


def test_other_transitions_need_no_reason():
    assert cert.check_transition("approve", "submitted", COUNTY_STAFF).target == "county_approved"


def test_canteens_may_take_no_step_at_all():
    assert all(cert.allowed_actions(status, CANTEEN) == [] for status in cert.STATUSES)


def test_a_certified_product_reads_expired_from_its_valid_until_on():
    valid_until = T0 + timedelta(days=730)
    assert cert.effective_status("certified", valid_until, valid_until - timedelta(seconds=1)) == "certified"
    assert cert.effective_status("certified", valid_until, valid_until) == "expired"
    assert cert.effective_status("revoked", valid_until, valid_until + timedelta(days=1)) == "revoked"


def test_certification_waits_for_the_end_of_publicity():
    ends = T0 + timedelta(days=7)
    with pytest.raises(Conflict) as error:
        cert.check_publicity_over(ends, ends - timedelta(milliseconds=1))
    assert error.value.details["publicity_ends_at"] == ends.isoformat()
    cert.check_publicity_over(ends, ends)


@pytest.mark.parametrize("field", ["name", "operator_id", "category", "benefit_rate_bp", "channel_skus"])
def test_editing_a_reviewed_field_sends_a_certified_product_back_to_review(field):
    assert cert.status_after_edit("certified", [field, "price_fen"]) == "submitted"


@pytest.mark.parametrize("field", ["price_fen", "spec", "barcode", "brand", "annual_value_fen"])
def test_editing_other_fields_keeps_a_certified_product_certified(field):
    assert cert.status_after_edit("certified", [field]) is None


@pytest.mark.parametrize("status", ["draft", "rejected", "expired"])
def test_editing_an_uncertified_editable_product_keeps_its_status(status):
    assert cert.status_after_edit(status, ["name"]) is None


@pytest.mark.parametrize("status", ["submitted", "county_approved", "publicizing", "revoked"])
def test_a_product_under_review_or_revoked_cannot_be_edited(status):
    with pytest.raises(Conflict):
        cert.status_after_edit(status, ["price_fen"])


def _certificate(start, days=730, ended_at=None):
    return {
        "number": "FP340722202100001",
        "certified_at": start,
        "valid_until": start + timedelta(days=days),
        "ended_at": ended_at,
        "end_reason": None if ended_at is None else "revoked",
    }


def test_certified_at_is_true_only_inside_a_certificate_validity():
    product = {"certificates": [_certificate(T0)]}
    assert not certified_at(product, T0 - timedelta(seconds=1))
    assert certified_at(product, T0)
    assert certified_at(product, T0 + timedelta(days=729))
    assert not certified_at(product, T0 + timedelta(days=730))


def test_a_revoked_product_was_certified_before_its_revocation():
    revoked = T0 + timedelta(days=100)
    product = {"status": "revoked", "certificates": [_certificate(T0, ended_at=revoked)]}
    assert certified_at(product, revoked - timedelta(seconds=1))
    assert not certified_at(product, revoked)


def test_certified_at_spans_successive_certificates_and_not_the_gap_between():
    first_end = T0 + timedelta(days=10)
    second = T0 + timedelta(days=20)
    product = {"certificates": [_certificate(T0, ended_at=first_end), _certificate(second)]}
    assert certified_at(product, T0 + timedelta(days=5))
    assert not certified_at(product, T0 + timedelta(days=15))
    assert certified_at(product, T0 + timedelta(days=25))


def test_a_never_certified_product_was_never_certified():
    assert not certified_at({"status": "draft", "certificates": []}, T0)
