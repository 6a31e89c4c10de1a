"""The catalogue list reads only its page whole: every product once, in order, on every page, whatever
the filters; and the operators' drop-down reads names, not the benefit figures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from service import operators, product_listing, storage
from service.access import COUNTY_STAFF, Principal
from service.clock import utcnow

A, B = "340722", "340823"
STAFF = Principal(None, "staff", COUNTY_STAFF, county_codes=(A, B))
CREATED = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def catalogue(db, factory):
    """Products of two counties, several created at the same moment (ties broken by _id)."""
    rng = random.Random(5)
    made = []
    for number in range(23):
        county = A if number % 3 else B
        product = factory.product(
            county_code=county,
            status=rng.choice(["draft", "submitted", "certified"]),
            certified_at=utcnow() - timedelta(days=rng.choice([10, 700, 725])),
            price_fen=rng.choice([500, 900, 1500]),
            name=f"产品{rng.randrange(5)}",
        )
        created = CREATED + timedelta(hours=number // 4)
        db[storage.PRODUCTS].update_one({"_id": product["_id"]}, {"$set": {"created_at": created}})
        made.append(product["_id"])
    return made


def every_page(db, per_page: int, **filters) -> list:
    found, page = [], 1
    while True:
        items, total = product_listing.list_products(db, STAFF, page=page, per_page=per_page, **filters)
        found += items
        if page * per_page >= total:
            assert len(found) == total
            return found
        page += 1


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "name", "-price_fen"])
@pytest.mark.parametrize("per_page", [1, 4, 50])
@pytest.mark.parametrize("counted_ahead", [0, 2, 100])
def test_the_pages_hold_every_product_once_in_the_sort_order(
    db, catalogue, sort, per_page, counted_ahead, monkeypatch
):
    monkeypatch.setattr(product_listing, "COUNTED_AHEAD", counted_ahead)
    field, direction = sort.lstrip("-"), -1 if sort.startswith("-") else 1
    expected = sorted(
        db[storage.PRODUCTS].find({"county_code": {"$in": [A, B]}}),
        key=lambda product: (product[field], product["_id"]),
        reverse=direction < 0,
    )
    listed = every_page(db, per_page, sort=sort)
    assert [product["_id"] for product in listed] == [product["_id"] for product in expected]
    # Read whole: the histories are there.
    assert all("status_history" in product and "benefit_rate_bp" in product for product in listed)


@pytest.mark.parametrize(
    "filters",
    [
        {"county_code": A},
        {"county_code": B, "status": "certified"},
        {"status": "certified", "expiring_within_days": 30},
        {"status": "expired", "expiring_within_days": 30},
        {"status": "submitted", "q": "产品1"},
    ],
)
def test_a_filter_on_a_field_named_twice_keeps_both_conditions(db, catalogue, filters):
    now = utcnow()
    listed = every_page(db, 5, **filters)
    for product in listed:
        if "county_code" in filters:
            assert product["county_code"] == filters["county_code"]
        if "status" in filters:
            assert product["status"] == filters["status"]
        if "expiring_within_days" in filters:
            assert now < product["valid_until"] <= now + timedelta(days=30)

    def wanted(product: dict) -> bool:
        ends = product.get("valid_until")
        expiring = "expiring_within_days" not in filters or (
            ends is not None and now < ends <= now + timedelta(days=30)
        )
        return (
            product["county_code"] == filters.get("county_code", product["county_code"])
            and product["status"] == filters.get("status", product["status"])
            and filters.get("q", "") in product["name"]
            and expiring
        )

    assert len(listed) == sum(1 for product in every_page(db, 50) if wanted(product))


def test_conditions_on_distinct_fields_make_one_filter_an_index_can_start_on():
    one = product_listing._one_query(
        [{"county_code": A}, {"status": "certified", "valid_until": {"$gt": 1}}, {"county_code": A}]
    )
    assert one == {"county_code": A, "status": "certified", "valid_until": {"$gt": 1}}
    repeated = product_listing._one_query([{"county_code": {"$in": [A, B]}}, {"county_code": A}])
    assert repeated == {"county_code": {"$in": [A, B]}, "$and": [{"county_code": A}]}


def test_the_operators_drop_down_reads_no_benefit_figures(app, db, factory, page_login, monkeypatch):
    operator = factory.operator(A, name="枞阳茶叶合作社")
    factory.product(operator["_id"], name="枞阳黄花茶")

    def refused(*args, **kwargs):
        raise AssertionError("the drop-down counted benefit links")

    monkeypatch.setattr(operators, "benefit_counts", refused)
    browser = page_login("county_staff", county_codes=[A])
    page = browser.text("/products/")
    assert "枞阳茶叶合作社" in page and "枞阳黄花茶" in page


@pytest.mark.parametrize("counted_ahead", [0, 100])
def test_a_page_past_the_end_is_empty_with_the_total(db, catalogue, counted_ahead, monkeypatch):
    monkeypatch.setattr(product_listing, "COUNTED_AHEAD", counted_ahead)
    assert product_listing.list_products(db, STAFF, page=30, per_page=1) == ([], len(catalogue))
    assert product_listing.list_products(db, STAFF, status="expired", expiring_within_days=30) == ([], 0)
