"""Each role in a real browser: its home page, its menu, and the 403 page on another role's pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

HOMES = {
    "admin": ("/county/", "首页"),
    "county": ("/county/", "首页"),
    "enterprise": ("/enterprise/", "首页"),
    "canteen": ("/canteen/", "首页"),
}
FORBIDDEN = {
    "enterprise": ["/county/", "/products/review", "/imports/unmatched", "/canteen/"],
    "canteen": ["/county/", "/enterprise/", "/households/"],
    "county": ["/enterprise/", "/canteen/"],
}


@pytest.mark.parametrize("username", sorted(HOMES))
def test_each_role_logs_in_to_its_home(new_page, username):
    page = new_page()
    log_in(page, username)
    path, menu_item = HOMES[username]
    assert page.url.endswith(path)
    expect(page.locator(".mainnav a.active")).to_have_text(menu_item)
    screenshot(page, f"home-{username}")


@pytest.mark.parametrize("username", sorted(FORBIDDEN))
def test_another_roles_pages_show_the_403_page(new_page, username):
    page = new_page()
    log_in(page, username)
    for path in FORBIDDEN[username]:
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_test_id("error-page")).to_contain_text("没有权限")


def test_strangers_are_sent_to_login_and_back(new_page):
    page = new_page()
    page.goto("/county/?from=2026-01")
    assert "/login" in page.url
    page.fill("#username", "county")
    page.fill("#password", "demo-pass-2020")
    page.click("button[type=submit]")
    assert page.url.endswith("/county/?from=2026-01")


def test_wrong_password_is_refused_in_chinese(new_page):
    page = new_page()
    page.goto("/login")
    page.fill("#username", "county")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("login-error")).to_have_text("用户名或密码错误。")


def test_logout_ends_the_session(new_page):
    page = new_page()
    log_in(page, "canteen")
    page.get_by_role("button", name="退出").click()
    expect(page.locator(".flash-ok")).to_contain_text("已退出登录")
    page.goto("/canteen/")
    assert "/login" in page.url
