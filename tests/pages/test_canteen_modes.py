"""The canteen portal by the 832 system's modes: no canteen, shared, outsourced; a supervising
unit's roll-up; the union's share; the canteen's own 832 order export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from service import canteen_progress, canteens
from service.access import COUNTY_STAFF, Principal

COUNTY = "340722"
ORDERS = Path(__file__).parent.parent / "fixtures" / "p832" / "orders.xlsx"
STAFF = Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=(COUNTY,))


@pytest.fixture(autouse=True)
def july_2040():
    with time_machine.travel(datetime(2040, 7, 1, 2, 0, tzinfo=UTC), tick=False):
        yield


def test_a_unit_without_a_canteen_is_told_no_share_is_required(page_login, factory):
    unit = factory.canteen(COUNTY, mode="none")
    home = page_login("canteen", canteen_id=unit["_id"]).text("/canteen/")
    assert 'data-testid="not-required"' in home and "不作要求" in home
    assert 'data-testid="no-plan"' not in home and "进度滞后" not in home


def test_a_unit_reported_for_names_the_canteen_that_reports(page_login, factory, db):
    reporter = factory.canteen(COUNTY, name="实验小学食堂", mode="shared")
    unit = factory.canteen(COUNTY, mode="shared")
    canteens.update_canteen(db, STAFF, reporter["_id"], 1, {"shared_unit_ids": [unit["_id"]]})
    home = page_login("canteen", canteen_id=unit["_id"]).text("/canteen/")
    assert "由实验小学食堂合并填报" in home


def test_an_outsourced_canteen_names_its_contractor(page_login, factory):
    unit = factory.canteen(COUNTY, mode="outsourced", contractor="安徽膳食公司")
    home = page_login("canteen", canteen_id=unit["_id"]).text("/canteen/")
    assert "外包食堂" in home and "安徽膳食公司" in home


def test_a_supervising_unit_sees_its_subordinates_and_their_sum(page_login, factory):
    plan = [{"year": 2040, "food_total_fen": 1_000_000}]
    bureau = factory.canteen(COUNTY, name="县教育局", mode="none")
    for name in ("一中食堂", "二中食堂"):
        factory.canteen(COUNTY, name=name, parent_id=bureau["_id"], plans=plan)
    home = page_login("canteen", canteen_id=bureau["_id"]).text("/canteen/")
    rollup = home[home.index('data-testid="rollup"') :]
    assert rollup.count('data-testid="rollup-row"') == 3 and "一中食堂" in rollup and "二中食堂" in rollup
    assert "2,000.00" in rollup[rollup.index('data-testid="rollup-totals"') :]


def test_a_unit_with_no_subordinates_shows_no_roll_up(page_login, factory):
    unit = factory.canteen(COUNTY)
    assert 'data-testid="rollup"' not in page_login("canteen", canteen_id=unit["_id"]).text("/canteen/")


def test_the_canteen_imports_its_own_832_orders_from_its_page(page_login, factory, db):
    unit = factory.canteen(COUNTY, name="枞阳县人民医院食堂")
    cook = page_login("canteen", canteen_id=unit["_id"])
    assert 'data-testid="orders-submit"' in cook.text("/canteen/orders-832")
    with ORDERS.open("rb") as stream:
        response = cook.post(
            "/canteen/orders-832", {"file": (stream, ORDERS.name)}, content_type="multipart/form-data"
        )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-testid="count-inserted">5<' in page
    assert canteen_progress.canteen_quota(db, STAFF, unit["_id"], 2020)["lines"] == 5


def test_the_orders_page_without_a_file_is_a_field_error(page_login, factory):
    cook = page_login("canteen", canteen_id=factory.canteen(COUNTY)["_id"])
    response = cook.post("/canteen/orders-832", {}, content_type="multipart/form-data")
    assert response.status_code == 422
