"""The report cache: a cached dashboard always equals the dashboard computed afresh.

Each change that moves the figures (an ingest, a rebuild, a link, a certification, a household, a
canteen purchase) is followed by a read through the cache, compared with the same reports computed
without it; results computed while a county-month was dirty or moved are never kept.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime

import pytest

from adapters.base import SaleLine
from service import (
    benefit_links,
    canteen_progress,
    canteens,
    households,
    ledger,
    ledger_rebuilds,
    partitions,
    products,
    report_cache,
    report_context,
    reports,
)
from service.access import ADMIN, COUNTY_STAFF, Principal
from service.api import reports as reports_api
from service.ingest_scope import IngestScope
from service.web import county_pages

A = "340722"
JAN = datetime(2024, 1, 15, 2, 0, tzinfo=UTC)
FEB = datetime(2024, 2, 10, 2, 0, tzinfo=UTC)
SINCE = datetime(2023, 1, 1, tzinfo=UTC)
PERIOD = {"from_month": "2024-01", "to_month": "2024-03"}
STAFF = Principal(None, "staff", COUNTY_STAFF, county_codes=(A,))
ADMIN_ACTOR = Principal(None, "admin", ADMIN)
_numbers = iter(range(1, 1_000_000))


def sale(channel: str, sku: str, amount_fen: int, when: datetime = JAN) -> SaleLine:
    return SaleLine(
        channel=channel,
        external_id=f"L-{next(_numbers)}",
        occurred_at=when,
        quantity=1,
        amount_fen=amount_fen,
        sku=sku,
    )


@pytest.fixture
def books(factory, db):
    operator = factory.operator(A, name="枞阳茶叶合作社")
    made = factory.product(
        operator["_id"],
        status="certified",
        certified_at=SINCE,
        valid_days=3650,
        benefit_rate_bp=1500,
        name="枞阳黄花茶",
        channel_skus=[{"channel": "jd", "sku": "T1"}, {"channel": "counter", "sku": "T1"}],
    )
    tea = factory.certified_since(made, SINCE, 1500)
    household = factory.household(A, village_code=f"{A}101001", members=4)
    other = factory.household(A, village_code=f"{A}102001", members=2)
    link = factory.benefit_link(operator, household, weight=2)
    factory.benefit_link(operator, other, weight=1)
    ingest([sale("jd", "T1", 100_000), sale("jd", "T1", 40_000, FEB)], db)
    return {"operator": operator, "product": tea, "household": household, "link": link}


def ingest(lines: list[SaleLine], db) -> None:
    result = ledger.ingest(db, lines, IngestScope(A))
    assert result.rejected == 0, result.errors


@pytest.fixture
def cache() -> report_cache.ReportCache:
    return report_cache.ReportCache(max_entries=64, max_rows=100_000)


def dashboard(db, cache, actor: Principal = STAFF) -> dict:
    """Every periodic report the dashboard shows, through one context (cached when ``cache`` is given)."""
    context = report_context.ReportContext(db, cache=cache)
    return {
        "summary": reports.summary(db, actor, context=context, **PERIOD),
        "monthly": reports.monthly(db, actor, context=context, **PERIOD),
        "products": reports.product_ranking(db, actor, limit=10, context=context, **PERIOD),
        "operators": reports.operator_ranking(db, actor, limit=10, context=context, **PERIOD),
        "categories": reports.category_sales(db, actor, context=context, **PERIOD),
        "townships": reports.township_income(db, actor, context=context, **PERIOD),
        "households": reports.household_list(db, actor, per_page=None, context=context, **PERIOD),
    }


def assert_fresh(db, cache, actor: Principal = STAFF) -> dict:
    cached = dashboard(db, cache, actor)
    assert cached == dashboard(db, None, actor)
    return cached


def warm(db, cache) -> dict:
    """Fill the cache and check the next read is served from it."""
    first = assert_fresh(db, cache)
    hits = cache.hits
    assert dashboard(db, cache) == first
    assert cache.hits > hits
    return first


# The same figures, cached or not ---------------------------------------------------------------------


def test_the_cached_dashboard_equals_the_uncached_one(db, books, cache):
    first = warm(db, cache)
    assert first["summary"]["sales_fen"] == 140_000
    groupings = {key[1] for key in cache.kept_keys() if key[1] not in ("figure", "month")}
    assert groupings == {"monthly", "products", "household_totals", "household_months", "pools"}
    months = {(key[2], key[3].from_month) for key in cache.kept_keys() if key[1] == "month"}
    assert months == {(name, month) for name in groupings for month in ("2024-01", "2024-02", "2024-03")}
    figures = {key[2] for key in cache.kept_keys() if key[1] == "figure"}
    assert figures == {
        "summary",
        "monthly",
        "ranking",
        "townships",
        "households by income",
        "income distribution",
        "by product",
    }


def test_the_summary_report_equals_the_uncached_one_for_every_role(db, books, cache):
    enterprise = Principal(None, "ent", "enterprise", operator_id=books["operator"]["_id"])
    for actor in (STAFF, ADMIN_ACTOR, enterprise):
        for _ in range(2):
            cached = reports.summary(db, actor, context=report_context.ReportContext(db, cache), **PERIOD)
            assert cached == reports.summary(db, actor, **PERIOD)
    assert cache.hits > 0


def county_page(browser) -> str:
    """The dashboard of the first quarter; its forms' CSRF tokens (which carry the second they were
    made in) left out, so two views compare equal when everything else is."""
    page = browser.text("/county/?from=2024-01&to=2024-03")
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', page)


def test_the_dashboard_page_is_served_from_the_cache(app, page_login, books):
    browser = page_login("county_staff", county_codes=[A])
    first = county_page(browser)
    cache = app.extensions["report_cache"]
    hits = cache.hits
    assert county_page(browser) == first
    assert cache.hits > hits


@pytest.mark.parametrize(
    "name",
    ["summary", "monthly", "households", "products", "operators", "categories", "townships", "unallocated"],
)
def test_the_report_routes_are_served_from_the_cache_and_show_the_next_change(app, db, login, books, name):
    api = login("county_staff", county_codes=[A])
    url, query = f"/api/v1/reports/{name}", {"from": "2024-01", "to": "2024-03"}
    first = api.get(url, query_string=query).json
    cache = app.extensions["report_cache"]
    hits = cache.hits
    assert api.get(url, query_string=query).json == first
    assert cache.hits > hits
    ingest([sale("counter", "T1", 5_000, FEB)], db)
    app.config["REPORT_CACHE"] = False
    uncached = api.get(url, query_string=query).json
    app.config["REPORT_CACHE"] = True
    assert api.get(url, query_string=query).json == uncached
    if name != "unallocated":  # every pool of the books is shared out
        assert uncached != first


def test_the_switch_turns_the_cache_off(app):
    app.config["REPORT_CACHE"] = False
    assert report_cache.for_app(app) is None


# Every change shows on the next read ------------------------------------------------------------------


def test_a_counter_push_shows_on_the_next_dashboard(db, books, cache):
    warm(db, cache)
    ingest([sale("counter", "T1", 5_000, FEB)], db)
    assert assert_fresh(db, cache)["summary"]["sales_fen"] == 145_000


def test_an_import_into_a_month_without_sales_shows_on_the_next_dashboard(db, books, cache):
    warm(db, cache)
    ingest([sale("jd", "T1", 7_000, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))], db)
    assert assert_fresh(db, cache)["summary"]["sales_fen"] == 147_000


def test_a_rebuild_shows_on_the_next_dashboard(db, books, cache):
    warm(db, cache)
    partitions.mark_dirty(db, [(A, "2024-01")])
    assert_fresh(db, cache)
    ledger_rebuilds.rebuild(db, [A])
    assert_fresh(db, cache)
    ledger_rebuilds.rebuild(db, [A], all_partitions=True)
    assert_fresh(db, cache)


def test_a_link_change_shows_on_the_next_dashboard(db, books, cache):
    before = warm(db, cache)
    link = books["link"]
    benefit_links.update_link(db, ADMIN_ACTOR, link["_id"], link["version"], {"weight": 8})
    ledger_rebuilds.rebuild(db, [A])
    after = assert_fresh(db, cache)
    assert after["households"]["items"] != before["households"]["items"]


def test_a_certification_change_shows_on_the_next_dashboard(db, books, cache):
    warm(db, cache)
    product = books["product"]
    products.transition(db, ADMIN_ACTOR, product["_id"], "revoke", reason="抽检不合格")
    ledger_rebuilds.rebuild(db, [A])
    assert_fresh(db, cache)


def test_a_household_edit_shows_on_the_next_dashboard(db, books, cache):
    warm(db, cache)
    household = db["households"].find_one({"_id": books["household"]["_id"]})
    households.update_household(db, ADMIN_ACTOR, household["_id"], household["version"], {"members": 9})
    ledger_rebuilds.rebuild(db, [A], all_partitions=True)
    assert_fresh(db, cache)


def test_names_are_read_fresh_over_the_kept_figures(db, books, cache):
    township = books["household"]["township_code"]
    before = warm(db, cache)
    db["places"].insert_one({"code": township, "name": "会宫镇", "county_code": A})
    db["products"].update_one({"_id": books["product"]["_id"]}, {"$set": {"name": "枞阳红茶"}})
    after = assert_fresh(db, cache)
    assert {row["township_code"]: row["township_name"] for row in after["townships"]["items"]}[
        township
    ] == "会宫镇"
    assert before["townships"]["items"][0].get("township_name") is None
    assert after["products"]["items"][0]["product_name"] == "枞阳红茶"


def test_a_canteen_purchase_shows_on_the_next_dashboard(db, factory, books, cache):
    warm(db, cache)
    canteen = factory.canteen(A, name="机关食堂", plans=[{"year": 2024, "food_total_fen": 1_000_000}])
    factory.canteen_purchase(canteen, product_id=books["product"]["_id"], amount_fen=30_000)
    assert assert_fresh(db, cache)["summary"]["sales_fen"] == 170_000


# The canteens' quotas ---------------------------------------------------------------------------------

B = "340823"
SUMMER = date(2024, 6, 30)


@pytest.fixture
def canteen(factory, books):
    made = factory.canteen(A, name="机关食堂", plans=[{"year": 2024, "food_total_fen": 1_000_000}])
    factory.canteen_purchase(made, product_id=books["product"]["_id"], amount_fen=30_000, via_832=True)
    return made


def quota_report(db, cache, year: int = 2024) -> dict:
    context = report_context.ReportContext(db, cache=cache)
    report = canteen_progress.county_quota_report(db, STAFF, A, year, today=SUMMER, context=context)
    return {name: value for name, value in report.items() if name != "generated_at"}


def assert_fresh_quotas(db, cache, year: int = 2024) -> dict:
    cached = quota_report(db, cache, year)
    assert cached == quota_report(db, None, year)
    return cached


def test_the_canteens_quotas_are_served_from_the_cache_and_equal_the_uncached_ones(db, canteen, cache):
    first = assert_fresh_quotas(db, cache)
    hits = cache.hits
    assert quota_report(db, cache) == first
    assert cache.hits > hits
    assert first["totals"]["qualifying_fen"] == 30_000


def test_a_canteen_purchase_shows_on_the_next_quota_report(db, factory, books, canteen, cache):
    assert_fresh_quotas(db, cache)
    factory.canteen_purchase(canteen, product_id=books["product"]["_id"], amount_fen=4_000, via_832=True)
    assert assert_fresh_quotas(db, cache)["totals"]["qualifying_fen"] == 34_000


def test_a_purchase_from_a_seller_of_another_county_shows_on_the_next_quota_report(
    db, factory, canteen, cache
):
    assert_fresh_quotas(db, cache)
    elsewhere = factory.product(county_code=B, status="certified", certified_at=SINCE)
    factory.canteen_purchase(canteen, product_id=elsewhere["_id"], amount_fen=5_000, via_832=True)
    assert db["sales"].count_documents({"buyer.unit_id": canteen["_id"], "county_code": B}) == 1
    assert assert_fresh_quotas(db, cache)["totals"]["purchases_fen"] == 35_000


def test_a_new_plan_and_a_new_canteen_show_on_the_next_quota_report(db, factory, canteen, cache):
    assert_fresh_quotas(db, cache)
    canteens.set_plan(db, ADMIN_ACTOR, canteen["_id"], 2024, {"food_total_fen": 2_000_000})
    factory.canteen(A, name="学校食堂")
    after = assert_fresh_quotas(db, cache)
    assert after["totals"]["target_fen"] == 200_000
    assert after["totals"]["canteens"] == 2


def test_a_quota_read_while_a_partition_is_dirty_is_not_kept(db, canteen, cache):
    partitions.mark_dirty(db, [(B, "2024-11")])
    assert_fresh_quotas(db, cache)
    # The other months are kept; the dirty one is not.
    assert cache.refused > 0
    assert not any("2024-11" in key for key in cache.kept_keys())
    assert any("2024-10" in key for key in cache.kept_keys())


def test_the_dashboard_counts_the_canteens_quota_from_the_cache(app, page_login, canteen):
    browser = page_login("county_staff", county_codes=[A])
    first = county_page(browser)
    assert f'data-testid="quota-{canteen["_id"]}"' in first
    cache = app.extensions["report_cache"]
    hits = cache.hits
    assert county_page(browser) == first
    assert cache.hits >= hits + 5  # four groupings of the period and the canteens' sums


# The first view after a change recomputes the months that changed -----------------------------------


def months_aggregated(monkeypatch) -> list[str]:
    """The months of the period each grouping's pipeline is run over from now on."""
    seen: list[str] = []
    computing = report_context.ReportContext._aggregate

    def recording(self, collection, pipeline):
        window = pipeline[0]["$match"].get("month", {})
        one = isinstance(window, str)
        seen.append(f"{window}..{window}" if one else f"{window.get('$gte')}..{window.get('$lte')}")
        return computing(self, collection, pipeline)

    monkeypatch.setattr(report_context.ReportContext, "_aggregate", recording)
    return seen


