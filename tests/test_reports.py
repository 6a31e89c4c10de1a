"""County reports and a household's income, over a small ledger built through ``ledger.ingest``.

The ledger (2024-01 and 2024-02):

- county 340722: operator P (products T1 certified 15%, T2 certified 10%, U1 never certified) linked to
  households H1 (weight 2) and H2 (weight 1); operator Q (Q1 certified 20%) linked to nobody; one line
  matched to no product; a refund in February.
- county 341822: operator S (S1 certified 10%) linked to H4 of its county and to H1 of 340722.
"""

from __future__ import annotations

import io
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from bson import ObjectId

from adapters.base import SaleLine
from service import (
    attribution,
    ledger,
    partitions,
    report_context,
    report_figures,
    report_pipelines,
    report_scope,
    reports,
    storage,
    vocabulary,
)
from service.access import COUNTY_STAFF, Principal
from service.clock import today_local, utcnow
from service.ingest_scope import IngestScope

A, B = "340722", "341822"
JAN = datetime(2024, 1, 15, 2, 0, tzinfo=UTC)
FEB = datetime(2024, 2, 10, 2, 0, tzinfo=UTC)
SINCE = datetime(2023, 1, 1, tzinfo=UTC)
PERIOD = "from=2024-01&to=2024-02"

# (channel, sku) → (operator, benefit rate in bp, certified at the time of the sales, category)
CATALOGUE = {
    ("jd", "T1"): ("P", 1500, True, "tea"),
    ("p832", "T2"): ("P", 1000, True, "fruit"),
    ("jd", "U1"): ("P", 1000, False, "tea"),
    ("counter", "Q1"): ("Q", 2000, True, "grain_oil"),
    ("jd", "S1"): ("S", 1000, True, "vegetables"),
}


def sale(external_id, channel, sku, amount_fen, quantity, when, **fields) -> SaleLine:
    return SaleLine(
        channel=channel,
        external_id=external_id,
        occurred_at=when,
        quantity=quantity,
        amount_fen=amount_fen,
        sku=sku,
        **fields,
    )


LINES = {
    A: [
        sale("A-1", "jd", "T1", 100_000, 2, JAN),
        sale("A-2", "p832", "T2", 50_000, 5, JAN),
        sale("A-3", "jd", "U1", 30_000, 3, JAN),
        sale("A-4", "jd", "NOPE", 7_000, 1, JAN, title="不认识的商品"),
        sale("A-5", "counter", "Q1", 20_000, 4, JAN),
        sale("B-1", "jd", "T1", 40_000, 1, FEB),
        sale("B-2", "jd", "T1", -10_000, -1, FEB, refund_of="A-1"),
        sale("B-3", "p832", "T2", 20_000, 2, FEB),
    ],
    B: [sale("S-1", "jd", "S1", 60_000, 6, JAN)],
}


@pytest.fixture
def books(factory, db):
    """The ledger described in the module docstring, ingested."""

    def product(operator, channel, sku, rate, category, certified=True, **fields):
        made = factory.product(
            operator["_id"],
            status="certified" if certified else "draft",
            certified_at=SINCE,
            valid_days=3650,
            benefit_rate_bp=rate,
            category=category,
            channel_skus=[{"channel": channel, "sku": sku}],
            **fields,
        )
        return factory.certified_since(made, SINCE, rate)

    p = factory.operator(A, name="枞阳茶叶合作社")
    q = factory.operator(A, name="无人带贫公司")
    s = factory.operator(B, name="邻县蔬菜合作社")
    products = {
        "T1": product(p, "jd", "T1", 1500, "tea", name="枞阳黄花茶"),
        "T2": product(p, "p832", "T2", 1000, "fruit", name="枞阳葡萄"),
        "U1": product(p, "jd", "U1", 1000, "tea", certified=False, name="=cmd()"),
        "Q1": product(q, "counter", "Q1", 2000, "grain_oil", name="大米"),
        "S1": product(s, "jd", "S1", 1000, "vegetables", name="青菜"),
    }
    h1 = factory.household(A, village_code=f"{A}101001", head_name="张三", members=4)
    h2 = factory.household(A, village_code=f"{A}102001", head_name="李四", members=2)
    h4 = factory.household(B, village_code=f"{B}100001", head_name="王五", members=5)
    factory.benefit_link(p, h1, weight=2, mechanism="purchase")
    factory.benefit_link(p, h2, weight=1, mechanism="employment")
    factory.benefit_link(s, h4, weight=1)
    factory.benefit_link(s, h1, weight=1, mechanism="land_equity")
    for county, lines in LINES.items():
        result = ledger.ingest(db, lines, IngestScope(county))
        assert result.rejected == 0, result.errors
    return {
        "operators": {"P": p, "Q": q, "S": s},
        "products": products,
        "households": {"H1": h1, "H2": h2, "H4": h4},
    }


