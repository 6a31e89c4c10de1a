"""The product page's certification flow: the 认定 button waits for publicity, the applicant withdraws,
the reason for a return heads the page, and 编辑 appears only when the product can be edited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine

from service import storage
from service.clock import local_date

A = "340722"


def certify_button(page: str) -> str:
    found = re.search(r'<button[^>]*data-testid="action-certify"[^>]*>([^<]*)</button>', page)
    assert found, "no 认定 button"
    return found.group(0)


def follow(browser, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    return browser.text(response.headers["Location"])


@time_machine.travel(datetime(2040, 3, 1, 2, 0, tzinfo=UTC), tick=False)
def test_the_certify_button_is_disabled_with_the_day_publicity_ends(page_login, factory, db):
    product = factory.product(status="publicizing")
    staff = page_login("county_staff", county_codes=[A])
    ends = db[storage.PRODUCTS].find_one({"_id": product["_id"]})["publicity_ends_at"]
    button = certify_button(staff.text(f"/products/{product['_id']}"))
    assert "disabled" in button and f"公示期至 {local_date(ends).isoformat()}" in button

    over = {"$set": {"publicity_ends_at": ends - timedelta(days=8)}}
    db[storage.PRODUCTS].update_one({"_id": product["_id"]}, over)
    button = certify_button(staff.text(f"/products/{product['_id']}"))
    assert "disabled" not in button and ">认定<" in button


def test_an_enterprise_withdraws_its_application_from_the_product_page(page_login, factory, db):
    operator = factory.operator(A)
    product = factory.product(operator["_id"], status="submitted")
    enterprise = page_login("enterprise", operator_id=operator["_id"])
    url = f"/products/{product['_id']}"
    page = enterprise.text(url)
    assert re.findall(r'data-testid="action-(\w+)"', page) == ["withdraw"]
    page = follow(enterprise, enterprise.post(f"{url}/transition", {"action": "withdraw"}))
    assert "已撤回认定申请" in page and 'data-status="draft"' in page
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == "draft"
    staff = page_login("county_staff", county_codes=[A])
    assert "撤回认定申请" in staff.text("/audit/")


def test_staff_see_no_withdraw_button(page_login, factory):
    product = factory.product(status="submitted")
    staff = page_login("county_staff", county_codes=[A])
    assert 'data-testid="action-withdraw"' not in staff.text(f"/products/{product['_id']}")


def test_the_reason_for_a_return_or_an_objection_heads_the_enterprises_page(page_login, factory):
    operator = factory.operator(A)
    returned = factory.product(operator["_id"], status="submitted")
    objected = factory.product(operator["_id"], status="publicizing")
    staff = page_login("county_staff", county_codes=[A])
    steps = [(returned, "reject", "包装标识不全"), (objected, "object", "群众反映带贫名单不实")]
    for product, action, reason in steps:
        staff.post(f"/products/{product['_id']}/transition", {"action": action, "reason": reason})
    enterprise = page_login("enterprise", operator_id=operator["_id"])

    page = enterprise.text(f"/products/{returned['_id']}")
    notice = page.index('data-testid="returned-reason"')
    assert notice < page.index("<h1>") and "申请被退回" in page[notice:] and "包装标识不全" in page[notice:]
    page = enterprise.text(f"/products/{objected['_id']}")
    assert "公示期间有异议" in page and "群众反映带贫名单不实" in page


def test_edit_is_offered_only_when_the_product_can_be_edited(page_login, factory):
    operator = factory.operator(A)
    enterprise = page_login("enterprise", operator_id=operator["_id"])
    staff = page_login("county_staff", county_codes=[A])
    for status, editable in [
        ("draft", True),
        ("submitted", False),
        ("county_approved", False),
        ("publicizing", False),
        ("certified", True),
        ("rejected", True),
        ("revoked", False),
    ]:
        product = factory.product(operator["_id"], status=status)
        for browser in (enterprise, staff):
            page = browser.text(f"/products/{product['_id']}")
            assert ('data-testid="edit-product"' in page) is editable, (status, browser.user["role"])


def test_the_publicity_list_names_what_was_publicized_in_the_window(page_login, factory, db):
    operator = factory.operator(A, uscc="91110108551385082Q")
    product = factory.product(operator["_id"], status="county_approved", spec="500g/袋")
    staff = page_login("county_staff", county_codes=[A])
    staff.post(f"/products/{product['_id']}/transition", {"action": "publicize"})
    page = staff.text("/products/publicity-list?phone=0562-1234567")
    assert page.count('data-testid="publicity-row"') == 1
    assert product["name"] in page and operator["uscc"] in page and "0562-1234567" in page
    assert "500g/袋" in page
    earlier = staff.text("/products/publicity-list?from=2001-01-01&to=2001-01-31")
    assert 'data-testid="publicity-row"' not in earlier
    assert "异议电话只能包含" in staff.text("/products/publicity-list?phone=<script>")
    enterprise = page_login("enterprise", operator_id=operator["_id"])
    assert enterprise.get("/products/publicity-list").status_code == 403


def test_a_certified_product_prints_its_certificate_for_its_enterprise_and_staff(page_login, factory):
    operator = factory.operator(A, uscc="91110108551385082Q")
    product = factory.product(operator["_id"], status="certified")
    url = f"/products/{product['_id']}/certificate"
    for browser in (
        page_login("enterprise", operator_id=operator["_id"]),
        page_login("county_staff", county_codes=[A]),
    ):
        page = browser.text(url)
        assert product["certificate_no"] in page and operator["name"] in page
        assert local_date(product["valid_until"]).isoformat() in page
    other = page_login("enterprise", operator_id=factory.operator(A)["_id"])
    assert other.get(url).status_code == 403
    draft = factory.product(operator["_id"])
    staff = page_login("county_staff", county_codes=[A])
    assert staff.get(f"/products/{draft['_id']}/certificate").status_code == 302
