"""Login throttling per account and per address, kept in MongoDB; session cookies; caching of answers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from service import clock, storage
from tests.conftest import make_test_app
from tests.factories import PASSWORD, PageBrowser


def _now():
    # Frozen at the real present: a server's TTL monitor, on its own clock, never sweeps a live window.
    return datetime.now(UTC).replace(microsecond=0)


def _login(client, username, password, address="10.0.0.1"):
    return client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _page_login(client, username, password, address="10.0.0.1"):
    browser = PageBrowser(client)
    browser.get("/login", environ_base={"REMOTE_ADDR": address})
    return browser.post(
        "/login", {"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


@pytest.fixture
def frozen():
    with time_machine.travel(_now(), tick=False) as traveller:
        yield traveller


# Per account -------------------------------------------------------------------------------------


def test_five_failures_of_one_account_lock_it_for_the_rest_of_the_minute(client, factory, frozen):
    user, _ = factory.user("admin")
    for attempt in range(5):
        assert _login(client, user["username"], "bad-password", f"10.0.1.{attempt}").status_code == 401
    blocked = _login(client, user["username"], PASSWORD, "10.0.2.1")
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "60"
    assert blocked.json["error"]["kind"] == "too_many_requests"
    frozen.shift(59)
    assert _login(client, user["username"], PASSWORD, "10.0.2.1").headers["Retry-After"] == "1"
    frozen.shift(1)
    assert _login(client, user["username"], PASSWORD, "10.0.2.1").status_code == 200


def test_the_account_counter_ignores_case_and_surrounding_spaces(client, factory, frozen):
    user, _ = factory.user("admin")
    for spelling in (user["username"].upper(), f" {user['username']} ", user["username"].title()):
        _login(client, spelling, "bad-password")
    _login(client, user["username"], "bad-password")
    _login(client, user["username"], "bad-password")
    assert _login(client, user["username"], PASSWORD).status_code == 429


def test_a_right_password_starts_the_account_afresh(client, factory, frozen):
    user, _ = factory.user("admin")
    for _ in range(4):
        _login(client, user["username"], "bad-password")
    assert _login(client, user["username"], PASSWORD).status_code == 200
    for _ in range(4):
        assert _login(client, user["username"], "bad-password").status_code == 401
    assert _login(client, user["username"], PASSWORD).status_code == 200


# Per address -------------------------------------------------------------------------------------


def test_one_clerks_typos_never_lock_out_a_colleague_behind_the_same_address(client, factory, frozen):
    clumsy, _ = factory.user("county_staff")
    colleague, _ = factory.user("county_staff")
    for _ in range(5):
        _login(client, clumsy["username"], "bad-password", "10.8.8.8")
    assert _login(client, clumsy["username"], PASSWORD, "10.8.8.8").status_code == 429
    assert _login(client, colleague["username"], PASSWORD, "10.8.8.8").status_code == 200


def test_thirty_failures_from_one_address_stop_it_for_every_account(client, factory, frozen):
    user, _ = factory.user("admin")
    for attempt in range(30):
        assert _login(client, f"guess-{attempt}", "bad-password", "10.9.9.9").status_code == 401
    refused = _login(client, user["username"], PASSWORD, "10.9.9.9")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert _login(client, user["username"], PASSWORD, "10.9.9.10").status_code == 200


def test_both_limits_and_the_window_are_configurable(factory_for):
    client, factory = factory_for(
        LOGIN_MAX_FAILURES=2, LOGIN_MAX_FAILURES_PER_ADDRESS=3, LOGIN_FAILURE_WINDOW_SECONDS=10
    )
    user, _ = factory.user("admin")
    with time_machine.travel(_now(), tick=False):
        for _ in range(2):
            _login(client, user["username"], "bad-password", "10.1.1.1")
        refused = _login(client, user["username"], PASSWORD, "10.1.1.2")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "10"
        _login(client, "someone", "bad-password", "10.1.1.3")
        _login(client, "someone-else", "bad-password", "10.1.1.3")
        _login(client, "another", "bad-password", "10.1.1.3")
        assert _login(client, "fourth", "bad-password", "10.1.1.3").status_code == 429


@pytest.fixture
def factory_for():
    from tests.conftest import _drop
    from tests.factories import Factory

    apps = []

    def _make(**config):
        app = make_test_app(**config)
        apps.append(app)
        context = app.app_context()
        context.push()
        apps.append(context)
        return app.test_client(), Factory(app, storage.get_db())

    yield _make
    for item in reversed(apps):
        if hasattr(item, "pop"):
            item.pop()
        else:
            _drop(item)


# Shared by every worker --------------------------------------------------------------------------


def test_the_counters_live_in_mongodb_and_nowhere_else(client, factory, db, frozen):
    user, _ = factory.user("admin")
    for _ in range(5):
        _login(client, user["username"], "bad-password")
    counters = list(db[storage.LOGIN_FAILURES].find())
    assert sorted(counter["count"] for counter in counters) == [5, 5]
    assert all(user["username"] not in counter["_id"] for counter in counters)  # keys are hashed
    assert _login(client, user["username"], PASSWORD).status_code == 429
    db[storage.LOGIN_FAILURES].delete_many({})
    assert _login(client, user["username"], PASSWORD).status_code == 200


def test_a_second_worker_sees_the_first_workers_failures(app, factory, frozen):
    user, _ = factory.user("admin")
    for _ in range(5):
        _login(app.test_client(), user["username"], "bad-password")
    second = make_test_app(MONGO_DB_NAME=app.config["MONGO_DB_NAME"])
    second.extensions["storage"] = app.extensions["storage"]  # the emulator is per app; a server is shared
    assert _login(second.test_client(), user["username"], PASSWORD).status_code == 429


def test_parallel_guesses_never_get_past_the_limit(app, factory):
    user, _ = factory.user("admin")
    answers: list[int] = []
    lock = threading.Lock()

    def guess(attempt: int) -> None:
        status = _login(app.test_client(), user["username"], "bad-password", f"10.3.0.{attempt}").status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(401) == 5
    assert answers.count(429) == 11


def test_a_window_that_has_passed_starts_again_at_one(client, factory, db, frozen):
    user, _ = factory.user("admin")
    for _ in range(5):
        _login(client, user["username"], "bad-password")
    frozen.shift(61)
    assert _login(client, user["username"], "bad-password").status_code == 401
    assert sorted(counter["count"] for counter in db[storage.LOGIN_FAILURES].find()) == [1, 1]
    expires = clock.utcnow() + timedelta(seconds=60)
    assert all(
        counter["expires_at"].replace(tzinfo=expires.tzinfo) == expires
        for counter in db[storage.LOGIN_FAILURES].find()
    )


# Pages -------------------------------------------------------------------------------------------


def test_the_login_page_refuses_with_429_and_retry_after(client, factory, frozen):
    user, _ = factory.user("admin")
    for _ in range(5):
        _page_login(client, user["username"], "bad-password")
    refused = _page_login(client, user["username"], PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert "60 秒后再试" in refused.get_data(as_text=True)


def test_the_password_page_refuses_with_429_and_retry_after(page_login, frozen):
    browser = page_login("county_staff")
    wrong = {"current_password": "bad-password", "new_password": "x" * 12, "new_password_confirm": "x" * 12}
    for _ in range(5):
        assert browser.post("/account/password", wrong).status_code == 422
    refused = browser.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "y" * 12, "new_password_confirm": "y" * 12},
    )
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"


def test_the_password_api_refuses_with_429_and_retry_after(login, frozen):
    caller = login("county_staff")
    for _ in range(5):
        caller.post("/api/v1/auth/password", json={"current_password": "bad", "new_password": "x" * 12})
    refused = caller.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "y" * 12}
    )
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"


# Sessions and caching ------------------------------------------------------------------------------


def _session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_the_page_session_cookie_is_samesite_lax_and_httponly(client, factory):
    user, _ = factory.user("admin")
    response = _page_login(client, user["username"], PASSWORD)
    assert response.status_code == 302
    cookie = _session_cookie(response)
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie


def test_the_page_session_cookie_is_secure_when_configured(factory_for):
    client, factory = factory_for(SESSION_COOKIE_SECURE=True)
    user, _ = factory.user("admin")
    cookie = _session_cookie(_page_login(client, user["username"], PASSWORD))
    assert "Secure" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie


def test_authenticated_json_answers_are_never_cached(login, client, factory):
    caller = login("admin")
    for url in ("/api/v1/auth/me", "/api/v1/households", "/api/v1/users/nope"):
        assert caller.get(url).headers["Cache-Control"] == "no-store"
    user, _ = factory.user("admin")
    assert _login(client, user["username"], PASSWORD).headers["Cache-Control"] == "no-store"