def report(caller, name, query=PERIOD, status=200):
    response = caller.get(f"/api/v1/reports/{name}?{query}")
    assert response.status_code == status, response.json
    return response.json


def by(rows, key):
    return {row[key]: row for row in rows}


# Recomputing from the fixture's lines ----------------------------------------------------------------


def recompute(lines):
    """Sales figures straight from the SaleLine values and the catalogue table above."""
    totals = defaultdict(int)
    channels = defaultdict(lambda: defaultdict(int))
    months = defaultdict(lambda: defaultdict(int))
    for line in lines:
        entry = CATALOGUE.get((line.channel, line.sku))
        income = attribution.poor_income_fen(line.amount_fen, entry[1], entry[2]) if entry else 0
        kind = "unmatched" if entry is None else ("certified" if entry[2] else "uncertified")
        month = f"{line.occurred_at:%Y-%m}"
        for bucket in (totals, channels[line.channel], months[(month, line.channel)]):
            bucket["sales_fen"] += line.amount_fen
            bucket[f"{kind}_sales_fen"] += line.amount_fen
            bucket["poor_income_fen"] += income
            bucket["lines"] += 1
    return totals, channels, months


@pytest.mark.parametrize("county", [A, B])
def test_the_summary_equals_the_figures_recomputed_from_the_sales_lines(books, login, county):
    totals, channels, _ = recompute(LINES[county])
    body = report(login("county_staff", county_codes=[county]), "summary")
    for name in ("sales_fen", "certified_sales_fen", "uncertified_sales_fen", "unmatched_sales_fen"):
        assert body[name] == totals[name], name
    assert body["poor_income_fen"] == totals["poor_income_fen"]
    assert {
        row["channel"]: (row["sales_fen"], row["poor_income_fen"], row["lines"]) for row in body["by_channel"]
    } == {
        channel: (figures["sales_fen"], figures["poor_income_fen"], figures["lines"])
        for channel, figures in channels.items()
    }


def test_the_monthly_rows_equal_the_figures_recomputed_from_the_sales_lines(books, login):
    _, _, months = recompute(LINES[A])
    body = report(login("county_staff", county_codes=[A]), "monthly")
    assert [(row["month"], row["channel"]) for row in body["items"]] == sorted(months)
    for row in body["items"]:
        expected = months[(row["month"], row["channel"])]
        assert (row["sales_fen"], row["certified_sales_fen"], row["poor_income_fen"]) == (
            expected["sales_fen"],
            expected["certified_sales_fen"],
            expected["poor_income_fen"],
        )


# The figures, exactly ---------------------------------------------------------------------------------


def test_the_summary_of_a_county(books, login):
    body = report(login("county_staff", county_codes=[A]), "summary")
    assert body["county_codes"] == [A] and (body["from"], body["to"]) == ("2024-01", "2024-02")
    assert (body["sales_fen"], body["certified_sales_fen"]) == (257_000, 220_000)
    assert (body["uncertified_sales_fen"], body["unmatched_sales_fen"]) == (30_000, 7_000)
    assert (body["poor_income_fen"], body["allocated_fen"], body["unallocated_fen"]) == (
        30_500,
        26_500,
        4_000,
    )
    assert (body["households_benefited"], body["people_benefited"]) == (2, 6)
    assert (body["operators_selling"], body["products_selling"]) == (2, 4)
    assert body["stale_partitions"] == []
    jd = by(body["by_channel"], "channel")["jd"]
    assert jd == {
        "channel": "jd",
        "channel_label": "京东",
        "sales_fen": 167_000,
        "certified_sales_fen": 130_000,
        "uncertified_sales_fen": 30_000,
        "unmatched_sales_fen": 7_000,
        "poor_income_fen": 19_500,
        "quantity": 6,
        "lines": 5,
    }


def test_the_summary_invariants_hold(books, login):
    body = report(login("admin"), "summary")
    assert body["poor_income_fen"] == body["allocated_fen"] + body["unallocated_fen"]
    assert body["sales_fen"] == (
        body["certified_sales_fen"] + body["uncertified_sales_fen"] + body["unmatched_sales_fen"]
    )
    assert body["poor_income_fen"] == sum(row["poor_income_fen"] for row in body["by_channel"])
    assert body["sales_fen"] == sum(row["sales_fen"] for row in body["by_channel"])


def test_a_household_benefiting_in_two_counties_counts_once_across_them(books, login):
    body = report(login("admin"), "summary")
    assert (body["households_benefited"], body["people_benefited"]) == (3, 11)
    assert body["allocated_fen"] == 26_500 + 6_000


def test_the_allocated_income_is_exactly_what_the_households_received(books, login):
    caller = login("county_staff", county_codes=[A])
    summary = report(caller, "summary")
    households = report(caller, "households")
    assert households["distribution"]["total_fen"] == summary["allocated_fen"]


