"""What counts toward a canteen's reserved share: one rule, and every figure that reads it agrees.

The purchase list, the quota cards, the county canteen report and the county dashboard add up the
same ledger lines by :func:`service.canteen_quota.qualification`, so they agree to the fen, before
and after a SKU is mapped and the ledger rematched.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId

from adapters.base import SaleLine
from service import canteen_quota, ledger, ledger_rebuilds, storage, unmatched
from service.access import COUNTY_STAFF, system_principal
from service.canteen_quota import (
    CERTIFIED,
    NOT_CERTIFIED,
    NOT_IN_CATALOGUE,
    NOT_VIA_832,
    REFUNDED,
    VIA_832,
    qualification,
)
from service.clock import end_of_local_day
from service.ingest_scope import IngestScope

COUNTY = "340722"
SKU = "832-SKU-77"


# The rule (pure) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "channel", "certified", "matched", "expected"),
    [
        (2024, "p832", False, False, (True, VIA_832)),
        (2024, "canteen", True, True, (False, NOT_VIA_832)),
        (2021, "canteen", True, True, (False, NOT_VIA_832)),
        (2020, "canteen", True, True, (True, CERTIFIED)),
        (2020, "canteen", False, True, (False, NOT_CERTIFIED)),
        (2020, "canteen", False, False, (False, NOT_IN_CATALOGUE)),
        (2020, "p832", False, False, (True, VIA_832)),
    ],
)
def test_from_2021_only_832_counts_and_before_it_certified_products_too(
    year, channel, certified, matched, expected
):
    assert qualification(year, channel, certified, matched) == expected


def test_a_refunded_order_is_shown_as_refunded_and_a_return_as_its_purchase():
    refunded = {"month": "2024-05", "channel": "p832", "amount_fen": 0, "refund_of": None}
    assert canteen_quota.line_qualification(refunded) == (False, REFUNDED)
    returned = {"month": "2024-05", "channel": "p832", "amount_fen": -500, "refund_of": "canteen:x:1"}
    assert canteen_quota.line_qualification(returned) == (True, VIA_832)


# Every figure agrees ------------------------------------------------------------------------------


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


@pytest.fixture
def cook_api(login, canteen):
    return login("canteen", canteen_id=canteen["_id"])


@pytest.fixture
def canteen(factory):
    return factory.canteen(
        COUNTY,
        name="枞阳县第二中学食堂",
        plans=[{"year": 2024, "food_total_fen": 10_000_000}, {"year": 2020, "food_total_fen": 5_000_000}],
    )


def imported_832(db, canteen, external_id: str, day: date, amount_fen: int, **fields) -> None:
    """An order of the 832 platform's export for the canteen, as the import runner ingests it."""
    line = SaleLine(
        channel="p832",
        external_id=external_id,
        occurred_at=end_of_local_day(day) - timedelta(hours=3),
        quantity=2,
        amount_fen=amount_fen,
        sku=SKU,
        title="832平台大米",
        buyer_type="unit",
        buyer_unit_id=str(canteen["_id"]),
        buyer_name=canteen["name"],
        **fields,
    )
    result = ledger.ingest(db, [line], IngestScope(COUNTY))
    assert result.errors == [], result.errors


