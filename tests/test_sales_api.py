"""Sale lines over HTTP, and ledger maintenance for staff."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.base import SaleLine
from service import ledger, storage
from service.ingest_scope import IngestScope


def _sell(db, county, count, operator_sku="S", buyer_unit_id=None):
    lines = [
        SaleLine(
            "jd",
            f"{county}-{operator_sku}-{i}",
            datetime(2024, 3, 1 + i % 28, 4, tzinfo=UTC),
            1,
            100 + i,
            sku=operator_sku,
            buyer_type="unit" if buyer_unit_id else "individual",
            buyer_unit_id=str(buyer_unit_id) if buyer_unit_id else None,
        )
        for i in range(count)
    ]
    ledger.ingest(db, lines, IngestScope(county))


def test_sales_page_by_key_without_gaps_or_repeats(login, db):
    _sell(db, "340722", 7)
    staff = login("county_staff")
    seen, after = [], None
    while True:
        page = staff.get("/api/v1/sales?per_page=3" + (f"&after={after}" if after else "")).json
        seen += [item["external_id"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert sorted(seen) == sorted(f"340722-S-{i}" for i in range(7))
    assert len(seen) == 7


def test_county_staff_see_only_their_counties_sales(login, db):
    _sell(db, "340722", 2)
    _sell(db, "341822", 3)
    staff = login("county_staff", county_codes=["341822"])
    assert {item["county_code"] for item in staff.get("/api/v1/sales").json["items"]} == {"341822"}
    assert staff.get("/api/v1/sales?county_code=340722").status_code == 403


def test_an_enterprise_sees_only_its_operators_lines(login, db, factory):
    mine = factory.operator("340722")
    product = factory.product(mine["_id"], channel_skus=[{"channel": "jd", "sku": "MINE"}])
    _sell(db, "340722", 2, operator_sku="MINE")
    _sell(db, "340722", 3, operator_sku="OTHER")
    enterprise = login("enterprise", operator_id=mine["_id"])
    items = enterprise.get("/api/v1/sales").json["items"]
    assert {item["product_id"] for item in items} == {str(product["_id"])}
    # Asking for another county's lines cannot widen the scope.
    assert {
        item["operator_id"] for item in enterprise.get("/api/v1/sales?county_code=341822").json["items"]
    } <= {str(mine["_id"])}


def test_a_canteen_sees_only_its_own_purchases(login, db, factory):
    canteen = factory.canteen("340722")
    _sell(db, "340722", 2, buyer_unit_id=canteen["_id"])
    _sell(db, "341822", 2)
    caller = login("canteen", canteen_id=canteen["_id"])
    items = caller.get("/api/v1/sales").json["items"]
    assert len(items) == 2 and {item["buyer"]["unit_id"] for item in items} == {str(canteen["_id"])}


def test_staff_rebuild_dirty_months_and_verify_over_http(login, db):
    ledger.ingest(
        db,
        [SaleLine("jd", "X-1", datetime(2024, 3, 2, tzinfo=UTC), 1, 500)],
        IngestScope("340722"),
        rebuild=False,
    )
    staff = login("county_staff")
    assert staff.post("/api/v1/ledger/rebuild").json == {
        "rebuilt": [{"county_code": "340722", "month": "2024-03"}]
    }
    assert db[storage.SALES_DAILY].count_documents({}) == 1
    verified = staff.get("/api/v1/ledger/verify?from=2024-01&to=2024-12").json
    assert verified == {"partitions_checked": 1, "differences": []}


def test_only_staff_maintain_the_ledger(login):
    assert login("enterprise").post("/api/v1/ledger/rebuild").status_code == 403
    assert login("canteen").get("/api/v1/ledger/verify").status_code == 403
    assert (
        login("county_staff", county_codes=["340722"])
        .post("/api/v1/ledger/rebuild?county_code=341822")
        .status_code
        == 403
    )