def test_products_are_ranked_by_sales_with_names_from_the_catalogue(books, login):
    body = report(login("county_staff", county_codes=[A]), "products")
    assert [row["product_name"] for row in body["items"]] == ["枞阳黄花茶", "枞阳葡萄", "=cmd()", "大米"]
    first = body["items"][0]
    assert first["rank"] == 1 and first["operator_name"] == "枞阳茶叶合作社"
    assert (first["sales_fen"], first["certified_sales_fen"], first["poor_income_fen"]) == (
        130_000,
        130_000,
        19_500,
    )
    assert first["quantity"] == 2 and first["category_label"] == "茶叶"
    assert body["items"][2]["certified_sales_fen"] == 0


def test_the_ranking_limit_cuts_the_list(books, login):
    body = report(login("county_staff", county_codes=[A]), "products", f"{PERIOD}&limit=2")
    assert [row["rank"] for row in body["items"]] == [1, 2] and body["limit"] == 2


def test_a_ranking_limit_above_200_is_refused(login):
    response = login("admin").get("/api/v1/reports/operators?limit=201")
    assert response.status_code == 422 and "limit" in response.json["error"]["details"]


def test_operators_are_ranked_by_sales(books, login):
    body = report(login("county_staff", county_codes=[A]), "operators")
    rows = [
        (row["operator_name"], row["sales_fen"], row["poor_income_fen"], row["quantity"])
        for row in body["items"]
    ]
    assert rows == [("枞阳茶叶合作社", 230_000, 26_500, 12), ("无人带贫公司", 20_000, 4_000, 4)]


def test_sales_by_category_keep_unmatched_sales_as_their_own_last_row(books, login):
    body = report(login("county_staff", county_codes=[A]), "categories")
    rows = [
        (row["category"], row["category_label"], row["sales_fen"], row["products"]) for row in body["items"]
    ]
    assert rows == [
        ("tea", "茶叶", 160_000, 2),
        ("fruit", "水果", 70_000, 1),
        ("grain_oil", "粮油", 20_000, 1),
        ("unmatched", "未匹配到产品", 7_000, 0),
    ]


def test_household_income_by_township(books, login):
    body = report(login("county_staff", county_codes=[A]), "townships")
    assert [{k: v for k, v in row.items() if k != "township_name"} for row in body["items"]] == [
        {"township_code": f"{A}101", "income_fen": 17_666, "households": 1, "people": 4},
        {"township_code": f"{A}102", "income_fen": 8_834, "households": 1, "people": 2},
    ]
    # No place register in this county yet: the codes carry no name.
    assert [row["township_name"] for row in body["items"]] == [None, None]


def test_households_are_listed_by_income_with_the_distribution(books, login):
    body = report(login("county_staff", county_codes=[A]), "households")
    assert [(row["household_no"], row["head_name"], row["income_fen"]) for row in body["items"]] == [
        (books["households"]["H1"]["household_no"], "张三", 17_666),
        (books["households"]["H2"]["household_no"], "李四", 8_834),
    ]
    distribution = body["distribution"]
    assert (distribution["count"], distribution["median_fen"], distribution["p90_fen"]) == (2, 8_834, 17_666)
    counts = {bucket["label"]: bucket["households"] for bucket in distribution["buckets"]}
    assert counts["0–100元"] == 1 and counts["100–500元"] == 1
    assert sum(counts.values()) == 2


def test_the_households_list_pages_without_changing_the_distribution(books, login):
    body = report(login("county_staff", county_codes=[A]), "households", f"{PERIOD}&per_page=1&page=2")
    assert [row["income_fen"] for row in body["items"]] == [8_834]
    assert body["total"] == 2 and body["distribution"]["count"] == 2


def test_the_households_list_can_be_narrowed_to_a_township(books, login):
    body = report(login("county_staff", county_codes=[A]), "households", f"{PERIOD}&township_code={A}102")
    assert [row["head_name"] for row in body["items"]] == ["李四"]


def test_unallocated_pools_are_listed_as_a_data_problem(books, login):
    body = report(login("county_staff", county_codes=[A]), "unallocated")
    assert body["unallocated_fen"] == 4_000
    assert [
        (row["month"], row["operator_name"], row["pool_fen"], row["unallocated_fen"]) for row in body["items"]
    ] == [("2024-01", "无人带贫公司", 4_000, 4_000)]


def test_the_period_defaults_to_the_current_year_so_far(books, login):
    body = report(login("county_staff", county_codes=[A]), "summary", "")
    today = today_local()
    assert (body["from"], body["to"]) == (f"{today.year}-01", f"{today:%Y-%m}")
    assert body["sales_fen"] == 0