@pytest.fixture
def ledger_lines(db, factory, canteen):
    """2024: logged (certified outside 832, via 832, an unmapped SKU via 832 and its return, an
    uncatalogued product) and imported 832 orders (one refunded); 2020: an uncertified product
    certified afterwards (backdated), and a certified one."""
    since = datetime(2019, 6, 1, tzinfo=UTC)
    certified = factory.product(county_code=COUNTY, status="certified", certified_at=since)
    rice = factory.product(county_code=COUNTY, status="certified", certified_at=since)
    later = factory.product(county_code=COUNTY, status="draft")
    factory.canteen_purchase(canteen, product_id=certified["_id"], amount_fen=300_017, invoice_no="L-1")
    factory.canteen_purchase(
        canteen, product_id=certified["_id"], amount_fen=120_003, invoice_no="L-2", via_832=True
    )
    factory.canteen_purchase(
        canteen,
        sku=SKU,
        product_name="832平台大米",
        operator_uscc="91110108551385082Q",
        amount_fen=80_000,
        invoice_no="L-3",
        via_832=True,
    )
    factory.canteen_purchase(
        canteen,
        refund_of_invoice_no="L-2",
        quantity=-1,
        amount_fen=-20_001,
        invoice_no="L-2R",
        date=date(2024, 3, 20),
    )
    factory.canteen_purchase(canteen, amount_fen=45_678, invoice_no="L-4")
    imported_832(db, canteen, "832-A-1", date(2024, 4, 2), 66_666)
    imported_832(db, canteen, "832-A-2", date(2024, 4, 9), 0)
    imported_832(db, canteen, "832-A-3", date(2024, 5, 1), 12_345)
    factory.canteen_purchase(
        canteen, product_id=later["_id"], amount_fen=70_007, invoice_no="O-1", date=date(2020, 6, 1)
    )
    factory.canteen_purchase(
        canteen, product_id=rice["_id"], amount_fen=30_003, invoice_no="O-2", date=date(2020, 6, 2)
    )
    # Certified afterwards, with a certificate reaching back before the purchase (a corrected record).
    certificate = {
        "number": "FPTEST-LATER",
        "certified_at": since,
        "valid_until": since + timedelta(days=730),
        "ended_at": None,
        "end_reason": None,
    }
    factory.db[storage.PRODUCTS].update_one(
        {"_id": later["_id"]},
        {
            "$set": {
                "status": "certified",
                "certificates": [certificate],
                "certificate_numbers": ["FPTEST-LATER"],
            }
        },
    )
    ledger_rebuilds.rebuild(db, all_partitions=True)
    return {"rice": rice}


def figures(db, staff, cook_api, page_login, canteen, year: int) -> dict[str, tuple[int, int, int]]:
    """(all purchases, counted, lines) as each place shows them."""
    canteen_id = canteen["_id"]
    rows, page = [], 1
    while True:
        body = cook_api.get(
            f"/api/v1/canteens/{canteen_id}/purchase-lines",
            query_string={"year": year, "page": page, "per_page": 3},
        ).json
        rows += body["items"]
        if len(rows) >= body["total"]:
            break
        page += 1
    quota = cook_api.get(f"/api/v1/canteens/{canteen_id}/quota", query_string={"year": year}).json
    report = staff.get("/api/v1/reports/canteens", query_string={"county_code": COUNTY, "year": year}).json
    [item] = [item for item in report["items"] if item["canteen_id"] == str(canteen_id)]
    browser = page_login(COUNTY_STAFF, county_codes=[COUNTY])
    dashboard = browser.text(f"/county/?county_code={COUNTY}&from={year}-01&to={year}-12")
    row = re.search(rf'data-testid="quota-{canteen_id}".*?已完成 ([\d,.]+)', dashboard, re.S)
    shown_fen = round(float(row.group(1).replace(",", "")) * 100)
    return {
        "list": (
            sum(r["amount_fen"] for r in rows),
            sum(r["amount_fen"] for r in rows if r["counted_for_quota"]),
            len(rows),
        ),
        "quota": (quota["purchases_fen"], quota["qualifying_fen"], quota["lines"]),
        "report": (item["purchases_fen"], item["qualifying_fen"], item["lines"]),
        "dashboard": (quota["purchases_fen"], shown_fen, quota["lines"]),
    }


def assert_all_agree(found: dict[str, tuple[int, int, int]], expected: tuple[int, int, int]) -> None:
    assert found == {place: expected for place in ("list", "quota", "report", "dashboard")}


def test_the_list_the_quota_the_report_and_the_dashboard_agree_before_and_after_a_rematch(
    db, staff, cook_api, page_login, canteen, ledger_lines
):
    everything_2024 = 300_017 + 120_003 + 80_000 - 20_001 + 45_678 + 66_666 + 0 + 12_345
    via_832_2024 = 120_003 + 80_000 - 20_001 + 66_666 + 12_345
    assert_all_agree(
        figures(db, staff, cook_api, page_login, canteen, 2024), (everything_2024, via_832_2024, 8)
    )
    assert_all_agree(figures(db, staff, cook_api, page_login, canteen, 2020), (100_010, 100_010, 2))

    with_unmatched = db[storage.SALES].count_documents({"buyer.unit_id": canteen["_id"], "matched": False})
    unmatched.map_sku(db, system_principal(), "p832", SKU, ledger_lines["rice"]["_id"])
    assert (
        db[storage.SALES].count_documents({"buyer.unit_id": canteen["_id"], "matched": False})
        < with_unmatched
    )
    assert_all_agree(
        figures(db, staff, cook_api, page_login, canteen, 2024), (everything_2024, via_832_2024, 8)
    )


