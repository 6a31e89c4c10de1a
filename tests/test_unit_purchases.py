"""Unit purchases: logging, the checks on product, pairing, weight and scope, the ledger lines they
become, the double-counted helped sale, and the import through the register runner."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest

from adapters.base import SaleLine
from service import ledger, storage
from service.access import COUNTY_STAFF
from service.ingest_scope import IngestScope
from service.unit_purchase_inputs import COLUMNS, unit_weight_g

COUNTY = "340722"
OTHER_COUNTY = "341024"
URL = "/api/v1/unit-purchases"
SUPPLIER_USCC = "91110108551385082Q"


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


@pytest.fixture
def rice(factory):
    operator = factory.operator(COUNTY, uscc=SUPPLIER_USCC)
    return factory.product(
        operator["_id"],
        county_code=COUNTY,
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        unit="袋(5kg)",
        name="枞阳大米",
    )


@pytest.fixture
def unit(staff):
    body = {
        "name": "深圳市福田区机关事务管理局",
        "kind": "aid_unit",
        "region_code": "440304",
        "county_code": COUNTY,
    }
    return staff.post("/api/v1/buying-units", json=body).json


@pytest.fixture
def pairing(staff, unit):
    body = {"unit_id": unit["id"], "kind": "east_west", "valid_from": "2024-01-01", "valid_to": "2024-12-31"}
    return staff.post("/api/v1/pairings", json=body).json


def body(unit, **fields):
    values = {
        "unit_id": unit["id"],
        "mode": "direct",
        "date": "2024-03-15",
        "quantity": 10,
        "amount_fen": 68_000,
        "order_id": "HT-0001",
        "supplier_uscc": SUPPLIER_USCC,
        "description": "大米",
    }
    return {name: value for name, value in {**values, **fields}.items() if value is not None}


def field_code(response, name):
    return response.json["error"]["detail_codes"][name][0]["code"]


def test_a_direct_purchase_becomes_a_unit_purchase_line_of_the_ledger(db, staff, unit, pairing, rice):
    response = staff.post(URL, json=body(unit, product_id=str(rice["_id"]), supplier_uscc=None, kg="50"))
    assert response.status_code == 201, response.json
    record = response.json
    assert record["pairing_id"] == pairing["id"]
    assert record["weight_g"] == 50_000 and not record["double_counted"]
    line = db[storage.SALES].find_one({"external_id": record["external_id"]})
    assert line["channel"] == "unit_purchase"
    assert str(line["buyer"]["unit_id"]) == unit["id"]
    assert line["amount_fen"] == 68_000 and line["certified"]


def test_a_purchase_with_neither_product_nor_supplier_names_the_product(staff, unit, pairing):
    response = staff.post(URL, json=body(unit, supplier_uscc=None))
    assert response.status_code == 422
    assert field_code(response, "product_id") == "unit_purchase.product_or_supplier"


def test_a_pairing_not_in_force_on_the_day_is_refused_on_its_field(staff, unit, pairing):
    response = staff.post(URL, json=body(unit, date="2023-06-01", pairing_id=pairing["id"]))
    assert response.status_code == 422
    assert field_code(response, "pairing_id") == "unit_purchase.pairing_not_in_force"


def test_a_weight_that_disagrees_with_the_products_unit_is_refused(staff, unit, pairing, rice):
    response = staff.post(URL, json=body(unit, product_id=str(rice["_id"]), supplier_uscc=None, kg="30"))
    assert response.status_code == 422
    assert field_code(response, "kg") == "unit_purchase.weight_mismatch"


def test_a_unit_outside_the_callers_counties_is_refused_on_its_field(login, unit, pairing):
    stranger = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    foreign = stranger.post(URL, json=body(unit))
    missing = stranger.post(URL, json=body({"id": "0" * 24}))
    assert foreign.status_code == missing.status_code == 403
    assert field_code(foreign, "unit_id") == field_code(missing, "unit_id") == "buying_unit.not_in_scope"


def test_an_order_id_is_logged_once_per_unit(staff, unit, pairing):
    assert staff.post(URL, json=body(unit)).status_code == 201
    again = staff.post(URL, json=body(unit))
    assert again.status_code == 409
    assert again.json["error"]["code"] == "unit_purchase.duplicate_order"


def test_a_helped_sale_already_imported_from_a_channel_is_flagged_not_added(db, app, staff, unit, pairing):
    with app.app_context():
        ledger.ingest(
            db,
            [SaleLine("jd", "JD1001-55", datetime(2024, 3, 10, 4, tzinfo=UTC), 1, 12_000, sku="X")],
            IngestScope(COUNTY),
        )
    response = staff.post(URL, json=body(unit, mode="helped", order_id="JD1001", amount_fen=12_000))
    assert response.status_code == 201, response.json
    assert response.json["double_counted"] and response.json["external_id"] is None
    assert db[storage.SALES].count_documents({"channel": "unit_purchase"}) == 0


def test_helped_sales_never_move_a_canteens_quota(db, staff, factory, unit, pairing):
    canteen = factory.canteen(COUNTY)
    staff.post(URL, json=body(unit, mode="helped"))
    assert db[storage.SALES].count_documents({"buyer.unit_id": canteen["_id"]}) == 0


@pytest.mark.parametrize(
    ("unit_text", "grams"),
    [("kg", 1000), ("斤", 500), ("袋(5kg)", 5000), ("500g/袋", 500), ("箱（2.5公斤）", 2500), ("盒", None)],
)
def test_a_products_unit_weight_is_read_from_its_unit(unit_text, grams):
    assert unit_weight_g(unit_text) == grams


# Import -----------------------------------------------------------------------------------------------

HEADER = ",".join(COLUMNS.values())


def csv_file(*rows: str, encoding: str = "utf-8") -> dict:
    text = "\n".join([HEADER, *rows]) + "\n"
    return {"file": (io.BytesIO(text.encode(encoding)), "purchases.csv")}


def test_an_import_with_bad_rows_stores_none_of_them_and_names_each_row(db, staff, unit, pairing):
    name = unit["name"]
    response = staff.post(
        f"{URL}/import",
        data=csv_file(
            f"{name},直接采购,2024-03-15,,{SUPPLIER_USCC},大米,10,袋,,680.00,东西部协作,FP-1,HT-1",
            f"{name},直接采购,2024-03-16,,,,10,袋,,680.00,,FP-2,HT-2",
            f"{name},帮助销售,2023-03-16,,{SUPPLIER_USCC},茶叶,1,盒,,80.00,,FP-3,HT-3",
            f"不存在的单位,直接采购,2024-03-16,,{SUPPLIER_USCC},茶叶,1,盒,,80.00,,FP-4,HT-4",
        ),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    result = response.json
    assert (result["inserted"], result["rejected"]) == (1, 3)
    assert {(error["row"], error["column"]) for error in result["errors"]} == {
        (3, "产品编号"),
        (4, "结对关系"),
        (5, "采购单位"),
    }
    assert [record["order_id"] for record in db[storage.UNIT_PURCHASES].find()] == ["HT-1"]


def test_reimporting_the_same_gb18030_file_changes_nothing(db, staff, unit, pairing):
    row = f"{unit['name']},工会,2024-03-15,,{SUPPLIER_USCC},大米,10,袋,,680.00,,FP-1,HT-1"
    first = staff.post(
        f"{URL}/import", data=csv_file(row, encoding="gb18030"), content_type="multipart/form-data"
    )
    again = staff.post(
        f"{URL}/import", data=csv_file(row, encoding="gb18030"), content_type="multipart/form-data"
    )
    assert first.json["inserted"] == 1
    assert (again.json["inserted"], again.json["unchanged"]) == (0, 1)
    assert db[storage.SALES].count_documents({"channel": "unit_purchase"}) == 1


def test_a_dry_run_stores_nothing(db, staff, unit, pairing):
    row = f"{unit['name']},直接采购,2024-03-15,,{SUPPLIER_USCC},大米,10,袋,,680.00,,FP-1,HT-1"
    response = staff.post(
        f"{URL}/import", data={**csv_file(row), "dry_run": "true"}, content_type="multipart/form-data"
    )
    assert response.json["inserted"] == 1 and response.json["dry_run"]
    assert db[storage.UNIT_PURCHASES].count_documents({}) == 0
    assert db[storage.SALES].count_documents({}) == 0


def test_the_template_imports_as_nothing_but_its_skipped_example(staff, unit, pairing):
    template = staff.get(f"{URL}/template")
    assert template.status_code == 200
    response = staff.post(
        f"{URL}/import",
        data={"file": (io.BytesIO(template.data), "template.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert (response.json["skipped"], response.json["inserted"], response.json["rejected"]) == (1, 0, 0)


def test_the_purchase_list_shows_the_countys_records(staff, unit, pairing):
    staff.post(URL, json=body(unit))
    listed = staff.get(URL, query_string={"from": "2024-01-01", "to": date(2024, 12, 31).isoformat()})
    assert listed.status_code == 200
    assert [item["order_id"] for item in listed.json["items"]] == ["HT-0001"]
