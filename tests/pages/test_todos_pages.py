"""The menu's to-dos: every count equals the rows of the list its link opens, for each role."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from adapters.base import SaleLine
from service import ledger, ledger_rebuilds, partitions, storage
from service.clock import utcnow
from service.ingest_scope import IngestScope

A, B = "340722", "341822"
# 10:00 on 15 June 2040 in Asia/Shanghai: later than the wire tier's server clock, whose TTL indexes
# would otherwise drop the login tokens at once.
JUNE = datetime(2040, 6, 15, 2, 0, tzinfo=UTC)
_TODO = re.compile(
    r'<a href="([^"]+)" class="todo[^"]*"(?: data-loading="[^"]*")? data-testid="todo-([a-z_]+)">'
    r'[^<]*<span class="count" data-testid="todo-count">(\d+)</span>'
)
# What marks one row of the list each to-do opens.
ROWS = {
    "review": 'data-testid="review-item"',
    "publicity_ended": 'data-testid="product-row"',
    "expiring": 'data-testid="product-row"',
    "unmatched": 'data-testid="unmatched-row"',
    "canteens_behind": 'data-testid="canteen-row"',
    "stale": 'data-testid="stale-partition"',
    "interrupted": 'data-testid="import-run"',
    "targeting_gaps": 'data-testid="gap-row"',
    "returned": 'data-testid="product-row"',
    "row_errors": 'data-testid="import-run"',
    "plan": 'data-testid="plan-missing"',
    "behind": 'class="badge quota-behind"',
}


@pytest.fixture(autouse=True)
def june():
    with time_machine.travel(JUNE, tick=True):
        yield


def menu(page: str) -> dict[str, tuple[str, int]]:
    """The menu's to-dos: key -> (link, count)."""
    return {key: (html.unescape(url), int(count)) for url, key, count in _TODO.findall(page)}


