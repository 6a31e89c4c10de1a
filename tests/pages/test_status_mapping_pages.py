"""The order-status mapping page: unknown statuses an import set aside, mapped by county staff."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest

from service import imports, storage
from service.access import COUNTY_STAFF, Principal

COUNTY = "340722"
OTHER_COUNTY = "341000"
PAGE = "/status-mappings/"
HEADER = "订单号,商品ID,商品名称,订购数量,下单时间,京东价,应付金额,订单状态,商家SKU"
JD_EXPORT = "\n".join(
    [
        HEADER,
        "231279470701,100012043978,有机大米,2,2024-03-15 10:00,59.90,119.80,完成,ZY-RICE-5KG",
        "231279470702,100012043978,有机大米,1,2024-03-16 10:00,59.90,59.90,海关审核中,ZY-RICE-5KG",
    ]
).encode("utf-8-sig")
STAFF = Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=(COUNTY,))


@pytest.fixture
def run(db, factory):
    operator = factory.operator(COUNTY)
    rice = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        channel_skus=[{"channel": "jd", "sku": "ZY-RICE-5KG"}],
    )
    factory.certified_since(rice, datetime(2023, 1, 1, tzinfo=UTC), 1000)
    return imports.run_import(db, STAFF, "jd", io.BytesIO(JD_EXPORT), "orders.csv")


@pytest.fixture
def staff(page_login):
    return page_login("county_staff", county_codes=[COUNTY])


def unmapped_on(page: str) -> list[str]:
    return re.findall(r'data-testid="unmapped-row" data-status="([^"]*)"', page)


def mapped_on(page: str) -> list[str]:
    return re.findall(r'data-testid="mapping-row" data-status="([^"]*)"', page)


def test_the_run_page_links_its_unknown_statuses_to_the_mapping_page(staff, run):
    page = staff.text(f"/imports/{run['_id']}")
    link = re.search(r'<a href="([^"]+)" data-testid="map-statuses">映射这些状态', page)
    assert link and link.group(1) == f"{PAGE}?county_code={COUNTY}"


def test_the_run_page_has_no_link_without_unknown_statuses(db, staff, run):
    data = JD_EXPORT.replace("海关审核中".encode(), "已取消".encode())
    other = imports.run_import(db, STAFF, "jd", io.BytesIO(data), "orders.csv")
    assert 'data-testid="map-statuses"' not in staff.text(f"/imports/{other['_id']}")


def test_staff_map_an_unknown_status_and_the_same_file_then_counts_its_rows(db, staff, run):
    page = staff.text(PAGE)
    assert unmapped_on(page) == ["海关审核中"]
    assert "暂不计入（待付款等，重新导入时再计）" in page and "计为退款（金额为0）" in page
    response = staff.post(
        PAGE, {"county_code": COUNTY, "channel": "jd", "status": "海关审核中", "outcome": "sale"}
    )
    assert response.status_code == 302
    page = staff.text(response.headers["Location"])
    assert "已将京东的状态“海关审核中”设为计为销售" in page
    assert unmapped_on(page) == [] and mapped_on(page) == ["海关审核中"]
    again = imports.run_import(db, STAFF, "jd", io.BytesIO(JD_EXPORT), "orders.csv")
    assert (again["inserted"], again["unchanged"], again["skipped"]) == (1, 1, 0)
    assert db[storage.AUDIT_LOG].count_documents({"action": "status_mapping.set"}) == 1


def test_a_known_status_is_refused_in_chinese_and_nothing_is_stored(db, staff):
    staff.text(PAGE)
    response = staff.post(
        PAGE, {"county_code": COUNTY, "channel": "jd", "status": "完成", "outcome": "skipped"}
    )
    page = staff.text(response.headers["Location"])
    assert "京东的导入程序已识别状态“完成”（计为销售），不能再映射。" in page
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 0


def test_a_mapping_is_deleted_from_the_page(db, staff, run):
    staff.text(PAGE)
    staff.post(PAGE, {"county_code": COUNTY, "channel": "jd", "status": "海关审核中", "outcome": "pending"})
    mapping = db[storage.STATUS_MAPPINGS].find_one({})
    response = staff.post(f"{PAGE}{mapping['_id']}/delete", {"county_code": COUNTY})
    page = staff.text(response.headers["Location"])
    assert "已删除京东状态“海关审核中”的映射" in page
    assert mapped_on(page) == [] and unmapped_on(page) == ["海关审核中"]
    assert db[storage.AUDIT_LOG].count_documents({"action": "status_mapping.delete"}) == 1


def test_a_form_without_the_csrf_token_changes_nothing(app, db, staff):
    staff.text(PAGE)
    response = staff.client.post(
        PAGE, data={"county_code": COUNTY, "channel": "jd", "status": "海关审核中", "outcome": "sale"}
    )
    assert response.status_code == 400
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 0


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_enterprises_and_canteens_get_the_403_page(page_login, db, role):
    browser = page_login(role)
    assert browser.get(PAGE).status_code == 403
    assert browser.get(f"{PAGE}?county_code={COUNTY}").status_code == 403
    body = {"county_code": COUNTY, "channel": "jd", "status": "海关审核中", "outcome": "sale"}
    assert browser.post(PAGE, body).status_code == 403
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 0


def test_staff_of_another_county_get_the_403_page(page_login, db, run):
    other = page_login("county_staff", county_codes=[OTHER_COUNTY])
    assert unmapped_on(other.text(PAGE)) == []
    assert other.get(f"{PAGE}?county_code={COUNTY}").status_code == 403
    body = {"county_code": COUNTY, "channel": "jd", "status": "海关审核中", "outcome": "sale"}
    assert other.post(PAGE, body).status_code == 403
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 0


def test_the_staff_menu_links_the_page(staff):
    assert f'href="{PAGE}"' in staff.text("/imports/")
