"""The audit log page: filters by person, record and day; every change as 字段：旧值 → 新值 in Chinese."""

from __future__ import annotations

import re
from datetime import datetime

import time_machine

from service import audit, storage
from service.access import system_principal
from service.clock import SHANGHAI
from service.vocabulary import FIELD_LABELS

A = "340722"
OPERATOR = {
    "name": "枞阳县白云茶业专业合作社",
    "uscc": "91110108551385082Q",
    "kind": "cooperative",
    "county_code": A,
    "address": "枞阳县白云村",
    "legal_rep": "张三",
    "contact_phone": "0556-1234567",
    "is_leading_enterprise": False,
    "benefit_mechanisms": ["purchase"],
}


def _rows(page: str) -> int:
    return page.count('data-testid="audit-row"')


def _change_cells(page: str) -> list[str]:
    """The text of the 变更内容 lines of the table."""
    return re.findall(r"<div>([^<>]*：[^<>]*→[^<>]*)</div>", page)


def _edited_operator(api) -> dict:
    created = api.post("/api/v1/operators", json=OPERATOR)
    assert created.status_code == 201, created.json
    changes = {"contact_phone": "0556-7654321", "is_leading_enterprise": True}
    changes["benefit_mechanisms"] = ["employment"]
    edited = api.patch(
        f"/api/v1/operators/{created.json['id']}", json=changes, headers={"If-Match": created.headers["ETag"]}
    )
    assert edited.status_code == 200, edited.json
    return edited.json


def test_the_page_filters_by_person(page_login, login):
    clerk = login("county_staff", county_codes=[A])
    _edited_operator(clerk)
    staff = page_login("county_staff", county_codes=[A])
    mine = staff.text(f"/audit/?username={clerk.user['username']}")
    assert _rows(mine) == 2  # created, then edited
    assert 'name="username" value="' + clerk.user["username"] + '"' in mine
    assert _rows(staff.text(f"/audit/?username={staff.user['username']}&entity_kind=operator")) == 0


def test_the_page_filters_by_record_and_links_to_it(page_login, login):
    operator = _edited_operator(login("county_staff", county_codes=[A]))
    staff = page_login("county_staff", county_codes=[A])
    page = staff.text(f"/audit/?entity_kind=operator&entity_id={operator['id']}")
    assert _rows(page) == 2
    assert page.count(f'href="/operators/{operator["id"]}"') == 2


def test_the_page_filters_by_asia_shanghai_days(page_login, db):
    # 00:30 on 2 March in Shanghai is still 1 March in UTC.
    with time_machine.travel(datetime(2024, 3, 2, 0, 30, tzinfo=SHANGHAI), tick=False):
        audit.record(
            db, system_principal("tests"), "operator.create", entity_kind="operator", entity_id="x",
            county_code=A, after={"name": "凌晨登记的合作社"},
        )  # fmt: skip
    staff = page_login("county_staff", county_codes=[A])
    assert _rows(staff.text("/audit/?since=2024-03-02&until=2024-03-02")) == 1
    assert _rows(staff.text("/audit/?since=2024-03-01&until=2024-03-01")) == 0
    assert "2024-03-02 00:30" in staff.text("/audit/?since=2024-03-02&until=2024-03-02")


def test_an_operators_changes_read_in_chinese(page_login, login):
    operator = _edited_operator(login("county_staff", county_codes=[A]))
    staff = page_login("county_staff", county_codes=[A])
    page = staff.text(f"/audit/?entity_id={operator['id']}&action=operator.update")
    changes = _change_cells(page)
    assert "联系电话：0556-1234567 → 0556-7654321" in changes
    assert "龙头企业：否 → 是" in changes
    assert "带贫方式：保底价或优惠价回收 → 吸纳就业" in changes
    assert len(changes) == 3  # no version, no updated_at


def test_a_products_price_and_rate_read_in_yuan_and_percent(page_login, login, factory):
    product = factory.product(county_code=A, price_fen=5800, benefit_rate_bp=1000)
    edited = login("county_staff", county_codes=[A]).patch(
        f"/api/v1/products/{product['_id']}",
        json={"price_fen": 6250, "benefit_rate_bp": 1250},
        headers={"If-Match": f'"{product["_id"]}-{product["version"]}"'},
    )
    assert edited.status_code == 200, edited.json
    staff = page_login("county_staff", county_codes=[A])
    changes = _change_cells(staff.text(f"/audit/?entity_id={product['_id']}&action=product.update"))
    assert "价格：58.00 元 → 62.50 元" in changes
    rate = next(change for change in changes if change.startswith("带贫比例："))
    assert "10.00%" in rate and "12.50%" in rate


def test_no_change_shows_a_raw_field_name(page_login, login, factory):
    clerk = login("county_staff", county_codes=[A])
    _edited_operator(clerk)
    canteen = factory.canteen(A)
    plan = clerk.put(
        f"/api/v1/canteens/{canteen['_id']}/plans/2024",
        json={"food_total_fen": 1_000_000, "reserve_ratio_bp": 1000},
    )
    assert plan.status_code in (200, 201), plan.json
    link = factory.benefit_link(factory.operator(A), factory.household(A))
    end = {"valid_to": "2024-06-30", "reason": "到期"}
    ended = clerk.post(f"/api/v1/benefit-links/{link['_id']}/end", json=end)
    assert ended.status_code == 200, ended.json
    staff = page_login("county_staff", county_codes=[A])
    changes = _change_cells(staff.text("/audit/?per_page=200"))
    assert "结束日期：— → 2024-06-30" in changes
    assert len(changes) >= 6
    fields = [change.split("：", 1)[0] for change in changes]
    assert [field for field in fields if re.search(r"[A-Za-z_]", field)] == []


def test_every_field_of_a_logged_record_has_a_chinese_name(login, factory, db):
    """Creations log whole records: every field they hold (bookkeeping apart) has its label."""
    clerk = login("county_staff", county_codes=[A])
    _edited_operator(clerk)
    operator = factory.operator(A)
    product = factory.product(operator["_id"], county_code=A)
    household = factory.household(A)
    factory.benefit_link(operator, household)
    factory.canteen_purchase(factory.canteen(A), product_id=product["_id"])
    login("enterprise", operator_id=operator["_id"])
    unnamed = set()
    for entry in db[storage.AUDIT_LOG].find():
        snapshot = audit._flat(entry.get("after") or {})
        for name in snapshot:
            parts = name.split(".")
            if audit.BOOKKEEPING.isdisjoint(parts) and not all(part in FIELD_LABELS for part in parts):
                unnamed.add((entry["entity"]["kind"], name))
    kinds = {entry["entity"]["kind"] for entry in db[storage.AUDIT_LOG].find()}
    assert {"operator", "product", "household", "benefit_link", "canteen_purchase", "user"} <= kinds
    assert unnamed == set()


def test_every_link_request_status_reads_in_chinese():
    from service import link_requests
    from service.web import account_pages

    shown = {
        status: account_pages._coded(status, "status", "benefit_link_request")
        for status in link_requests.STATUSES
    }
    assert shown == {"pending": "待审核", "approved": "已同意", "rejected": "已驳回"}