def test_one_month_alone_can_be_asked_for(books, login):
    body = report(login("county_staff", county_codes=[A]), "summary", "from=2024-02&to=2024-02")
    assert (body["sales_fen"], body["poor_income_fen"]) == (50_000, 6_500)


def test_a_period_ending_before_it_starts_is_refused_naming_the_field(login):
    response = login("admin").get("/api/v1/reports/summary?from=2024-03&to=2024-01")
    assert response.status_code == 422 and "to" in response.json["error"]["details"]


def test_a_malformed_month_is_refused_naming_the_field(login):
    response = login("admin").get("/api/v1/reports/summary?from=2024-13")
    assert response.status_code == 422 and "from" in response.json["error"]["details"]


def test_partitions_being_recomputed_are_listed_as_stale(books, login, db):
    partitions.mark_dirty(db, [(A, "2024-02"), (B, "2024-01"), (A, "2023-12")])
    body = report(login("county_staff", county_codes=[A]), "summary")
    assert body["stale_partitions"] == [{"county_code": A, "month": "2024-02"}]


# Scope ------------------------------------------------------------------------------------------------

ALL_REPORTS = (
    "summary",
    "monthly",
    "products",
    "operators",
    "categories",
    "townships",
    "households",
    "certification",
    "unallocated",
)


def test_county_staff_cannot_read_another_county(books, login):
    response = login("county_staff", county_codes=[A]).get(
        f"/api/v1/reports/summary?county_code={B}&{PERIOD}"
    )
    assert response.status_code == 403


def test_county_staff_see_only_their_counties_by_default(books, login):
    assert report(login("county_staff", county_codes=[B]), "summary")["sales_fen"] == 60_000
    both = report(login("county_staff", county_codes=[A, B]), "summary")
    assert both["sales_fen"] == 257_000 + 60_000 and both["county_codes"] == [A, B]


def test_staff_may_narrow_to_one_operator(books, login):
    q = books["operators"]["Q"]["_id"]
    body = report(login("county_staff", county_codes=[A]), "summary", f"{PERIOD}&operator_id={q}")
    assert (body["sales_fen"], body["unallocated_fen"], body["households_benefited"]) == (20_000, 4_000, 0)


def test_an_admin_may_pick_any_county(books, login):
    assert report(login("admin"), "summary", f"{PERIOD}&county_code={B}")["poor_income_fen"] == 6_000


def test_an_enterprise_sees_only_its_own_operators_figures(books, login):
    body = report(login("enterprise", operator_id=books["operators"]["P"]["_id"]), "summary")
    assert body["operator_id"] == str(books["operators"]["P"]["_id"])
    assert (body["sales_fen"], body["certified_sales_fen"], body["uncertified_sales_fen"]) == (
        230_000,
        200_000,
        30_000,
    )
    assert (body["unmatched_sales_fen"], body["poor_income_fen"], body["unallocated_fen"]) == (0, 26_500, 0)
    assert (body["operators_selling"], body["households_benefited"]) == (1, 2)


def test_an_enterprise_naming_another_operator_still_sees_only_its_own(books, login):
    caller = login("enterprise", operator_id=books["operators"]["P"]["_id"])
    q = books["operators"]["Q"]["_id"]
    body = report(caller, "summary", f"{PERIOD}&operator_id={q}")
    assert body["operator_id"] == str(books["operators"]["P"]["_id"]) and body["sales_fen"] == 230_000
    assert report(caller, "unallocated", f"{PERIOD}&operator_id={q}")["items"] == []
    ranking = report(caller, "operators", f"{PERIOD}&operator_id={q}")
    assert [row["operator_name"] for row in ranking["items"]] == ["枞阳茶叶合作社"]


def test_an_enterprise_naming_another_county_sees_none_of_its_figures(books, login):
    body = report(
        login("enterprise", operator_id=books["operators"]["P"]["_id"]),
        "summary",
        f"{PERIOD}&county_code={B}",
    )
    assert (body["sales_fen"], body["poor_income_fen"], body["households_benefited"]) == (0, 0, 0)


def test_an_enterprise_sees_masked_names_of_its_households(books, login):
    body = report(login("enterprise", operator_id=books["operators"]["P"]["_id"]), "households")
    assert [row["head_name"] for row in body["items"]] == ["张*", "李*"]
    assert all("id_number" not in key for row in body["items"] for key in row)


@pytest.mark.parametrize("name", ALL_REPORTS)
def test_canteens_may_not_read_the_reports(login, name):
    assert login("canteen").get(f"/api/v1/reports/{name}").status_code == 403


@pytest.mark.parametrize("name", ALL_REPORTS)
def test_the_reports_need_a_login(client, name):
    assert client.get(f"/api/v1/reports/{name}").status_code == 401


# Certification ----------------------------------------------------------------------------------------