def test_a_change_to_one_month_recomputes_that_month_only(db, books, cache, monkeypatch):
    warm(db, cache)
    ingest([sale("counter", "T1", 5_000, FEB)], db)
    seen = months_aggregated(monkeypatch)
    assert assert_fresh(db, cache)["summary"]["sales_fen"] == 145_000
    cached_reads = seen[: len(seen) - 5]  # the uncached dashboard's five pipelines over the period follow
    assert cached_reads and set(cached_reads) == {"2024-02..2024-02"}


def test_a_household_whose_months_cancel_out_is_left_out_when_months_are_merged(db, books, cache):
    warm(db, cache)
    refunds = [
        SaleLine(
            channel="jd",
            external_id=f"R-{line['external_id']}",
            occurred_at=FEB,
            quantity=-1,
            amount_fen=-line["amount_fen"],
            sku="T1",
            refund_of=line["external_id"],
        )
        for line in db["sales"].find({"channel": "jd"})
    ]
    ingest(refunds, db)
    after = assert_fresh(db, cache)
    assert after["summary"]["sales_fen"] == 0
    assert after["summary"]["households_benefited"] == 0


def test_a_household_that_moved_is_counted_where_it_lives_in_the_latest_month(db, books, cache):
    warm(db, cache)
    household = db["households"].find_one({"_id": books["household"]["_id"]})
    moved = f"{A}102002"
    households.update_household(
        db, ADMIN_ACTOR, household["_id"], household["version"], {"village_code": moved}
    )
    # Only February's figures are recomputed: January's shares still carry the former township.
    partitions.mark_dirty(db, [(A, "2024-02")])
    ledger_rebuilds.rebuild(db, [A])
    after = assert_fresh(db, cache)
    townships = {row["township_code"] for row in after["townships"]["items"]}
    assert f"{A}102" in townships


