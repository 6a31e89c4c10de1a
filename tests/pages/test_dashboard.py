"""The county dashboard (首页): every figure equals the JSON API's report for the same arguments.

The ledger (2024-01 to 2024-03), ingested through ``ledger.ingest`` and the canteen purchase log:

- county 340722: operator P (T1 certified 15% on jd, T2 certified 10% on p832) linked to households
  H1 (weight 2) and H2 (weight 1, another township); operator Q (Q1 certified 20%) linked to nobody,
  so its income is unallocated; one line matched to no product; a product of P expiring in 30 days;
  a canteen with a 2024 plan that bought T2 on the 832 platform (from 2021 only that counts).
- county 341822: operator S (S1 certified 10%) linked to H4 of its county.
"""

from __future__ import annotations

import html
import io
import json
import re
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from adapters.base import SaleLine
from service import ledger, partitions
from service.clock import utcnow
from service.ingest_scope import IngestScope
from service.web.formatting import local_date, percent_bp, yuan

A, B = "340722", "341822"
JAN = datetime(2024, 1, 15, 2, 0, tzinfo=UTC)
FEB = datetime(2024, 2, 10, 2, 0, tzinfo=UTC)
SINCE = datetime(2023, 1, 1, tzinfo=UTC)
PERIOD = "from=2024-01&to=2024-03"
PAGE = f"/county/?{PERIOD}"
MONEY = ("sales_fen", "certified_sales_fen", "poor_income_fen", "unallocated_fen", "unmatched_sales_fen")
COUNTS = ("households_benefited", "people_benefited")


def sale(external_id, channel, sku, amount_fen, when, **fields) -> SaleLine:
    return SaleLine(
        channel=channel,
        external_id=external_id,
        occurred_at=when,
        quantity=1,
        amount_fen=amount_fen,
        sku=sku,
        **fields,
    )


@pytest.fixture
def books(factory, db):
    def product(operator, channel, sku, rate, name):
        made = factory.product(
            operator["_id"],
            status="certified",
            certified_at=SINCE,
            valid_days=3650,
            benefit_rate_bp=rate,
            name=name,
            channel_skus=[{"channel": channel, "sku": sku}],
        )
        return factory.certified_since(made, SINCE, rate)

    p = factory.operator(A, name="枞阳茶叶合作社")
    q = factory.operator(A, name="无人带贫公司")
    s = factory.operator(B, name="邻县蔬菜合作社")
    products = {
        "T1": product(p, "jd", "T1", 1500, "枞阳黄花茶"),
        "T2": product(p, "p832", "T2", 1000, "枞阳葡萄"),
        "Q1": product(q, "counter", "Q1", 2000, "大米"),
        "S1": product(s, "jd", "S1", 1000, "青菜"),
    }
    expiring = factory.product(
        p["_id"],
        status="certified",
        certified_at=utcnow() - timedelta(days=700),
        valid_days=730,
        name="快到期的笋干",
    )
    h1 = factory.household(A, village_code=f"{A}101001", members=4)
    h2 = factory.household(A, village_code=f"{A}102001", members=2)
    h4 = factory.household(B, village_code=f"{B}100001", members=5)
    factory.benefit_link(p, h1, weight=2)
    factory.benefit_link(p, h2, weight=1, mechanism="employment")
    factory.benefit_link(s, h4, weight=1)
    lines = {
        A: [
            sale("A-1", "jd", "T1", 100_000, JAN),
            sale("A-2", "p832", "T2", 50_000, JAN),
            sale("A-3", "jd", "NOPE", 7_000, JAN, title="不认识的商品"),
            sale("A-4", "counter", "Q1", 20_000, FEB),
            sale("A-5", "jd", "T1", 40_000, FEB),
        ],
        B: [sale("S-1", "jd", "S1", 60_000, JAN)],
    }
    for county, county_lines in lines.items():
        result = ledger.ingest(db, county_lines, IngestScope(county))
        assert result.rejected == 0, result.errors
    canteen = factory.canteen(A, name="枞阳县机关食堂", plans=[{"year": 2024, "food_total_fen": 1_000_000}])
    factory.canteen_purchase(canteen, product_id=products["T2"]["_id"], amount_fen=30_000, via_832=True)
    return {
        "operators": {"P": p, "Q": q, "S": s},
        "products": products,
        "expiring": expiring,
        "canteen": canteen,
    }


def api(caller, name, query=PERIOD):
    response = caller.get(f"/api/v1/reports/{name}?{query}")
    assert response.status_code == 200, response.json
    return response.json


