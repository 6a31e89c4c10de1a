"""A clerk maps three unmatched SKUs in one submit, and the dashboard's card and the unmatched list
agree on what is left unmatched, before and after."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, screenshot, yuan_to_fen

pytestmark = pytest.mark.browser

MAPPED = 3


def card_fen(page: Page) -> int:
    page.goto("/county/")
    return yuan_to_fen(page.get_by_test_id("figure-unmatched_sales_fen").inner_text())


def test_three_skus_mapped_at_once_leave_the_card_and_the_list_agreeing(new_page):
    page = new_page()
    log_in(page, "county")
    before = card_fen(page)
    page.get_by_test_id("figure-unmatched_sales_fen").click()
    page.wait_for_load_state()
    assert yuan_to_fen(page.get_by_test_id("unmatched-sales").inner_text()) == before
    listed = page.url

    rows = page.locator("[data-testid=unmatched-row]").filter(has=page.get_by_test_id("map-choice"))
    assert rows.count() >= MAPPED, "the demo county has too few unmatched SKUs with a suggestion"
    chosen_fen = 0
    for index in range(MAPPED):
        row = rows.nth(index)
        row.get_by_test_id("map-choice").select_option(index=1)
        chosen_fen += yuan_to_fen(row.locator("td.num").nth(2).inner_text())
    screenshot(page, "unmatched-three-chosen")
    page.get_by_test_id("map-skus").click()
    expect(page.locator(".flash-ok")).to_contain_text(f"已对应 {MAPPED} 个 SKU")
    assert page.url == listed

    after_list = yuan_to_fen(page.get_by_test_id("unmatched-sales").inner_text())
    assert after_list == before - chosen_fen
    assert card_fen(page) == after_list