def home(browser) -> str:
    """The role's home page (the site's root sends each role to its own)."""
    response = browser.get("/", follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def assert_counts_equal_their_lists(browser, expected: dict[str, int]) -> None:
    todos = menu(home(browser))
    assert {key: count for key, (_, count) in todos.items()} == expected
    for key, (url, count) in todos.items():
        listed = browser.text(url.split("#")[0])
        assert listed.count(ROWS[key]) == count, (key, url)
        pager = re.search(r"共 ([\d,]+) 条", listed)
        if pager:
            assert int(pager.group(1).replace(",", "")) == count, (key, url)
        if "#" in url:
            assert f'id="{url.split("#")[1]}"' in listed, (key, url)


def set_fields(db, product: dict, **fields) -> None:
    db[storage.PRODUCTS].update_one({"_id": product["_id"]}, {"$set": fields})


def import_run(db, county_code: str, operator_id=None, **fields) -> None:
    db[storage.IMPORT_RUNS].insert_one(
        {
            "channel": "jd",
            "adapter": "jd",
            "county_code": county_code,
            "operator_id": operator_id,
            "dry_run": False,
            "status": "succeeded",
            "source": {"filename": "orders.csv"},
            "started_by": {"user_id": None, "username": "tests", "role": "county_staff"},
            "started_at": utcnow(),
            "heartbeat_at": utcnow(),
            "finished_at": utcnow(),
            **dict.fromkeys(
                ("rows", "inserted", "updated", "unchanged", "skipped", "rejected", "unmatched"), 0
            ),
            **fields,
        }
    )


@pytest.fixture
def county_work(db, factory):
    """Something of every staff to-do in county A, and of some in county B."""
    for status in ("submitted", "submitted", "county_approved", "draft"):
        factory.product(status=status)
    set_fields(db, factory.product(status="publicizing"), publicity_ends_at=JUNE - timedelta(days=1))
    factory.product(status="publicizing")
    for days in (3, 29):
        set_fields(db, factory.product(status="certified"), valid_until=JUNE + timedelta(days=days))
    factory.product(county_code=B, status="submitted")
    lines = [
        SaleLine(
            channel="jd",
            external_id=str(n),
            occurred_at=JUNE - timedelta(days=9),
            quantity=1,
            amount_fen=500,
            sku=sku,
        )
        for n, sku in enumerate(("X", "X", "Y"))
    ]
    ledger.ingest(db, lines, IngestScope(A))
    plan = [{"year": 2040, "food_total_fen": 1_000_000}]
    factory.canteen(A, plans=plan)
    factory.canteen(A, plans=plan)
    factory.canteen(A)
    partitions.mark_dirty(db, [(A, "2040-04"), (A, "2040-05")])
    import_run(db, A, status="interrupted")
    import_run(db, A, status="failed")
    factory.household(A, status="edge")
    factory.household(A, status="monitored", exit_year=2019)
    factory.benefit_link(factory.operator(A), factory.household(A, status="edge"))


def test_each_staff_to_do_counts_the_rows_of_the_list_it_opens(page_login, county_work):
    staff = page_login("county_staff", county_codes=[A])
    assert_counts_equal_their_lists(
        staff,
        {
            "review": 5,
            "publicity_ended": 1,
            "expiring": 2,
            "unmatched": 2,
            "canteens_behind": 2,
            "stale": 2,
            "interrupted": 1,
            "targeting_gaps": 2,
        },
    )


def test_the_menu_shows_the_same_to_dos_on_every_page(page_login, county_work):
    staff = page_login("county_staff", county_codes=[A])
    assert menu(staff.text("/products/")) == menu(staff.text("/imports/")) == menu(home(staff))


def test_another_countys_staff_see_only_their_own_to_dos(page_login, county_work):
    other = page_login("county_staff", county_codes=[B])
    assert {key: count for key, (_, count) in menu(home(other)).items()} == {"review": 1}


def test_the_dashboard_link_says_it_is_loading_and_nothing_runs_inline(page_login, county_work):
    page = page_login("county_staff", county_codes=[A]).text("/products/")
    assert re.search(r'href="/county/"[^>]* data-loading="[^"]+"', page)
    assert re.search(r'data-loading="[^"]+" data-testid="todo-stale"', page)
    assert 'id="page-loading"' in page and "/static/loading.js" in page
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", page) == []


def test_an_enterprises_to_dos_count_the_rows_of_its_own_lists(db, factory, page_login):
    mine, other = factory.operator(A), factory.operator(A)
    factory.product(mine["_id"], status="rejected")
    factory.product(mine["_id"], status="draft")
    set_fields(db, factory.product(mine["_id"], status="certified"), valid_until=JUNE + timedelta(days=12))
    factory.product(other["_id"], status="rejected")
    import_run(db, A, mine["_id"], rejected=4, rows=10)
    import_run(db, A, mine["_id"], rejected=2, started_at=JUNE - timedelta(days=40))
    import_run(db, A, other["_id"], rejected=1)
    firm = page_login("enterprise", operator_id=mine["_id"])
    assert_counts_equal_their_lists(firm, {"returned": 1, "expiring": 1, "row_errors": 1})


@pytest.mark.parametrize(
    ("plans", "expected"),
    [([], {"plan": 1}), ([{"year": 2040, "food_total_fen": 1_000_000}], {"behind": 1})],
)
def test_a_canteens_to_dos_count_what_its_pages_show(factory, page_login, plans, expected):
    unit = factory.canteen(A, plans=plans)
    assert_counts_equal_their_lists(page_login("canteen", canteen_id=unit["_id"]), expected)


def test_an_overdue_plan_is_marked_so_in_the_menu(factory, page_login):
    page = page_login("canteen", canteen_id=factory.canteen(A)["_id"]).text("/canteen/")
    assert re.search(r'class="todo overdue" data-testid="todo-plan">2040 年计划逾期未申报', page)


def test_the_unmatched_count_follows_new_sales_and_mappings(db, page_login, factory, county_work):
    staff = page_login("county_staff", county_codes=[A])
    assert menu(home(staff))["unmatched"][1] == 2
    line = SaleLine(channel="jd", external_id="N", occurred_at=JUNE, quantity=1, amount_fen=900, sku="NEW")
    ledger.ingest(db, [line], IngestScope(A))
    assert menu(home(staff))["unmatched"][1] == 3
    product = factory.product(status="certified", channel_skus=[{"channel": "jd", "sku": "X"}])
    ledger_rebuilds.rematch(db, [A])
    assert product["channel_sku_keys"] == ["jd:X"]
    assert menu(home(staff))["unmatched"][1] == 2
