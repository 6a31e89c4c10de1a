"""The sales import pages: upload with a dry run, confirm, run details (unmatched SKUs: test_unmatched.py)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from service import storage

COUNTY = "340722"
OTHER_COUNTY = "341000"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jd"
HEADER = "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,应付金额,订单状态,商家SKU,订单备注"
# A JD order export: row 2 sells a catalogued SKU, row 3 an unknown one, row 4 has a bad amount.
JD_EXPORT = "\n".join(
    [
        HEADER,
        "131279470601,100012043978,有机大米,2,在线支付,2024-03-15 10:00,59.90,119.80,完成,ZY-RICE-5KG,",
        "131279470602,100012043979,菊花茶,1,在线支付,2024-03-16 11:00,38.00,38.00,完成,ZY-TEA-250,",
        "131279470603,100012043980,土鸡蛋,3,在线支付,2024-03-17 12:00,45.00,四十五,完成,ZY-EGG-30,",
    ]
).encode("utf-8-sig")


@pytest.fixture
def product(factory):
    operator = factory.operator(COUNTY)
    created = factory.product(
        operator["_id"],
        name="枞阳有机大米",
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "ZY-RICE-5KG"}],
    )
    return factory.certified_since(created, datetime(2023, 1, 1, tzinfo=UTC), 1500)


@pytest.fixture
def staff(page_login):
    return page_login("county_staff", county_codes=[COUNTY])


def upload(browser, data: bytes = JD_EXPORT, filename: str = "orders.csv", **fields):
    form = {"channel": "jd", "dry_run": "on", "file": (io.BytesIO(data), filename), **fields}
    return browser.post("/imports/", form, content_type="multipart/form-data")


def run_id_of(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    found = re.fullmatch(r"/imports/([0-9a-f]{24})", response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def counts_on(page: str) -> dict[str, int]:
    block = page.split('data-testid="run-counts"')[1].split("</section>")[0]
    return {
        name: int(value.replace(",", ""))
        for name, value in re.findall(
            r'data-count="(\w+)">\s*<div class="name">[^<]*</div>\s*'
            r'<div class="value">([\d,]+)</div>',
            block,
        )
    }


def workbook_rows(response) -> list[tuple]:
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


# Upload, dry run, confirm ------------------------------------------------------------------------


def test_the_form_offers_the_file_importers(staff):
    page = staff.text("/imports/")
    assert 'data-testid="upload-form"' in page
    assert 'data-testid="dry-run"' in page and "checked" in page.split('data-testid="dry-run"')[1][:20]
    assert '<option value="jd"' in page and '<option value="p832"' in page
    # The open-platform pull reads no uploaded file, so it is not offered.
    assert 'value="taobao-api"' not in page
    # Staff of one county import into it without choosing.
    assert 'name="county_code"' not in page.split('data-testid="upload-form"')[1].split("</form>")[0]


def test_a_dry_run_stores_nothing_and_confirming_imports_the_same_file(staff, login, db, product):
    run_id = run_id_of(upload(staff))
    assert db[storage.SALES].count_documents({}) == 0
    page = staff.text(f"/imports/{run_id}")
    api = login("county_staff", county_codes=[COUNTY]).get(f"/api/v1/imports/{run_id}").json
    assert api["dry_run"] is True
    assert counts_on(page) == {name: api[name] for name in counts_on(page)}
    assert counts_on(page)["rows"] == 3 and counts_on(page)["rejected"] == 1
    assert api["source"]["sha256"] in page
    errors = page.split('data-testid="row-errors"')[1].split("</table>")[0]
    assert re.search(r'<td class="num">4</td><td>应付金额</td>', errors), errors
    assert 'data-testid="confirm-import"' in page

    confirmed = staff.post(f"/imports/{run_id}/confirm")
    real_id = run_id_of(confirmed)
    assert real_id != run_id
    lines = {line["external_id"]: line for line in db[storage.SALES].find({})}
    assert set(lines) == {"131279470601-100012043978", "131279470602-100012043979"}
    assert lines["131279470601-100012043978"]["matched"] is True
    assert lines["131279470602-100012043979"]["matched"] is False
    real = db[storage.IMPORT_RUNS].find_one({"_id": lines["131279470601-100012043978"]["import_run_id"]})
    assert str(real["_id"]) == real_id and real["dry_run"] is False
    assert real["source"]["sha256"] == api["source"]["sha256"]
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0

    page = staff.text(f"/imports/{real_id}")
    assert "已确认导入" in page
    assert counts_on(page)["inserted"] == 2
    assert re.search(r'<td class="num">4</td><td>应付金额</td>', page)
    # The dry run links to its confirmation, and confirming it again answers with that run.
    again = staff.text(f"/imports/{run_id}")
    assert 'data-testid="confirm-import"' not in again
    assert f"/imports/{real_id}" in again.split('data-testid="confirmed-run"')[1].split("</p>")[0]
    assert staff.post(f"/imports/{run_id}/confirm").headers["Location"] == f"/imports/{real_id}"
    assert "已经确认导入过" in staff.text(f"/imports/{real_id}")
    assert db[storage.SALES].count_documents({}) == 2


def test_a_kept_file_that_changed_or_expired_is_not_imported(staff, db, product):
    run_id = run_id_of(upload(staff))
    chunk = db[storage.PENDING_UPLOADS].find_one({})
    db[storage.PENDING_UPLOADS].update_one({"_id": chunk["_id"]}, {"$set": {"data": b"tampered"}})
    response = staff.post(f"/imports/{run_id}/confirm")
    assert response.headers["Location"] == "/imports/"
    assert "不在暂存区" in staff.text("/imports/")
    assert db[storage.SALES].count_documents({}) == 0

    second = run_id_of(upload(staff))
    db[storage.PENDING_UPLOADS].update_many({}, {"$set": {"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}})
    assert 'data-testid="confirm-import"' not in staff.text(f"/imports/{second}")
    staff.post(f"/imports/{second}/confirm")
    assert db[storage.SALES].count_documents({}) == 0


def test_a_dry_run_of_an_xlsx_export_is_confirmed_byte_for_byte(staff, db, product):
    data = (FIXTURES / "resaved_in_excel.xlsx").read_bytes()
    run_id = run_id_of(upload(staff, data, "orders.xlsx"))
    assert db[storage.SALES].count_documents({}) == 0
    real_id = run_id_of(staff.post(f"/imports/{run_id}/confirm"))
    real = db[storage.IMPORT_RUNS].find_one({"dry_run": False})
    assert str(real["_id"]) == real_id and real["status"] == "succeeded"
    assert real["source"]["size"] == len(data) and real["inserted"] > 0
    assert db[storage.SALES].count_documents({"import_run_id": real["_id"]}) == real["inserted"]


def test_an_import_without_dry_run_writes_at_once(staff, db, product):
    run_id = run_id_of(upload(staff, dry_run=""))
    assert db[storage.SALES].count_documents({}) == 2
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0
    assert 'data-testid="confirm-import"' not in staff.text(f"/imports/{run_id}")


def test_a_file_missing_columns_names_them_next_to_the_file(staff, db):
    response = upload(staff, (FIXTURES / "missing_columns.csv").read_bytes())
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    file_errors = "".join(re.findall(r'data-testid="error-file">([^<]*)<', page))
    assert "应付金额" in file_errors and "下单时间" in file_errors
    assert "缺少" in page
    assert 'data-testid="failed-run"' in page
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"file": (io.BytesIO(b""), "")}, "file", "请选择要导入的文件"),
        ({"channel": "nosuch"}, "channel", "没有 nosuch 渠道"),
        ({"channel": ""}, "channel", "必填"),
        ({"file": (io.BytesIO(b""), "empty.csv")}, "file", "文件是空的"),
    ],
)
def test_bad_input_shows_the_form_again_and_stores_nothing(staff, db, fields, field, message):
    response = upload(staff, **fields)
    assert response.status_code in (400, 422)
    page = response.get_data(as_text=True)
    assert 'data-testid="upload-form"' in page
    assert message in "".join(
        re.findall(rf'data-testid="(?:error-{field}|form-error)">(.*?)</div>', page, re.S)
    )
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0


def test_an_admin_names_the_county(page_login, db, product):
    admin = page_login("admin")
    assert 'name="county_code"' in admin.text("/imports/")
    response = upload(admin)
    assert response.status_code == 422
    assert "error-county_code" in response.get_data(as_text=True)
    run_id = run_id_of(upload(admin, county_code=COUNTY))
    assert db[storage.IMPORT_RUNS].find_one({"dry_run": True, "county_code": COUNTY}) is not None
    assert COUNTY in admin.text(f"/imports/{run_id}")


def test_staff_of_several_counties_choose_one(page_login, db, product):
    staff = page_login("county_staff", county_codes=[COUNTY, OTHER_COUNTY])
    form = staff.text("/imports/").split('data-testid="upload-form"')[1].split("</form>")[0]
    assert f'<option value="{OTHER_COUNTY}"' in form
    run_id_of(upload(staff, county_code=COUNTY))


# Access -----------------------------------------------------------------------------------------


def test_canteens_get_the_403_page(page_login, staff):
    run_id = run_id_of(upload(staff))
    browser = page_login("canteen")
    for url in ("/imports/", f"/imports/{run_id}", "/imports/unmatched"):
        response = browser.get(url)
        assert response.status_code == 403
        assert 'data-testid="error-page"' in response.get_data(as_text=True)
    assert upload(browser).status_code == 403
    assert browser.post(f"/imports/{run_id}/confirm").status_code == 403


def test_staff_of_another_county_cannot_see_or_confirm_the_run(page_login, staff, db, product):
    run_id = run_id_of(upload(staff))
    other = page_login("county_staff", county_codes=[OTHER_COUNTY])
    assert other.get(f"/imports/{run_id}").status_code == 403
    assert other.post(f"/imports/{run_id}/confirm").status_code == 403
    assert run_id not in other.text("/imports/")
    assert db[storage.SALES].count_documents({}) == 0
    # A missing run reads exactly as another county's: the id tells an outsider nothing.
    assert other.get("/imports/0123456789abcdef01234567").status_code == 403


# Enterprises import their own shop's exports ---------------------------------------------------

# A JD export of the enterprise's shop: row 2 sells its own product, row 3 another operator's.
SHOP_EXPORT = "\n".join(
    [
        HEADER,
        "131279470701,100012043978,有机大米,2,在线支付,2024-03-15 10:00,59.90,119.80,完成,ZY-RICE-5KG,",
        "131279470702,100012043981,山核桃,1,在线支付,2024-03-16 11:00,68.00,68.00,完成,NB-NUT-500,",
    ]
).encode("utf-8-sig")


@pytest.fixture
def neighbour(factory):
    """Another operator of the county, selling its own product."""
    return factory.product(
        county_code=COUNTY,
        name="邻社山核桃",
        status="certified",
        channel_skus=[{"channel": "jd", "sku": "NB-NUT-500"}],
    )


@pytest.fixture
def shop(page_login, product):
    return page_login("enterprise", operator_id=product["operator_id"])


def test_an_enterprise_uploads_into_its_own_county_with_its_own_products_only(shop):
    page = shop.text("/imports/")
    form = page.split('data-testid="upload-form"')[1].split("</form>")[0]
    assert 'name="county_code"' not in form
    assert '<option value="jd"' in form and 'value="taobao-api"' not in form
    assert 'data-testid="own-products-only"' in page and "列出行号" in page
    # The unmatched SKUs are mapped by county staff: not offered to an enterprise.
    assert "/imports/unmatched" not in page


def test_an_enterprises_dry_run_rejects_another_operators_line_and_confirm_imports_its_own(
    shop, login, db, product, neighbour
):
    run_id = run_id_of(upload(shop, SHOP_EXPORT))
    assert db[storage.SALES].count_documents({}) == 0
    page = shop.text(f"/imports/{run_id}")
    api = login("enterprise", operator_id=product["operator_id"]).get(f"/api/v1/imports/{run_id}").json
    assert counts_on(page) == {name: api[name] for name in counts_on(page)}
    assert (counts_on(page)["rows"], counts_on(page)["rejected"]) == (2, 1)
    errors = page.split('data-testid="row-errors"')[1].split("</table>")[0]
    assert re.search(r'<td class="num">3</td><td>SKU</td><td>该产品属于其他经营主体。</td>', errors), errors
    assert errors.count('data-testid="row-error"') == 1
    assert f"<dd>{COUNTY}</dd>" in page

    real_id = run_id_of(shop.post(f"/imports/{run_id}/confirm"))
    lines = list(db[storage.SALES].find({}))
    assert [line["external_id"] for line in lines] == ["131279470701-100012043978"]
    assert lines[0]["product_id"] == product["_id"] and lines[0]["county_code"] == COUNTY
    assert str(lines[0]["import_run_id"]) == real_id
    real = db[storage.IMPORT_RUNS].find_one({"_id": lines[0]["import_run_id"]})
    assert real["operator_id"] == product["operator_id"] and (real["inserted"], real["rejected"]) == (1, 1)
    assert db[storage.SALES].count_documents({"product_id": neighbour["_id"]}) == 0


def test_an_enterprise_sees_and_confirms_only_its_own_runs(page_login, shop, staff, db, neighbour):
    own = run_id_of(upload(shop, SHOP_EXPORT))
    other_shop = page_login("enterprise", operator_id=neighbour["operator_id"])
    theirs = run_id_of(upload(other_shop, SHOP_EXPORT))
    county_run = run_id_of(upload(staff))

    page = shop.text("/imports/")
    assert page.count('data-testid="import-run"') == 1 and f"/imports/{own}" in page
    assert theirs not in page and county_run not in page
    rows = workbook_rows(shop.get("/imports/?format=xlsx"))
    assert len(rows) == 2
    for run_id in (theirs, county_run):
        response = shop.get(f"/imports/{run_id}")
        assert response.status_code == 403
        assert "没有这条导入记录，或它不属于您的范围" in response.get_data(as_text=True)
        assert shop.post(f"/imports/{run_id}/confirm").status_code == 403
    assert db[storage.SALES].count_documents({}) == 0
    assert shop.get("/imports/0123456789abcdef01234567").status_code == 403
    # County staff see the enterprises' runs of their county beside their own.
    assert staff.text("/imports/").count('data-testid="import-run"') == 3


def test_an_enterprise_cannot_import_into_another_county(shop, db):
    response = upload(shop, SHOP_EXPORT, county_code=OTHER_COUNTY)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert f"本单位的销售只能导入所在县 {COUNTY}" in page and 'data-testid="upload-form"' in page
    assert db[storage.IMPORT_RUNS].count_documents({}) == 0


# Lists and downloads ----------------------------------------------------------------------------


def test_the_run_list_links_each_run_and_downloads(staff, product):
    run_id = run_id_of(upload(staff))
    page = staff.text("/imports/")
    assert f"/imports/{run_id}" in page and "试导入" in page and "orders.csv" in page
    rows = workbook_rows(staff.get("/imports/?format=xlsx"))
    assert rows[0][:4] == ("开始时间", "渠道", "县", "文件名")
    assert rows[1][1:6] == ("京东", COUNTY, "orders.csv", "试导入", "已完成")
    assert staff.text("/imports/?status=failed").count('data-testid="import-run"') == 0


def test_row_errors_download(staff, product):
    run_id = run_id_of(upload(staff))
    rows = workbook_rows(staff.get(f"/imports/{run_id}?format=xlsx"))
    assert rows[0] == ("行号", "字段", "问题")
    assert [row[:2] for row in rows[1:]] == [(4, "应付金额")]


# 淘宝's export of two files ---------------------------------------------------------------------------

TAOBAO_PAIR = Path(__file__).resolve().parents[1] / "fixtures" / "taobao" / "two_files_gb18030"


def test_a_taobao_export_of_two_files_is_dry_run_then_confirmed_from_both_kept_files(staff, db):
    files = [(io.BytesIO(path.read_bytes()), path.name) for path in sorted(TAOBAO_PAIR.iterdir())][::-1]
    response = staff.post(
        "/imports/", {"channel": "taobao", "dry_run": "on", "file": files}, content_type="multipart/form-data"
    )
    run_id = run_id_of(response)
    page = staff.text(f"/imports/{run_id}")
    assert "淘宝/天猫已卖出的宝贝（订单报表 + 宝贝报表）（taobao-2files）" in page
    assert re.findall(r'data-testid="run-file">([^<]+)<', page) == ["b-items.csv", "a-orders.csv"]
    real_id = run_id_of(staff.post(f"/imports/{run_id}/confirm"))
    real = db[storage.IMPORT_RUNS].find_one({"_id": db[storage.SALES].find_one()["import_run_id"]})
    assert str(real["_id"]) == real_id and (real["layout"], real["inserted"]) == ("taobao-2files", 10)
    assert [file["sha256"] for file in real["files"]] == [
        file["sha256"] for file in db[storage.IMPORT_RUNS].find_one({"dry_run": True})["files"]
    ]


def test_one_half_of_a_taobao_export_is_refused_on_the_form_naming_the_other(staff, db):
    orders = TAOBAO_PAIR / "a-orders.csv"
    response = staff.post(
        "/imports/",
        {"channel": "taobao", "dry_run": "on", "file": (io.BytesIO(orders.read_bytes()), orders.name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "宝贝报表" in response.get_data(as_text=True)
    assert db[storage.SALES].count_documents({}) == 0
