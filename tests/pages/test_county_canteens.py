"""County staff's canteen pages: the list with progress, registration and editing, one canteen, plans."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from service import storage
from service.clock import today_local
from service.web.formatting import percent_bp, yuan

COUNTY, OTHER_COUNTY = "340722", "340823"
LIST = "/canteens/"
YEAR = 2024


@pytest.fixture
def staff(page_login):
    return page_login("county_staff", county_codes=[COUNTY])


@pytest.fixture
def hospital(factory):
    """A 2024 plan of 1,000,000.00 yuan at 15% (150,000.00 reserved), with 3,500.00 yuan that counts."""
    canteen = factory.canteen(
        COUNTY,
        name="枞阳县人民医院食堂",
        unit_type="hospital",
        plans=[{"year": YEAR, "food_total_fen": 100_000_000, "reserve_ratio_bp": 1500}],
    )
    certified = factory.product(
        county_code=COUNTY, status="certified", certified_at=datetime(2023, 1, 1, tzinfo=UTC)
    )
    factory.canteen_purchase(
        canteen, product_id=certified["_id"], amount_fen=300_000, invoice_no="C-1", via_832=True
    )
    factory.canteen_purchase(canteen, amount_fen=50_000, invoice_no="P-1", via_832=True)
    factory.canteen_purchase(canteen, amount_fen=120_000, invoice_no="U-1")
    return canteen


def text_of(page: str, testid: str) -> str:
    """The text inside the first element with this data-testid (tags stripped)."""
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:span|strong|div|dd|td)>', page, re.S)
    assert found, f"no {testid} on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def row_of(page: str, canteen_id) -> str:
    """The list's table row of one canteen."""
    found = re.search(rf'data-canteen-id="{canteen_id}".*?</tr>', page, re.S)
    assert found, f"no row for {canteen_id}"
    return found.group(0)


def version_on(page: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def workbook_rows(response, sheet=0) -> list[tuple]:
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    return list(
        openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[sheet].iter_rows(values_only=True)
    )


# The list ---------------------------------------------------------------------------------------


def test_the_list_shows_the_apis_county_report_figures(staff, login, factory, hospital):
    school = factory.canteen(COUNTY, name="枞阳县第一中学食堂", unit_type="school")
    page = staff.text(f"{LIST}?year={YEAR}")
    report = (
        login("county_staff", county_codes=[COUNTY])
        .get("/api/v1/reports/canteens", query_string={"county_code": COUNTY, "year": YEAR})
        .json
    )
    figures = {item["canteen_id"]: item for item in report["items"]}
    planned = figures[str(hospital["_id"])]
    assert planned["qualifying_fen"] == 350_000 and planned["target_fen"] == 15_000_000
    row = row_of(page, hospital["_id"])
    assert text_of(row, "quota-target") == yuan(planned["target_fen"]) == "150,000.00"
    assert text_of(row, "quota-done") == yuan(planned["qualifying_fen"])
    assert text_of(row, "quota-percent") == percent_bp(planned["progress_bp"])
    assert text_of(row, "quota-forecast") == yuan(planned["forecast_fen"])
    assert 'data-testid="quota-progress"' in row and "医院" in row
    assert text_of(row, "quota-status") == "进度滞后"

    unplanned = row_of(page, school["_id"])
    assert 'data-testid="quota-progress"' not in unplanned and text_of(unplanned, "quota-status") == "未申报"
    assert text_of(page, "total-canteens") == str(report["totals"]["canteens"]) == "2"
    assert text_of(page, "total-target") == yuan(report["totals"]["target_fen"])
    assert text_of(page, "total-qualifying") == yuan(report["totals"]["qualifying_fen"])
    assert 'data-testid="go-new-canteen"' in page


def test_staff_see_only_their_counties_canteens(staff, factory, hospital):
    elsewhere = factory.canteen(OTHER_COUNTY, name="外县食堂")
    page = staff.text(LIST)
    assert str(hospital["_id"]) in page and "外县食堂" not in page
    for url in (f"/canteens/{elsewhere['_id']}", f"/canteens/{elsewhere['_id']}/edit"):
        response = staff.get(url)
        assert response.status_code == 403 and 'data-testid="error-page"' in response.get_data(as_text=True)
    refused = staff.post(f"/canteens/{elsewhere['_id']}/plans?year={YEAR}", {"food_total": "100"})
    assert refused.status_code == 403
    assert staff.get(f"{LIST}?county_code={OTHER_COUNTY}").status_code == 403


def test_the_list_filters_by_name_and_unit_type(staff, factory, hospital):
    factory.canteen(COUNTY, name="枞阳县第一中学食堂", unit_type="school")
    assert "第一中学" not in staff.text(f"{LIST}?unit_type=hospital")
    searched = staff.text(f"{LIST}?q=中学")
    assert "第一中学" in searched and "人民医院" not in searched
    assert 'data-testid="query-errors"' in staff.text(f"{LIST}?unit_type=zoo")
    second = staff.text(f"{LIST}?per_page=1&page=2")
    assert "第 2/2 页" in second and second.count('data-testid="canteen-row"') == 1


def test_the_list_downloads_with_the_progress(staff, factory, hospital):
    factory.canteen(COUNTY, name="枞阳县第一中学食堂", unit_type="school")
    rows = workbook_rows(staff.get(f"{LIST}?year={YEAR}&format=xlsx"))
    header = rows[0]
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_name) == {"枞阳县人民医院食堂", "枞阳县第一中学食堂"}
    hospital_row = by_name["枞阳县人民医院食堂"]
    assert hospital_row["预留目标(元)"] == Decimal("150000.00") and hospital_row["已完成(元)"] == Decimal(
        "3500.00"
    )
    assert hospital_row["预留比例"] == "15.00%" and hospital_row["状态"] == "进度滞后"
    assert by_name["枞阳县第一中学食堂"]["状态"] == "未申报"


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
@pytest.mark.parametrize("url", [LIST, "/canteens/new"])
def test_enterprise_and_canteen_accounts_get_the_403_page(page_login, role, url):
    response = page_login(role).get(url)
    assert response.status_code == 403 and 'data-testid="error-page"' in response.get_data(as_text=True)


