"""Money paid to households in a real browser: an enterprise clerk logs a payout to a linked household,
county staff find it beside the estimate, then enter a channel's outside figure and see its difference
against the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from service.clock import today_local
from tests.browser.conftest import log_in, screenshot, yuan_to_fen

pytestmark = pytest.mark.browser

AMOUNT = "1234.56"
AMOUNT_FEN = 123_456
VOUCHER = "BROWSER-PAYOUT-1"
# A demo link may start late or end early: the clerk tries the next household the form offers.
TRIES = 6


def _log_payout(clerk: Page, month: str, paid_on: str) -> str:
    """Log the payout to the first offered household linked during ``month``; its household number."""
    options = clerk.locator("#f-household_id option:not([disabled])")
    for index in range(min(TRIES, options.count())):
        option = clerk.locator("#f-household_id option:not([disabled])").nth(index)
        household_no = option.inner_text().split()[0]
        clerk.select_option("#f-household_id", option.get_attribute("value"))
        clerk.select_option("#f-kind", label="分红")
        clerk.fill("#f-amount", AMOUNT)
        clerk.fill("#f-paid_on", paid_on)
        clerk.select_option("#f-method", label="打卡")
        clerk.fill("#f-voucher_no", VOUCHER)
        clerk.fill("#f-period", month)
        clerk.get_by_test_id("payout-submit").click()
        clerk.wait_for_load_state()
        if clerk.locator(".flash-ok").filter(has_text=VOUCHER).count():
            return household_no
        expect(clerk.get_by_test_id("error-household_id")).to_be_visible()
    raise AssertionError(f"none of the first {TRIES} offered households is linked during {month}")


def test_a_logged_payout_shows_in_the_list_beside_the_estimate_and_a_control_total_beside_the_ledger(
    new_page,
):
    today = today_local()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    clerk = new_page()
    log_in(clerk, "enterprise")
    clerk.locator(".mainnav a", has_text="到户资金").click()
    expect(clerk.get_by_test_id("payout-form")).to_be_visible()
    household_no = _log_payout(clerk, last_month, today.isoformat())
    row = clerk.get_by_test_id("payout-row").filter(has_text=VOUCHER)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(household_no)
    expect(row).to_contain_text("1,234.56")
    screenshot(clerk, "payouts-enterprise")

    staff = new_page()
    log_in(staff, "county")
    staff.locator(".mainnav a", has_text="到户资金").click()
    staff.get_by_test_id("payout-report-link").click()
    staff.fill("input[name=from]", last_month)
    staff.fill("input[name=to]", last_month)
    staff.locator("form.filters button[type=submit]").click()
    # A household may be linked to two operators: the other's row has an estimate and nothing paid.
    rows = staff.get_by_test_id("payout-report-row").filter(has_text=household_no)
    expect(rows.first).to_be_visible()
    figures = [
        [yuan_to_fen(rows.nth(index).locator("td").nth(column).inner_text()) for column in (4, 5, 6)]
        for index in range(rows.count())
    ]
    paid = [(estimated, paid, difference) for estimated, paid, difference in figures if paid]
    assert len(paid) == 1, figures
    estimated_fen, paid_fen, difference_fen = paid[0]
    assert paid_fen == AMOUNT_FEN
    assert difference_fen == estimated_fen - paid_fen
    screenshot(staff, "payouts-report")

    staff.locator(".mainnav a", has_text="账实核对").click()
    form = staff.get_by_test_id("control-total-form")
    form.locator("#f-channel").select_option(label="京东")
    form.locator("#f-month").fill(last_month)
    form.locator("#f-amount").fill("100.01")
    form.locator("#f-source").fill("京东结算单")
    staff.get_by_test_id("control-total-submit").click()
    total_row = staff.get_by_test_id("control-total-row").filter(has_text=last_month).filter(has_text="京东")
    expect(total_row).to_have_count(1)
    cells = total_row.locator("td")
    assert yuan_to_fen(cells.nth(3).inner_text()) == 10_001
    ledger_fen = yuan_to_fen(cells.nth(4).inner_text())
    assert yuan_to_fen(cells.nth(5).inner_text()) == ledger_fen - 10_001
    screenshot(staff, "control-totals")