def figure(page: str, key: str) -> str:
    found = re.search(rf'data-testid="figure-{key}">.*?<span class="value">([^<]*)</span>', page, re.S)
    assert found, key
    return found.group(1)


def section(page: str, testid: str) -> str:
    """The HTML of the element with this data-testid, up to its section's end."""
    start = page.index(f'data-testid="{testid}"')
    return page[start : page.index("</section>", start)]


def chart_option(page: str, chart_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{chart_id}-option">(.*?)</script>', page, re.S)
    assert found, chart_id
    return json.loads(html.unescape(found.group(1)))


# Figures equal the API ----------------------------------------------------------------------------------


def test_the_figure_cards_equal_the_summary_report(page_login, login, books):
    page = page_login("county_staff", county_codes=[A]).text(PAGE)
    summary = api(login("county_staff", county_codes=[A]), "summary")
    for key in MONEY:
        assert summary[key] > 0, key
        assert figure(page, key) == yuan(summary[key]), key
    for key in COUNTS:
        assert summary[key] > 0, key
        assert figure(page, key) == f"{summary[key]:,}", key
    assert 'data-testid="stale-warning"' not in page


def test_the_sections_equal_their_reports(page_login, login, books):
    page = page_login("county_staff", county_codes=[A]).text(PAGE)
    caller = login("county_staff", county_codes=[A])

    channels = section(page, "channel-table")
    for row in api(caller, "summary")["by_channel"]:
        assert f"<td>{row['channel_label']}</td>" in channels
        assert yuan(row["sales_fen"]) in channels

    products = section(page, "product-ranking")
    ranked = api(caller, "products", f"{PERIOD}&limit=10")["items"]
    assert [row["product_name"] for row in ranked] == re.findall(
        r'<a href="/products/\w+">([^<]+)</a>', products
    )
    for row in ranked:
        assert f'href="/products/{row["product_id"]}"' in products
        assert yuan(row["sales_fen"]) in products

    operators = section(page, "operator-ranking")
    for row in api(caller, "operators", f"{PERIOD}&limit=10")["items"]:
        assert f'href="/operators/{row["operator_id"]}">{row["operator_name"]}</a>' in operators
        assert yuan(row["sales_fen"]) in operators

    townships = section(page, "township-table")
    township_rows = api(caller, "townships")["items"]
    assert len(township_rows) == 2
    for row in township_rows:
        assert f"<td>{row['township_code']}</td>" in townships
        assert yuan(row["income_fen"]) in townships

    distribution = api(caller, "households")["distribution"]
    assert f'data-testid="income-median">{yuan(distribution["median_fen"])} 元' in page
    assert f'data-testid="income-p90">{yuan(distribution["p90_fen"])} 元' in page
    assert f'data-testid="income-count">{distribution["count"]} 户' in page


def test_the_monthly_table_and_trend_chart_equal_the_monthly_report(page_login, login, books):
    page = page_login("county_staff", county_codes=[A]).text(PAGE)
    items = api(login("county_staff", county_codes=[A]), "monthly")["items"]
    table = section(page, "trend-table")
    for month in ("2024-01", "2024-02", "2024-03"):
        month_total = sum(row["sales_fen"] for row in items if row["month"] == month)
        row_html = table[table.index(f'<td class="month">{month}</td>') :].split("</tr>")[0]
        assert yuan(month_total) in row_html

    option = chart_option(page, "chart-trend")
    assert option["xAxis"]["data"] == ["2024-01", "2024-02", "2024-03"]
    series = {entry["name"]: entry["data"] for entry in option["series"]}
    for row in items:
        month_index = option["xAxis"]["data"].index(row["month"])
        assert series[row["channel_label"]][month_index] == yuan(row["sales_fen"]).replace(",", "")
    for chart_id in ("chart-channels", "chart-townships", "chart-income-histogram"):
        assert chart_option(page, chart_id)["series"]


def test_the_canteen_progress_equals_the_canteen_report(page_login, login, books):
    page = page_login("county_staff", county_codes=[A]).text(PAGE)
    report = login("county_staff", county_codes=[A]).get(
        f"/api/v1/reports/canteens?county_code={A}&year=2024"
    )
    quota = report.json["items"][0]
    assert quota["qualifying_fen"] == 30_000 and quota["target_fen"] == 100_000
    row = section(page, f"quota-{books['canteen']['_id']}")
    done, target, progress = yuan(quota["qualifying_fen"]), yuan(quota["target_fen"]), quota["progress_bp"]
    assert f"{done} / {target} 元（{percent_bp(progress)}）" in row
    assert 'class="bar" style="width: 30.00%"' in row and 'class="target"' in row


def test_products_expiring_soon_are_listed_with_their_end_date(page_login, books):
    page = page_login("county_staff", county_codes=[A]).text(PAGE)
    expiring = section(page, "expiring-products")
    product = books["expiring"]
    assert f'href="/products/{product["_id"]}">快到期的笋干</a>' in expiring
    assert local_date(product["valid_until"]) in expiring
    assert "枞阳黄花茶" not in expiring


def test_partitions_being_recomputed_show_a_warning(page_login, books, db):
    partitions.mark_dirty(db, [(A, "2024-02")])
    page = page_login("county_staff", county_codes=[A]).text(PAGE)
    assert "340722 2024-02" in section(page, "stale-warning").split("</div>")[0]


def test_a_bad_month_is_reported_and_the_default_period_used(page_login, books):
    page = page_login("county_staff", county_codes=[A]).text("/county/?from=2024-13")
    errors = page[page.index('data-testid="period-errors"') :].split("</div>")[0]
    assert "起始月份：" in errors


# Who sees what ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_enterprises_and_canteens_get_the_403_page(page_login, role):
    response = page_login(role).get("/county/")
    assert response.status_code == 403
    assert 'data-testid="error-page"' in response.get_data(as_text=True)


def test_staff_of_another_county_cannot_name_this_one(page_login, books):
    browser = page_login("county_staff", county_codes=[B])
    response = browser.get(f"{PAGE}&county_code={A}")
    assert response.status_code == 403
    assert "不在您的管辖范围内" in response.get_data(as_text=True)
    own = browser.text(PAGE)
    assert "枞阳黄花茶" not in own and "青菜" in own


def test_admin_sees_every_county_or_the_one_named(page_login, login, books):
    browser = page_login("admin")
    admin = login("admin")
    everything = browser.text(PAGE)
    assert figure(everything, "sales_fen") == yuan(api(admin, "summary")["sales_fen"])
    assert "青菜" in everything and "枞阳黄花茶" in everything
    assert 'data-testid="canteens-choose-county"' in everything
    one = browser.text(f"{PAGE}&county_code={B}")
    assert figure(one, "sales_fen") == yuan(api(admin, "summary", f"{PERIOD}&county_code={B}")["sales_fen"])
    assert "枞阳黄花茶" not in one
    assert f"{B} · 2024 年" in section(one, "section-canteens")


def test_staff_of_several_counties_choose_one(page_login, login, books):
    browser = page_login("county_staff", county_codes=[A, B])
    page = browser.text(PAGE)
    assert '<select name="county_code">' in page
    caller = login("county_staff", county_codes=[A, B])
    assert figure(page, "sales_fen") == yuan(api(caller, "summary")["sales_fen"])
    narrowed = browser.text(f"{PAGE}&county_code={B}")
    assert figure(narrowed, "sales_fen") == yuan(
        api(caller, "summary", f"{PERIOD}&county_code={B}")["sales_fen"]
    )


# The download ---------------------------------------------------------------------------------------------


def test_the_workbook_holds_every_section_and_the_summary_values(page_login, login, books):
    browser = page_login("county_staff", county_codes=[A])
    assert 'href="/county/?from=2024-01&amp;to=2024-03&amp;format=xlsx"' in browser.text(PAGE)
    response = browser.get(f"{PAGE}&format=xlsx")
    assert response.status_code == 200
    assert "dashboard-340722-2024-01-2024-03.xlsx" in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    for title in (
        "汇总",
        "按渠道",
        "月度趋势",
        "产品销售排行",
        "经营主体销售排行",
        "乡镇受益",
        "收益分布",
        "即将到期",
        "食堂预留份额",
    ):
        assert title in workbook.sheetnames, title
    summary = api(login("county_staff", county_codes=[A]), "summary")
    rows = {row[0]: row[1:] for row in workbook["汇总"].iter_rows(min_row=2, values_only=True)}
    assert round(rows["销售额"][0] * 100) == summary["sales_fen"]
    assert round(rows["带贫收益"][0] * 100) == summary["poor_income_fen"]
    assert round(rows["未分配"][0] * 100) == summary["unallocated_fen"]
    assert rows["受益户数"][1] == summary["households_benefited"]
    assert workbook["受益户"].max_row - 1 == summary["households_benefited"]
    header, *canteens = workbook["食堂预留份额"].iter_rows(values_only=True)
    canteens = [dict(zip(header, row, strict=True)) for row in canteens]
    assert [(row["食堂"], round(row["已完成(元)"] * 100)) for row in canteens] == [("枞阳县机关食堂", 30_000)]
