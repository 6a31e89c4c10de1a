"""The canteen portal: quota progress, logging a purchase, the monthly upload, the purchase list."""

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

COUNTY = "340722"
SUPPLIER_USCC = "91110108551385082Q"
NEW = "/canteen/purchases/new"
HEADER = "采购日期,供应商统一社会信用代码,产品编号,产品名称,数量,单位,金额(元),发票号,是否832平台"


@pytest.fixture
def canteen(factory):
    """A canteen with this year's plan: 1,000,000.00 yuan of food, 10% reserved (100,000.00 yuan)."""
    plan = {"year": today_local().year, "food_total_fen": 100_000_000}
    return factory.canteen(COUNTY, name="枞阳县机关食堂", plans=[plan])


@pytest.fixture
def catalogue(factory):
    since = datetime(2023, 1, 1, tzinfo=UTC)
    supplier = factory.operator(COUNTY, uscc=SUPPLIER_USCC, name="枞阳粮油合作社")
    return {
        "rice": factory.product(
            supplier["_id"],
            status="certified",
            certified_at=since,
            valid_days=3650,
            name="枞阳大米",
            unit="袋",
            price_fen=6850,
        ),
        "draft": factory.product(supplier["_id"], status="draft", name="枞阳大米（未认定）"),
        "revoked": factory.product(
            supplier["_id"], status="revoked", certified_at=since, valid_days=3650, name="枞阳大米（已撤销）"
        ),
    }


@pytest.fixture
def cook(page_login, canteen):
    return page_login("canteen", canteen_id=canteen["_id"])


def text_of(page: str, testid: str) -> str:
    """The text inside the element with this data-testid (tags stripped)."""
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:span|strong|div|dd)>', page, re.S)
    assert found, f"no {testid} on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def purchase_form(**fields):
    values = {"date": today_local().isoformat(), "quantity": "10", "amount": "350.50", "invoice_no": "P-0001"}
    values.update(fields)
    return values


# Home and logging ---------------------------------------------------------------------------------


def test_a_logged_purchase_shows_on_the_home_page_with_the_apis_quota_figures(
    cook, login, canteen, catalogue, db
):
    picker = cook.text(f"{NEW}?q=大米")
    assert 'data-testid="product-choice"' in picker and "枞阳粮油合作社" in picker and "68.50 元/袋" in picker

    response = cook.post(f"{NEW}?q=大米", purchase_form(product_id=str(catalogue["rice"]["_id"])))
    assert response.status_code == 302 and response.headers["Location"] == "/canteen/"
    [record] = db[storage.CANTEEN_PURCHASES].find()
    assert (record["canteen_id"], record["product_id"]) == (canteen["_id"], catalogue["rice"]["_id"])
    assert (record["amount_fen"], record["quantity"], record["counted_for_quota"]) == (35_050, 10, True)

    home = cook.text("/canteen/")
    assert "已登记采购" in home and f"计入 {today_local().year} 年预留份额" in home
    quota = login("canteen", canteen_id=canteen["_id"]).get(f"/api/v1/canteens/{canteen['_id']}/quota").json
    assert quota["qualifying_fen"] == 35_050
    assert text_of(home, "quota-target") == yuan(quota["target_fen"]) == "100,000.00"
    assert text_of(home, "quota-done") == yuan(quota["qualifying_fen"])
    assert text_of(home, "quota-percent") == percent_bp(quota["progress_bp"])
    assert text_of(home, "quota-forecast") == yuan(quota["forecast_fen"])
    assert text_of(home, "quota-forecast-percent") == percent_bp(quota["forecast_bp"])
    assert 'data-testid="quota-progress"' in home and 'data-testid="no-plan"' not in home
    assert "发票号 P-0001" in home


def test_without_a_plan_the_home_page_says_so(page_login, factory):
    canteen = factory.canteen(COUNTY)
    home = page_login("canteen", canteen_id=canteen["_id"]).text("/canteen/")
    assert 'data-testid="no-plan"' in home and "尚未申报" in home
    assert 'data-testid="quota-progress"' not in home


def test_a_purchase_that_does_not_count_says_why(cook, factory, catalogue):
    later = factory.product(
        catalogue["rice"]["operator_id"], status="certified", certified_at=datetime(2025, 6, 1, tzinfo=UTC)
    )
    response = cook.post(NEW, purchase_form(product_id=str(later["_id"]), date="2024-03-15"))
    assert response.status_code == 302
    home = cook.text("/canteen/")
    assert "不计入 2024 年预留份额" in home and "flash-warn" in home


def test_the_picker_lists_certified_products_only(cook, catalogue):
    page = cook.text(f"{NEW}?q=枞阳大米")
    assert str(catalogue["rice"]["_id"]) in page
    assert str(catalogue["draft"]["_id"]) not in page and "未认定" not in page
    assert str(catalogue["revoked"]["_id"]) not in page and "已撤销" not in page
    assert 'data-testid="no-products"' in cook.text(f"{NEW}?q=不存在的产品")


