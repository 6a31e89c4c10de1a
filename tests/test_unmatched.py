"""Unmatched sales: the SKUs no product claims, grouped for county staff, and mapping them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.base import SaleLine
from service import ledger, ledger_rebuilds, storage, unmatched
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE
from service.clock import utcnow
from service.ingest_scope import IngestScope

COUNTY = "340722"
OTHER_COUNTY = "341000"
URL = "/api/v1/reports/unmatched"
SUMMARY = "/api/v1/reports/summary"
# The lines below fall in this period; one test reads the default period (as the dashboard's).
PERIOD = {"from": "2024-01", "to": "2024-06"}
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
    report = staff.get(URL, query_string=PERIOD).json
    assert keys(report) == [
        ("jd", "SKU-X", None, 2, 30_000),
        ("taobao", "SKU-X", None, 1, 7_000),
        ("jd", "SKU-Y", None, 1, 5_000),
        ("jd", None, "6901234567892", 1, 3_000),
    ]
    assert (report["groups"], report["lines"], report["sales_fen"]) == (4, 5, 45_000)


def test_a_group_tells_when_it_was_first_and_last_seen_and_what_it_is_called(staff, sales):
    item = staff.get(URL, query_string=PERIOD).json["items"][0]
    assert (item["first_seen"][:10], item["last_seen"][:10]) == ("2024-03-15", "2024-03-20")
    assert item["sample_title"] == "霍山黄芽" and item["county_code"] == COUNTY


def test_the_report_narrows_to_one_channel(staff, sales):
    assert keys(staff.get(URL, query_string={**PERIOD, "channel": "taobao"}).json) == [
        ("taobao", "SKU-X", None, 1, 7_000)
    ]


def test_staff_see_only_their_own_counties(staff, sales):
    assert all(item["county_code"] == COUNTY for item in staff.get(URL, query_string=PERIOD).json["items"])
    assert staff.get(URL, query_string={**PERIOD, "county_code": OTHER_COUNTY}).status_code == 403


def test_admins_name_the_county(login, sales):
    admin = login(ADMIN)
    assert admin.get(URL, query_string=PERIOD).status_code == 422
    assert keys(admin.get(URL, query_string={**PERIOD, "county_code": OTHER_COUNTY}).json) == [
        ("jd", "SKU-X", None, 1, 99_000)
    ]


@pytest.mark.parametrize("role", [ENTERPRISE, CANTEEN])
def test_only_staff_read_the_report(login, role):
    assert login(role).get(URL, query_string={**PERIOD, "county_code": COUNTY}).status_code == 403


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


def test_the_list_and_the_dashboard_default_to_one_period_and_total(staff, db, sales):
    ingest(db, [line("NOW-1", 12_300, sku="SKU-NOW", occurred_at=utcnow())])
    report, summary = staff.get(URL).json, staff.get(SUMMARY).json
    assert (report["from"], report["to"]) == (summary["from"], summary["to"])
    assert report["sales_fen"] == summary["unmatched_sales_fen"]
    assert ("jd", "SKU-NOW", None, 1, 12_300) in keys(report)


def test_the_list_and_the_dashboard_cut_months_in_shanghai_alike(staff, db, sales):
    # 23:00 on 31 December and 01:00 on 1 January in Asia/Shanghai, both 31 December in UTC.
    december = line("X-DEC", 40_000, sku="SKU-X", occurred_at=datetime(2023, 12, 31, 15, 0, tzinfo=UTC))
    january = line("X-JAN", 50_000, sku="SKU-X", occurred_at=datetime(2023, 12, 31, 17, 0, tzinfo=UTC))
    ingest(db, [december, january])
    report = staff.get(URL, query_string=PERIOD).json
    summary = staff.get(SUMMARY, query_string=PERIOD).json
    assert report["sales_fen"] == summary["unmatched_sales_fen"] == 95_000
    last_year = {"from": "2023-12", "to": "2023-12"}
    assert keys(staff.get(URL, query_string=last_year).json) == [("jd", "SKU-X", None, 1, 40_000)]
    assert staff.get(SUMMARY, query_string=last_year).json["unmatched_sales_fen"] == 40_000


def test_refunds_are_netted_out_of_the_unmatched_total(staff, db, sales):
    ingest(db, [line("X-R", -10_000, sku="SKU-X", quantity=-1, refund_of="X-2", occurred_at=MARCH_20)])
    report = staff.get(URL, query_string=PERIOD).json
    assert keys(report)[0] == ("jd", "SKU-X", None, 3, 20_000)
    assert (
        report["sales_fen"] == staff.get(SUMMARY, query_string=PERIOD).json["unmatched_sales_fen"] == 35_000
    )


def test_a_period_that_ends_before_it_starts_is_refused(staff):
    assert staff.get(URL, query_string={**PERIOD, "from": "2024-05", "to": "2024-04"}).status_code == 422


# Search ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("sku-y", [("jd", "SKU-Y")]),
        ("690123", [("jd", "SKU-X"), ("jd", None)]),
        ("黄芽", [("jd", "SKU-X")]),
        ("无编码", [("jd", None)]),
    ],
)
def test_search_finds_skus_barcodes_and_titles(staff, sales, q, found):
    report = staff.get(URL, query_string={**PERIOD, "q": q}).json
    assert [(item["channel"], item["sku"]) for item in report["items"]] == found
    assert report["q"] == q


@pytest.mark.parametrize("q", ["SKU.X", ".*", "(", '{"$ne": 1}', "$where"])
def test_search_text_is_matched_literally(staff, sales, q):
    response = staff.get(URL, query_string={**PERIOD, "q": q})
    assert response.status_code == 200 and response.json["items"] == []


def test_search_text_is_bounded(staff, sales):
    assert staff.get(URL, query_string={**PERIOD, "q": "x" * 101}).status_code == 422


# Suggestions ----------------------------------------------------------------------------------------


@pytest.fixture
def lookalikes(factory, product):
    """Two 霍山黄芽 of two operators told apart by operator and specification, one by barcode."""
    tea_house = factory.operator(COUNTY, name="黄芽茶厂")
    farm = factory.operator(COUNTY, name="山里合作社")
    return {
        "by_barcode": factory.product(
            farm["_id"], name="绿茶礼盒", spec="250g", barcode="6901234567892", status="draft"
        ),
        "certified": factory.product(
            tea_house["_id"], name="霍山黄芽", spec="500g", status="certified", benefit_rate_bp=1000
        ),
        "draft": factory.product(farm["_id"], name="霍山黄芽", spec="100g"),
        "elsewhere": factory.product(county_code=OTHER_COUNTY, name="霍山黄芽"),
    }


def suggestions_of(report, sku):
    [item] = [item for item in report["items"] if item["sku"] == sku and item["channel"] == "jd"]
    return item["suggestions"]


def test_suggestions_rank_the_barcode_before_alike_names(staff, sales, lookalikes):
    found = suggestions_of(staff.get(URL, query_string=PERIOD).json, "SKU-X")
    assert [item["product_id"] for item in found[:3]] == [
        str(lookalikes["by_barcode"]["_id"]),
        *sorted([str(lookalikes["certified"]["_id"]), str(lookalikes["draft"]["_id"])]),
    ]
    assert [(item["reason"], item["similarity_pct"]) for item in found[:3]] == [
        ("barcode", 100),
        ("name", 100),
        ("name", 100),
    ]


def test_suggestions_tell_identical_names_apart(staff, sales, lookalikes):
    found = {
        item["product_id"]: item for item in suggestions_of(staff.get(URL, query_string=PERIOD).json, "SKU-X")
    }
    certified, draft = found[str(lookalikes["certified"]["_id"])], found[str(lookalikes["draft"]["_id"])]
    assert (certified["operator_name"], certified["spec"], certified["status"], certified["certified"]) == (
        "黄芽茶厂",
        "500g",
        "certified",
        True,
    )
    assert (draft["operator_name"], draft["spec"], draft["status"], draft["certified"]) == (
        "山里合作社",
        "100g",
        "draft",
        False,
    )


def test_suggestions_come_from_the_skus_own_county(staff, sales, lookalikes):
    report = staff.get(URL, query_string=PERIOD).json
    offered = {item["product_id"] for row in report["items"] for item in row["suggestions"]}
    assert str(lookalikes["elsewhere"]["_id"]) not in offered


def test_suggestions_narrow_to_a_product_keyword(staff, sales, lookalikes):
    found = suggestions_of(staff.get(URL, query_string={**PERIOD, "product_q": "礼盒"}).json, "SKU-X")
    assert [item["product_id"] for item in found] == [str(lookalikes["by_barcode"]["_id"])]


def test_name_similarity_counts_a_name_inside_a_dressed_up_title():
    assert unmatched.name_similarity_pct("【枞阳特产】有机大米 5kg装", "有机大米") >= 80
    assert unmatched.name_similarity_pct("有机大米", "有机大米") == 100
    assert unmatched.name_similarity_pct("土鸡蛋", "有机大米") == 0
    assert unmatched.name_similarity_pct(None, "有机大米") == 0


# Mapping in one batch -------------------------------------------------------------------------------


def map_skus(caller, rows):
    body = [
        {"channel": channel, "sku": sku, "product_id": str(product["_id"])} for channel, sku, product in rows
    ]
    return caller.post(f"{URL}/map", json=body)


@pytest.fixture
def rematches(monkeypatch):
    calls = []
    real = ledger_rebuilds.rematch

    def counted(db, county_codes=None):
        calls.append(list(county_codes))
        return real(db, county_codes)

    monkeypatch.setattr(ledger_rebuilds, "rematch", counted)
    return calls


def test_three_skus_map_in_one_batch_and_the_totals_agree(staff, db, product, sales, lookalikes, rematches):
    tea = lookalikes["certified"]
    response = map_skus(staff, [("jd", "SKU-X", product), ("taobao", "SKU-X", tea), ("jd", "SKU-Y", tea)])
    assert response.status_code == 200, response.json
    # The 条形码-only line matches too: the catalogue now has a product with its barcode.
    assert response.json["matched"] == 5 and response.json["county_codes"] == [COUNTY]
    assert [(row["channel"], row["sku"]) for row in response.json["mapped"]] == [
        ("jd", "SKU-X"),
        ("taobao", "SKU-X"),
        ("jd", "SKU-Y"),
    ]
    assert rematches == [[COUNTY]]
    assert db[storage.AUDIT_LOG].count_documents({"action": "product.map_sku"}) == 3
    report = staff.get(URL, query_string=PERIOD).json
    assert keys(report) == []
    summary = staff.get(SUMMARY, query_string=PERIOD).json
    assert report["sales_fen"] == summary["unmatched_sales_fen"] == 0
    # The tea was certified in June, after its March sales.
    assert summary["certified_sales_fen"] == 10_000 + 30_000
    assert summary["uncertified_sales_fen"] == 7_000 + 5_000 + 3_000


def test_a_batch_with_one_bad_row_writes_nothing_and_names_the_row(
    staff, db, product, sales, factory, rematches
):
    factory.product(county_code=COUNTY, name="另一款茶", channel_skus=[{"channel": "jd", "sku": "SKU-Y"}])
    before = list(db[storage.PRODUCTS].find({}, {"version": 1, "channel_sku_keys": 1}).sort("_id", 1))
    response = map_skus(
        staff, [("jd", "SKU-X", product), ("jd", "SKU-Y", product), ("taobao", "SKU-X", product)]
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "sku_mapping_refused"
    assert [(row["row"], row["sku"], row["code"]) for row in error["details"]["rows"]] == [
        (1, "SKU-Y", "sku_held_by_another_product")
    ]
    assert error["details"]["rows"][0]["holder_name"] == "另一款茶"
    assert list(db[storage.PRODUCTS].find({}, {"version": 1, "channel_sku_keys": 1}).sort("_id", 1)) == before
    assert db[storage.AUDIT_LOG].count_documents({"action": "product.map_sku"}) == 0
    assert rematches == [] and staff.get(URL, query_string=PERIOD).json["groups"] == 4


def test_one_sku_to_two_products_in_a_batch_is_refused(staff, product, lookalikes):
    response = map_skus(staff, [("jd", "SKU-X", product), ("jd", "SKU-X", lookalikes["draft"])])
    assert [(row["row"], row["code"]) for row in response.json["error"]["details"]["rows"]] == [
        (1, "sku_mapped_twice_in_batch")
    ]


def test_another_countys_product_is_refused_as_a_missing_one(staff, db, product, factory):
    elsewhere = factory.product(county_code=OTHER_COUNTY)
    missing = {"_id": "0" * 24}
    response = map_skus(
        staff, [("jd", "SKU-X", elsewhere), ("jd", "SKU-Y", missing), ("jd", "SKU-Z", product)]
    )
    assert response.status_code == 422
    rows = response.json["error"]["details"]["rows"]
    assert [(row["row"], row["code"], row["message"]) for row in rows] == [
        (0, "no_such_product", "No such product."),
        (1, "no_such_product", "No such product."),
    ]
    assert db[storage.PRODUCTS].find_one({"_id": elsewhere["_id"]})["channel_skus"] == []
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["version"] == product["version"]


def test_a_sku_held_in_another_county_is_refused_without_naming_the_product(staff, product, factory):
    factory.product(county_code=OTHER_COUNTY, name="外县茶", channel_skus=[{"channel": "jd", "sku": "SKU-X"}])
    [row] = map_skus(staff, [("jd", "SKU-X", product)]).json["error"]["details"]["rows"]
    assert row["code"] == "sku_held_by_another_product" and "holder_name" not in row


def test_mapping_a_sku_the_product_already_has_changes_nothing(staff, db, product):
    assert map_skus(staff, [("jd", "SKU-1", product)]).status_code == 200
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["version"] == product["version"]


def test_a_staff_mapping_keeps_a_certified_product_certified_and_is_audited(staff, db, product, sales):
    map_skus(staff, [("jd", "SKU-X", product)])
    after = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert after["status"] == "certified" and after["certificates"] == product["certificates"]
    assert after["channel_sku_keys"] == ["jd:SKU-1", "jd:SKU-X"]
    assert after["version"] == product["version"] + 1
    entry = db[storage.AUDIT_LOG].find_one({"action": "product.map_sku"})
    assert entry["entity"]["id"] == product["_id"] and entry["actor"]["username"] == staff.user["username"]


@pytest.mark.parametrize("role", [ENTERPRISE, CANTEEN])
def test_only_staff_map_skus(login, db, product, role):
    binding = {"operator_id": product["operator_id"]} if role == ENTERPRISE else {}
    assert map_skus(login(role, **binding), [("jd", "SKU-X", product)]).status_code == 403
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["version"] == product["version"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"channel": "jd", "sku": "SKU-X", "product_id": "0" * 24},
        [{"channel": "nowhere", "sku": "SKU-X", "product_id": "0" * 24}],
        [{"channel": "jd", "sku": "SKU-X", "product_id": "not-an-id"}],
    ],
)
def test_a_batch_is_a_list_of_known_channels_skus_and_product_ids(staff, body):
    assert staff.post(f"{URL}/map", json=body).status_code == 422


def test_no_batch_row_reaches_the_database_as_an_operator(staff, db, product):
    body = [{"channel": "jd", "sku": "SKU-X", "product_id": {"$ne": None}}]
    assert staff.post(f"{URL}/map", json=body).status_code == 400
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["version"] == product["version"]


def test_a_batch_has_a_bound(staff, product):
    rows = [("jd", f"SKU-{number}", product) for number in range(unmatched.MAX_BATCH + 1)]
    assert map_skus(staff, rows).status_code == 422