def test_certification_counts_products_by_effective_status_and_upcoming_expiry(factory, login):
    operator = factory.operator(A)
    now = utcnow()

    def certified(expires_in_days):
        return factory.product(
            operator["_id"],
            status="certified",
            certified_at=now - timedelta(days=700),
            valid_days=700 + expires_in_days,
        )

    soon, later, latest = certified(20), certified(50), certified(85)
    certified(400)
    certified(-5)  # reads as expired
    factory.product(operator["_id"], status="draft")
    factory.product(operator["_id"], status="revoked", certified_at=now - timedelta(days=10))
    factory.product(
        factory.operator(B)["_id"], status="certified", certified_at=now - timedelta(days=700), valid_days=705
    )
    body = report(login("county_staff", county_codes=[A]), "certification", "")
    statuses = {row["status"]: row["products"] for row in body["by_status"]}
    assert (statuses["certified"], statuses["expired"], statuses["draft"], statuses["revoked"]) == (
        4,
        1,
        1,
        1,
    )
    assert body["total"] == 7
    assert body["expiring"] == {"within_30_days": 1, "within_60_days": 2, "within_90_days": 3}
    assert [(row["product_id"], row["days_left"]) for row in body["expiring_products"]] == [
        (str(soon["_id"]), 20),
        (str(later["_id"]), 50),
        (str(latest["_id"]), 85),
    ]


def test_an_enterprise_counts_only_its_own_products(factory, login):
    mine, other = factory.operator(A), factory.operator(A)
    factory.product(mine["_id"], status="draft")
    factory.product(other["_id"], status="draft")
    body = report(
        login("enterprise", operator_id=mine["_id"]), "certification", f"operator_id={other['_id']}"
    )
    assert body["total"] == 1


# Downloads --------------------------------------------------------------------------------------------


def download(caller, name, query):
    response = caller.get(f"/api/v1/reports/{name}?{query}&format=xlsx")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return response, openpyxl.load_workbook(io.BytesIO(response.data))


def yuan(value) -> Decimal:
    return Decimal(str(value))


def test_the_summary_downloads_as_xlsx_with_chinese_headers(books, login):
    response, workbook = download(
        login("county_staff", county_codes=[A]), "summary", f"county_code={A}&from=2024-01&to=2024-12"
    )
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and "summary-340722-2024-01-2024-12.xlsx" in disposition
    rows = list(workbook["汇总"].iter_rows(values_only=True))
    assert rows[0] == ("指标", "金额（元）", "数量")
    figures = {row[0]: row[1] if row[1] is not None else row[2] for row in rows[1:]}
    assert yuan(figures["销售额"]) == Decimal("2570.00")
    assert yuan(figures["已分配到户"]) == Decimal("265.00")
    assert figures["受益户数"] == 2
    channels = list(workbook["按渠道"].iter_rows(values_only=True))
    assert channels[0][:2] == ("渠道", "销售额（元）")
    assert ("京东", 1670) in {(row[0], row[1]) for row in channels[1:]}


def test_a_formula_in_a_product_name_is_neutralised_in_the_download(books, login):
    _, workbook = download(login("county_staff", county_codes=[A]), "products", PERIOD)
    names = [row[1] for row in workbook.active.iter_rows(min_row=2, values_only=True)]
    assert "'=cmd()" in names and "=cmd()" not in names


def test_the_households_download_holds_every_household_and_the_distribution(books, login):
    response, workbook = download(
        login("county_staff", county_codes=[A]), "households", f"{PERIOD}&per_page=1"
    )
    rows = list(workbook["受益户"].iter_rows(values_only=True))
    assert rows[0] == ("户编号", "户主", "乡镇代码", "家庭人口", "带贫收益（元）")
    assert [(row[0], row[1], yuan(row[4])) for row in rows[1:]] == [
        (books["households"]["H1"]["household_no"], "张三", Decimal("176.66")),
        (books["households"]["H2"]["household_no"], "李四", Decimal("88.34")),
    ]
    assert "收益分布" in workbook.sheetnames
    assert "households-340722-2024-01-2024-02.xlsx" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("name", ALL_REPORTS)
def test_every_report_downloads(books, login, name):
    _, workbook = download(login("admin"), name, PERIOD)
    assert workbook.active.max_row >= 1 and all(cell.value for cell in workbook.active[1])


def test_a_download_keeps_the_enterprise_scope(books, login):
    caller = login("enterprise", operator_id=books["operators"]["P"]["_id"])
    _, workbook = download(caller, "households", PERIOD)
    assert [row[1] for row in workbook.active.iter_rows(min_row=2, values_only=True)] == ["张*", "李*"]


# A household's income, explained ---------------------------------------------------------------------


def income(caller, household, query=PERIOD, status=200):
    response = caller.get(f"/api/v1/households/{household['_id']}/income?{query}")
    assert response.status_code == status, response.json
    return response.json


