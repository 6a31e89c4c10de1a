"""Login, logout, token expiry and login throttling."""

from __future__ import annotations

from datetime import timedelta

from service import clock
from tests.factories import PASSWORD


def _login(client, username, password, address="10.0.0.1"):
    return client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_login_returns_a_token_and_the_user(client, factory):
    user, password = factory.user("county_staff")
    response = _login(client, user["username"], password)
    assert response.status_code == 200
    assert response.json["user"]["username"] == user["username"]
    assert response.json["user"]["county_codes"] == ["340722"]
    assert "password" not in str(response.json["user"])
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.json["username"] == user["username"]


def test_tokens_are_stored_hashed(client, factory, db):
    user, password = factory.user("admin")
    token = _login(client, user["username"], password).json["token"]
    stored = db["auth_tokens"].find_one({"user_id": user["_id"]})
    assert stored is not None and token not in str(stored)


def test_wrong_password_is_401_in_the_envelope(client, factory):
    user, _ = factory.user("admin")
    response = _login(client, user["username"], "wrong-password")
    assert response.status_code == 401
    assert response.json["error"]["kind"] == "unauthorized"
    assert response.json["error"]["code"] == "auth.wrong_credentials"


def test_unknown_user_is_the_same_401(client):
    response = _login(client, "nobody", "whatever-pass")
    assert response.status_code == 401
    assert response.json["error"]["message"] == "Wrong username or password."


def test_calls_without_a_token_are_401(client):
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_logout_revokes_the_token(login):
    caller = login("admin")
    assert caller.get("/api/v1/auth/me").status_code == 200
    assert caller.post("/api/v1/auth/logout").status_code == 204
    assert caller.get("/api/v1/auth/me").status_code == 401


def test_tokens_expire(login, app, monkeypatch):
    caller = login("admin")
    later = clock.utcnow() + timedelta(seconds=app.config["TOKEN_TTL_SECONDS"] + 1)
    monkeypatch.setattr("service.auth.utcnow", lambda: later)
    response = caller.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert "expired" in response.json["error"]["message"]


def test_disabling_an_account_revokes_its_tokens(login, app):
    admin = login("admin")
    staff = login("county_staff")
    response = admin.patch(f"/api/v1/users/{staff.user['_id']}", json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    assert staff.get("/api/v1/auth/me").status_code == 401
    assert _login(app.test_client(), staff.user["username"], PASSWORD).status_code == 401


def test_failed_logins_are_throttled_per_username(client, factory, app):
    user, password = factory.user("admin")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for attempt in range(limit):
        # A different address each time: only the username limit can trigger.
        assert _login(client, user["username"], "bad-password", f"10.0.1.{attempt}").status_code == 401
    blocked = _login(client, user["username"], password, "10.0.2.1")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json["error"]["code"] == "auth.too_many_failures"


def test_failed_logins_are_throttled_per_address(client, factory, app):
    user, password = factory.user("admin")
    for attempt in range(app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]):
        assert _login(client, f"guess-{attempt}", "bad-password", "10.9.9.9").status_code == 401
    assert _login(client, user["username"], password, "10.9.9.9").status_code == 429
    assert _login(client, user["username"], password, "10.9.9.10").status_code == 200


def test_throttling_ends_when_the_window_passes(client, factory, app, monkeypatch):
    user, password = factory.user("admin")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _login(client, user["username"], "bad-password")
    assert _login(client, user["username"], password).status_code == 429
    later = clock.utcnow() + timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW_SECONDS"] + 1)
    monkeypatch.setattr("service.auth.utcnow", lambda: later)
    assert _login(client, user["username"], password).status_code == 200


def test_users_create_command_reads_the_password_from_stdin(runner, app, factory):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--username",
            "clerk1",
            "--role",
            "county_staff",
            "--county",
            "340722",
            "--password",
            "-",
        ],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    assert _login(app.test_client(), "clerk1", "a-long-password").status_code == 200


def test_users_create_command_refuses_an_enterprise_without_operator(runner):
    result = runner.invoke(
        args=["users", "create", "--username", "ent1", "--role", "enterprise", "--password", "-"],
        input="a-long-password\n",
    )
    assert result.exit_code != 0
    assert "operator" in result.output