# Never a stale entry -------------------------------------------------------------------------------------


def test_a_result_computed_while_a_partition_is_dirty_is_not_kept(db, books, cache):
    partitions.mark_dirty(db, [(A, "2024-02")])
    assert_fresh(db, cache)
    assert cache.refused > 0
    # Only the clean months are kept: nothing that covers February.
    assert len(cache) == 10
    assert {key[3].from_month for key in cache.kept_keys()} == {"2024-01", "2024-03"}


def test_an_ingest_during_the_computation_never_leaves_a_stale_entry(db, books, cache, monkeypatch):
    computing = report_context.ReportContext._aggregate
    done = []

    def ingest_midway(self, collection, pipeline):
        rows = computing(self, collection, pipeline)
        if not done:
            done.append(True)
            ingest([sale("jd", "T1", 3_000, FEB)], db)
        return rows

    monkeypatch.setattr(report_context.ReportContext, "_aggregate", ingest_midway)
    dashboard(db, cache)
    monkeypatch.undo()
    assert cache.refused > 0
    assert assert_fresh(db, cache)["summary"]["sales_fen"] == 143_000


def test_threads_hammering_the_dashboard_and_ingests_end_fresh(db, books, cache):
    errors: list[BaseException] = []

    def readers():
        try:
            for _ in range(6):
                dashboard(db, cache)
        except BaseException as error:
            errors.append(error)

    def writer():
        try:
            for number in range(6):
                ingest([sale("counter", "T1", 1_000 + number, JAN if number % 2 else FEB)], db)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=readers) for _ in range(3)] + [threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ledger_rebuilds.rebuild(db, [A])
    assert assert_fresh(db, cache)["summary"]["sales_fen"] == 140_000 + sum(1_000 + n for n in range(6))


# The stamp and the bounds -------------------------------------------------------------------------------


def test_a_month_without_a_marker_is_in_the_stamp_as_absent(db, books):
    stamp = report_cache.read_stamp(db, [A], ["2024-01", "2024-03"])
    states = dict(stamp.states)
    assert states[partitions.partition_id(A, "2024-03")] == report_cache.ABSENT
    assert states[partitions.partition_id(A, "2024-01")] != report_cache.ABSENT
    assert stamp.clean


def test_the_cache_drops_the_least_recently_used_past_its_limits():
    cache = report_cache.ReportCache(max_entries=2, max_rows=5)
    cache.put(("a",), [1, 2])
    cache.put(("b",), [1])
    cache.get(("a",))
    cache.put(("c",), [1])
    assert cache.get(("b",)) == (False, None)
    assert cache.get(("a",))[0] and cache.get(("c",))[0]
    cache.put(("d",), [1, 2, 3, 4])
    assert cache.get(("a",)) == (False, None)
    assert len(cache) == 2
    cache.put(("e",), list(range(6)))
    assert cache.get(("e",)) == (False, None)


def test_the_pages_and_the_api_read_through_the_apps_cache(app, db):
    with app.app_context():
        assert report_cache.for_app(app) is report_cache.for_app(app)
        assert report_context.for_app(db, app).cache is report_cache.for_app(app)
    assert county_pages.report_context is reports_api.report_context is report_context