def test_a_households_income_is_explained_month_by_month_and_operator_by_operator(books, login):
    h1 = books["households"]["H1"]
    body = income(login("county_staff", county_codes=[A]), h1)
    assert body["total_fen"] == 13_333 + 3_000 + 4_333
    rows = {(row["month"], row["operator_name"]): row for row in body["items"]}
    assert set(rows) == {
        ("2024-01", "枞阳茶叶合作社"),
        ("2024-01", "邻县蔬菜合作社"),
        ("2024-02", "枞阳茶叶合作社"),
    }
    january = rows[("2024-01", "枞阳茶叶合作社")]
    assert (january["pool_fen"], january["weighted"], january["total_weighted"], january["share_fen"]) == (
        20_000,
        2 * 31,
        2 * 31 + 31,
        13_333,
    )
    assert [
        (link["mechanism"], link["mechanism_label"], link["weight"], link["active_days"])
        for link in january["links"]
    ] == [("purchase", "保底价或优惠价回收", 2, 31)]
    assert {
        (s["product_name"], s["channel_label"], s["sales_fen"], s["poor_income_fen"])
        for s in january["sources"]
    } == {
        ("枞阳黄花茶", "京东", 100_000, 15_000),
        ("枞阳葡萄", "832平台", 50_000, 5_000),
    }
    assert "200.00元" in january["explanation"] and "133.33元" in january["explanation"]
    assert body["by_month"] == [
        {"month": "2024-01", "share_fen": 16_333},
        {"month": "2024-02", "share_fen": 4_333},
    ]
    assert body["labels"]["mechanisms"]["land_equity"] == "土地经营权林权入股或流转"
    assert body["labels"]["channels"]["p832"] == "832平台"


def test_the_explanation_adds_up_to_the_total_and_to_the_stored_household_income(books, login, db):
    h1 = books["households"]["H1"]
    body = income(login("admin"), h1)
    stored = sum(
        row["share_fen"]
        for row in db[storage.HOUSEHOLD_INCOME].find(
            {"household_id": h1["_id"], "month": {"$in": ["2024-01", "2024-02"]}}
        )
    )
    assert sum(row["share_fen"] for row in body["items"]) == body["total_fen"] == stored
    assert sum(row["share_fen"] for row in body["by_month"]) == body["total_fen"]
    for row in body["items"]:
        assert sum(source["poor_income_fen"] for source in row["sources"]) == row["pool_fen"]


def test_an_enterprise_sees_only_the_income_from_its_own_operator(books, login):
    h1 = books["households"]["H1"]
    body = income(login("enterprise", operator_id=books["operators"]["S"]["_id"]), h1)
    assert body["total_fen"] == 3_000
    assert {row["operator_name"] for row in body["items"]} == {"邻县蔬菜合作社"}
    assert body["household"]["head_name"] == "张*"
    assert "id_number_masked" not in body["household"]


def test_an_enterprise_not_linked_to_the_household_may_not_see_its_income(books, login):
    caller = login("enterprise", operator_id=books["operators"]["Q"]["_id"])
    income(caller, books["households"]["H1"], status=403)


def test_staff_of_another_county_may_not_see_a_households_income(books, login):
    income(login("county_staff", county_codes=[B]), books["households"]["H1"], status=403)


def test_a_canteen_may_not_see_a_households_income(books, login):
    income(login("canteen"), books["households"]["H1"], status=403)


def test_the_income_of_an_unknown_household_is_404(login):
    response = login("admin").get("/api/v1/households/0123456789abcdef01234567/income")
    assert response.status_code == 404


def test_a_household_with_no_income_in_the_period_has_a_zero_total(books, login):
    body = income(login("admin"), books["households"]["H2"], "from=2023-01&to=2023-12")
    assert (body["total_fen"], body["items"]) == (0, [])
    assert (body["from"], body["to"]) == ("2023-01", "2023-12")


def test_the_income_period_defaults_to_the_current_year(books, login):
    body = income(login("admin"), books["households"]["H2"], "")
    assert body["from"] == f"{today_local().year}-01"


# Shared reads give the figures the reports gave alone ---------------------------------------------------

# The pipelines each report ran for itself before the reports of a request shared their reads: the
# reference the shared, added-up figures must equal to the fen.
_SUMS = {
    "sales_fen": {"$sum": "$sales_fen"},
    "certified_sales_fen": {"$sum": {"$cond": ["$certified", "$sales_fen", 0]}},
    "uncertified_sales_fen": {"$sum": {"$cond": ["$certified", 0, {"$cond": ["$matched", "$sales_fen", 0]}]}},
    "unmatched_sales_fen": {"$sum": {"$cond": ["$matched", 0, "$sales_fen"]}},
    "poor_income_fen": {"$sum": "$poor_income_fen"},
    "quantity": {"$sum": "$quantity"},
    "lines": {"$sum": "$lines"},
}


