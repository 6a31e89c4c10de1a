"""The unit clerk (role ``unit``): its own unit and those it supervises, the import of its sheet, its
figures on its page and on the county's buyers report, and nothing of any other unit."""

from __future__ import annotations

import io

import pytest
from bson import ObjectId

from service import storage
from service.access import COUNTY_STAFF, UNIT
from service.unit_purchase_inputs import COLUMNS

COUNTY = "340722"
SUPPLIER_USCC = "91110108551385082Q"
HEADER = ",".join(COLUMNS.values())
YEAR = {"from": "2020-01-01", "to": "2020-12-31"}


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


def make_unit(staff, name, **fields):
    body = {"name": name, "kind": "aid_unit", "region_code": "440304", "county_code": COUNTY, **fields}
    unit = staff.post("/api/v1/buying-units", json=body).json
    pairing = {
        "unit_id": unit["id"],
        "kind": "east_west",
        "valid_from": "2020-01-01",
        "valid_to": "2020-12-31",
    }
    assert staff.post("/api/v1/pairings", json=pairing).status_code == 201
    return unit


@pytest.fixture
def units(staff):
    bureau = make_unit(staff, "深圳市福田区机关事务管理局")
    office = make_unit(staff, "福田区机关食堂管理所", parent_unit_id=bureau["id"])
    stranger = make_unit(staff, "某银行安徽省分行", region_code="340100")
    return bureau, office, stranger


@pytest.fixture
def clerk(page_login, units):
    return page_login(UNIT, unit_id=ObjectId(units[0]["id"]))


def sheet(office_name: str, stranger_name: str | None = None) -> bytes:
    rows = [
        f",直接采购,2020-03-02,,{SUPPLIER_USCC},大米,1000,袋,,8000000.00,,FP-1,SZ-1",
        f",工会,2020-09-09,,{SUPPLIER_USCC},茶叶,500,盒,,2850000.00,,FP-2,SZ-2",
        f"{office_name},食堂,2020-05-01,,{SUPPLIER_USCC},蔬菜,300,箱,,6000000.00,,FP-3,BK-1",
        f",832平台,2020-11-30,,{SUPPLIER_USCC},菜油,200,桶,,4000000.00,,FP-4,UN-1",
        f",帮助销售,2020-04-18,,{SUPPLIER_USCC},大米,100,袋,,3290000.00,,FP-5,SZ-3",
        f"{office_name},帮助销售,2020-06-01,,{SUPPLIER_USCC},茶叶,1,盒,,1000000.00,,FP-6,SZ-4",
        f",帮助销售,2020-07-01,,{SUPPLIER_USCC},茶叶,1,盒,,100000.00,,FP-8,SZ-5",
    ]
    if stranger_name:
        rows.append(f"{stranger_name},直接采购,2020-03-03,,{SUPPLIER_USCC},大米,1,袋,,1.00,,FP-9,X-1")
        rows.append(f"无此单位,直接采购,2020-03-03,,{SUPPLIER_USCC},大米,1,袋,,1.00,,FP-9,X-2")
    return ("\n".join([HEADER, *rows]) + "\n").encode("gb18030")


def upload(clerk, content: bytes, dry_run: bool):
    data = {"file": (io.BytesIO(content), "2020.csv")}
    if dry_run:
        data["dry_run"] = "true"
    return clerk.post("/unit/upload", data=data, content_type="multipart/form-data")


def test_a_clerks_sheet_shows_exactly_its_figures_on_its_page_and_the_county_report(
    clerk, units, page_login, db
):
    checked = upload(clerk, sheet(units[1]["name"]), dry_run=True)
    assert checked.status_code == 200
    assert db[storage.UNIT_PURCHASES].count_documents({}) == 0
    assert upload(clerk, sheet(units[1]["name"]), dry_run=False).status_code == 200
    assert db[storage.UNIT_PURCHASES].count_documents({"ledger_status": "recorded"}) == 7

    home = clerk.get("/unit/", query_string=YEAR).get_data(as_text=True)
    assert 'data-testid="unit-direct"><span class="money">20,850,000.00' in home
    assert 'data-testid="unit-helped"><span class="money">4,390,000.00' in home
    report = page_login(COUNTY_STAFF, county_codes=[COUNTY]).get("/buyers/", query_string=YEAR)
    text = report.get_data(as_text=True)
    assert "帮扶单位直接购买" in text
    assert 'data-testid="headline-direct">2,085.00</strong> 万元' in text
    assert 'data-testid="headline-helped">439.00</strong> 万元' in text
    workbook = page_login(COUNTY_STAFF, county_codes=[COUNTY]).get(
        "/buyers/", query_string={**YEAR, "format": "xlsx"}
    )
    assert workbook.status_code == 200 and workbook.mimetype.endswith("sheet")


