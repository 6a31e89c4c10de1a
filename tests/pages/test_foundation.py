"""The pages' plumbing: login and logout, session expiry, role homes, CSRF, 403 pages, formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service import storage
from service.web import formatting, messages
from service.web.core import safe_next
from tests.factories import PASSWORD, PageBrowser

HOMES = {
    "admin": "/county/",
    "county_staff": "/county/",
    "enterprise": "/enterprise/",
    "canteen": "/canteen/",
}


@pytest.mark.parametrize("role", sorted(HOMES))
def test_each_role_lands_on_its_home(page_login, role):
    browser = page_login(role)
    response = browser.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == HOMES[role]
    page = browser.text(HOMES[role])
    assert browser.user["username"] in page
    assert 'lang="zh-CN"' in page


def test_login_redirects_to_the_page_asked_for(app, factory):
    user, password = factory.user("county_staff")
    browser = PageBrowser(app.test_client())
    first = browser.get("/county/?from=2026-01")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/login?next=")
    browser.get(first.headers["Location"])
    response = browser.post(
        "/login", {"username": user["username"], "password": password, "next": "/county/?from=2026-01"}
    )
    assert response.headers["Location"] == "/county/?from=2026-01"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example/x", "javascript:alert(1)", "county"],
)
def test_login_never_redirects_off_site(target):
    assert safe_next(target, "/home") == "/home"


def test_wrong_password_shows_a_chinese_error_and_no_session(app, factory):
    user, _ = factory.user("enterprise")
    browser = PageBrowser(app.test_client())
    browser.get("/login")
    response = browser.post("/login", {"username": user["username"], "password": "wrong-password"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert browser.get("/enterprise/").status_code == 302


def test_repeated_failures_are_throttled_on_the_page_too(app, factory):
    user, _ = factory.user("enterprise")
    browser = PageBrowser(app.test_client())
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        browser.post("/login", {"username": user["username"], "password": "wrong-password"})
    response = browser.post("/login", {"username": user["username"], "password": PASSWORD})
    assert response.status_code == 429
    assert "次数过多" in response.get_data(as_text=True)


def test_a_form_without_the_csrf_token_is_refused(app, factory):
    user, password = factory.user("county_staff")
    client = app.test_client()
    response = client.post("/login", data={"username": user["username"], "password": password})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_logout_revokes_the_token(page_login, db):
    browser = page_login("canteen")
    assert db[storage.AUTH_TOKENS].count_documents({"user_id": browser.user["_id"]}) == 1
    response = browser.post("/logout")
    assert response.status_code == 302
    assert db[storage.AUTH_TOKENS].count_documents({"user_id": browser.user["_id"]}) == 0
    assert browser.get("/canteen/").status_code == 302


def test_an_expired_session_goes_back_to_login(page_login, db):
    browser = page_login("canteen")
    db[storage.AUTH_TOKENS].update_many(
        {"user_id": browser.user["_id"]}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    response = browser.get("/canteen/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_a_form_posted_after_the_session_ended_goes_to_login_not_a_csrf_error(app, factory):
    user, password = factory.user("canteen")
    browser = PageBrowser(app.test_client())
    browser.login(user["username"], password)
    # The session cookie is gone (expired), and with it the CSRF token the form carried.
    browser.client.delete_cookie("session")
    response = browser.post("/account/password", {"current_password": password})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    ("role", "other_home"),
    [
        ("enterprise", "/county/"),
        ("canteen", "/enterprise/"),
        ("county_staff", "/canteen/"),
        ("canteen", "/county/"),
    ],
)
def test_another_roles_page_is_a_403_page(page_login, role, other_home):
    browser = page_login(role)
    response = browser.get(other_home)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "没有权限" in page and 'data-testid="error-page"' in page


def test_every_page_route_declares_its_access(app):
    from service.access import access_of
    from service.web.core import PageBlueprint

    for rule in app.url_map.iter_rules():
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
        if isinstance(blueprint, PageBlueprint):
            assert access_of(app.view_functions[rule.endpoint]) is not None, rule.rule


def test_pages_carry_a_strict_content_security_policy(page_login):
    response = page_login("county_staff").get("/county/")
    policy = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert response.headers["Cache-Control"] == "private, no-store"


def test_unknown_pages_are_html_and_api_stays_json(client):
    assert client.get("/no-such-page").mimetype == "text/html"
    assert client.get("/api/v1/no-such-thing").mimetype == "application/json"


def test_the_chart_library_is_served_locally(client):
    response = client.get("/vendor/echarts.min.js")
    assert response.status_code == 200
    assert b"echarts" in response.data[:2000]
    assert client.get("/vendor/../package.json").status_code == 404
    assert client.get("/vendor/echarts/package.json").status_code == 404


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (-150, "-1.50"),
        (123456789, "1,234,567.89"),
        (100_000_000_000, "1,000,000,000.00"),
    ],
)
def test_yuan_has_two_decimals_and_thousands_separators(fen, text):
    assert formatting.yuan(fen) == text


def test_yuan_refuses_floats():
    with pytest.raises(TypeError):
        formatting.yuan(1.5)


def test_dates_are_shown_in_shanghai():
    late_utc = datetime(2026, 1, 31, 17, 30, tzinfo=UTC)
    assert formatting.local_date(late_utc) == "2026-02-01"
    assert formatting.local_datetime(late_utc) == "2026-02-01 01:30"
    assert formatting.local_date(late_utc.replace(tzinfo=None)) == "2026-02-01"


def test_messages_are_translated_or_kept():
    assert messages.say("Missing data for required field.") == "必填。"
    assert messages.say("Must be greater than or equal to 1.") == "不能小于 1。"
    assert messages.say("Something only the service says.") == "Something only the service says."
