"""Roles and object-level authorisation, enforced in one place for every route."""

from __future__ import annotations

import pytest

from service.access import access_of


def test_every_api_route_declares_its_access(app):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1") and access_of(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []


def test_a_route_without_a_policy_is_refused(app, login):
    from service.extensions import Blueprint

    blp = Blueprint("undeclared", __name__, url_prefix="/api/v1/undeclared")

    @blp.route("", methods=["GET"])
    def forgotten():
        return {"leaked": True}

    app.extensions["api"].register_blueprint(blp)
    response = login("admin").get("/api/v1/undeclared")
    assert response.status_code == 403
    assert "leaked" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("county_staff", 200), ("enterprise", 403), ("canteen", 403)],
)
def test_user_list_by_role(login, role, status):
    assert login(role).get("/api/v1/users").status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("county_staff", 200), ("enterprise", 403), ("canteen", 403)],
)
def test_audit_log_by_role(login, role, status):
    assert login(role).get("/api/v1/audit").status_code == status


def test_county_staff_see_only_accounts_of_their_counties(login, factory):
    mine, _ = factory.user("enterprise", county_code="340722")
    theirs, _ = factory.user("enterprise", county_code="341822")
    staff = login("county_staff", county_codes=["340722"])
    names = {user["username"] for user in staff.get("/api/v1/users?per_page=200").json["items"]}
    assert mine["username"] in names
    assert theirs["username"] not in names
    assert staff.get(f"/api/v1/users/{theirs['_id']}").status_code == 403
    assert staff.get(f"/api/v1/users/{mine['_id']}").status_code == 200


def test_county_staff_cannot_disable_another_countys_account(login, factory):
    theirs, _ = factory.user("canteen", county_code="341822")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.patch(f"/api/v1/users/{theirs['_id']}", json={"active": False})
    assert response.status_code == 403


def test_county_staff_cannot_create_staff_accounts(login):
    staff = login("county_staff")
    response = staff.post(
        "/api/v1/users",
        json={
            "username": "new-clerk",
            "password": "long-enough-pass",
            "role": "county_staff",
            "county_codes": ["340722"],
        },
    )
    assert response.status_code == 403


def test_county_staff_create_enterprise_accounts_only_in_their_county(login, factory):
    staff = login("county_staff", county_codes=["340722"])
    own = factory.operator("340722")
    other = factory.operator("341822")
    body = {"password": "long-enough-pass", "role": "enterprise"}
    ok = staff.post("/api/v1/users", json={**body, "username": "ent-own", "operator_id": str(own["_id"])})
    denied = staff.post(
        "/api/v1/users", json={**body, "username": "ent-other", "operator_id": str(other["_id"])}
    )
    assert ok.status_code == 201 and ok.json["county_codes"] == ["340722"]
    assert denied.status_code == 403


def test_an_enterprise_cannot_read_another_account(login, factory):
    other, _ = factory.user("enterprise")
    enterprise = login("enterprise")
    assert enterprise.get(f"/api/v1/users/{other['_id']}").status_code == 403
    assert enterprise.get("/api/v1/auth/me").json["operator_id"] == str(enterprise.user["operator_id"])


def test_duplicate_username_is_409(login):
    admin = login("admin")
    body = {"username": "dup-user", "password": "long-enough-pass", "role": "admin"}
    assert admin.post("/api/v1/users", json=body).status_code == 201
    response = admin.post("/api/v1/users", json=body)
    assert response.status_code == 409
    assert response.json["error"]["details"] == {"username": ["Already taken."]}
