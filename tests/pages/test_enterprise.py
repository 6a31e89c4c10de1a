"""The enterprise portal: its home figures, profile, product forms, links and sales pages."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import openpyxl
import pytest
from stdnum import ean
from stdnum.cn import uscc

from adapters.base import SaleLine
from adapters.tabular import parse_percent_to_bp
from service import ledger, operators, storage
from service.access import system_principal
from service.clock import start_of_local_day, today_local, utcnow
from service.ingest_scope import IngestScope
from service.web.core import STALE_MESSAGE
from service.web.formatting import yuan
from tests.factories import valid_id_number

COUNTY = "340722"
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
BARCODE = "690123456789" + ean.calc_check_digit("690123456789")
USCC = "91340722MA2N0XUC3" + uscc.calc_check_digit("91340722MA2N0XUC3")


@pytest.fixture
def operator(factory):
    return factory.operator(COUNTY, name="枞阳茶叶合作社", version=1)


@pytest.fixture
def browser(page_login, operator):
    return page_login("enterprise", operator_id=operator["_id"])


def product_form(**fields):
    form = {
        "name": "枞阳黄花茶",
        "category": "tea",
        "spec": "250克/盒",
        "unit": "盒",
        "price_fen": "58.50",
        "benefit_rate_bp": "15.25",
        "barcode": BARCODE,
        "channel_skus-channel": ["jd", ""],
        "channel_skus-sku": ["HHC-250", ""],
    }
    form.update(fields)
    return form


def field_error(page: str, name: str) -> str:
    found = re.search(rf'data-testid="error-{re.escape(name)}">([^<]*)<', page)
    return found.group(1) if found else ""


def box_value(page: str, name: str) -> str:
    return re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', page).group(1)


def workbook(response):
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return openpyxl.load_workbook(io.BytesIO(response.data))


# Products -------------------------------------------------------------------------------------


def test_an_enterprise_registers_a_draft_product_through_the_form(browser, db, operator):
    assert 'data-testid="save-product"' in browser.text("/enterprise/products/new")
    response = browser.post("/enterprise/products/new", product_form())
    assert response.status_code == 302
    stored = db[storage.PRODUCTS].find_one({"name": "枞阳黄花茶"})
    assert response.headers["Location"] == f"/products/{stored['_id']}"
    assert stored["operator_id"] == operator["_id"]
    assert stored["status"] == "draft"
    assert stored["price_fen"] == 5850 and type(stored["price_fen"]) is int
    rate = stored["benefit_rate_history"][0]["benefit_rate_bp"]
    assert rate == 1525 and type(rate) is int
    assert stored["barcode"] == BARCODE
    assert stored["channel_skus"] == [{"channel": "jd", "sku": "HHC-250"}]
    assert stored["origin_county_code"] == COUNTY


def test_bad_fields_show_errors_next_to_them_and_nothing_is_stored(browser, db):
    response = browser.post(
        "/enterprise/products/new",
        product_form(name="", price_fen="12.345", barcode="6901234567890", benefit_rate_bp="150"),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "name") == "必填。"
    assert "两位小数" in field_error(page, "price_fen")
    assert "校验位" in field_error(page, "barcode")
    assert "100%" in field_error(page, "benefit_rate_bp")
    assert 'value="12.345"' in page  # what was typed stays in the box
    assert db[storage.PRODUCTS].count_documents({}) == 0


@pytest.mark.parametrize(
    ("text", "bp"), [("15", 1500), ("12.5", 1250), ("0.05", 5), ("１２．５０%", 1250), ("100", 10000)]
)
def test_a_percentage_becomes_whole_basis_points(text, bp):
    assert parse_percent_to_bp(text) == bp


@pytest.mark.parametrize("text", ["12.345", "-1", "abc", "", "1e2", "1000"])
def test_a_percentage_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        parse_percent_to_bp(text)


def test_save_and_submit_applies_for_certification(browser, db):
    page = browser.text("/enterprise/products/new")
    assert 'data-testid="save-and-submit"' in page
    response = browser.post("/enterprise/products/new", product_form(then_submit="1"))
    assert response.status_code == 302
    stored = db[storage.PRODUCTS].find_one({"name": "枞阳黄花茶"})
    assert stored["status"] == "submitted"
    # The flash shows on the product page it redirects to.
    assert "已保存并提交认定" in browser.get(response.headers["Location"]).get_data(as_text=True)


def test_editing_a_product_saves_it_with_its_version(browser, db, factory, operator):
    product = factory.product(operator["_id"], name="旧名字", price_fen=1000, benefit_rate_bp=1250)
    page = browser.text(f"/enterprise/products/{product['_id']}/edit")
    assert (box_value(page, "price_fen"), box_value(page, "benefit_rate_bp")) == ("10.00", "12.50")
    form = product_form(name="新名字", price_fen="12", version=str(product["version"]))
    response = browser.post(f"/enterprise/products/{product['_id']}/edit", form)
    assert response.status_code == 302
    stored = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert (stored["name"], stored["price_fen"], stored["version"]) == (
        "新名字",
        1200,
        product["version"] + 1,
    )


def test_an_edit_from_a_stale_form_is_refused_with_a_clear_message(browser, db, factory, operator):
    product = factory.product(operator["_id"], name="原名")
    form = product_form(name="我的修改", version=str(product["version"]))
    db[storage.PRODUCTS].update_one({"_id": product["_id"]}, {"$inc": {"version": 1}})
    response = browser.post(f"/enterprise/products/{product['_id']}/edit", form)
    assert response.status_code == 409
    assert STALE_MESSAGE in response.get_data(as_text=True)
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["name"] == "原名"


def test_a_certified_product_warns_that_reviewed_edits_go_back_to_review(browser, db, factory, operator):
    product = factory.product(operator["_id"], status="certified")
    page = browser.text(f"/enterprise/products/{product['_id']}/edit")
    assert 'data-testid="review-warning"' in page and "重新审核" in page
    assert 'data-testid="save-and-submit"' not in page
    form = product_form(name="改了名字", version=str(product["version"]))
    assert browser.post(f"/enterprise/products/{product['_id']}/edit", form).status_code == 302
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == "submitted"


def test_another_operators_product_is_a_403_page(browser, factory):
    theirs = factory.product(factory.operator(COUNTY)["_id"])
    url = f"/enterprise/products/{theirs['_id']}/edit"
    assert 'data-testid="error-page"' in browser.text(url, status=403)
    response = browser.post(url, product_form(version="1"))
    assert response.status_code == 403


def test_the_product_list_filters_by_status_and_downloads(browser, factory, operator):
    certified = factory.product(operator["_id"], name="已认定茶", status="certified")
    factory.product(operator["_id"], name="草稿茶")
    factory.product(factory.operator(COUNTY)["_id"], name="别人的茶")
    page = browser.text("/enterprise/products")
    assert "已认定茶" in page and "草稿茶" in page and "别人的茶" not in page
    filtered = browser.text("/enterprise/products?status=certified")
    assert "已认定茶" in filtered and "草稿茶" not in filtered
    assert certified["certificate_no"] in filtered
    sheet = workbook(browser.get("/enterprise/products?format=xlsx&status=certified")).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "产品名称"
    assert [row[0] for row in rows[1:]] == ["已认定茶"]
    assert rows[1][rows[0].index("认定证书编号")] == certified["certificate_no"]


# Profile --------------------------------------------------------------------------------------


def profile_form(**fields):
    form = {
        "name": "枞阳茶叶合作社",
        "uscc": USCC,
        "kind": "cooperative",
        "address": "枞阳县横埠镇",
        "legal_rep": "张三",
        "contact_phone": "0556-1234567",
        "benefit_mechanisms[]": ["employment", "purchase"],
        "version": "1",
    }
    form.update(fields)
    return form


def test_an_enterprise_edits_its_profile(browser, db, operator):
    page = browser.text("/enterprise/profile")
    assert 'name="version" value="1"' in page
    response = browser.post("/enterprise/profile", profile_form())
    assert response.status_code == 302, response.get_data(as_text=True)[-600:]
    stored = db[storage.OPERATORS].find_one({"_id": operator["_id"]})
    assert stored["address"] == "枞阳县横埠镇"
    assert stored["benefit_mechanisms"] == ["purchase", "employment"]
    assert stored["version"] == 2


def test_an_unchanged_uscc_saved_past_its_check_does_not_block_an_edit(page_login, db, factory):
    failing = "91340722MA2N0XUC3" + ("2" if USCC[-1] != "2" else "3")
    operator = factory.operator(COUNTY, uscc=failing, uscc_checksum_override=True, version=1)
    browser = page_login("enterprise", operator_id=operator["_id"])
    response = browser.post("/enterprise/profile", profile_form(uscc=failing, address="新地址"))
    assert response.status_code == 302
    assert db[storage.OPERATORS].find_one({"_id": operator["_id"]})["address"] == "新地址"


def test_a_bad_profile_field_shows_its_error(browser, db, operator):
    response = browser.post("/enterprise/profile", profile_form(name="", contact_phone="abc"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "name") == "必填。"
    assert field_error(page, "contact_phone")
    assert db[storage.OPERATORS].find_one({"_id": operator["_id"]})["version"] == 1


def test_a_profile_edit_from_a_stale_form_shows_the_conflict(app, browser, db, operator):
    with app.test_request_context():
        operators.update_operator(db, system_principal("tests"), operator["_id"], 1, {"address": "别人改的"})
    response = browser.post("/enterprise/profile", profile_form(version="1"))
    assert response.status_code == 409
    assert "已被他人修改，请刷新" in response.get_data(as_text=True)
    assert db[storage.OPERATORS].find_one({"_id": operator["_id"]})["address"] == "别人改的"


# Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["county_staff", "canteen"])
@pytest.mark.parametrize("url", ["/enterprise/", "/enterprise/products/new", "/enterprise/sales"])
def test_other_roles_get_a_403_page(page_login, role, url):
    browser = page_login(role)
    assert 'data-testid="error-page"' in browser.text(url, status=403)


# Sales figures --------------------------------------------------------------------------------


@pytest.fixture
def books(factory, db, operator):
    """This month: two sales of a certified product (15%) of the operator, one of another operator."""
    # Certified since SINCE and still for ten years after the day the test runs.
    valid_days = (utcnow() - SINCE).days + 3650
    mine = factory.product(
        operator["_id"],
        name="枞阳黄花茶",
        status="certified",
        certified_at=SINCE,
        valid_days=valid_days,
        benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "T1"}],
    )
    factory.certified_since(mine, SINCE, 1500)
    other = factory.operator(COUNTY, name="别家")
    theirs = factory.product(
        other["_id"], status="certified", certified_at=SINCE, valid_days=valid_days,
        channel_skus=[{"channel": "jd", "sku": "Q1"}],
    )  # fmt: skip
    factory.certified_since(theirs, SINCE, 2000)
    households = [
        factory.household(COUNTY, head_name="张大山", id_number=valid_id_number(4242)),
        factory.household(COUNTY, head_name="李小河"),
    ]
    factory.benefit_link(operator, households[0], weight=2)
    factory.benefit_link(operator, households[1], weight=1, mechanism="employment")
    # The first moment of this month in Shanghai: in the past at any hour, 00:00 on the 1st included.
    when = start_of_local_day(today_local().replace(day=1))
    lines = [
        SaleLine(channel="jd", external_id="E-1", occurred_at=when, quantity=2, amount_fen=100_000, sku="T1"),
        SaleLine(channel="jd", external_id="E-2", occurred_at=when, quantity=1, amount_fen=33_333, sku="T1"),
        SaleLine(channel="jd", external_id="E-3", occurred_at=when, quantity=1, amount_fen=50_000, sku="Q1"),
    ]
    assert ledger.ingest(db, lines, IngestScope(COUNTY)).rejected == 0
    return {"product": mine, "households": households}


def test_the_home_figures_equal_the_apis_summary_for_the_enterprise(books, browser, login, operator):
    api = login("enterprise", operator_id=operator["_id"]).get("/api/v1/reports/summary").json
    assert api["sales_fen"] == 133_333  # the other operator's sale is not in it
    page = browser.text("/enterprise/")
    shown = {
        name: re.search(rf'data-testid="summary-{name}">([^<]*)<', page).group(1)
        for name in ("sales", "certified-sales", "income", "households")
    }
    assert shown == {
        "sales": yuan(api["sales_fen"]),
        "certified-sales": yuan(api["certified_sales_fen"]),
        "income": yuan(api["poor_income_fen"]),
        "households": str(api["households_benefited"]),
    }
    assert operator["name"] in page and 'data-testid="new-product"' in page
    assert 'href="/enterprise/products?status=certified"' in page


def test_the_sales_page_equals_the_apis_enterprise_reports(books, browser, login, operator):
    api = login("enterprise", operator_id=operator["_id"])
    period = f"from={today_local():%Y}-01&to={today_local():%Y-%m}"
    page = browser.text(f"/enterprise/sales?{period}")
    monthly = api.get(f"/api/v1/reports/monthly?{period}").json["items"]
    ranking = api.get(f"/api/v1/reports/products?{period}&limit=200").json["items"]
    households = api.get(f"/api/v1/reports/households?{period}").json["items"]
    assert monthly and ranking and len(households) == 2
    for row in monthly:
        assert yuan(row["sales_fen"]) in page and yuan(row["poor_income_fen"]) in page
    assert [row["product_name"] for row in ranking] == ["枞阳黄花茶"]
    for row in households:
        assert row["household_no"] in page and yuan(row["income_fen"]) in page
        assert row["head_name"] in page and "*" in row["head_name"]
    assert "张大山" not in page


@pytest.mark.parametrize(
    ("report", "header"), [("monthly", "月份"), ("products", "排名"), ("households", "户编号")]
)
def test_the_sales_reports_download(books, browser, report, header):
    book = workbook(browser.get(f"/enterprise/sales?format=xlsx&report={report}"))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == header and len(rows) > 1


def test_the_links_page_shows_no_clear_id_number_or_name(books, browser):
    page = browser.text("/enterprise/links")
    assert valid_id_number(4242) not in page
    assert "张大山" not in page and "张**" in page
    assert "保底价或优惠价回收" in page and "吸纳就业" in page
    sheet = workbook(browser.get("/enterprise/links?format=xlsx")).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3
    assert valid_id_number(4242) not in str(rows)
    assert {row[1] for row in rows[1:]} == {"张**", "李**"}
