"""The rules that depend on the date, run at the awkward moments of the Asia/Shanghai calendar.

Days, months and years are cut in Asia/Shanghai (UTC+8), so at 00:30 on 1 January in Shanghai it
is still 31 December, and still last year, in UTC. Each test here travels to each moment below
(the demo county's full load, ~20 s, to the first only) and works through the API and the pages:
the demo county's window of sales, canteen quotas and their year-end forecast, publicity and
certificate validity, the month a sale falls in, the report period and the dashboard by default.
"""

from __future__ import annotations

import calendar
import io
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from service import demo, storage
from service.clock import today_local
from service.web.formatting import yuan
from tests.conftest import _drop, make_test_app
from tests.factories import PASSWORD

# The tests' own Asia/Shanghai, not the service's: what the rules are checked against.
SHANGHAI = ZoneInfo("Asia/Shanghai")
COUNTY = "340722"
SUPPLIER_USCC = "91110108551385082Q"


@dataclass(frozen=True)
class Moment:
    name: str
    at: datetime  # as written, in Asia/Shanghai
    window_first_day: date  # the demo's year of sales starts here ...
    window_months: int  # ... and spans this many months
    traveller: time_machine.Traveller | None = None

    @property
    def today(self) -> date:
        return self.at.astimezone(SHANGHAI).date()

    def move_to(self, when: datetime, *callers) -> None:
        """Move the standing clock on to ``when``; the callers log in again (a token lasts 8 hours)."""
        self.traveller.move_to(when, tick=False)
        for caller in callers:
            caller.login(caller.user["username"], PASSWORD)


MOMENTS = [
    # 2026-12-31 16:30 UTC: still last year there.
    Moment("1-jan-00h30", datetime.fromisoformat("2027-01-01T00:30+08:00"), date(2026, 2, 1), 11),
    # 2028-02-28 23:30 UTC.
    Moment("29-feb", datetime.fromisoformat("2028-02-29T07:30+08:00"), date(2027, 3, 1), 12),
    # 2027-08-30 23:00 UTC.
    Moment("31st", datetime.fromisoformat("2027-08-31T07:00+08:00"), date(2026, 9, 1), 12),
    # 2027-02-28 16:30 UTC: still last month there.
    Moment("1st", datetime.fromisoformat("2027-03-01T00:30+08:00"), date(2026, 4, 1), 11),
    # 15:59 UTC: one minute to the new year in Shanghai.
    Moment("31-dec-23h59", datetime.fromisoformat("2026-12-31T23:59+08:00"), date(2026, 1, 1), 12),
]


@pytest.fixture(params=MOMENTS, ids=[moment.name for moment in MOMENTS])
def moment(request):
    """The clock stands still at the moment for the whole test."""
    with time_machine.travel(request.param.at, tick=False) as traveller:
        yield replace(request.param, traveller=traveller)


# The app and every caller are made at the moment (they depend on ``moment``).


@pytest.fixture
def staff(moment, login):
    return login("county_staff", county_codes=[COUNTY])


def month(day: date) -> str:
    return f"{day:%Y-%m}"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def last_month(day: date) -> date:
    """The first day of the month before ``day``'s."""
    return first_of_month(first_of_month(day) - timedelta(days=1))


def shanghai(day: date, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{clock}+08:00")


def upload(caller, channel: str, header: list[str], rows: list[list[str]]):
    text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    response = caller.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(text.encode()), f"{channel}.csv"), "channel": channel},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    run = response.json
    assert (run["status"], run["rejected"]) == ("succeeded", 0), run
    return run


def get(caller, url: str) -> dict:
    response = caller.get(url)
    assert response.status_code == 200, response.json
    return response.json


# The demo county's year of sales ---------------------------------------------------------------------


