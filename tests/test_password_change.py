"""Changing one's own password through the API: POST /api/v1/auth/password."""

from __future__ import annotations

from service import storage
from tests.factories import PASSWORD, ApiCaller

NEW_PASSWORD = "a-brand-new-secret"


def fresh_login(client, username: str, password: str):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_a_user_changes_their_password_and_every_token_is_revoked(app, login, db):
    caller = login("enterprise")
    username = caller.user["username"]
    other_session = ApiCaller(app.test_client())
    other_session.login(username, PASSWORD)

    response = caller.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204
    # Every session ends, this one included: the caller signs in again with the new password.
    assert caller.get("/api/v1/auth/me").status_code == 401
    assert other_session.get("/api/v1/auth/me").status_code == 401
    assert fresh_login(app.test_client(), username, PASSWORD).status_code == 401
    assert fresh_login(app.test_client(), username, NEW_PASSWORD).status_code == 200

    entry = db[storage.AUDIT_LOG].find_one({"action": "user.password_change"})
    assert entry["entity"]["id"] == caller.user["_id"] and entry["actor"]["username"] == username
    assert "password" not in str(entry["after"]) and "hash" not in str(entry)


def test_a_wrong_current_password_is_refused_and_changes_nothing(app, login):
    caller = login("canteen")
    response = caller.post(
        "/api/v1/auth/password", json={"current_password": "not-my-password", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert "current_password" in response.json["error"]["details"]
    assert caller.get("/api/v1/auth/me").status_code == 200
    assert fresh_login(app.test_client(), caller.user["username"], PASSWORD).status_code == 200


def test_the_new_password_follows_the_account_rules(login):
    caller = login("county_staff")
    response = caller.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert response.status_code == 422
    assert "new_password" in response.json["error"]["details"]
    missing = caller.post("/api/v1/auth/password", json={"new_password": NEW_PASSWORD})
    assert missing.status_code == 422
    assert caller.get("/api/v1/auth/me").status_code == 200


def test_wrong_current_passwords_are_throttled_like_failed_logins(app, login):
    caller = login("admin")
    wrong = {"current_password": "not-my-password", "new_password": NEW_PASSWORD}
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert caller.post("/api/v1/auth/password", json=wrong).status_code == 422
    throttled = caller.post("/api/v1/auth/password", json={**wrong, "current_password": PASSWORD})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"]
    # The same counter guards the login form of that account.
    assert fresh_login(app.test_client(), caller.user["username"], PASSWORD).status_code == 429


def test_logging_in_is_needed(client):
    response = client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 401