def test_each_row_says_where_it_came_from_and_why_it_counts_or_not(cook_api, canteen, ledger_lines):
    body = cook_api.get(
        f"/api/v1/canteens/{canteen['_id']}/purchase-lines", query_string={"year": 2024, "per_page": 50}
    ).json
    rows = {row["invoice_no"] or row["external_id"]: row for row in body["items"]}
    verdicts = {
        key: (row["source"], row["counted_for_quota"], row["quota_reason"]) for key, row in rows.items()
    }
    assert verdicts == {
        "L-1": ("logged", False, NOT_VIA_832),
        "L-2": ("logged", True, VIA_832),
        "L-2R": ("logged", True, VIA_832),
        "L-3": ("logged", True, VIA_832),
        "L-4": ("logged", False, NOT_VIA_832),
        "832-A-1": ("imported", True, VIA_832),
        "832-A-2": ("imported", False, REFUNDED),
        "832-A-3": ("imported", True, VIA_832),
    }


def test_a_logged_purchase_is_judged_by_its_ledger_line_as_it_is_now(db, cook_api, canteen, ledger_lines):
    listed = cook_api.get("/api/v1/canteen-purchases", query_string={"year": 2020}).json["items"]
    later = next(item for item in listed if item["invoice_no"] == "O-1")
    assert (later["certified"], later["counted_for_quota"], later["quota_reason"]) == (True, True, CERTIFIED)


def test_the_canteens_purchase_page_lists_every_line_its_cards_add_up(page_login, canteen, ledger_lines):
    cook = page_login("canteen", canteen_id=canteen["_id"])
    page = cook.text("/canteen/purchases?year=2024")
    amounts = [int(value) for value in re.findall(r'data-amount-fen="(-?\d+)"', page)]
    assert len(amounts) == 8 and "832平台导入" in page and "本单位登记" in page
    total = re.search(r'data-testid="total-purchases">([\d,.]+)<', page).group(1)
    assert round(float(total.replace(",", "")) * 100) == sum(amounts)
    assert "非832平台采购" in page and "已退款" in page and 'data-testid="quota-rule"' in page


# Plans below the floor ------------------------------------------------------------------------------


def test_from_2021_a_ratio_below_ten_percent_needs_its_approval(staff, canteen):
    url = f"/api/v1/canteens/{canteen['_id']}/plans"
    refused = staff.put(f"{url}/2024", json={"food_total_fen": 100_000, "reserve_ratio_bp": 500})
    assert refused.status_code == 422 and "reserve_ratio_bp" in refused.json["error"]["details"]
    approved = staff.put(
        f"{url}/2024",
        json={"food_total_fen": 100_000, "reserve_ratio_bp": 500, "ratio_approval": "皖财库〔2024〕7号"},
    )
    assert approved.status_code == 200, approved.json
    plan = next(plan for plan in approved.json["plans"] if plan["year"] == 2024)
    assert (plan["reserve_ratio_bp"], plan["ratio_approval"], plan["target_fen"]) == (
        500,
        "皖财库〔2024〕7号",
        5_000,
    )


def test_before_2021_a_plan_has_no_floor(staff, canteen):
    response = staff.put(
        f"/api/v1/canteens/{canteen['_id']}/plans/2020",
        json={"food_total_fen": 100_000, "reserve_ratio_bp": 300},
    )
    assert response.status_code == 200, response.json
    plan = next(plan for plan in response.json["plans"] if plan["year"] == 2020)
    assert (plan["reserve_ratio_bp"], plan["ratio_approval"]) == (300, None)


def test_a_line_of_another_channel_naming_the_unit_is_not_called_an_832_import():
    canteen_id = ObjectId()
    logged = {"external_id": f"{canteen_quota.LOGGED_PREFIX}{canteen_id}:INV-1", "channel": "canteen"}
    from_832 = {"external_id": "832-A-1", "channel": "p832"}
    direct = {"external_id": "U-1", "channel": "unit_purchase"}
    sources = [canteen_quota.source_of(line, canteen_id) for line in (logged, from_832, direct)]
    assert sources == [canteen_quota.LOGGED, canteen_quota.IMPORTED, canteen_quota.RECORDED]
    assert canteen_quota.SOURCES[canteen_quota.RECORDED] == "其他渠道记入"
