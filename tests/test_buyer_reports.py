"""The buyers report: direct purchases, helped sales and people benefited, by pairing, region and unit."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
import pytest

from adapters.base import SaleLine
from service import buyer_reports, ledger
from service.access import COUNTY_STAFF
from service.ingest_scope import IngestScope
from service.unit_purchase_inputs import COLUMNS

COUNTY = "340722"
OTHER_COUNTY = "341024"
URL = "/api/v1/reports/buyers"
SUPPLIER_USCC = "91110108551385082Q"
HEADER = ",".join(COLUMNS.values())


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


def make_unit(staff, name, region, kind, pairing_kind):
    body = {"name": name, "kind": kind, "region_code": region, "county_code": COUNTY}
    unit = staff.post("/api/v1/buying-units", json=body).json
    pairing = {
        "unit_id": unit["id"],
        "kind": pairing_kind,
        "valid_from": "2020-01-01",
        "valid_to": "2020-12-31",
    }
    assert staff.post("/api/v1/pairings", json=pairing).status_code == 201
    return unit


@pytest.fixture
def imported(app, db, staff):
    """The seed's 2020 figures: direct purchases 20,850,000.00 yuan and helped sales 4,390,000.00 yuan,
    one helped order of which a channel had already brought in."""
    with app.app_context():
        ledger.ingest(
            db,
            [SaleLine("jd", "JD2020-7", datetime(2020, 6, 1, 4, tzinfo=UTC), 1, 10_000_000, sku="X")],
            IngestScope(COUNTY),
        )
    shenzhen = make_unit(staff, "深圳市福田区机关事务管理局", "440304", "aid_unit", "east_west")["name"]
    bank = make_unit(staff, "某银行安徽省分行", "340100", "aid_unit", "designated")["name"]
    school = make_unit(staff, "安徽某大学", "340104", "university", "university")["name"]
    rows = [
        f"{shenzhen},直接采购,2020-03-02,,{SUPPLIER_USCC},大米,1000,袋,,8000000.00,,FP-1,SZ-1",
        f"{shenzhen},工会,2020-09-09,,{SUPPLIER_USCC},茶叶,500,盒,,2850000.00,,FP-2,SZ-2",
        f"{bank},食堂,2020-05-01,,{SUPPLIER_USCC},蔬菜,300,箱,,6000000.00,,FP-3,BK-1",
        f"{school},832平台,2020-11-30,,{SUPPLIER_USCC},菜油,200,桶,,4000000.00,,FP-4,UN-1",
        f"{shenzhen},帮助销售,2020-04-18,,{SUPPLIER_USCC},大米,100,袋,,3290000.00,,FP-5,SZ-3",
        f"{bank},帮助销售,2020-06-01,,{SUPPLIER_USCC},茶叶,1,盒,,1000000.00,,FP-6,JD2020",
        f"{school},帮助销售,2019-12-31,,{SUPPLIER_USCC},茶叶,1,盒,,1.00,,FP-7,UN-2",
        f"{school},帮助销售,2020-07-01,,{SUPPLIER_USCC},茶叶,1,盒,,100000.00,,FP-8,UN-3",
    ]
    text = "\n".join([HEADER, *rows]) + "\n"
    response = staff.post(
        "/api/v1/unit-purchases/import",
        data={"file": (io.BytesIO(text.encode("gb18030")), "2020.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    return response.json


def test_the_seed_figures_come_out_exactly(staff, imported):
    # The row before the pairings began is refused; every other row is stored once.
    assert (imported["inserted"], imported["rejected"], imported["double_counted"]) == (7, 1, 1)
    report = staff.get(
        URL, query_string={"county_code": COUNTY, "from": "2020-01-01", "to": "2020-12-31"}
    ).json
    assert report["direct_fen"] == 20_850_000_00
    assert report["helped_fen"] == 4_390_000_00
    assert report["double_counted_fen"] == 1_000_000_00


def test_the_pairing_region_and_unit_tables_sum_to_the_totals(staff, imported):
    report = staff.get(
        URL, query_string={"county_code": COUNTY, "from": "2020-01-01", "to": "2020-12-31"}
    ).json
    for table in ("by_pairing", "by_region", "by_unit"):
        assert sum(row["direct_fen"] for row in report[table]) == report["direct_fen"]
        assert sum(row["helped_fen"] for row in report[table]) == report["helped_fen"]
    assert {row["kind"] for row in report["by_pairing"]} == {"east_west", "designated", "university"}
    assert sum(row["amount_fen"] for row in report["by_mode"]) == report["total_fen"]


def test_a_helped_order_already_imported_from_a_channel_is_in_the_ledger_once(db, imported):
    from service import storage

    assert db[storage.SALES].count_documents({"external_id": {"$regex": "JD2020"}}) == 1
    assert db[storage.SALES].count_documents({"channel": "unit_purchase"}) == 6


def test_the_period_cuts_by_local_day(staff, imported):
    report = staff.get(
        URL, query_string={"county_code": COUNTY, "from": "2020-03-02", "to": "2020-03-02"}
    ).json
    assert (report["direct_fen"], report["helped_fen"]) == (8_000_000_00, 0)


def test_people_benefited_are_the_members_of_households_sharing_in_the_pools(app, db, factory, staff):
    operator = factory.operator(COUNTY)
    product = factory.product(
        operator["_id"], county_code=COUNTY, status="certified", certified_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    factory.certified_since(product, datetime(2020, 1, 1, tzinfo=UTC), 1000)
    for members in (3, 5):
        factory.benefit_link(operator, factory.household(members=members))
    unit = make_unit(staff, "某商会", "440300", "chamber", "enterprise_village")
    body = {
        "unit_id": unit["id"],
        "mode": "direct",
        "date": "2020-05-05",
        "product_id": str(product["_id"]),
        "quantity": 10,
        "amount_fen": 58_000,
        "order_id": "SH-1",
    }
    assert staff.post("/api/v1/unit-purchases", json=body).status_code == 201
    report = staff.get(
        URL, query_string={"county_code": COUNTY, "from": "2020-01-01", "to": "2020-12-31"}
    ).json
    assert report["people_benefited"] == 8


def test_the_report_downloads_as_a_workbook(staff, imported):
    response = staff.get(
        URL, query_string={"county_code": COUNTY, "from": "2020-01-01", "to": "2020-12-31", "format": "xlsx"}
    )
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["汇总", "按结对关系", "按协作地区", "按采购单位"]


def test_another_countys_staff_cannot_read_the_report(login, imported):
    stranger = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    assert stranger.get(URL, query_string={"county_code": COUNTY}).status_code == 403


def test_the_pipeline_matches_only_recorded_purchases_of_the_period():
    from datetime import date

    match = buyer_reports.purchases_pipeline(COUNTY, date(2020, 1, 1), date(2020, 12, 31))[0]["$match"]
    assert match == {
        "county_code": COUNTY,
        "date": {"$gte": "2020-01-01", "$lte": "2020-12-31"},
        "ledger_status": "recorded",
    }