def test_the_demo_sales_window_is_the_year_up_to_yesterday_in_shanghai(moment):
    today = today_local()
    assert today == moment.today
    first_day, end = demo.sales_window(today)
    assert (first_day, end) == (moment.window_first_day, today)
    months = demo.window_months(today)
    assert len(months) == moment.window_months
    # Consecutive months from the first day's to yesterday's: every day of the window is in the past.
    assert months[0] == month(first_day) and months[-1] == month(today - timedelta(days=1))
    expected, day = [], first_day
    while day < today:
        expected.append(month(day))
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    assert months == expected


def test_the_demo_county_loaded_at_00_30_on_new_year_ends_its_sales_on_new_years_eve():
    """One full load at the most awkward moment: Shanghai's new year, UTC's old year (~20 s)."""
    at = MOMENTS[0].at
    with time_machine.travel(at, tick=True):
        app = make_test_app()
        try:
            with app.app_context():
                demo.load(app.extensions["storage"].db)
            client = app.test_client()
            token = client.post(
                "/api/v1/auth/login", json={"username": "county", "password": demo.DEMO_PASSWORD}
            ).json["token"]
            headers = {"Authorization": f"Bearer {token}"}

            def read(url):
                response = client.get(url, headers=headers)
                assert response.status_code == 200, response.json
                return response.json

            verified = read("/api/v1/ledger/verify")
            assert (verified["partitions_checked"], verified["differences"]) == (11, [])
            monthly = read("/api/v1/reports/monthly?from=2025-12&to=2027-01")
            assert sorted({row["month"] for row in monthly["items"]}) == demo.window_months(date(2027, 1, 1))
            assert {row["month"] for row in monthly["items"]} == {f"2026-{m:02d}" for m in range(2, 13)}
            # The default period is Shanghai's new year: January 2027, with no sale in it yet.
            summary = read("/api/v1/reports/summary")
            assert (summary["from"], summary["to"], summary["sales_fen"]) == ("2027-01", "2027-01", 0)
            december = read("/api/v1/reports/summary?from=2026-12&to=2026-12")
            assert december["sales_fen"] > 0
            certificates = read("/api/v1/reports/certification")
            assert certificates["expiring"]["within_90_days"] >= 1
        finally:
            _drop(app)


# Canteen quotas: the plan year, purchases either side of midnight on 31 December, the forecast -------


P832_HEADER = ["订单编号", "采购单位", "商品名称", "商品编码", "数量",
               "单价(元)", "金额(元)", "下单时间", "订单状态"]  # fmt: skip


