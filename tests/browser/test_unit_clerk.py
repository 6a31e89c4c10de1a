"""A unit clerk imports its sheet in a real browser (checked first, then for real) and sees its
figures; the county clerk then opens the buyers report and finds the same totals."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from service.clock import today_local
from service.unit_purchase_inputs import COLUMNS
from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

SUPPLIER_USCC = "91110108551385082Q"
OFFICE = "福田区机关食堂管理所"  # supervised by the demo unit account's unit


def sheet(day: str) -> str:
    """Direct purchases of 20,850,000.00 yuan and helped sales of 4,390,000.00 yuan, all dated ``day``
    (the demo's own purchases end the day before today, so the day holds these alone)."""
    rows = [
        ("", "直接采购", "8000000.00", "B-1"),
        ("", "工会采购", "2850000.00", "B-2"),
        (OFFICE, "食堂采购", "6000000.00", "B-3"),
        ("", "832平台采购", "4000000.00", "B-4"),
        ("", "帮助销售", "3290000.00", "B-5"),
        (OFFICE, "帮助销售", "1000000.00", "B-6"),
        ("", "帮助销售", "100000.00", "B-7"),
    ]
    lines = [",".join(COLUMNS.values())]
    for unit, mode, amount, order in rows:
        lines.append(f"{unit},{mode},{day},,{SUPPLIER_USCC},大米,10,袋,,{amount},,FP-{order},{order}")
    return "\n".join(lines) + "\n"


def test_a_unit_clerks_import_shows_on_its_page_and_on_the_countys_buyer_report(new_page, tmp_path):
    day = today_local().isoformat()
    path = tmp_path / "purchases.csv"
    path.write_text(sheet(day), encoding="utf-8")

    clerk = new_page()
    log_in(clerk, "unit")
    assert clerk.url.endswith("/unit/")
    clerk.get_by_test_id("go-upload").click()
    clerk.set_input_files("#f-file", str(path))
    clerk.check("input[name=dry_run]")
    clerk.get_by_test_id("upload-submit").click()
    expect(clerk.get_by_test_id("upload-result")).to_contain_text("检查结果（未保存）")
    expect(clerk.get_by_test_id("count-inserted")).to_have_text("7")
    expect(clerk.get_by_test_id("count-rejected")).to_have_text("0")

    clerk.set_input_files("#f-file", str(path))
    clerk.uncheck("input[name=dry_run]")
    clerk.get_by_test_id("upload-submit").click()
    expect(clerk.get_by_test_id("upload-result")).to_contain_text("导入结果")
    expect(clerk.get_by_test_id("count-inserted")).to_have_text("7")

    clerk.goto(f"/unit/?from={day}&to={day}")
    expect(clerk.get_by_test_id("unit-direct")).to_have_text("20,850,000.00")
    expect(clerk.get_by_test_id("unit-helped")).to_have_text("4,390,000.00")
    screenshot(clerk, "unit-clerk-home")

    county = new_page()
    log_in(county, "county")
    county.locator(".mainnav a", has_text="帮扶采购统计").click()
    expect(county.get_by_test_id("buyers-headline")).to_contain_text("帮扶单位直接购买")
    county.fill("input[name=from]", day)
    county.fill("input[name=to]", day)
    county.locator("form.filters button[type=submit]").click()
    expect(county.get_by_test_id("headline-direct")).to_have_text("2,085.00")
    expect(county.get_by_test_id("headline-helped")).to_have_text("439.00")
    expect(county.get_by_test_id("report-direct")).to_have_text("20,850,000.00")
    expect(county.get_by_test_id("report-helped")).to_have_text("4,390,000.00")
    screenshot(county, "county-buyers-report")
