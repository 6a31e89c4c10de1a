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
from service.clock import today_local, utcnow
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
    # Certified since 2023 and still for ten years after the day the test runs.
    valid_days = (utcnow() - since).days + 3650
    supplier = factory.operator(COUNTY, uscc=SUPPLIER_USCC, name="枞阳粮油合作社")
    return {
        "rice": factory.product(
            supplier["_id"],
            status="certified",
            certified_at=since,
            valid_days=valid_days,
            name="枞阳大米",
            unit="袋",
            price_fen=6850,
        ),
        "draft": factory.product(supplier["_id"], status="draft", name="枞阳大米（未认定）"),
        "revoked": factory.product(
            supplier["_id"],
            status="revoked",
            certified_at=since,
            valid_days=valid_days,
            name="枞阳大米（已撤销）",
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

    response = cook.post(
        f"{NEW}?q=大米", purchase_form(product_id=str(catalogue["rice"]["_id"]), via_832="on")
    )
    assert response.status_code == 302 and response.headers["Location"] == "/canteen/"
    [record] = db[storage.CANTEEN_PURCHASES].find()
    assert (record["canteen_id"], record["product_id"]) == (canteen["_id"], catalogue["rice"]["_id"])
    assert (record["amount_fen"], record["quantity"], record["channel"]) == (35_050, 10, "p832")

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


# The yearly plan -----------------------------------------------------------------------------------

PLAN = "/canteen/plan"


def version_on(page: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def test_declaring_a_plan_makes_the_home_progress_bar_appear_with_the_apis_target(
    page_login, login, factory, db
):
    canteen = factory.canteen(COUNTY)
    cook = page_login("canteen", canteen_id=canteen["_id"])
    home = cook.text("/canteen/")
    assert 'data-testid="quota-progress"' not in home and f'href="{PLAN}?year={today_local().year}"' in home

    form = cook.text(PLAN)
    assert 'data-testid="plan-missing"' in form and 'value="10.00"' in form  # a new plan starts at 10%
    response = cook.post(
        PLAN, {"food_total": "1,200,000.50", "reserve_ratio": "15", "version": version_on(form)}
    )
    year = today_local().year
    assert response.status_code == 302 and response.headers["Location"] == f"{PLAN}?year={year}"
    [plan] = db[storage.CANTEENS].find_one({"_id": canteen["_id"]})["plans"]
    assert (plan["year"], plan["food_total_fen"], plan["reserve_ratio_bp"]) == (year, 120_000_050, 1500)

    page = cook.text(response.headers["Location"])
    quota = login("canteen", canteen_id=canteen["_id"]).get(f"/api/v1/canteens/{canteen['_id']}/quota").json
    # 1,200,000.50 × 15% = 180,000.075, rounded up to the fen.
    assert text_of(page, "plan-target") == yuan(quota["target_fen"]) == "180,000.08"
    assert "已保存" in page and 'value="1200000.50"' in page and 'value="15.00"' in page

    home = cook.text("/canteen/")
    assert 'data-testid="quota-progress"' in home and 'data-testid="no-plan"' not in home
    assert text_of(home, "quota-target") == yuan(quota["target_fen"])
    assert "修改年度计划" in home


def test_a_ratio_below_ten_percent_or_a_bad_total_is_refused_next_to_its_field(cook, canteen, db):
    form = cook.text(PLAN)
    assert text_of(form, "plan-target") == "100,000.00" and 'value="1000000.00"' in form
    response = cook.post(
        PLAN, {"food_total": "2,000,000", "reserve_ratio": "9.99", "version": version_on(form)}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "不得低于 10.00%" in text_of(page, "error-reserve_ratio") and 'value="9.99"' in page
    bad = cook.post(PLAN, {"food_total": "1.234", "reserve_ratio": "abc", "version": version_on(form)})
    page = bad.get_data(as_text=True)
    assert 'data-testid="error-food_total"' in page and 'data-testid="error-reserve_ratio"' in page
    [plan] = db[storage.CANTEENS].find_one({"_id": canteen["_id"]})["plans"]
    assert (plan["food_total_fen"], plan["reserve_ratio_bp"]) == (100_000_000, 1000)


def test_a_concurrent_change_shows_a_conflict_and_keeps_what_was_typed(cook, login, canteen, db):
    form = cook.text(PLAN)
    staff = login("county_staff", county_codes=[COUNTY])
    put = staff.put(
        f"/api/v1/canteens/{canteen['_id']}/plans/{today_local().year}",
        json={"food_total_fen": 50_000_000, "reserve_ratio_bp": 1200},
    )
    assert put.status_code == 200
    stale = cook.post(PLAN, {"food_total": "3,000,000", "reserve_ratio": "10", "version": version_on(form)})
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "刚被修改过" in text_of(page, "form-error")
    # The latest plan is shown beside what was typed; submitting again replaces it knowingly.
    assert text_of(page, "plan-target") == "60,000.00" and 'value="3,000,000"' in page
    again = cook.post(PLAN, {"food_total": "3,000,000", "reserve_ratio": "10", "version": version_on(page)})
    assert again.status_code == 302
    [plan] = db[storage.CANTEENS].find_one({"_id": canteen["_id"]})["plans"]
    assert plan["food_total_fen"] == 300_000_000


def test_next_years_plan_and_the_plans_download(cook, canteen, db):
    year = today_local().year + 1
    form = cook.text(f"{PLAN}?year={year}")
    assert 'data-testid="plan-missing"' in form
    response = cook.post(f"{PLAN}?year={year}", {"food_total": "800000", "version": version_on(form)})
    assert response.status_code == 302
    plans = db[storage.CANTEENS].find_one({"_id": canteen["_id"]})["plans"]
    assert [(plan["year"], plan["reserve_ratio_bp"]) for plan in plans] == [(year - 1, 1000), (year, 1000)]
    too_far = cook.post(f"{PLAN}?year={year + 5}", {"food_total": "800000", "version": "2"})
    assert too_far.status_code == 422 and "只能申报" in text_of(too_far.get_data(as_text=True), "form-error")

    download = cook.get(f"{PLAN}?format=xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(download.data)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("年度", "年度食材采购总额(元)", "预留比例", "预留目标(元)")
    assert [row[:4] for row in rows[1:]] == [
        (year - 1, Decimal("1000000.00"), "10.00%", Decimal("100000.00")),
        (year, Decimal("800000.00"), "10.00%", Decimal("80000.00")),
    ]


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
    by_invoice = {row[header.index("发票号/订单号")]: row for row in rows[1:]}
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
@pytest.mark.parametrize("url", ["/canteen/", NEW, "/canteen/upload", "/canteen/purchases", "/canteen/plan"])
def test_other_roles_get_the_403_page(page_login, role, url):
    response = page_login(role).get(url)
    assert response.status_code == 403
    assert 'data-testid="error-page"' in response.get_data(as_text=True)