def test_a_canteens_purchases_count_in_the_shanghai_year_and_the_forecast_runs_to_its_end(
    moment, factory, login, page_login, staff
):
    today = moment.today
    year = today.year
    canteen = factory.canteen(
        COUNTY, name="枞阳县第一中学食堂", plans=[{"year": year - 1, "food_total_fen": 1_000_000}]
    )
    operator = factory.operator(COUNTY, uscc=SUPPLIER_USCC)
    rice = factory.product(
        operator["_id"],
        status="certified",
        certified_at=moment.at - timedelta(days=1000),
        valid_days=3650,
        channel_skus=[{"channel": "p832", "sku": "832-RICE"}],
        name="枞阳大米",
    )
    cook = login("canteen", canteen_id=canteen["_id"])
    # The canteen declares this year's plan; it may declare next year's too, not the year after.
    plans = f"/api/v1/canteens/{canteen['_id']}/plans"
    for plan_year, status in ((year, 200), (year + 1, 200), (year + 2, 422)):
        declared = cook.put(f"{plans}/{plan_year}", json={"food_total_fen": 2_000_000})
        assert declared.status_code == status, (plan_year, declared.json)

    def buy(day: date, invoice: str, amount_fen: int):
        # Bought on the 832 platform: from 2021 only such purchases count toward the share.
        body = {"product_id": str(rice["_id"]), "date": day.isoformat(), "quantity": 1, "via_832": True}
        return cook.post(
            "/api/v1/canteen-purchases", json={**body, "amount_fen": amount_fen, "invoice_no": invoice}
        )

    assert buy(date(year - 1, 12, 31), "DEC-31", 10_000).status_code == 201
    assert buy(date(year, 1, 1), "JAN-1", 20_000).status_code == 201
    bought_today = buy(today, "TODAY", 40_000)
    assert bought_today.status_code == 201, bought_today.json
    assert bought_today.json["counted_for_quota"] is True
    tomorrow = buy(today + timedelta(days=1), "TOMORROW", 80_000)
    assert tomorrow.status_code == 422 and "date" in tomorrow.json["error"]["details"]

    # 832 orders, timed in Shanghai, either side of midnight on 31 December.
    def order(number: str, amount: str, when: str) -> list[str]:
        return [number, canteen["name"], "枞阳大米", "832-RICE", "1", amount, amount, when, "已完成"]

    upload(staff, "p832", P832_HEADER, [
        order("O-1", "10.00", f"{year - 1}-12-31 23:59:59"),
        order("O-2", "20.00", f"{year}-01-01 00:00:00"),
    ])  # fmt: skip

    quota = f"/api/v1/canteens/{canteen['_id']}/quota"
    last_year = get(cook, f"{quota}?year={year - 1}")
    days_last_year = 366 if calendar.isleap(year - 1) else 365
    assert last_year["qualifying_fen"] == 10_000 + 1_000
    assert (last_year["days_elapsed"], last_year["days_in_year"]) == (days_last_year, days_last_year)
    assert last_year["forecast_fen"] == last_year["qualifying_fen"]

    this_year = get(cook, quota)
    days_in_year = 366 if calendar.isleap(year) else 365
    elapsed = (today - date(year, 1, 1)).days + 1
    qualifying = 20_000 + 40_000 + 2_000
    assert this_year["year"] == year and this_year["qualifying_fen"] == qualifying
    assert (this_year["days_elapsed"], this_year["days_in_year"]) == (elapsed, days_in_year)
    assert this_year["forecast_fen"] == qualifying * days_in_year // elapsed
    assert this_year["target_fen"] == 200_000

    # The county's report and the canteen's own page default to the same year.
    report = get(staff, f"/api/v1/reports/canteens?county_code={COUNTY}")
    assert report["year"] == year and report["totals"]["qualifying_fen"] == qualifying
    home = page_login("canteen", canteen_id=canteen["_id"]).get("/canteen/")
    assert home.status_code == 200 and f"{year} 年预留份额完成情况" in home.get_data(as_text=True)


# Certification: publicity days, the certificate's year and its last moment of validity ---------------


def test_publicity_lasts_seven_days_to_the_second_and_a_certificate_expires_at_its_moment(
    moment, factory, db, staff
):
    product = factory.product(status="county_approved")
    path = f"/api/v1/products/{product['_id']}"
    publicized = staff.post(f"{path}/publicize")
    assert publicized.status_code == 200, publicized.json
    ends = datetime.fromisoformat(publicized.json["publicity_ends_at"])
    assert ends == moment.at + timedelta(days=7)

    moment.move_to(ends - timedelta(seconds=1), staff)
    assert staff.post(f"{path}/certify").status_code == 409
    moment.move_to(ends, staff)
    certified = staff.post(f"{path}/certify")
    assert certified.status_code == 200, certified.json
    valid_until = datetime.fromisoformat(certified.json["valid_until"])
    assert valid_until == ends + timedelta(days=730)

    def status_at(when: datetime) -> str:
        moment.move_to(when, staff)
        return get(staff, path)["status"]

    assert status_at(valid_until - timedelta(days=30)) == "certified"
    assert get(staff, "/api/v1/reports/certification")["expiring"]["within_30_days"] == 1
    assert status_at(valid_until - timedelta(milliseconds=1)) == "certified"
    assert status_at(valid_until) == "expired"
    listed = get(staff, "/api/v1/products?status=expired")["items"]
    assert [item["id"] for item in listed] == [str(product["_id"])]


