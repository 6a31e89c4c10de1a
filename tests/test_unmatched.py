"""Unmatched sales: the SKUs no product claims, grouped for county staff, and mapping them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.base import SaleLine
from service import ledger, storage, unmatched
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE
from service.ledger import IngestScope

COUNTY = "340722"
OTHER_COUNTY = "341000"
URL = "/api/v1/reports/unmatched"
# 2024-03-15 and 2024-03-20, 10:00 in Asia/Shanghai.
MARCH_15 = datetime(2024, 3, 15, 2, 0, tzinfo=UTC)
MARCH_20 = datetime(2024, 3, 20, 2, 0, tzinfo=UTC)


def line(external_id: str, amount_fen: int = 10_000, **fields) -> SaleLine:
    values = {
        "channel": "jd",
        "external_id": external_id,
        "occurred_at": MARCH_15,
        "quantity": 1,
        "amount_fen": amount_fen,
        **fields,
    }
    return SaleLine(**values)


def ingest(db, lines, county_code=COUNTY):
    return ledger.ingest(db, lines, IngestScope(county_code))


@pytest.fixture
def product(factory):
    """A certified product (15.00%) known by SKU-1 on JD only."""
    operator = factory.operator(COUNTY)
    created = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "SKU-1"}],
    )
    return factory.certified_since(created, datetime(2023, 1, 1, tzinfo=UTC), 1500)


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


@pytest.fixture
def sales(db, product):
    ingest(
        db,
        [
            line("M-1", sku="SKU-1"),
            line("X-1", 10_000, sku="SKU-X", title="霍山黄芽", barcode="6901234567892"),
            line("X-2", 20_000, sku="SKU-X", occurred_at=MARCH_20, barcode="6900000000001"),
            line("Y-1", 5_000, sku="SKU-Y"),
            line("T-1", 7_000, channel="taobao", sku="SKU-X"),
            line("B-1", 3_000, barcode="6901234567892", title="无编码商品"),
        ],
    )
    ingest(db, [line("O-1", 99_000, sku="SKU-X")], county_code=OTHER_COUNTY)


def keys(report) -> list[tuple]:
    return [
        (item["channel"], item["sku"], item["barcode"], item["lines"], item["sales_fen"])
        for item in report["items"]
    ]


# The report -----------------------------------------------------------------------------------------


def test_unmatched_lines_are_grouped_by_channel_and_sku_biggest_first(staff, sales):
    report = staff.get(URL).json
    assert keys(report) == [
        ("jd", "SKU-X", None, 2, 30_000),
        ("taobao", "SKU-X", None, 1, 7_000),
        ("jd", "SKU-Y", None, 1, 5_000),
        ("jd", None, "6901234567892", 1, 3_000),
    ]
    assert (report["groups"], report["lines"], report["sales_fen"]) == (4, 5, 45_000)


def test_a_group_tells_when_it_was_first_and_last_seen_and_what_it_is_called(staff, sales):
    item = staff.get(URL).json["items"][0]
    assert (item["first_seen"][:10], item["last_seen"][:10]) == ("2024-03-15", "2024-03-20")
    assert item["sample_title"] == "霍山黄芽" and item["county_code"] == COUNTY


def test_the_report_narrows_to_one_channel(staff, sales):
    assert keys(staff.get(URL, query_string={"channel": "taobao"}).json) == [
        ("taobao", "SKU-X", None, 1, 7_000)
    ]


def test_staff_see_only_their_own_counties(staff, sales):
    assert all(item["county_code"] == COUNTY for item in staff.get(URL).json["items"])
    assert staff.get(URL, query_string={"county_code": OTHER_COUNTY}).status_code == 403


def test_admins_name_the_county(login, sales):
    admin = login(ADMIN)
    assert admin.get(URL).status_code == 422
    assert keys(admin.get(URL, query_string={"county_code": OTHER_COUNTY}).json) == [
        ("jd", "SKU-X", None, 1, 99_000)
    ]


@pytest.mark.parametrize("role", [ENTERPRISE, CANTEEN])
def test_only_staff_read_the_report(login, role):
    assert login(role).get(URL, query_string={"county_code": COUNTY}).status_code == 403


def test_groups_fold_barcodes_into_their_sku():
    groups = [
        {
            "_id": {"county_code": COUNTY, "channel": "jd", "sku": "S", "barcode": barcode},
            "lines": 1,
            "quantity": 1,
            "sales_fen": 100,
            "first_seen": moment,
            "last_seen": moment,
            "sample_title": None,
        }
        for barcode, moment in (("A", MARCH_20), ("B", MARCH_15), (None, MARCH_15))
    ]
    [item] = unmatched.merge_groups(groups)
    assert (item["sku"], item["barcode"], item["lines"], item["sales_fen"]) == ("S", None, 3, 300)
    assert (item["first_seen"], item["last_seen"]) == (MARCH_15, MARCH_20)


# Mapping --------------------------------------------------------------------------------------------


def map_sku(caller, product, sku="SKU-X", channel="jd"):
    return caller.post(f"{URL}/map", json={"channel": channel, "sku": sku, "product_id": str(product["_id"])})


def test_mapping_a_sku_matches_its_lines_and_updates_the_reports(staff, db, product, sales):
    response = map_sku(staff, product)
    assert response.status_code == 200, response.json
    assert response.json["matched"] == 2
    assert ("jd", "SKU-X") not in {(item["channel"], item["sku"]) for item in staff.get(URL).json["items"]}
    summary = staff.get(
        "/api/v1/reports/summary", query_string={"county_code": COUNTY, "from": "2024-03", "to": "2024-03"}
    ).json
    assert summary["certified_sales_fen"] == 40_000
    assert summary["unmatched_sales_fen"] == 15_000
    assert summary["poor_income_fen"] == 6_000


def test_a_staff_mapping_keeps_a_certified_product_certified_and_is_audited(staff, db, product, sales):
    map_sku(staff, product)
    after = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert after["status"] == "certified" and after["certificates"] == product["certificates"]
    assert {"channel": "jd", "sku": "SKU-X"} in after["channel_skus"]
    assert after["channel_sku_keys"] == ["jd:SKU-1", "jd:SKU-X"]
    assert after["version"] == product["version"] + 1
    entry = db[storage.AUDIT_LOG].find_one({"action": "product.map_sku"})
    assert entry["entity"]["id"] == product["_id"] and entry["actor"]["username"] == staff.user["username"]


def test_mapping_a_sku_the_product_already_has_changes_nothing(staff, db, product):
    assert map_sku(staff, product, sku="SKU-1").status_code == 200
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["version"] == product["version"]


def test_a_sku_held_by_another_product_cannot_be_mapped(staff, factory, product):
    other = factory.product(county_code=COUNTY, channel_skus=[{"channel": "jd", "sku": "SKU-X"}])
    response = map_sku(staff, product)
    assert response.status_code == 409
    assert response.json["error"]["details"]["product_id"] == str(other["_id"])


def test_only_staff_of_the_products_county_map_skus(login, product):
    assert map_sku(login(COUNTY_STAFF, county_codes=[OTHER_COUNTY]), product).status_code == 403
    assert map_sku(login(ENTERPRISE, operator_id=product["operator_id"]), product).status_code == 403


def test_a_mapping_names_a_known_channel(staff, product):
    response = map_sku(staff, product, channel="nowhere")
    assert response.status_code == 422
    assert "channel" in response.json["error"]["details"]
