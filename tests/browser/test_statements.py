"""In a real browser on the demo county: the income-line page with its notice, a household's statement
downloaded as a one-page PDF, and its code checked on the verification page."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser
NOTICE = "本页数据仅反映消费帮扶带来的收益，不作为脱贫退出或监测识别的依据。"


def test_the_income_line_page_then_a_households_statement_and_its_code(new_page):
    page = new_page()
    log_in(page, "county")
    page.goto("/income-lines/")
    expect(page.get_by_test_id("not-a-decision")).to_have_text(NOTICE)
    year = page.get_by_test_id("income-line-year").input_value()
    rows = page.get_by_test_id("progress-row")
    expect(rows.first).to_be_visible()
    with_income = [
        row
        for row in rows.all()
        if int(row.get_by_test_id("per-capita-estimated").get_attribute("data-fen")) > 0
    ]
    assert with_income, "the demo county has 脱贫户 with consumption-aid income this year"
    with_income[0].locator("a").first.click()
    expect(page.get_by_test_id("statement-form")).to_be_attached()
    page.get_by_test_id("statement-year").fill(year)
    with page.expect_download() as info:
        page.get_by_test_id("print-statement").click()
    download = info.value
    assert download.suggested_filename.endswith(f"-{year}.pdf")
    data = download.path().read_bytes()
    (ARTIFACTS / "household-statement.pdf").write_bytes(data)
    [text] = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    assert "消费帮扶收益明白卡" in text
    assert not re.search(r"(?<!\d)\d{17}[\dX](?!\d)", text)
    code = re.search(r"核验码：\s*([A-Z2-7]{5}-[A-Z2-7]{5})", text).group(1)

    page.goto("/statements/verify")
    page.get_by_test_id("verify-code").fill(code.lower())
    page.get_by_test_id("verify-form").locator("button").click()
    expect(page.get_by_test_id("verify-current")).to_be_visible()
    expect(page.get_by_test_id("verify-result")).to_contain_text(f"{year}年度")