def test_a_bad_amount_and_a_missing_product_show_next_to_their_fields_and_store_nothing(cook, catalogue, db):
    response = cook.post(NEW, purchase_form(amount="abc"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-testid="error-amount"' in page and 'data-testid="error-product_id"' in page
    assert "请选择产品" in page
    # What was typed stays in the form.
    assert 'value="abc"' in page and 'value="P-0001"' in page
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 0
    assert db[storage.SALES].count_documents({}) == 0


def test_a_service_refusal_shows_on_its_field(cook, catalogue, db):
    product = str(catalogue["rice"]["_id"])
    assert cook.post(NEW, purchase_form(product_id=product)).status_code == 302
    again = cook.post(NEW, purchase_form(product_id=product, amount="12"))
    assert again.status_code == 422
    page = again.get_data(as_text=True)
    assert 'data-testid="error-invoice_no"' in page and 'data-testid="form-error"' in page
    future = cook.post(NEW, purchase_form(product_id=product, invoice_no="P-2", date="2999-01-01"))
    assert 'data-testid="error-date"' in future.get_data(as_text=True)
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 1


# The monthly upload --------------------------------------------------------------------------------


def test_an_upload_reports_a_bad_rows_error_by_row_number(cook, canteen, db):
    content = "\n".join(
        (
            HEADER,
            f"2024-03-01,{SUPPLIER_USCC},,农家土鸡蛋,5,箱,120.00,U-1,否",
            f"2024-03-02,{SUPPLIER_USCC},,农家土鸡蛋,5,箱,350.005,U-2,否",
        )
    ).encode("utf-8")
    response = cook.post(
        "/canteen/upload",
        {"file": (io.BytesIO(content), "march.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert text_of(page, "count-inserted") == "1" and text_of(page, "count-rejected") == "1"
    errors = page[page.index('data-testid="row-errors"') :]
    assert 'data-row="3"' in errors and "金额(元)" in errors and 'data-row="2"' not in errors
    assert [record["invoice_no"] for record in db[storage.CANTEEN_PURCHASES].find()] == ["U-1"]


def test_an_upload_without_a_file_is_a_field_error(cook):
    response = cook.post("/canteen/upload", {}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert 'data-testid="error-file"' in response.get_data(as_text=True)


def test_the_template_downloads_as_a_workbook(cook):
    response = cook.get("/canteen/upload/template.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    header = [cell.value for cell in workbook["采购明细"][1]]
    assert header[0] == "采购日期" and "发票号" in header and "金额(元)" in header


# The purchase list ----------------------------------------------------------------------------------


def test_the_purchase_list_shows_returns_negative_with_the_ledgers_totals(cook, login, factory, canteen):
    factory.canteen_purchase(canteen, invoice_no="L-1", amount_fen=10_000, quantity=10)
    factory.canteen_purchase(
        canteen, invoice_no="L-2", refund_of_invoice_no="L-1", amount_fen=-2_000, quantity=-2
    )
    page = cook.text("/canteen/purchases?year=2024")
    assert "-20.00" in page and "退货，原发票 L-1" in page
    quota = (
        login("canteen", canteen_id=canteen["_id"])
        .get(f"/api/v1/canteens/{canteen['_id']}/quota", query_string={"year": 2024})
        .json
    )
    assert text_of(page, "total-purchases") == yuan(quota["purchases_fen"]) == "80.00"
    assert text_of(page, "total-count") == "2"

    response = cook.get("/canteen/purchases?year=2024&format=xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    by_invoice = {row[header.index("发票号")]: row for row in rows[1:]}
    assert set(by_invoice) == {"L-1", "L-2"}
    assert by_invoice["L-2"][header.index("金额(元)")] == Decimal("-20.00")
    assert by_invoice["L-2"][header.index("原发票号(退货)")] == "L-1"


def test_another_canteens_data_never_appears(cook, factory):
    other = factory.canteen(COUNTY, name="别家食堂")
    factory.canteen_purchase(
        other, invoice_no="OTHER-1", product_name="别家的菜", operator_uscc=SUPPLIER_USCC, date=today_local()
    )
    for url in ("/canteen/", "/canteen/purchases", "/canteen/purchases?year=2024"):
        page = cook.text(url)
        assert "OTHER-1" not in page and "别家" not in page
    download = cook.get("/canteen/purchases?format=xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(download.data)).active.iter_rows(values_only=True))
    assert len(rows) == 1
    response = cook.get(f"/canteen/purchases?canteen_id={other['_id']}")
    assert response.status_code == 403 and 'data-testid="error-page"' in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["enterprise", "county_staff", "admin"])
@pytest.mark.parametrize("url", ["/canteen/", NEW, "/canteen/upload", "/canteen/purchases"])
def test_other_roles_get_the_403_page(page_login, role, url):
    response = page_login(role).get(url)
    assert response.status_code == 403
    assert 'data-testid="error-page"' in response.get_data(as_text=True)
