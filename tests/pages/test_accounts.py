"""The account pages: staff open and manage accounts, everyone changes their password, the audit log."""

from __future__ import annotations

import io

import openpyxl
import pytest

from service import storage
from service.web.formatting import label
from tests.factories import PASSWORD, PageBrowser

A, B = "340722", "341822"
NEW_PASSWORD = "a-brand-new-secret"
ID_NUMBER = "360426199101010071"


def follow(browser, response) -> str:
    """The page a form post redirected to (with its flashed message)."""
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    return browser.text(response.headers["Location"])


def workbook(response):
    assert response.status_code == 200, response.get_data(as_text=True)[-500:]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return openpyxl.load_workbook(io.BytesIO(response.data))


def column(sheet, header: str) -> list:
    headers = [cell.value for cell in sheet[1]]
    index = headers.index(header)
    return [row[index] for row in sheet.iter_rows(min_row=2, values_only=True)]


def login_page(app, username: str, password: str):
    """A login through the page form: (browser, response), without asserting success."""
    browser = PageBrowser(app.test_client())
    browser.get("/login")
    response = browser.post("/login", {"username": username, "password": password})
    return browser, response


def user_named(db, username: str):
    return db[storage.USERS].find_one({"username": username})


# Opening accounts ---------------------------------------------------------------------------------


def test_staff_open_an_enterprise_account_that_then_logs_in_to_the_enterprise_pages(
    app, page_login, factory, db
):
    operator = factory.operator(A, name="枞阳茶叶合作社")
    staff = page_login("county_staff", county_codes=[A])
    listing = staff.text("/users/")
    assert 'data-testid="new-enterprise-account"' in listing and "为企业开通账号" in listing
    form = staff.text("/users/new?role=enterprise")
    assert "枞阳茶叶合作社" in form and 'data-testid="new-user-form"' in form

    response = staff.post(
        "/users/new",
        {
            "role": "enterprise",
            "username": "zy-tea",
            "password": "initial-pass-1",
            "operator_id": str(operator["_id"]),
        },
    )
    page = follow(staff, response)
    assert "已开通账号 zy-tea" in page and "枞阳茶叶合作社" in page
    account = user_named(db, "zy-tea")
    assert account["role"] == "enterprise" and account["operator_id"] == operator["_id"]
    assert account["county_codes"] == [A]

    clerk, response = login_page(app, "zy-tea", "initial-pass-1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/enterprise/")
    assert "枞阳茶叶合作社" in clerk.text("/enterprise/")


def test_staff_open_a_canteen_account_from_the_canteen_chooser(page_login, factory, db):
    canteen = factory.canteen(A, name="枞阳县政府机关食堂")
    factory.canteen(B, name="外县食堂")
    staff = page_login("county_staff", county_codes=[A])
    form = staff.text("/users/new?role=canteen")
    assert "枞阳县政府机关食堂" in form and "外县食堂" not in form
    response = staff.post(
        "/users/new",
        {
            "role": "canteen",
            "username": "zy-canteen",
            "password": "initial-pass-1",
            "canteen_id": str(canteen["_id"]),
        },
    )
    follow(staff, response)
    assert user_named(db, "zy-canteen")["canteen_id"] == canteen["_id"]
    rows = staff.text("/users/?q=zy-canteen").split('data-testid="user-row"')[1:]
    assert len(rows) == 1 and "枞阳县政府机关食堂" in rows[0] and "单位食堂" in rows[0]


def test_staff_open_a_unit_account_from_the_buying_units_page(app, page_login, factory, db):
    unit = factory.buying_unit(A, name="深圳市福田区帮扶工作组")
    factory.buying_unit(B, name="外县采购单位")
    staff = page_login("county_staff", county_codes=[A])
    href = f"/users/new?role=unit&amp;unit_id={unit['_id']}"
    assert href in staff.text(f"/buyers/units/{unit['_id']}")
    form = staff.text(href.replace("&amp;", "&"))
    assert "为采购单位开通账号" in form and "外县采购单位" not in form
    assert f'<option value="{unit["_id"]}" selected>深圳市福田区帮扶工作组' in form
    response = staff.post(
        "/users/new",
        {"role": "unit", "username": "ft-clerk", "password": "initial-pass-1", "unit_id": str(unit["_id"])},
    )
    assert "深圳市福田区帮扶工作组" in follow(staff, response)
    account = user_named(db, "ft-clerk")
    assert account["unit_id"] == unit["_id"] and account["county_codes"] == [A]
    rows = staff.text("/users/?q=ft-clerk").split('data-testid="user-row"')[1:]
    assert len(rows) == 1 and "深圳市福田区帮扶工作组" in rows[0]

    _, response = login_page(app, "ft-clerk", "initial-pass-1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/unit/")


