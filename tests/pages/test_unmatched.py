"""The unmatched-SKU page: search, suggestions, mapping several SKUs with one submit, all or none."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from adapters.base import SaleLine
from service import ledger, storage
from service.ledger import IngestScope

COUNTY = "340722"
OTHER_COUNTY = "341000"
# The lines below fall in this period (the default one, as the dashboard's, is this year so far).
PERIOD = "from=2024-01&to=2024-06"
URL = f"/imports/unmatched?{PERIOD}"
# 10:00 on 15 March 2024 in Asia/Shanghai.
MARCH_15 = datetime(2024, 3, 15, 2, 0, tzinfo=UTC)


def line(external_id: str, amount_fen: int, **fields) -> SaleLine:
    values = {"channel": "jd", "external_id": external_id, "occurred_at": MARCH_15, "quantity": 1}
    return SaleLine(**{**values, "amount_fen": amount_fen, **fields})


@pytest.fixture
def catalogue(factory, sales):
    """Registered after the sales: a rice with the lines' barcode, two 菊花茶 of two operators, and
    another county's 菊花茶."""
    farm = factory.operator(COUNTY, name="枞阳农场")
    tea_house = factory.operator(COUNTY, name="菊花茶厂")
    return {
        "rice": factory.product(farm["_id"], name="枞阳有机大米", spec="5kg", barcode="6901234567892"),
        "tea": factory.product(tea_house["_id"], name="野生菊花茶", spec="250g", status="certified"),
        "tea_small": factory.product(farm["_id"], name="野生菊花茶", spec="50g"),
        "elsewhere": factory.product(county_code=OTHER_COUNTY, name="外县菊花茶"),
    }


@pytest.fixture
def sales(db):
    ledger.ingest(
        db,
        [
            line("R-1", 11_980, sku="ZY-RICE", title="枞阳大米 5kg", barcode="6901234567892"),
            line("T-1", 3_800, sku="ZY-TEA-250", title="【特产】野生菊花茶 250g"),
            line("T-2", 1_900, sku="ZY-TEA-50", title="野生菊花茶 50g"),
            line("E-1", 4_500, sku="ZY-EGG", title="土鸡蛋 30枚"),
        ],
        IngestScope(COUNTY),
    )


@pytest.fixture
def staff(page_login):
    return page_login("county_staff", county_codes=[COUNTY])


def rows(page: str) -> list[str]:
    return re.findall(r'data-testid="unmatched-row" data-sku="([^"]*)"', page)


def options(page: str, sku: str) -> list[str]:
    """The product ids a row offers, in order."""
    row = page.split(f'data-sku="{sku}"')[1].split("</tr>")[0]
    return re.findall(r'<option value="([0-9a-f]{24})"', row)


def row_fields(page: str, sku: str) -> str:
    """The form-field prefix (map-N) of a row."""
    row = page.split(f'data-sku="{sku}"')[1].split("</tr>")[0]
    return re.search(r'name="(map-\d+)-product_id"', row).group(1)


def mapping(page: str, chosen: dict[str, str]) -> dict[str, str]:
    """The form one submit posts: every row's hidden fields, a product for the chosen SKUs."""
    form = dict(re.findall(r'<input type="hidden" name="(map-\d+-(?:channel|sku))" value="([^"]*)"', page))
    for sku, product_id in chosen.items():
        form[f"{row_fields(page, sku)}-product_id"] = product_id
    return form