def test_rows_of_another_unit_answer_as_an_unknown_unit(clerk, units, db):
    page = upload(clerk, sheet(units[1]["name"], units[2]["name"]), dry_run=False).get_data(as_text=True)
    assert page.count('data-row="9"') == page.count('data-row="10"') == 1
    assert db[storage.UNIT_PURCHASES].count_documents({"unit_id": ObjectId(units[2]["id"])}) == 0
    assert db[storage.UNIT_PURCHASES].count_documents({}) == 7


def log_form(unit_id: str, order_id: str = "HT-1") -> dict[str, str]:
    return {
        "unit_id": unit_id,
        "mode": "direct",
        "date": "2020-03-15",
        "supplier_uscc": SUPPLIER_USCC,
        "description": "大米",
        "quantity": "10",
        "amount": "680.00",
        "order_id": order_id,
    }


def _unit_error(response) -> str:
    text = response.get_data(as_text=True)
    start = text.find('data-testid="error-unit_id">')
    return text[start : text.find("</div>", start)] if start >= 0 else ""


def test_a_clerk_logs_for_its_units_and_another_units_id_answers_as_a_missing_one(clerk, units, db):
    assert clerk.post("/unit/purchases/new", data=log_form(units[1]["id"])).status_code == 302
    other = clerk.post("/unit/purchases/new", data=log_form(units[2]["id"], "HT-2"))
    missing = clerk.post("/unit/purchases/new", data=log_form(str(ObjectId()), "HT-3"))
    assert other.status_code == missing.status_code == 422
    assert _unit_error(other) == _unit_error(missing) != ""
    record = db[storage.UNIT_PURCHASES].find_one({})
    assert record["created_by"]["role"] == UNIT and record["unit_id"] == ObjectId(units[1]["id"])


def test_a_clerk_lists_only_its_units_purchases(clerk, units, staff):
    body = {
        "unit_id": units[2]["id"],
        "mode": "direct",
        "date": "2020-03-15",
        "quantity": 1,
        "amount_fen": 100,
        "order_id": "BANK-1",
        "supplier_uscc": SUPPLIER_USCC,
        "description": "大米",
    }
    assert staff.post("/api/v1/unit-purchases", json=body).status_code == 201
    assert clerk.post("/unit/purchases/new", data=log_form(units[0]["id"])).status_code == 302
    page = clerk.get("/unit/purchases").get_data(as_text=True)
    assert 'data-order-id="HT-1"' in page and "BANK-1" not in page
    assert "某银行" not in clerk.get("/unit/", query_string=YEAR).get_data(as_text=True)


def test_a_unit_cannot_be_supervised_by_its_own_subordinate(staff, units):
    bureau, office, _ = units
    current = staff.get(f"/api/v1/buying-units/{bureau['id']}")
    response = staff.patch(
        f"/api/v1/buying-units/{bureau['id']}",
        json={"parent_unit_id": office["id"]},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 422
    assert response.json["error"]["detail_codes"]["parent_unit_id"][0]["code"] == "buying_unit.parent_loop"


def test_staff_open_unit_accounts_of_their_county_units(staff, units):
    body = {
        "username": "futian-clerk",
        "password": "a-long-password",
        "role": UNIT,
        "unit_id": units[0]["id"],
    }
    response = staff.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.json
    assert response.json["county_codes"] == [COUNTY] and response.json["unit_id"] == units[0]["id"]
