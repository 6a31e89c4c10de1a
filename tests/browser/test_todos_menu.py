"""The menu's to-dos in a real browser on the demo county: each count equals the rows its link opens.

Every to-do of county staff, the enterprise and the canteen is clicked, and the rows of the list it
opens are counted page by page. The dashboard says it is loading while it is on its way, and its
cards open the lists behind them.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

# What marks one row of the list each to-do opens.
ROWS = {
    "review": "[data-testid=review-item]",
    "publicity_ended": "[data-testid=product-row]",
    "expiring": "[data-testid=product-row]",
    "unmatched": "[data-testid=unmatched-row]",
    "canteens_behind": "[data-testid=canteen-row]",
    "stale": "[data-testid=stale-partition]",
    "interrupted": "[data-testid=import-run]",
    "returned": "[data-testid=product-row]",
    "row_errors": "[data-testid=import-run]",
    "plan": "[data-testid=plan-missing]",
    "behind": ".badge.quota-behind",
    "targeting_gaps": "[data-testid=gap-row]",
}


def menu_todos(page: Page) -> dict[str, int]:
    """The menu's to-dos as shown: key -> count."""
    found = {}
    for link in page.locator("nav.todos a.todo").all():
        key = link.get_attribute("data-testid").removeprefix("todo-")
        found[key] = int(link.get_by_test_id("todo-count").inner_text())
    return found


def rows_of_every_page(page: Page, selector: str) -> int:
    """The rows of the list shown, following its pager to the last page."""
    rows = page.locator(selector).count()
    while (following := page.locator("nav.pager a", has_text="下一页")).count():
        following.click()
        page.wait_for_load_state()
        rows += page.locator(selector).count()
    return rows


def check_every_to_do(page: Page, username: str) -> dict[str, int]:
    log_in(page, username)
    shown = menu_todos(page)
    home = page.url
    for key, count in shown.items():
        page.goto(home)
        page.get_by_test_id(f"todo-{key}").click()
        page.wait_for_load_state()
        assert rows_of_every_page(page, ROWS[key]) == count, (username, key, page.url)
    return shown


def test_county_staffs_to_dos_equal_the_rows_of_their_lists(new_page):
    page = new_page()
    shown = check_every_to_do(page, "county")
    # The demo county has products waiting for review, expiring certificates and unmatched sales.
    assert {"review", "expiring", "unmatched"} <= set(shown), shown
    screenshot(page, "todos-county")


@pytest.mark.parametrize("username", ["enterprise", "canteen"])
def test_the_enterprises_and_the_canteens_to_dos_equal_what_their_links_open(new_page, username):
    check_every_to_do(new_page(), username)


def test_the_dashboard_says_it_is_loading_until_it_arrives(new_page):
    page = new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security" in message.text else None,
    )
    log_in(page, "county")
    page.goto("/products/")
    expect(page.get_by_test_id("page-loading")).to_be_hidden()
    # The click's navigation is held back here (a listener after the page's own), so the page
    # stays as it is while the dashboard would be on its way.
    page.evaluate("window.addEventListener('click', (event) => event.preventDefault())")
    page.locator(".mainnav a", has_text="首页").click()
    expect(page.get_by_test_id("page-loading")).to_be_visible()
    expect(page.get_by_test_id("page-loading")).to_contain_text("正在加载数据看板")
    screenshot(page, "dashboard-loading")
    page.goto("/county/")
    expect(page.get_by_test_id("figure-sales_fen")).to_be_visible()
    expect(page.get_by_test_id("page-loading")).to_be_hidden()
    page.evaluate("window.addEventListener('submit', (event) => event.preventDefault())")
    page.locator("form.period button[type=submit]").click()
    expect(page.get_by_test_id("page-loading")).to_contain_text("正在按新的条件计算")
    assert violations == []


def test_the_dashboards_cards_open_the_lists_behind_them(new_page):
    page = new_page()
    log_in(page, "county")
    page.get_by_test_id("figure-unmatched_sales_fen").click()
    page.wait_for_load_state()
    assert "/imports/unmatched" in page.url
    expect(page.get_by_test_id("unmatched-groups")).to_be_visible()
    page.go_back()
    page.get_by_test_id("figure-poor_income_fen").click()
    assert page.url.endswith("#section-townships")
    # Tables show all their rows: none is cut off inside a scrolling box.
    for table in page.locator(".dashboard .panel .table-wrap").all():
        assert table.evaluate("box => box.scrollHeight <= box.clientHeight + 1")
