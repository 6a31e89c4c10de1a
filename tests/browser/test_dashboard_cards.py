"""The county dashboard in a real browser: townships by name, and every card leads to a list of rows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, yuan_to_fen

pytestmark = pytest.mark.browser

# What one row of the list behind each card's link is.
ROWS_BEHIND = {
    "#section-trend-table": "[data-testid=trend-table] tbody tr",
    "#section-channels": "[data-testid=channel-table] tbody tr",
    "#section-townships": "[data-testid=township-table] tbody tr",
    "#section-income-distribution": "[data-testid=income-count]",
    "#section-operators": "[data-testid=operator-ranking] tbody tr:has(a)",
    "/imports/unmatched": "[data-testid=unmatched-row]",
}


def test_the_dashboards_townships_are_named(new_page):
    page = new_page()
    log_in(page, "county")
    cells = page.locator("[data-testid=township-table] tbody tr td:first-child").all_inner_texts()
    assert cells, "the demo county's dashboard lists no township"
    assert not [cell for cell in cells if re.fullmatch(r"\d{9}|未知", cell.strip())], cells
    expect(page.get_by_test_id("township-table")).to_contain_text("枞阳镇")


def test_every_card_leads_to_a_list_with_rows(new_page):
    page = new_page()
    log_in(page, "county")
    cards = page.locator("section.cards a.card")
    links = {card.get_attribute("data-testid"): card.get_attribute("href") for card in cards.all()}
    assert len(links) == 7, links
    for testid, href in links.items():
        page.goto("/county/")
        page.get_by_test_id(testid).click()
        page.wait_for_load_state()
        target = next(key for key in ROWS_BEHIND if key in page.url)
        rows = page.locator(ROWS_BEHIND[target])
        assert rows.count() >= 1, (testid, href, page.url)
        expect(rows.first).to_be_visible()
        if target.startswith("#"):
            expect(page.locator(target)).to_be_in_viewport()
    page.goto("/county/")
    benefited = page.get_by_test_id("figure-households_benefited").inner_text()
    assert re.sub(r"\D", "", benefited) == re.sub(r"\D", "", page.get_by_test_id("income-count").inner_text())
    assert yuan_to_fen(page.get_by_test_id("figure-sales_fen").inner_text()) > 0
