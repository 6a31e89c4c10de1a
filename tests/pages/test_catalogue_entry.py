"""Keeping the registers through the pages: operators, households and benefit links, by form and by file."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest

from adapters.base import SaleLine
from service import ledger, partitions, storage
from service.clock import start_of_local_day, today_local
from service.ingest_scope import IngestScope
from service.web.core import STALE_MESSAGE
from tests.factories import valid_id_number

A, B = "340722", "341822"
VALID_USCC = "91110108551385082Q"
PILOT_USCC = "91350100M0001TGQXM"  # a real early pilot code that fails the check character
HOUSEHOLD_HEADER = "户编号,村代码,户主姓名,身份证号,家庭人口数,户类型,脱贫年度\n"
LINK_HEADER = "经营主体统一社会信用代码,户编号,带贫方式,权重,开始日期,结束日期\n"


def follow(browser, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    return browser.text(response.headers["Location"])


def html(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[-800:])
    return response.get_data(as_text=True)


def upload(browser, url: str, content: str, filename: str = "register.csv", **form):
    data = {"file": (io.BytesIO(content.encode()), filename), **form}
    return browser.post(url, data, content_type="multipart/form-data")


def operator_form(**fields) -> dict:
    return {
        "name": "枞阳县茶叶专业合作社",
        "uscc": VALID_USCC,
        "kind": "cooperative",
        "county_code": A,
        "contact_phone": "0562-1234567",
        "benefit_mechanisms[]": ["purchase", "employment"],
        **fields,
    }


def household_form(**fields) -> dict:
    return {
        "household_no": f"{A}0000000001",
        "village_code": f"{A}100201",
        "head_name": "张三",
        "id_number": valid_id_number(7001),
        "members": "4",
        "status": "exited",
        "exit_year": "2019",
        **fields,
    }


def field_error(page: str, name: str) -> str:
    found = re.search(rf'data-testid="error-{name}">([^<]*)<', page)
    assert found, f"no error shown at {name}"
    return found.group(1)


@pytest.fixture
def staff(page_login):
    return page_login("county_staff", county_codes=[A])


# Operators ---------------------------------------------------------------------------------------


def test_a_bad_uscc_shows_at_its_field_and_nothing_is_stored(staff, db):
    page = html(staff.post("/operators/new", operator_form(uscc="9111010855138508")), 422)
    assert field_error(page, "uscc") == "应为 18 位。"
    assert 'value="9111010855138508"' in page and "枞阳县茶叶专业合作社" in page  # the form is kept

    page = html(staff.post("/operators/new", operator_form(uscc=PILOT_USCC)), 422)
    assert "校验位不符仍保存" in field_error(page, "uscc")
    assert db[storage.OPERATORS].count_documents({}) == 0
    assert db[storage.AUDIT_LOG].count_documents({"action": "operator.create"}) == 0


def test_with_the_override_a_pilot_code_is_stored_and_audited(staff, db):
    response = staff.post(
        "/operators/new",
        operator_form(uscc=PILOT_USCC, uscc_checksum_override="true", is_leading_enterprise="true"),
    )
    page = follow(staff, response)
    stored = db[storage.OPERATORS].find_one({"uscc": PILOT_USCC})
    assert stored["uscc_checksum_override"] is True and stored["is_leading_enterprise"] is True
    assert stored["kind"] == "cooperative" and stored["benefit_mechanisms"] == ["purchase", "employment"]
    entry = db[storage.AUDIT_LOG].find_one({"action": "operator.create", "entity.id": stored["_id"]})
    assert PILOT_USCC in entry["note"] and entry["actor"]["username"] == staff.user["username"]
    assert "已登记经营主体" in page and "校验位不符，经县级确认保存" in page
    assert 'data-testid="edit-operator"' in page and 'data-testid="suspend-form"' in page

    # A format error is never overridable.
    page = html(
        staff.post("/operators/new", operator_form(uscc="9A110108551385082Q", uscc_checksum_override="true")),
        422,
    )
    assert "前 8 位应为数字" in field_error(page, "uscc")


def test_the_operators_list_links_to_the_register_form(staff):
    page = staff.text("/operators/")
    assert 'href="/operators/new"' in page
    form = staff.text("/operators/new")
    assert 'data-testid="uscc-override"' in form and "农民专业合作社" in form and "龙头企业" in form
    assert f'<option value="{A}"' in form


def test_editing_an_operator_sends_the_version_read_and_unticked_boxes_clear(staff, db, factory):
    operator = factory.operator(A, name="旧名称", uscc=VALID_USCC, is_leading_enterprise=True, version=1)
    url = f"/operators/{operator['_id']}/edit"
    form = staff.text(url)
    assert 'name="version" value="1"' in form and 'value="旧名称"' in form

    page = follow(staff, staff.post(url, operator_form(name="新名称", version="1")))
    stored = db[storage.OPERATORS].find_one({"_id": operator["_id"]})
    assert stored["name"] == "新名称" and stored["is_leading_enterprise"] is False and stored["version"] == 2
    assert "经营主体信息已保存" in page

    stale = html(staff.post(url, operator_form(name="又一个名称", version="1")), 412)
    assert "已被他人修改" in stale
    assert db[storage.OPERATORS].find_one({"_id": operator["_id"]})["name"] == "新名称"

    missing = html(staff.post(url, operator_form(name="", contact_phone="call me", version="2")), 422)
    assert field_error(missing, "name") == "必填。"
    assert field_error(missing, "contact_phone") == "电话为 5–20 位数字，可含空格和“-”。"


def test_suspending_needs_a_reason_and_reactivating_restores(staff, db, factory):
    operator = factory.operator(A, uscc=VALID_USCC)
    url = f"/operators/{operator['_id']}"
    page = follow(staff, staff.post(f"{url}/suspend", {"reason": " ", "version": "1"}))
    assert "理由" in page and db[storage.OPERATORS].find_one({"_id": operator["_id"]})["status"] == "active"

    page = follow(staff, staff.post(f"{url}/suspend", {"reason": "营业执照被吊销", "version": "1"}))
    assert "已暂停该经营主体" in page and "营业执照被吊销" in page and 'data-testid="reactivate-form"' in page
    assert db[storage.OPERATORS].find_one({"_id": operator["_id"]})["status"] == "suspended"

    page = follow(staff, staff.post(f"{url}/reactivate", {"version": "2"}))
    assert "已恢复该经营主体" in page
    assert db[storage.OPERATORS].find_one({"_id": operator["_id"]})["status"] == "active"


# Households --------------------------------------------------------------------------------------


def test_a_household_entered_by_form_never_shows_its_clear_id_number(staff, db, factory):
    clear = valid_id_number(7001)
    seen: list[str] = []

    def keep(response, status=200):
        seen.append(html(response, status))
        return seen[-1]

    keep(staff.get("/households/new"))
    response = staff.post("/households/new", household_form())
    assert response.status_code == 302
    keep(staff.get(response.headers["Location"]))
    household = db[storage.HOUSEHOLDS].find_one({"household_no": f"{A}0000000001"})
    assert household["id_number_masked"] in seen[-1] and "已登记脱贫户" in seen[-1]
    assert household["members"] == 4 and household["exit_year"] == 2019

    operator = factory.operator(A)
    factory.benefit_link(operator, household)
    for url in (
        "/households/",
        "/households/?q=张三",
        f"/households/{household['_id']}/edit",
        "/links/",
        f"/links/new?household_no={household['household_no']}",
        f"/operators/{operator['_id']}",
    ):
        keep(staff.get(url))
    # The same person again: refused, and neither the number nor the holder's page echoes it.
    keep(staff.post("/households/new", household_form(household_no=f"{A}0000000002")), 409)
    assert "此人已是户" in seen[-1]
    response = staff.post("/households/lookup", {"id_number": clear})
    assert response.headers["Location"].endswith(f"/households/{household['_id']}")
    assert clear not in response.headers["Location"]
    keep(staff.get(response.headers["Location"]))
    for xlsx_url in ("/households/?format=xlsx", f"/households/{household['_id']}?format=xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(staff.get(xlsx_url).data))
        seen.extend(str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row)

    assert not [page for page in seen if clear in page]


def test_a_validation_error_brings_the_form_back_without_the_id_number(staff, db):
    clear = valid_id_number(7002)
    page = html(staff.post("/households/new", household_form(id_number=clear, village_code="34072210")), 422)
    assert clear not in page
    assert re.search(r'<input id="f-id_number" name="id_number" type="text" value=""', page)
    assert "需重新填写身份证号" in page
    assert field_error(page, "village_code") == "村代码应为 12 位统计用区划代码。"
    assert 'value="34072210"' in page and 'value="张三"' in page  # the rest is kept
    page = html(staff.post("/households/new", household_form(id_number=clear, members="四")), 422)
    assert clear not in page and field_error(page, "members") == "请填写整数。"
    page = html(staff.post("/households/new", household_form(id_number=clear[:-1])), 422)
    assert clear[:-1] not in page
    assert field_error(page, "id_number") == "身份证号应为 18 位（填写了 17 位）。"
    assert db[storage.HOUSEHOLDS].count_documents({}) == 0


def test_editing_a_household_keeps_its_number_and_checks_the_version(staff, db, factory):
    household = factory.household(A, status="poor")
    url = f"/households/{household['_id']}/edit"
    form = staff.text(url)
    assert household["id_number_masked"] in form and 'name="id_number"' not in form
    data = {
        "village_code": f"{A}100201",
        "head_name": "李四",
        "members": "5",
        "status": "exited",
        "version": "1",
    }
    page = html(staff.post(url, data), 422)
    assert field_error(page, "exit_year") == "已脱贫户必须填写脱贫年度。"
    page = follow(staff, staff.post(url, {**data, "exit_year": "2020"}))
    stored = db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})
    assert (stored["head_name"], stored["members"], stored["exit_year"], stored["version"]) == (
        "李四",
        5,
        2020,
        2,
    )
    assert stored["id_number_hash"] == household["id_number_hash"]
    assert "已保存" in page
    assert "已被他人修改" in html(staff.post(url, {**data, "exit_year": "2021"}), 412)


def test_looking_up_an_unknown_id_number_says_not_found_without_the_number(staff, factory):
    factory.household(A)
    unknown = valid_id_number(9999)
    response = staff.post("/households/lookup", {"id_number": unknown})
    assert response.headers["Location"].endswith("/households/")
    page = follow(staff, response)
    assert "没有找到" in page and unknown not in page
    assert "身份证号应为 18 位" in follow(staff, staff.post("/households/lookup", {"id_number": "1234"}))
    # Looked up from the link form, the household number is filled in there.
    found = factory.household(A, id_number=valid_id_number(8888))
    response = staff.post("/households/lookup", {"id_number": valid_id_number(8888), "then": "new_link"})
    assert f"household_no={found['household_no']}" in response.headers["Location"]
    assert f'value="{found["household_no"]}"' in staff.text(response.headers["Location"])


def test_a_household_import_stores_the_good_rows_and_names_the_bad_row(staff, db):
    good = [f"{A}0000000101,{A}100201,王五,{valid_id_number(7101)},3,未脱贫,"]
    bad = f"{A}0000000102,{A}100201,赵六,{valid_id_number(7102)},很多,已脱贫,2019"
    also_good = f"{A}0000000103,{A}100202,钱七,{valid_id_number(7103)},2,已脱贫,2018"
    page = staff.text("/households/import")
    assert 'data-testid="import-columns"' in page and "家庭人口数" in page
    response = upload(
        staff, "/households/import", HOUSEHOLD_HEADER + "\n".join([*good, bad, also_good]) + "\n"
    )
    page = html(response, 200)
    errors = page.split('data-testid="row-errors"')[1].split("</table>")[0]
    assert re.findall(r'data-row="(\d+)"', errors) == ["3"] and "家庭人口数" in errors
    assert re.search(r'data-testid="count-inserted">2<', page) and re.search(
        r'data-testid="count-rejected">1<', page
    )
    assert valid_id_number(7101) not in page
    stored = {household["household_no"] for household in db[storage.HOUSEHOLDS].find()}
    assert stored == {f"{A}0000000101", f"{A}0000000103"}

    page = html(upload(staff, "/households/import", "名字,年龄\n张三,3\n"), 422)
    assert "缺少必需的列" in page and db[storage.HOUSEHOLDS].count_documents({}) == 2
    assert "请选择要上传的文件" in html(staff.post("/households/import", {}), 422)

    template = openpyxl.load_workbook(io.BytesIO(staff.get("/households/import/template.xlsx").data)).active
    assert [cell.value for cell in template[1]][:4] == ["户编号", "村代码", "户主姓名", "身份证号"]


# Benefit links -----------------------------------------------------------------------------------


def test_an_overlapping_link_shows_the_conflict_and_a_way_to_the_existing_one(staff, db, factory):
    operator = factory.operator(A, name="黄梅茶社")
    household = factory.household(A)
    existing = factory.benefit_link(operator, household, valid_from=date(2023, 1, 1))
    form = {
        "operator_id": str(operator["_id"]),
        "household_no": household["household_no"],
        "mechanism": "employment",
        "weight": "3",
        "valid_from": "2024-03-01",
    }
    page = staff.text(f"/links/new?operator_id={operator['_id']}")
    assert f'<option value="{operator["_id"]}" selected>黄梅茶社</option>' in page
    page = html(staff.post("/links/new", form), 409)
    assert (
        f"户 {household['household_no']} 与该经营主体已有自 2023-01-01 起长期有效的带贫关系，时段重叠" in page
    )
    assert f'href="/links/{existing["_id"]}"' in page and 'data-testid="clash-link"' in page
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 1

    page = follow(
        staff, staff.post("/links/new", {**form, "household_no": factory.household(A)["household_no"]})
    )
    assert "已新增带贫关系" in page and "吸纳就业" in page
    assert db[storage.BENEFIT_LINKS].count_documents({"weight": 3}) == 1
    page = html(staff.post("/links/new", {**form, "weight": "1.5", "household_no": "999"}), 422)
    assert field_error(page, "weight") == "请填写整数。"


def test_ending_a_link_shows_it_ended_and_a_weight_change_checks_the_version(staff, db, factory):
    link = factory.benefit_link(factory.operator(A), factory.household(A), weight=2)
    url = f"/links/{link['_id']}"
    page = staff.text(url)
    assert 'data-testid="end-link-form"' in page and "data-confirm" in page

    page = html(staff.post(f"{url}/end", {"valid_to": "2023-06-30"}), 422)
    assert field_error(page, "reason") == "必填。"
    page = html(staff.post(f"{url}/end", {"valid_to": "1999-06-30", "reason": "搬迁"}), 422)
    assert "日期应在" in field_error(page, "valid_to")

    page = follow(staff, staff.post(f"{url}/change", {"weight": "5", "version": "1"}))
    assert 'data-testid="link-weight">5<' in page
    assert "已被他人修改" in html(staff.post(f"{url}/change", {"weight": "6", "version": "1"}), 412)

    last_day = today_local() - timedelta(days=1)
    page = follow(staff, staff.post(f"{url}/end", {"valid_to": last_day.isoformat(), "reason": "合同到期"}))
    assert "带贫关系已结束" in page and 'data-testid="link-state">已结束<' in page
    assert f'data-testid="link-valid-to">{last_day.isoformat()}<' in page and "合同到期" in page
    stored = db[storage.BENEFIT_LINKS].find_one({"_id": link["_id"]})
    assert stored["end_reason"] == "合同到期" and stored["weight"] == 5
    page = html(staff.post(f"{url}/end", {"valid_to": today_local().isoformat(), "reason": "再延长"}), 409)
    assert "不能延长" in page


def test_a_link_import_stores_the_good_rows_and_names_the_bad_row(staff, db, factory):
    operator = factory.operator(A, uscc=VALID_USCC)
    first, second = factory.household(A), factory.household(A)
    rows = [
        f"{VALID_USCC},{first['household_no']},吸纳就业,10,2024-01-01,",
        f"{VALID_USCC},{second['household_no']},不存在的方式,1,2024-01-01,",
        f"{VALID_USCC},{second['household_no']},purchase,2,2024-02-01,2024-12-31",
    ]
    page = html(upload(staff, "/links/import", LINK_HEADER + "\n".join(rows) + "\n"), 200)
    errors = page.split('data-testid="row-errors"')[1].split("</table>")[0]
    assert re.findall(r'data-row="(\d+)"', errors) == ["3"] and "带贫方式应为" in errors
    assert re.search(r'data-testid="count-inserted">2<', page)
    assert db[storage.BENEFIT_LINKS].count_documents({"operator_id": operator["_id"]}) == 2

    dry = html(upload(staff, "/links/import", LINK_HEADER + rows[0] + "\n", dry_run="true"), 200)
    assert "仅检查，未保存" in dry and re.search(r'data-testid="count-unchanged">1<', dry)


def test_the_product_page_maps_a_channel_sku_for_staff(staff, db, factory):
    product = factory.product(factory.operator(A)["_id"], status="certified")
    url = f"/products/{product['_id']}"
    assert 'data-testid="sku-form"' in staff.text(url)
    page = follow(staff, staff.post(f"{url}/skus", {"channel": "jd", "sku": "JD-100"}))
    assert "已添加京东商品编码 JD-100" in page and "京东：JD-100" in page
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == "certified"
    other = factory.product(factory.operator(A)["_id"])
    page = follow(staff, staff.post(f"/products/{other['_id']}/skus", {"channel": "jd", "sku": "JD-100"}))
    assert "JD-100 已对应到产品" in page and "一个 SKU 只能对应一个产品" in page


# Products on an operator's behalf ----------------------------------------------------------------


def product_form(**fields) -> dict:
    return {
        "name": "枞阳黄花茶",
        "category": "tea",
        "unit": "盒",
        "price_fen": "58.50",
        "benefit_rate_bp": "15.25",
        "channel_skus-channel": ["jd", ""],
        "channel_skus-sku": ["HHC-250", ""],
        **fields,
    }


def test_staff_register_a_draft_product_for_an_operator_of_their_county(staff, db, factory):
    operator = factory.operator(A, name="枞阳县某村股份经济合作社")
    other_county = factory.operator(B, name="外县合作社")
    suspended = factory.operator(A, name="已暂停合作社", status="suspended")
    assert f"/products/new?operator_id={operator['_id']}" in staff.text(f"/operators/{operator['_id']}")
    assert 'href="/products/new" data-testid="new-product"' in staff.text("/products/")
    form = staff.text(f"/products/new?operator_id={operator['_id']}")
    assert re.search(rf'<option value="{operator["_id"]}"\s+selected>', form)
    assert str(other_county["_id"]) not in form and str(suspended["_id"]) not in form
    assert 'data-testid="save-product"' in form and 'data-testid="save-and-submit"' in form

    page = follow(staff, staff.post("/products/new", product_form(operator_id=str(operator["_id"]))))
    stored = db[storage.PRODUCTS].find_one({"name": "枞阳黄花茶"})
    assert (stored["operator_id"], stored["county_code"], stored["status"]) == (operator["_id"], A, "draft")
    assert stored["price_fen"] == 5850 and type(stored["price_fen"]) is int
    rate = stored["benefit_rate_history"][0]["benefit_rate_bp"]
    assert rate == 1525 and type(rate) is int
    assert stored["created_by"]["username"] == staff.user["username"]
    assert "产品已保存" in page and f'href="/products/{stored["_id"]}/edit"' in page


def test_a_product_needs_an_operator_of_the_staffs_counties_that_is_active(staff, db, factory):
    page = html(staff.post("/products/new", product_form()), 422)
    assert field_error(page, "operator_id") == "必填。" and 'value="58.50"' in page
    suspended = factory.operator(A, status="suspended")
    page = html(staff.post("/products/new", product_form(operator_id=str(suspended["_id"]))), 422)
    assert field_error(page, "operator_id") == "该经营主体已暂停。"
    other_county = factory.operator(B)
    page = html(staff.post("/products/new", product_form(operator_id=str(other_county["_id"]))), 403)
    assert 'data-testid="error-page"' in page and f"县 {B} 不在您的管辖范围内。" in page
    assert db[storage.PRODUCTS].count_documents({}) == 0


def test_staff_edit_a_product_with_the_version_they_read(staff, db, factory):
    operator = factory.operator(A, name="枞阳茶叶合作社")
    product = factory.product(operator["_id"], name="原名", price_fen=1000)
    url = f"/products/{product['_id']}/edit"
    assert f'href="{url}" data-testid="edit-product"' in staff.text(f"/products/{product['_id']}")
    form = staff.text(url)
    assert 'data-testid="product-operator"' in form and "枞阳茶叶合作社" in form
    assert 'name="operator_id"' not in form  # an edit never moves the product to another operator

    stale = product_form(name="我的修改", version=str(product["version"]))
    db[storage.PRODUCTS].update_one({"_id": product["_id"]}, {"$inc": {"version": 1}})
    page = html(staff.post(url, stale), 409)
    assert STALE_MESSAGE in page and 'value="我的修改"' in page
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["name"] == "原名"

    follow(
        staff,
        staff.post(url, product_form(name="新名字", price_fen="12", version=str(product["version"] + 1))),
    )
    stored = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert (stored["name"], stored["price_fen"], stored["version"]) == (
        "新名字",
        1200,
        product["version"] + 2,
    )


def test_a_rate_staff_backdate_is_kept_and_its_months_are_recomputed(staff, db, factory):
    operator = factory.operator(A)
    product = factory.product(
        operator["_id"], status="certified", valid_days=3650, benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "T1"}],
    )  # fmt: skip
    product = factory.certified_since(product, datetime(2023, 1, 1, tzinfo=UTC), 1500)
    lines = [
        SaleLine(channel="jd", external_id=f"S-{month}", occurred_at=datetime(2024, month, 10, 2, tzinfo=UTC),
                 quantity=1, amount_fen=10_000, sku="T1")
        for month in (1, 2)
    ]  # fmt: skip
    assert ledger.ingest(db, lines, IngestScope(A)).rejected == 0
    assert partitions.dirty_partitions(db) == []
    url = f"/products/{product['_id']}/edit"
    assert "重新计算" in staff.text(url).split('data-testid="rate-valid-from"')[1].split("</div>")[0]

    form = product_form(
        name=product["name"],
        benefit_rate_bp="20",
        benefit_rate_valid_from="2024-02-01",
        version=str(product["version"]),
        **{"channel_skus-channel": "jd", "channel_skus-sku": "T1"},
    )
    follow(staff, staff.post(url, form))
    stored = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert stored["benefit_rate_history"][-1] == {
        "benefit_rate_bp": 2000,
        "valid_from": start_of_local_day(date(2024, 2, 1)),
    }
    assert partitions.dirty_partitions(db) == [(A, "2024-02")]  # January kept its rate


def test_an_enterprise_still_cannot_backdate_a_rate(page_login, db, factory):
    operator = factory.operator(A)
    product = factory.product(operator["_id"], benefit_rate_bp=1000)
    enterprise = page_login("enterprise", operator_id=operator["_id"])
    url = f"/enterprise/products/{product['_id']}/edit"
    assert 'data-testid="rate-valid-from"' not in enterprise.text(url)
    yesterday = (today_local() - timedelta(days=1)).isoformat()
    form = product_form(
        benefit_rate_bp="20", benefit_rate_valid_from=yesterday, version=str(product["version"])
    )
    page = html(enterprise.post(url, form), 422)
    assert field_error(page, "benefit_rate_valid_from") == "不能早于今天。"
    history = db[storage.PRODUCTS].find_one({"_id": product["_id"]})["benefit_rate_history"]
    assert [entry["benefit_rate_bp"] for entry in history] == [1000]
    assert enterprise.get("/products/new").status_code == 403


# Scope and roles ---------------------------------------------------------------------------------


def test_staff_cannot_register_in_a_county_not_theirs(page_login, db, factory):
    outsider = page_login("county_staff", county_codes=[B])
    page = html(outsider.post("/operators/new", operator_form(county_code=A)), 403)
    assert field_error(page, "county_code") == f"县 {A} 不在您的管辖范围内。"
    assert f'<option value="{A}"' not in outsider.text("/operators/new")
    page = html(outsider.post("/households/new", household_form()), 403)
    assert field_error(page, "village_code") == f"县 {A} 不在您的管辖范围内。"
    operator, household = factory.operator(A), factory.household(A)
    link_form = {
        "operator_id": str(operator["_id"]),
        "household_no": household["household_no"],
        "mechanism": "purchase",
        "weight": "1",
        "valid_from": "2024-01-01",
    }
    assert field_error(html(outsider.post("/links/new", link_form), 403), "operator_id").startswith("县")
    link = factory.benefit_link(operator, household)
    for url, data in (
        (f"/operators/{operator['_id']}/edit", operator_form(version="1")),
        (f"/operators/{operator['_id']}/suspend", {"reason": "x", "version": "1"}),
        (f"/households/{household['_id']}/edit", {"head_name": "x", "version": "1"}),
        (f"/links/{link['_id']}/end", {"valid_to": "2024-01-01", "reason": "x"}),
        (f"/links/{link['_id']}/change", {"weight": "9", "version": "1"}),
    ):
        assert outsider.post(url, data).status_code == 403, url
    assert db[storage.OPERATORS].count_documents({}) == 1 and db[storage.HOUSEHOLDS].count_documents({}) == 1
    stored = db[storage.BENEFIT_LINKS].find_one({"_id": link["_id"]})
    assert stored["weight"] == 1 and stored["valid_to"] is None


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_enterprise_and_canteen_accounts_get_a_403(page_login, factory, db, role):
    operator, household = factory.operator(A), factory.household(A)
    link = factory.benefit_link(operator, household)
    product = factory.product(operator["_id"])
    binding = {"operator_id": operator["_id"]} if role == "enterprise" else {}
    browser = page_login(role, **binding)
    for url in (
        "/operators/new",
        f"/operators/{operator['_id']}/edit",
        "/households/new",
        f"/households/{household['_id']}/edit",
        "/households/import",
        "/households/import/template.xlsx",
        "/links/new",
        "/links/import",
        "/links/import/template.xlsx",
    ):
        assert browser.get(url).status_code == 403, url
    for url, data in (
        ("/operators/new", operator_form()),
        (f"/operators/{operator['_id']}/suspend", {"reason": "x"}),
        (f"/operators/{operator['_id']}/reactivate", {}),
        ("/households/new", household_form()),
        ("/households/lookup", {"id_number": household_form()["id_number"]}),
        ("/links/new", {"operator_id": str(operator["_id"])}),
        (f"/links/{link['_id']}/end", {"valid_to": "2024-01-01", "reason": "x"}),
        (f"/links/{link['_id']}/change", {"weight": "9"}),
        (f"/products/{product['_id']}/skus", {"channel": "jd", "sku": "X1"}),
    ):
        assert browser.post(url, data).status_code == 403, url
    assert db[storage.OPERATORS].count_documents({}) == 1 and db[storage.HOUSEHOLDS].count_documents({}) == 1
    assert db[storage.BENEFIT_LINKS].find_one({"_id": link["_id"]})["valid_to"] is None