def test_a_certificate_is_numbered_in_the_shanghai_year_it_is_issued(moment, factory, db, staff):
    product = factory.product(status="publicizing")
    db[storage.PRODUCTS].update_one(
        {"_id": product["_id"]}, {"$set": {"publicity_ends_at": moment.at - timedelta(minutes=1)}}
    )
    certified = staff.post(f"/api/v1/products/{product['_id']}/certify")
    assert certified.status_code == 200, certified.json
    assert certified.json["certificate_no"] == f"FP{COUNTY}{moment.today.year}00001"
    assert datetime.fromisoformat(certified.json["certified_at"]) == moment.at


# Sales: the month a sale falls in, the report period by default, the dashboard ----------------------


JD_HEADER = ["订单号", "商品ID", "商家SKU", "商品名称", "订购数量",
             "京东价", "应付金额", "订单状态", "下单时间"]  # fmt: skip


@pytest.fixture
def sold(moment, factory, staff):
    """Three JD orders timed in Shanghai: the first and last moments of last month, and this month's first."""
    operator = factory.operator(COUNTY)
    tea = factory.product(
        operator["_id"],
        status="certified",
        certified_at=moment.at - timedelta(days=1000),
        valid_days=3650,
        channel_skus=[{"channel": "jd", "sku": "JD-TEA"}],
    )
    factory.certified_since(tea, moment.at - timedelta(days=1000), 1000)
    this_month = first_of_month(moment.today)
    previous = last_month(moment.today)

    def row(order: str, amount: str, when: datetime) -> list[str]:
        return [order, "1", "JD-TEA", "茶", "1", amount, amount, "完成", f"{when:%Y-%m-%d %H:%M:%S}"]

    upload(staff, "jd", JD_HEADER, [
        row("EARLIEST", "400.00", shanghai(previous, "00:00:00")),
        row("LATEST", "100.00", shanghai(this_month - timedelta(days=1), "23:59:59")),
        row("FIRST", "200.00", shanghai(this_month, "00:00:00")),
    ])  # fmt: skip
    return {"this_month": month(this_month), "last_month": month(previous)}


def test_a_month_holds_its_sales_to_23_59_59_in_shanghai_and_not_one_second_more(moment, sold, staff):
    sales = {item["external_id"]: item["month"] for item in get(staff, "/api/v1/sales")["items"]}
    assert sales == {
        "EARLIEST-1": sold["last_month"],
        "LATEST-1": sold["last_month"],
        "FIRST-1": sold["this_month"],
    }

    def sales_fen(first: str, last: str) -> int:
        return get(staff, f"/api/v1/reports/summary?from={first}&to={last}")["sales_fen"]

    assert sales_fen(sold["last_month"], sold["last_month"]) == 50_000
    assert sales_fen(sold["this_month"], sold["this_month"]) == 20_000
    monthly = get(staff, f"/api/v1/reports/monthly?from={sold['last_month']}&to={sold['this_month']}")
    assert {row["month"]: row["sales_fen"] for row in monthly["items"]} == {
        sold["last_month"]: 50_000,
        sold["this_month"]: 20_000,
    }
    verified = get(staff, "/api/v1/ledger/verify")
    assert (verified["partitions_checked"], verified["differences"]) == (2, [])


def test_reports_default_to_this_year_so_far_in_shanghai(moment, sold, staff):
    year = moment.today.year
    summary = get(staff, "/api/v1/reports/summary")
    assert (summary["from"], summary["to"]) == (f"{year}-01", sold["this_month"])
    # Last month's sales are in the default period only when last month is in this year.
    in_this_year = 20_000 + (50_000 if sold["last_month"].startswith(f"{year}-") else 0)
    assert summary["sales_fen"] == in_this_year


def test_the_dashboard_shows_this_year_so_far_by_default(moment, sold, page_login):
    year = moment.today.year
    page = page_login("county_staff", county_codes=[COUNTY]).get("/county/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'name="from" value="{year}-01"' in text
    assert f'name="to" value="{sold["this_month"]}"' in text
    in_this_year = 20_000 + (50_000 if sold["last_month"].startswith(f"{year}-") else 0)
    shown = re.search(r'data-testid="figure-sales_fen">.*?<span class="value">([^<]*)</span>', text, re.S)
    assert shown is not None and shown.group(1) == yuan(in_this_year)