def _reference_by_channel(scope):
    return [
        {"$match": report_pipelines.scope_match(scope)},
        {"$group": {"_id": "$channel", **_SUMS}},
        {"$sort": {"_id": 1}},
    ]


def _reference_sellers(scope, key):
    return [
        {"$match": {**report_pipelines.scope_match(scope), "matched": True}},
        {"$group": {"_id": f"${key}", "sales_fen": {"$sum": "$sales_fen"}}},
        {"$match": {"sales_fen": {"$gt": 0}}},
        {"$group": {"_id": None, "count": {"$sum": 1}}},
    ]


def _reference_ranking(scope, key, limit):
    return [
        {"$match": {**report_pipelines.scope_match(scope), "matched": True}},
        {"$group": {"_id": f"${key}", **_SUMS}},
        {"$sort": {"sales_fen": -1, "_id": 1}},
        {"$limit": limit},
    ]


def _reference_product_sales(scope):
    return [{"$match": report_pipelines.scope_match(scope)}, {"$group": {"_id": "$product_id", **_SUMS}}]


def _reference_household_totals(scope):
    return [
        {"$match": report_pipelines.scope_match(scope)},
        {"$sort": {"month": 1, "_id": 1}},
        {
            "$group": {
                "_id": "$household_id",
                "income_fen": {"$sum": "$share_fen"},
                "household_no": {"$last": "$household_no"},
                "household_county_code": {"$last": "$household_county_code"},
                "township_code": {"$last": "$township_code"},
                "members": {"$last": "$members"},
            }
        },
        {"$match": {"income_fen": {"$ne": 0}}},
    ]


def _reference_townships(scope):
    return [
        *_reference_household_totals(scope),
        {
            "$group": {
                "_id": "$township_code",
                "income_fen": {"$sum": "$income_fen"},
                "households": {"$sum": 1},
                "people": {"$sum": "$members"},
            }
        },
        {"$sort": {"_id": 1}},
    ]


MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04")
CHANNELS = ("jd", "taobao", "counter", "p832", "canteen")


def _random_derived_rows(db, rng):
    """sales_monthly and household_income rows of two counties as a rebuild writes them, with refunds,
    zero sums, unmatched sales, households moving township and sharing in both counties."""
    operators = [ObjectId() for _ in range(12)]
    products = [(rng.choice(operators), ObjectId()) for _ in range(40)]
    monthly = []
    for _ in range(400):
        matched = rng.random() > 0.1
        operator_id, product_id = rng.choice(products) if matched else (None, None)
        monthly.append(
            {
                "county_code": rng.choice((A, B)),
                "month": rng.choice(MONTHS),
                "channel": rng.choice(CHANNELS),
                "operator_id": operator_id,
                "product_id": product_id,
                "certified": matched and rng.random() > 0.3,
                "matched": matched,
                "buyer_unit_id": None,
                # Ties on purpose: rankings break them by id.
                "sales_fen": rng.choice((-500, 0, 700, 700, 1_200)) * rng.randint(1, 3),
                "quantity": rng.randint(-1, 5),
                "poor_income_fen": rng.randint(-50, 300),
                "lines": rng.randint(1, 9),
            }
        )
    incomes = []
    for number in range(150):
        household_id = ObjectId()
        for month in rng.sample(MONTHS, rng.randint(1, 4)):
            for county in rng.sample((A, B), rng.randint(1, 2)):
                income = {
                    "county_code": county,
                    "month": month,
                    "operator_id": rng.choice(operators),
                    "household_id": household_id,
                    "household_no": f"H{number:04d}",
                    "household_county_code": A,
                    "township_code": rng.choice((f"{A}101", f"{A}102", f"{A}103", None)),
                    "share_fen": rng.choice((0, 0, -20, 150, 3_000, 12_345)),
                    "links": [{"weight": 1, "active_days": 30}],
                }
                if rng.random() > 0.1:
                    income["members"] = rng.randint(1, 6)
                incomes.append(income)
    db[storage.SALES_MONTHLY].insert_many(monthly)
    db[storage.HOUSEHOLD_INCOME].insert_many(incomes)


