"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime

import time_machine

from service import audit
from service.access import system_principal
from service.clock import SHANGHAI


def test_state_changes_are_logged_with_actor_and_before_after(login, factory):
    admin = login("admin")
    staff = login("county_staff")
    admin.patch(f"/api/v1/users/{staff.user['_id']}", json={"display_name": "王科员"})
    entries = admin.get(f"/api/v1/audit?entity_id={staff.user['_id']}").json["items"]
    update = next(entry for entry in entries if entry["action"] == "user.update")
    assert update["actor"]["username"] == admin.user["username"]
    assert update["before"]["display_name"] != "王科员"
    assert update["after"]["display_name"] == "王科员"
    assert update["request_id"]
    assert "password_hash" not in str(entries)


def test_county_staff_read_only_their_counties_entries(login, factory):
    factory.user("enterprise", county_code="340722")
    factory.user("enterprise", county_code="341822")
    staff = login("county_staff", county_codes=["340722"])
    counties = {entry["county_code"] for entry in staff.get("/api/v1/audit?per_page=200").json["items"]}
    assert counties == {"340722"}
    assert staff.get("/api/v1/audit?county_code=341822").status_code == 403


def test_the_audit_log_cannot_be_changed_through_the_api(login, app):
    admin = login("admin")
    methods = {
        method
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/audit")
        for method in rule.methods
    }
    assert methods <= {"GET", "HEAD", "OPTIONS"}
    assert admin.delete("/api/v1/audit").status_code == 405


# Filters -------------------------------------------------------------------------------------------

OPERATOR = {
    "name": "枞阳县白云茶业专业合作社",
    "uscc": "91110108551385082Q",
    "kind": "cooperative",
    "county_code": "340722",
    "contact_phone": "0556-1234567",
    "benefit_mechanisms": ["purchase"],
}
OTHER_USCC = "91350100M0001TGQXM"  # a real early code that fails the check


def _new_operator(caller, **fields):
    response = caller.post("/api/v1/operators", json={**OPERATOR, **fields})
    assert response.status_code == 201, response.json
    return response.json


def test_the_log_filters_by_the_person_who_made_the_change(login):
    first = login("county_staff", county_codes=["340722"])
    second = login("county_staff", county_codes=["340722"])
    mine = _new_operator(first)
    _new_operator(second, uscc=OTHER_USCC, uscc_checksum_override=True, name="另一家合作社")
    listed = first.get(f"/api/v1/audit?username={first.user['username']}&entity_kind=operator").json
    assert listed["total"] == 1
    assert listed["items"][0]["entity"]["id"] == mine["id"]
    assert {entry["actor"]["username"] for entry in listed["items"]} == {first.user["username"]}


def test_the_log_filters_by_object_type_and_id(login):
    staff = login("county_staff", county_codes=["340722"])
    operator = _new_operator(staff)
    one = staff.get(f"/api/v1/audit?entity_kind=operator&entity_id={operator['id']}").json["items"]
    assert [entry["action"] for entry in one] == ["operator.create"]
    assert staff.get(f"/api/v1/audit?entity_kind=product&entity_id={operator['id']}").json["total"] == 0


def _logged_at(db, local_moment: datetime, name: str) -> None:
    with time_machine.travel(local_moment, tick=False):
        audit.record(
            db, system_principal("tests"), "operator.create", entity_kind="operator", entity_id=name,
            county_code="340722", after={"name": name},
        )  # fmt: skip


def test_the_days_are_asia_shanghai_days_with_both_ends_included(login, db):
    staff = login("county_staff", county_codes=["340722"])
    # 23:30 on 1 March and 00:30 on 2 March in Shanghai are both 1 March in UTC.
    _logged_at(db, datetime(2024, 3, 1, 23, 30, tzinfo=SHANGHAI), "late")
    _logged_at(db, datetime(2024, 3, 2, 0, 30, tzinfo=SHANGHAI), "early")

    def listed(query):
        items = staff.get(f"/api/v1/audit?entity_kind=operator&{query}").json["items"]
        return [entry["entity"]["id"] for entry in items]

    assert listed("since=2024-03-02&until=2024-03-02") == ["early"]
    assert listed("until=2024-03-01") == ["late"]
    assert listed("since=2024-03-01&until=2024-03-02") == ["early", "late"]
    assert listed("since=2024-03-03&until=2024-12-31") == []


def test_a_moment_is_not_a_day(login):
    staff = login("county_staff", county_codes=["340722"])
    response = staff.get("/api/v1/audit?since=2024-03-01T00:00:00%2B08:00")
    assert response.status_code == 422
    assert "since" in response.json["error"]["details"]


def test_another_countys_person_is_not_found_by_name(login):
    outsider = login("county_staff", county_codes=["341822"])
    _new_operator(outsider, county_code="341822")
    staff = login("county_staff", county_codes=["340722"])
    assert staff.get(f"/api/v1/audit?username={outsider.user['username']}").json["total"] == 0


def test_a_filter_value_is_never_a_query_operator(login):
    admin = login("admin")
    response = admin.get("/api/v1/audit?username[$ne]=x")
    assert response.status_code in (400, 422)
    assert admin.get('/api/v1/audit?username={"$ne": "x"}').json["total"] == 0


# Changes ------------------------------------------------------------------------------------------


def test_an_update_changes_its_fields_not_its_bookkeeping():
    before = {"_id": 1, "version": 1, "contact_phone": "1", "plan": {"year": 2024, "food_total_fen": 100}}
    after = {"_id": 1, "version": 2, "contact_phone": "2", "plan": {"year": 2024, "food_total_fen": 200}}
    entry = {"before": before, "after": after}
    assert audit.changed_fields(entry) == [("contact_phone", "1", "2"), ("plan.food_total_fen", 100, 200)]


def test_a_creation_changes_no_field():
    assert audit.changed_fields({"before": None, "after": {"name": "新"}}) == []
