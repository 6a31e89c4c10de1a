"""The append-only audit log."""

from __future__ import annotations


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
