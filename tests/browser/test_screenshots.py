"""Pictures of the pages as the users meet them, at 1366×768: each role's home with the to-dos in
its menu, and the printed documents (a household's page, the 公示名单, the 认定证书) as PDF and
as the print preview. They are kept in the artefacts directory (tests/browser/conftest.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, log_in, screenshot
from tests.browser.test_print import pdf_pages

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1366, 768
ROLES_WITH_TODOS = ("county", "enterprise", "canteen")


@pytest.mark.parametrize("username", ["admin", *ROLES_WITH_TODOS])
def test_each_roles_home_with_its_to_dos(new_page, username):
    page = new_page(WIDTH, HEIGHT)
    log_in(page, username)
    if username in ROLES_WITH_TODOS:
        expect(page.get_by_test_id("todos")).to_be_visible()
        assert page.locator("[data-testid=todos] a.todo").count() >= 1
    path = screenshot(page, f"role-home-{username}")
    assert path.stat().st_size > 0


def printed(page: Page, name: str, most_pages: int) -> None:
    """The page as printed: its A4 PDF and a picture of the print preview, kept as artefacts."""
    page.emulate_media(media="print")
    # The document alone: neither the menu nor its to-dos are printed.
    assert not page.locator(".topbar").is_visible()
    assert not page.get_by_test_id("todos").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    (ARTIFACTS / f"print-{name}.pdf").write_bytes(pdf)
    screenshot(page, f"print-{name}")
    assert 1 <= pdf_pages(pdf) <= most_pages, name


def test_the_printed_documents(new_page):
    page = new_page(WIDTH, HEIGHT)
    log_in(page, "county")

    page.goto("/households/")
    page.locator("table a[href^='/households/']").first.click()
    expect(page.get_by_test_id("household-place")).to_be_visible()
    printed(page, "household", most_pages=2)

    page.emulate_media(media="screen")
    page.goto("/products/publicity-list?from=2000-01-01&phone=0562-3211234")
    expect(page.get_by_test_id("publicity-list")).to_contain_text("扶贫产品认定公示名单")
    printed(page, "publicity-list", most_pages=20)

    page.emulate_media(media="screen")
    page.goto("/products/?status=certified")
    product_url = page.locator("[data-testid=product-row] a[href^='/products/']").first.get_attribute("href")
    page.goto(f"{product_url.rstrip('/')}/certificate")
    expect(page.get_by_test_id("certificate-number")).not_to_be_empty()
    printed(page, "certificate", most_pages=1)