def test_staff_cannot_bind_an_account_to_another_countys_operator(page_login, factory, db):
    outside = factory.operator(B, name="外县合作社")
    staff = page_login("county_staff", county_codes=[A])
    assert "外县合作社" not in staff.text("/users/new?role=enterprise")
    response = staff.post(
        "/users/new",
        {
            "role": "enterprise",
            "username": "intruder",
            "password": "initial-pass-1",
            "operator_id": str(outside["_id"]),
        },
    )
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert 'data-testid="form-error"' in page and f"县 {B} 不在您的管辖范围内" in page
    assert user_named(db, "intruder") is None


def test_county_staff_are_not_offered_staff_accounts_and_cannot_open_one(page_login, db):
    staff = page_login("county_staff", county_codes=[A])
    form = staff.text("/users/new")
    assert 'value="county_staff"' not in form and 'value="admin"' not in form
    response = staff.post(
        "/users/new",
        {"role": "county_staff", "username": "new-staff", "password": "initial-pass-1", "county_codes": A},
    )
    assert response.status_code == 403
    assert "只有系统管理员可以管理工作人员和管理员账号" in response.get_data(as_text=True)
    assert user_named(db, "new-staff") is None


def test_admins_open_staff_accounts_for_several_counties(page_login, db):
    admin = page_login("admin")
    response = admin.post(
        "/users/new",
        {
            "role": "county_staff",
            "username": "two-counties",
            "password": "initial-pass-1",
            "county_codes": f"{A}, {B}",
        },
    )
    follow(admin, response)
    assert user_named(db, "two-counties")["county_codes"] == [A, B]


def test_form_errors_show_next_to_their_fields(page_login, factory):
    operator = factory.operator(A)
    staff = page_login("county_staff", county_codes=[A])
    taken = staff.user["username"]
    form = {"role": "enterprise", "password": "initial-pass-1", "operator_id": str(operator["_id"])}

    duplicate = staff.post("/users/new", {**form, "username": taken})
    assert duplicate.status_code == 409
    page = duplicate.get_data(as_text=True)
    assert 'data-testid="error-username"' in page and "这个用户名已被使用" in page
    assert f'value="{taken}"' in page  # what was typed stays in the form

    bad_name = staff.post("/users/new", {**form, "username": "x"}).get_data(as_text=True)
    assert 'data-testid="error-username"' in bad_name and "3–64 位字母" in bad_name

    short = staff.post("/users/new", {**form, "username": "fine-name", "password": "short"})
    assert short.status_code == 422
    assert 'data-testid="error-password"' in short.get_data(as_text=True)

    unbound = staff.post(
        "/users/new", {"role": "enterprise", "username": "fine-name", "password": "initial-pass-1"}
    )
    assert 'data-testid="error-operator_id"' in unbound.get_data(as_text=True)


# Managing accounts -------------------------------------------------------------------------------


def test_the_user_list_shows_bindings_searches_and_downloads(page_login, factory, login):
    operator = factory.operator(A, name="枞阳茶叶合作社")
    factory.user("enterprise", operator_id=operator["_id"])
    factory.user("canteen", canteen_id=factory.canteen(A, name="枞阳一中食堂")["_id"])
    factory.user("enterprise", county_code=B)
    staff = page_login("county_staff", county_codes=[A])
    page = staff.text("/users/")
    api = login("county_staff", county_codes=[A]).get("/api/v1/users?per_page=200").json
    assert page.count('data-testid="user-row"') == api["total"] == 2
    assert "枞阳茶叶合作社" in page and "枞阳一中食堂" in page

    assert staff.text("/users/?role=canteen").count('data-testid="user-row"') == 1
    assert staff.text("/users/?q=nobody-like-this").count('data-testid="user-row"') == 0

    sheet = workbook(staff.get("/users/?format=xlsx")).active
    assert sorted(column(sheet, "绑定对象")) == ["枞阳一中食堂", "枞阳茶叶合作社"]
    assert set(column(sheet, "状态")) == {"启用"}


def test_staff_deactivate_reactivate_and_reset_an_account(app, page_login, factory, db):
    clerk, _ = factory.user("enterprise", county_code=A)
    staff = page_login("county_staff", county_codes=[A])
    url = f"/users/{clerk['_id']}"
    assert clerk["username"] in staff.text(url)

    assert "已停用账号" in follow(staff, staff.post(url, {"action": "deactivate"}))
    assert user_named(db, clerk["username"])["active"] is False
    assert login_page(app, clerk["username"], PASSWORD)[1].status_code == 401
    follow(staff, staff.post(url, {"action": "reactivate"}))
    assert user_named(db, clerk["username"])["active"] is True

    short = staff.post(url, {"action": "reset_password", "password": "short"})
    assert short.status_code == 422 and 'data-testid="error-password"' in short.get_data(as_text=True)
    assert "已重置密码" in follow(
        staff, staff.post(url, {"action": "reset_password", "password": NEW_PASSWORD})
    )
    assert login_page(app, clerk["username"], NEW_PASSWORD)[1].status_code == 302

    history = staff.text(url)
    assert history.count('data-testid="audit-row"') >= 4  # created, deactivated, reactivated, reset


