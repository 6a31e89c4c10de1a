"""Printing in a real browser: a household's page fits two A4 pages, the menu and buttons are left out,
and the 公示名单 and the places page render."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_a_households_print_preview_is_at_most_two_a4_pages(new_page):
    page = new_page()
    log_in(page, "county")
    page.goto("/households/")
    page.locator("table a[href^='/households/']").first.click()
    expect(page.get_by_test_id("household-place")).to_be_visible()
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert page.locator("button:visible").count() == 0
    pdf = page.pdf(format="A4")
    (ARTIFACTS / "household-print.pdf").write_bytes(pdf)
    assert 1 <= pdf_pages(pdf) <= 2


def test_the_publicity_list_and_the_places_page_render(new_page):
    page = new_page()
    log_in(page, "county")
    page.goto("/products/publicity-list?from=2000-01-01&phone=0562-3211234")
    expect(page.get_by_test_id("publicity-list")).to_contain_text("扶贫产品认定公示名单")
    assert page.get_by_test_id("publicity-row").count() >= 1
    page.emulate_media(media="print")
    assert not page.get_by_test_id("publicity-form").is_visible()
    assert pdf_pages(page.pdf(format="A4")) >= 1
    page.goto("/places/")
    expect(page.get_by_test_id("township-row").first).to_be_visible()
    expect(page.get_by_test_id("townships")).to_contain_text("枞阳镇")