def card(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(?:<span class="money">)?([^<]*)<', page)
    assert found, testid
    return found.group(1)


def dashboard_unmatched(browser) -> str:
    page = browser.text(f"/county/?{PERIOD}")
    found = re.search(
        r'data-testid="figure-unmatched_sales_fen">.*?<span class="value">([^<]*)</span>', page, re.S
    )
    assert found
    return found.group(1)


# Search and suggestions -----------------------------------------------------------------------------


def test_the_list_shows_the_periods_unmatched_skus_biggest_first(staff, sales):
    page = staff.text(URL)
    assert rows(page) == ["ZY-RICE", "ZY-EGG", "ZY-TEA-250", "ZY-TEA-50"]
    assert card(page, "unmatched-sales") == "221.80" and "2024-01 至 2024-06" in page


def test_search_by_sku_barcode_or_title(staff, sales):
    assert rows(staff.text(f"{URL}&q=tea-2")) == ["ZY-TEA-250"]
    assert rows(staff.text(f"{URL}&q=6901234")) == ["ZY-RICE"]
    assert rows(staff.text(f"{URL}&q=菊花茶")) == ["ZY-TEA-250", "ZY-TEA-50"]
    assert rows(staff.text(f"{URL}&q=.*")) == []


def test_a_search_too_long_is_named(staff, sales):
    assert 'data-testid="error-q"' in staff.text(f"{URL}&q={'x' * 101}")


def test_suggestions_put_the_barcode_first_and_stay_in_the_county(staff, sales, catalogue):
    page = staff.text(URL)
    assert options(page, "ZY-RICE")[0] == str(catalogue["rice"]["_id"])
    first = page.split('data-sku="ZY-RICE"')[1].split("</option>")[1]
    assert "枞阳有机大米 · 5kg" in first and "条形码相同" in first
    assert set(options(page, "ZY-TEA-250")[:2]) == {
        str(catalogue["tea"]["_id"]),
        str(catalogue["tea_small"]["_id"]),
    }
    assert str(catalogue["elsewhere"]["_id"]) not in page


def test_identical_names_are_told_apart_by_operator_spec_and_status(staff, catalogue):
    row = staff.text(URL).split('data-sku="ZY-TEA-250"')[1].split("</tr>")[0]
    assert re.search(r"野生菊花茶 · 250g · 菊花茶厂 · 已认定 · 名称相近", row)
    assert re.search(r"野生菊花茶 · 50g · 枞阳农场 · 草稿（未认定） · 名称相近", row)


# Mapping several at once ------------------------------------------------------------------------------


def test_three_skus_map_with_one_submit_and_both_pages_agree(staff, db, sales, catalogue):
    page = staff.text(URL)
    assert card(page, "unmatched-sales") == dashboard_unmatched(staff) == "221.80"
    chosen = {
        "ZY-RICE": str(catalogue["rice"]["_id"]),
        "ZY-TEA-250": str(catalogue["tea"]["_id"]),
        "ZY-TEA-50": str(catalogue["tea_small"]["_id"]),
    }
    response = staff.post(f"{URL}&channel=jd", mapping(page, chosen))
    assert response.status_code == 302 and response.headers["Location"] == f"{URL}&channel=jd"
    page = staff.text(response.headers["Location"])
    assert "已对应 3 个 SKU，重新匹配上 3 条销售" in page
    assert rows(page) == ["ZY-EGG"]
    assert card(page, "unmatched-sales") == dashboard_unmatched(staff) == "45.00"
    assert db[storage.AUDIT_LOG].count_documents({"action": "product.map_sku"}) == 3


def test_one_refused_row_saves_nothing_and_is_named_on_its_row(staff, db, sales, catalogue, factory):
    factory.product(
        catalogue["tea"]["operator_id"], name="另一款茶", channel_skus=[{"channel": "jd", "sku": "ZY-TEA-50"}]
    )
    page = staff.text(URL)
    chosen = {"ZY-RICE": str(catalogue["rice"]["_id"]), "ZY-TEA-50": str(catalogue["tea_small"]["_id"])}
    response = staff.post(URL, mapping(page, chosen))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    refused_row = page.split('data-sku="ZY-TEA-50"')[1].split("</tr>")[0]
    assert 'data-testid="row-error"' in refused_row and "已对应到产品「另一款茶」" in refused_row
    assert "1 个 SKU 未能对应（京东 ZY-TEA-50），本次全部未保存" in page
    # The choices stay as they were, to be corrected and sent again.
    kept_row = page.split('data-sku="ZY-RICE"')[1].split("</tr>")[0]
    assert re.search(rf'value="{catalogue["rice"]["_id"]}"[^>]*selected', kept_row)
    assert db[storage.PRODUCTS].find_one({"_id": catalogue["rice"]["_id"]})["channel_skus"] == []
    assert db[storage.AUDIT_LOG].count_documents({"action": "product.map_sku"}) == 0


@pytest.mark.parametrize("which", ["elsewhere", "missing"])
def test_another_countys_product_is_refused_as_a_missing_one(staff, db, sales, catalogue, which):
    product_id = str(catalogue["elsewhere"]["_id"]) if which == "elsewhere" else "0" * 24
    response = staff.post(URL, mapping(staff.text(URL), {"ZY-TEA-250": product_id}))
    assert response.status_code == 422
    row = response.get_data(as_text=True).split('data-sku="ZY-TEA-250"')[1].split("</tr>")[0]
    assert "没有这个产品。" in row and OTHER_COUNTY not in row
    assert db[storage.PRODUCTS].find_one({"_id": catalogue["elsewhere"]["_id"]})["channel_skus"] == []


def test_a_submit_with_no_product_chosen_says_so(staff, sales):
    response = staff.post(URL, mapping(staff.text(URL), {}))
    assert "请至少为一个 SKU 选择要对应的产品" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_the_unmatched_skus_stay_with_county_staff(page_login, factory, sales, catalogue, role):
    binding = {"operator_id": catalogue["tea"]["operator_id"]} if role == "enterprise" else {}
    browser = page_login(role, **binding)
    form = {
        "map-1-channel": "jd",
        "map-1-sku": "ZY-TEA-250",
        "map-1-product_id": str(catalogue["tea"]["_id"]),
    }
    for response in (browser.get(URL), browser.post(URL, form)):
        assert response.status_code == 403
        assert 'data-testid="error-page"' in response.get_data(as_text=True)


# Download and admins -----------------------------------------------------------------------------------


def test_the_download_lists_every_sku_without_suggestions(staff, sales):
    response = staff.get(f"{URL}&format=xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    table = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0][:3] == ("县", "渠道", "SKU")
    assert [row[2] for row in table[1:]] == ["ZY-RICE", "ZY-EGG", "ZY-TEA-250", "ZY-TEA-50"]
    assert f"{table[1][7]:.2f}" == "119.80"


def test_admins_name_the_county(page_login, sales):
    admin = page_login("admin")
    assert 'data-testid="error-county_code"' in admin.text(URL)
    assert rows(admin.text(f"{URL}&county_code={COUNTY}"))[0] == "ZY-RICE"
