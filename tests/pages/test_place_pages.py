"""The place register's page: townships and villages with households, the upload, unnamed codes."""

from __future__ import annotations

import io

from service import places, storage

A, B = "340722", "341822"
REGISTER = "统计用区划代码,名称,城乡分类代码\n340722100000,枞阳镇,\n340722100200,桂花社区居委会,121\n"


def upload(browser, data: bytes, **form):
    return browser.post(
        "/places/import",
        {"file": (io.BytesIO(data), "places.csv"), "county_code": A, **form},
        content_type="multipart/form-data",
    )


def test_staff_upload_the_register_and_see_names_households_and_unnamed_codes(page_login, factory, db):
    factory.household(A, village_code="340722100200", members=3)
    factory.household(A, village_code="340722101203", members=2)
    staff = page_login("county_staff", county_codes=[A])
    response = upload(staff, REGISTER.encode("gb18030"))
    assert response.status_code == 200, response.get_data(as_text=True)[-800:]
    assert 'data-testid="count-inserted">2<' in response.get_data(as_text=True)

    page = staff.text("/places/")
    assert "枞阳镇" in page and "桂花社区居委会" in page
    assert 'data-testid="unnamed-code" data-code="340722101"' in page
    assert 'data-testid="unnamed-code" data-code="340722101203"' in page
    assert "/households/?village_code=340722100200" in page

    response = staff.post("/places/name", {"county_code": A, "code": "340722101", "name": "横埠镇"})
    assert response.status_code == 302
    page = staff.text(response.headers["Location"])
    assert "已保存" in page and 'data-code="340722101"' in page and "横埠镇" in page
    assert 'data-testid="unnamed-code" data-code="340722101"' not in page
    assert places.names(db, ["340722101"]) == {"340722101": "横埠镇"}


def test_staff_of_another_county_get_a_403_page_and_nothing_is_written(page_login, db):
    outsider = page_login("county_staff", county_codes=[B])
    assert outsider.get(f"/places/?county_code={A}").status_code == 403
    response = outsider.post("/places/name", {"county_code": A, "code": "340722101", "name": "横埠镇"})
    assert response.status_code == 403
    assert upload(outsider, REGISTER.encode()).status_code == 422
    assert db[storage.PLACES].count_documents({}) == 0


def test_enterprises_have_no_place_pages(page_login, factory):
    enterprise = page_login("enterprise", operator_id=factory.operator(A)["_id"])
    assert enterprise.get("/places/").status_code == 403


def test_household_pages_show_names_and_a_code_without_one(page_login, factory, db, app):
    named = factory.household(A, village_code="340722100200")
    unnamed = factory.household(A, village_code="340722101203")
    staff = page_login("county_staff", county_codes=[A])
    upload(staff, REGISTER.encode())
    listing = staff.text("/households/")
    assert "枞阳镇" in listing and "桂花社区居委会" in listing and "340722101203" in listing
    assert "桂花社区居委会" in staff.text(f"/households/{named['_id']}")
    assert "340722101203" in staff.text(f"/households/{unnamed['_id']}")