def test_a_canteen_account_cannot_open_its_own_staff_page(page_login, hospital):
    response = page_login("canteen", canteen_id=hospital["_id"]).get(f"/canteens/{hospital['_id']}")
    assert response.status_code == 403


# Registering and editing ------------------------------------------------------------------------


def test_registering_a_canteen(staff, db):
    form = staff.text("/canteens/new")
    assert 'data-testid="canteen-form"' in form and "学校" in form and "国企" in form
    response = staff.post(
        "/canteens/new",
        {"name": "枞阳县实验小学食堂", "unit_type": "school", "county_code": COUNTY, "contact": "王老师"},
    )
    assert response.status_code == 302
    stored = db[storage.CANTEENS].find_one({"name": "枞阳县实验小学食堂"})
    assert (stored["unit_type"], stored["county_code"], stored["contact"], stored["address"]) == (
        "school",
        COUNTY,
        "王老师",
        None,
    )
    assert response.headers["Location"] == f"/canteens/{stored['_id']}"
    page = staff.text(response.headers["Location"])
    assert "已登记单位食堂" in page and 'data-testid="plan-missing"' in page


def test_registering_without_a_name_shows_a_field_error_and_stores_nothing(staff, db):
    response = staff.post(
        "/canteens/new", {"unit_type": "school", "county_code": COUNTY, "address": "枞阳镇"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-testid="error-name"' in page and "必填" in page and 'value="枞阳镇"' in page
    assert db[storage.CANTEENS].count_documents({}) == 0


def test_a_name_already_used_in_the_county_is_refused_on_the_name(staff, db, hospital):
    response = staff.post(
        "/canteens/new", {"name": hospital["name"], "unit_type": "agency", "county_code": COUNTY}
    )
    assert response.status_code == 422
    assert "同名" in text_of(response.get_data(as_text=True), "error-name")
    assert db[storage.CANTEENS].count_documents({}) == 1


def test_registering_in_another_county_is_refused(staff, db):
    response = staff.post(
        "/canteens/new", {"name": "外县食堂", "unit_type": "agency", "county_code": OTHER_COUNTY}
    )
    assert response.status_code == 422
    assert "不在您的管辖范围内" in text_of(response.get_data(as_text=True), "form-error")
    assert db[storage.CANTEENS].count_documents({}) == 0


def test_editing_a_canteen_and_a_concurrent_edit(staff, login, db, hospital):
    url = f"/canteens/{hospital['_id']}/edit"
    form = staff.text(url)
    assert 'value="枞阳县人民医院食堂"' in form and version_on(form) == "1"
    edit = {"name": "枞阳县人民医院职工食堂", "unit_type": "hospital", "county_code": COUNTY, "version": "1"}
    assert staff.post(url, {**edit, "address": "枞阳镇"}).status_code == 302
    stored = db[storage.CANTEENS].find_one({"_id": hospital["_id"]})
    assert (stored["name"], stored["address"], stored["version"]) == ("枞阳县人民医院职工食堂", "枞阳镇", 2)

    # Emptying the address clears it; a form read at version 1 no longer matches.
    stale = staff.post(url, edit)
    assert stale.status_code == 409 and "已被他人修改" in stale.get_data(as_text=True)
    assert db[storage.CANTEENS].find_one({"_id": hospital["_id"]})["address"] == "枞阳镇"
    assert staff.post(url, {**edit, "version": "2"}).status_code == 302
    assert db[storage.CANTEENS].find_one({"_id": hospital["_id"]})["address"] is None

    blank = staff.post(url, {**edit, "name": "", "version": "3"})
    assert blank.status_code == 422 and 'data-testid="error-name"' in blank.get_data(as_text=True)


# One canteen ------------------------------------------------------------------------------------


def test_the_canteen_page_shows_its_plans_progress_and_purchases(staff, login, hospital):
    page = staff.text(f"/canteens/{hospital['_id']}?year={YEAR}")
    quota = (
        login("county_staff", county_codes=[COUNTY])
        .get(f"/api/v1/canteens/{hospital['_id']}/quota", query_string={"year": YEAR})
        .json
    )
    assert text_of(page, "quota-target") == yuan(quota["target_fen"])
    assert text_of(page, "quota-done") == yuan(quota["qualifying_fen"]) == "3,500.00"
    assert text_of(page, "quota-percent") == percent_bp(quota["progress_bp"])
    assert text_of(page, "quota-purchases") == yuan(quota["purchases_fen"]) == "4,700.00"
    assert text_of(page, "plan-target") == "150,000.00" and text_of(page, "plan-ratio") == "15.00%"
    assert 'data-testid="quota-progress"' in page and 'data-testid="plans-table"' in page
    assert all(f'data-invoice="{invoice}"' in page for invoice in ("C-1", "P-1", "U-1"))
    assert "<dt>单位类型</dt><dd>医院</dd>" in page

    other_year = staff.text(f"/canteens/{hospital['_id']}?year=2023")
    assert 'data-testid="plan-missing"' in other_year and 'data-invoice="C-1"' not in other_year


def test_the_canteen_page_downloads_its_plans_and_purchases(staff, hospital):
    response = staff.get(f"/canteens/{hospital['_id']}?year={YEAR}&format=xlsx")
    plans = workbook_rows(response, 0)
    assert plans[1][:4] == (YEAR, Decimal("1000000.00"), "15.00%", Decimal("150000.00"))
    purchases = workbook_rows(response, 1)
    header = purchases[0]
    assert {row[header.index("发票号/订单号")] for row in purchases[1:]} == {"C-1", "P-1", "U-1"}


def test_staff_set_a_plan_on_the_canteens_behalf(staff, login, db, factory):
    canteen = factory.canteen(COUNTY, name="枞阳县公安局食堂")
    year = today_local().year
    page = staff.text(f"/canteens/{canteen['_id']}")
    response = staff.post(
        f"/canteens/{canteen['_id']}/plans?year={year}",
        {"food_total": "900,000", "reserve_ratio": "15", "version": version_on(page)},
    )
    assert (
        response.status_code == 302
        and response.headers["Location"] == f"/canteens/{canteen['_id']}?year={year}"
    )
    [plan] = db[storage.CANTEENS].find_one({"_id": canteen["_id"]})["plans"]
    assert (plan["year"], plan["food_total_fen"], plan["reserve_ratio_bp"]) == (year, 90_000_000, 1500)
    assert plan["declared_by"]["username"] == staff.user["username"]
    page = staff.text(response.headers["Location"])
    api = login("county_staff", county_codes=[COUNTY]).get(f"/api/v1/canteens/{canteen['_id']}/quota").json
    assert text_of(page, "plan-target") == yuan(api["target_fen"]) == "135,000.00"
    assert "已保存" in page


def test_a_plan_below_ten_percent_shows_an_error_and_changes_nothing(staff, db, hospital):
    page = staff.text(f"/canteens/{hospital['_id']}?year={YEAR}")
    response = staff.post(
        f"/canteens/{hospital['_id']}/plans?year={YEAR}",
        {"food_total": "1,000,000", "reserve_ratio": "8", "version": version_on(page)},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "不得低于 10.00%" in text_of(page, "error-reserve_ratio")
    assert 'value="8"' in page and 'data-testid="purchases-table"' in page
    [plan] = db[storage.CANTEENS].find_one({"_id": hospital["_id"]})["plans"]
    assert plan["reserve_ratio_bp"] == 1500
    # The page shown at the form's URL still downloads from its own.
    assert f'href="/canteens/{hospital["_id"]}?year={YEAR}&amp;format=xlsx"' in page