def _reference_reports(db, scope, limit):
    """The figures of the reports as each computed them alone, through the pipelines above."""

    def run(collection, pipeline):
        return list(storage.aggregate(db[collection], pipeline))

    def count(key):
        found = run(storage.SALES_MONTHLY, _reference_sellers(scope, key))
        return found[0]["count"] if found else 0

    totals = run(storage.HOUSEHOLD_INCOME, _reference_household_totals(scope))
    totals.sort(key=lambda row: (-row["income_fen"], row["household_no"]))
    categories = defaultdict(int)
    for row in run(storage.SALES_MONTHLY, _reference_product_sales(scope)):
        categories[row["_id"] is None] += row["sales_fen"]
    return {
        "by_channel": [
            (row["_id"], *(row[name] for name in report_figures.SUMMED))
            for row in run(storage.SALES_MONTHLY, _reference_by_channel(scope))
        ],
        "operators_selling": count("operator_id"),
        "products_selling": count("product_id"),
        "households_benefited": len(totals),
        "people_benefited": sum(row.get("members") or 0 for row in totals),
        "products": [
            (row["_id"], row["sales_fen"], row["quantity"])
            for row in run(storage.SALES_MONTHLY, _reference_ranking(scope, "product_id", limit))
        ],
        "operators": [
            (row["_id"], row["sales_fen"], row["lines"])
            for row in run(storage.SALES_MONTHLY, _reference_ranking(scope, "operator_id", limit))
        ],
        "unmatched_sales_fen": categories[True],
        "matched_sales_fen": categories[False],
        "townships": [
            (row["_id"], row["income_fen"], row["households"], row["people"])
            for row in run(storage.HOUSEHOLD_INCOME, _reference_townships(scope))
        ],
        "households": [
            (row["_id"], row["income_fen"], row["township_code"], row.get("members")) for row in totals
        ],
    }


def _shared_reports(db, actor, scope, limit, context):
    args = {"from_month": scope.from_month, "to_month": scope.to_month, "context": context}
    if scope.county_codes and len(scope.county_codes) == 1:
        args["county_code"] = scope.county_codes[0]
    summary = reports.summary(db, actor, **args)
    categories = reports.category_sales(db, actor, **args)["items"]
    households = reports.household_list(db, actor, per_page=None, **args)
    return {
        "by_channel": [
            (row["channel"], *(row[name] for name in report_figures.SUMMED)) for row in summary["by_channel"]
        ],
        **{
            name: summary[name]
            for name in ("operators_selling", "products_selling", "households_benefited", "people_benefited")
        },
        "products": [
            (row["product_id"], row["sales_fen"], row["quantity"])
            for row in reports.product_ranking(db, actor, limit=limit, **args)["items"]
        ],
        "operators": [
            (row["operator_id"], row["sales_fen"], row["lines"])
            for row in reports.operator_ranking(db, actor, limit=limit, **args)["items"]
        ],
        "unmatched_sales_fen": sum(
            row["sales_fen"] for row in categories if row["category"] == vocabulary.UNMATCHED
        ),
        "matched_sales_fen": sum(
            row["sales_fen"] for row in categories if row["category"] != vocabulary.UNMATCHED
        ),
        "townships": [
            (row["township_code"], row["income_fen"], row["households"], row["people"])
            for row in reports.township_income(db, actor, **args)["items"]
        ],
        "households": [
            (row["household_id"], row["income_fen"], row["township_code"], row["members"])
            for row in households["items"]
        ],
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("counties", [(A,), (A, B)])
def test_reports_sharing_their_reads_give_the_figures_each_report_computed_alone(db, seed, counties):
    _random_derived_rows(db, random.Random(seed))
    staff = Principal(None, "staff", COUNTY_STAFF, county_codes=(A, B))
    scope = report_scope.ReportScope(counties, None, "2024-02", "2024-04")
    expected = _reference_reports(db, scope, limit=7)
    assert expected["households_benefited"] > 20 and len(expected["products"]) == 7
    # Once with one context for all the reports (the dashboard), once each with its own.
    assert _shared_reports(db, staff, scope, 7, report_context.ReportContext(db)) == expected
    assert _shared_reports(db, staff, scope, 7, None) == expected


def test_a_context_reads_each_grouping_once_for_all_the_reports_of_a_request(db, monkeypatch):
    _random_derived_rows(db, random.Random(4))
    staff = Principal(None, "staff", COUNTY_STAFF, county_codes=(A, B))
    aggregated = []
    real_aggregate = storage.aggregate
    monkeypatch.setattr(
        storage,
        "aggregate",
        lambda collection, pipeline: (
            aggregated.append(collection.name) or real_aggregate(collection, pipeline)
        ),
    )
    context = report_context.ReportContext(db)
    args = {"county_code": A, "from_month": "2024-01", "to_month": "2024-04", "context": context}
    for run in (reports.summary, reports.monthly, reports.product_ranking, reports.operator_ranking,
                reports.category_sales, reports.township_income, reports.household_list):  # fmt: skip
        run(db, staff, **args)
    # household_income twice: by household, and by household and month for the split by category.
    assert sorted(aggregated) == sorted(
        [storage.HOUSEHOLD_INCOME] * 2
        + [storage.SALES_MONTHLY, storage.SALES_MONTHLY, storage.OPERATOR_POOLS]
    )