def test_staff_cannot_open_another_countys_account(page_login, factory):
    outsider, _ = factory.user("enterprise", county_code=B)
    staff = page_login("county_staff", county_codes=[A])
    assert 'data-testid="error-page"' in staff.text(f"/users/{outsider['_id']}", status=403)
    assert staff.post(f"/users/{outsider['_id']}", {"action": "deactivate"}).status_code == 403


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_enterprises_and_canteens_get_a_403_on_accounts_and_the_audit_log(page_login, role):
    browser = page_login(role)
    for url in ("/users/", "/users/new", "/audit/", f"/users/{browser.user['_id']}"):
        assert 'data-testid="error-page"' in browser.text(url, status=403)


# Own password ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "county_staff", "enterprise", "canteen"])
def test_every_role_changes_its_password_and_signs_in_again(app, page_login, role):
    browser = page_login(role)
    assert 'data-testid="password-form"' in browser.text("/account/password")
    response = browser.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert "密码已修改" in browser.text("/login")
    # The session ended with the change.
    assert browser.get("/account/password").status_code == 302

    username = browser.user["username"]
    assert login_page(app, username, PASSWORD)[1].status_code == 401
    assert login_page(app, username, NEW_PASSWORD)[1].status_code == 302


def test_a_wrong_current_password_or_a_bad_new_one_shows_next_to_its_field(page_login):
    browser = page_login("enterprise")
    wrong = browser.post(
        "/account/password",
        {
            "current_password": "not-my-password",
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 422
    page = wrong.get_data(as_text=True)
    assert 'data-testid="error-current_password"' in page and "当前密码不正确" in page

    short = browser.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "new_password_confirm": "short"},
    ).get_data(as_text=True)
    assert 'data-testid="error-new_password"' in short and "密码至少 10 位" in short

    mismatch = browser.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": "something-else",
        },
    ).get_data(as_text=True)
    assert 'data-testid="error-new_password_confirm"' in mismatch
    # Nothing changed: the session still works.
    assert browser.get("/account/password").status_code == 200


# Audit log ---------------------------------------------------------------------------------------


def test_the_audit_log_shows_a_product_transition_to_its_county_only(page_login, factory, login):
    product = factory.product(county_code=A, status="submitted", name="枞阳黄花茶")
    staff = page_login("county_staff", county_codes=[A])
    transition = staff.post(f"/products/{product['_id']}/transition", {"action": "approve"})
    assert transition.status_code == 302

    page = staff.text("/audit/?action=product.approve")
    assert page.count('data-testid="audit-row"') == 1
    assert "县级审定通过" in page and staff.user["username"] in page
    assert f'href="/products/{product["_id"]}"' in page and "枞阳黄花茶" in page
    assert f"状态：{label('submitted', 'status')} → {label('county_approved', 'status')}" in page
    api = login("admin").get("/api/v1/audit?action=product.approve").json["items"]
    assert api[0]["entity"]["id"] == str(product["_id"])

    outsider = page_login("county_staff", county_codes=[B])
    assert "枞阳黄花茶" not in outsider.text("/audit/")
    assert outsider.text("/audit/?action=product.approve").count('data-testid="audit-row"') == 0
    assert outsider.get(f"/audit/?county_code={A}").status_code == 403

    sheet = workbook(staff.get("/audit/?action=product.approve&format=xlsx")).active
    assert column(sheet, "操作") == ["县级审定通过"]
    assert column(sheet, "对象") == ["枞阳黄花茶"]


def test_the_audit_log_filters_by_day_and_kind(page_login, factory):
    factory.product(county_code=A, status="submitted")
    staff = page_login("county_staff", county_codes=[A])
    assert staff.text("/audit/?entity_kind=product").count('data-testid="audit-row"') >= 1
    assert staff.text("/audit/?entity_kind=product&until=2020-01-01").count('data-testid="audit-row"') == 0
    bad = staff.text("/audit/?since=not-a-day")
    assert 'data-testid="query-errors"' in bad


def test_no_clear_id_number_reaches_the_audit_log(page_login, login, db):
    api = login("county_staff", county_codes=[A])
    household = {
        "household_no": "3407221001",
        "village_code": "340722100201",
        "head_name": "张三",
        "id_number": ID_NUMBER,
        "members": 3,
        "status": "exited",
        "exit_year": 2019,
    }
    created = api.post("/api/v1/households", json=household)
    assert created.status_code == 201, created.json
    changed = api.patch(
        f"/api/v1/households/{created.json['id']}",
        json={"members": 4},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.json
    assert ID_NUMBER not in str(list(db[storage.AUDIT_LOG].find()))

    staff = page_login("county_staff", county_codes=[A])
    page = staff.text("/audit/?entity_kind=household")
    assert page.count('data-testid="audit-row"') == 2
    assert ID_NUMBER not in page and "id_number_hash" not in page
    assert f'href="/households/{created.json["id"]}"' in page
    assert "家庭人口：3 → 4" in page
    download = staff.get("/audit/?entity_kind=household&format=xlsx")
    sheet = workbook(download).active
    assert len(column(sheet, "操作")) == 2
    assert ID_NUMBER not in str(list(sheet.iter_rows(values_only=True)))
