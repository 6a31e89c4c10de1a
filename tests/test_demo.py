"""The demo county: loaded once, it has every kind of record and its figures reconcile."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest

from service import demo, ledger_rebuilds, ledger_rollups, partitions, products, reconcile, storage
from service.clock import SHANGHAI, start_of_local_day, today_local, utcnow
from tests import query_shapes
from tests.conftest import _drop, make_test_app
from tests.factories import ApiCaller, PageBrowser


@pytest.fixture(scope="module")
def demo_app():
    app = make_test_app()
    with app.app_context():
        app.loaded_on = today_local()
        demo.load(app.extensions["storage"].db)
    yield app
    _drop(app)


@pytest.fixture(scope="module")
def demo_db(demo_app):
    return demo_app.extensions["storage"].db


def test_the_demo_county_has_the_size_of_the_model(demo_db):
    summary = demo.summary(demo_db)
    assert (summary["operators"], summary["products"]) == (73, 178)
    assert summary["households"] == 1300
    assert 4000 <= summary["people"] <= 4400
    assert summary["sales_lines"] > 20_000


def test_products_are_in_every_certification_status(demo_db):
    stored = set(demo_db[storage.PRODUCTS].distinct("status"))
    assert stored >= {
        "draft",
        "submitted",
        "county_approved",
        "publicizing",
        "certified",
        "rejected",
        "revoked",
    }
    expired = demo_db[storage.PRODUCTS].count_documents(
        {"status": "certified", "valid_until": {"$lte": utcnow()}}
    )
    assert expired >= 1


def test_demo_certificates_come_from_the_certification_steps(demo_app, demo_db):
    """Numbered per county and year in the order of certification, valid as configured, each after
    its publicity, and a new certificate continues the numbering."""
    with demo_app.app_context():
        validity = products.certificate_validity()
    certificates = sorted(
        (
            certificate
            for p in demo_db[storage.PRODUCTS].find({}, {"certificates": 1})
            for certificate in p["certificates"]
        ),
        key=lambda certificate: (certificate["certified_at"], certificate["number"]),
    )
    assert len(certificates) >= 150
    by_year: dict[str, list[int]] = {}
    for certificate in certificates:
        assert certificate["valid_until"] - certificate["certified_at"] == validity
        year = certificate["certified_at"].replace(tzinfo=UTC).astimezone(SHANGHAI).year
        prefix, serial = certificate["number"][:-5], int(certificate["number"][-5:])
        assert prefix == f"FP{demo.COUNTY_CODE}{year}"
        by_year.setdefault(prefix, []).append(serial)
    assert all(serials == list(range(1, len(serials) + 1)) for serials in by_year.values())
    for product in demo_db[storage.PRODUCTS].find({"certificates.0": {"$exists": True}}):
        steps = {entry["to"]: entry for entry in product["status_history"]}
        assert steps["certified"]["at"] >= steps["publicizing"]["publicity_ends_at"]
        assert steps["draft"]["at"] < steps["submitted"]["at"]
    sequences = {row["_id"]: row["value"] for row in demo_db[storage.SEQUENCES].find()}
    assert {
        f"certificate:{prefix}": len(serials) for prefix, serials in by_year.items()
    }.items() <= sequences.items()


def test_households_and_links_cover_every_type_and_mechanism(demo_db):
    assert set(demo_db[storage.HOUSEHOLDS].distinct("status")) == {"poor", "exited", "monitored", "edge"}
    assert set(demo_db[storage.BENEFIT_LINKS].distinct("mechanism")) == {
        "seed_supply", "technical_guidance", "purchase", "employment", "processing", "land_equity", "other",
    }  # fmt: skip


def test_sales_come_from_every_channel_family_and_bring_household_income(demo_db):
    channels = set(demo_db[storage.SALES].distinct("channel"))
    assert {"jd", "taobao", "pdd", "p832", "counter", "canteen", "unit_purchase"} <= channels
    assert demo_db[storage.SALES].count_documents({"matched": False}) > 0
    assert sum(i["share_fen"] for i in demo_db[storage.HOUSEHOLD_INCOME].find({}, {"share_fen": 1})) > 0
    assert demo_db[storage.OPERATOR_POOLS].count_documents({"unallocated_fen": {"$ne": 0}}) > 0


def test_the_demo_sales_fill_the_window_and_no_more(demo_app, demo_db):
    months = demo.window_months(demo_app.loaded_on)
    partitions = {month for _, month in ledger_rollups.all_partitions(demo_db)}
    assert partitions == set(months)
    first_day, end = demo.sales_window(demo_app.loaded_on)
    sold_at = [line["occurred_at"] for line in demo_db[storage.SALES].find({}, {"occurred_at": 1})]
    assert start_of_local_day(first_day) <= min(sold_at).replace(tzinfo=UTC)
    assert max(sold_at).replace(tzinfo=UTC) < start_of_local_day(end)


def test_the_demo_ledger_reconciles(demo_app, demo_db):
    checked, differences = reconcile.verify(demo_db)
    assert checked == len(demo.window_months(demo_app.loaded_on))
    assert differences == []


@pytest.mark.parametrize(
    ("today", "first_day", "months"),
    [
        (date(2026, 12, 5), date(2026, 1, 1), 12),
        (date(2026, 12, 1), date(2026, 1, 1), 11),
        (date(2027, 1, 1), date(2026, 2, 1), 11),
        (date(2028, 2, 29), date(2027, 3, 1), 12),
        (date(2026, 11, 30), date(2025, 12, 1), 12),
        (date(2026, 12, 31), date(2026, 1, 1), 12),
    ],
)
def test_the_sales_window_is_a_year_of_past_days(today, first_day, months):
    start, end = demo.sales_window(today)
    assert (start, end) == (first_day, today)
    assert len(demo.window_months(today)) == months
    assert demo.window_months(today)[-1] <= today.strftime("%Y-%m")


@pytest.mark.parametrize("username", ["admin", "county", "enterprise", "canteen", "unit"])
def test_the_demo_accounts_log_in(demo_app, username):
    response = demo_app.test_client().post(
        "/api/v1/auth/login", json={"username": username, "password": demo.DEMO_PASSWORD}
    )
    assert response.status_code == 200


def test_the_demo_units_bought_tens_of_millions_of_fen_and_helped_sell_a_fraction(demo_app, demo_db):
    api = ApiCaller(demo_app.test_client())
    api.login("county", demo.DEMO_PASSWORD)
    first_day, end = demo.sales_window(demo_app.loaded_on)
    query = {"county_code": demo.COUNTY_CODE, "from": first_day.isoformat(), "to": end.isoformat()}
    report = api.get("/api/v1/reports/buyers", query_string=query).json
    assert 10_000_000 <= report["direct_fen"] < 100_000_000
    assert 0 < report["helped_fen"] < report["direct_fen"]
    assert len(report["by_unit"]) >= 6 and len({row["kind"] for row in report["by_pairing"]}) >= 5


def test_loading_twice_changes_nothing(demo_db):
    before = demo.summary(demo_db)
    again = demo.load(demo_db)
    assert {k: v for k, v in again.items() if k != "loaded_at"} == {
        k: v for k, v in before.items() if k != "loaded_at"
    }


def test_demo_sales_arrive_through_the_channel_adapters(demo_db):
    runs = {run["channel"]: run for run in demo_db[storage.IMPORT_RUNS].find()}
    assert set(runs) == {"jd", "taobao", "pdd", "p832", "counter"}
    for channel, run in runs.items():
        assert run["status"] == "succeeded", channel
        assert run["rejected"] == 0, channel
    # 832 orders of the county's canteens count towards their quotas.
    assert demo_db[storage.SALES].count_documents({"channel": "p832", "buyer.unit_id": {"$ne": None}}) > 0


def _reasons(run: dict) -> set[str]:
    return {item["reason"] for item in run["skipped_reasons"]}


def test_the_demo_exports_are_in_the_platforms_layouts(demo_db):
    runs = {run["channel"]: run for run in demo_db[storage.IMPORT_RUNS].find()}
    layouts = {channel: run["layout"] for channel, run in runs.items()}
    assert layouts == {
        "jd": "jd-pop-30", "pdd": "pdd-2020", "p832": "p832-orders", "taobao": "taobao-2files",
        "counter": None,
    }  # fmt: skip
    # 淘宝's export is its two reports, imported together as one run.
    assert [file["filename"] for file in runs["taobao"]["files"]] == [
        "淘宝已卖出宝贝_订单报表.csv", "淘宝已卖出宝贝_宝贝报表.csv",
    ]  # fmt: skip
    # Orders not yet paid or held are set aside as pending; cancelled and split orders are no sales.
    assert {
        "订单状态 锁定: not yet a sale; a later export imports it.",
        "订单状态 等待付款: not yet a sale; a later export imports it.",
        "订单状态 已取消: not a sale.",
        "订单状态 '(删除)等待出库': a deleted order (e.g. split into new orders), not a sale.",
    } <= _reasons(runs["jd"])
    assert {
        "售后状态 退款中: not yet a sale; a later export imports it.",
        "订单状态 已取消: not a sale.",
    } <= _reasons(runs["pdd"])
    assert {
        "订单状态 交易关闭 without 订单付款时间: closed before payment, not a sale.",
        "订单状态 等待买家付款: not a sale.",
    } <= _reasons(runs["taobao"])
    # Refunded after payment: the line is kept at 0.
    for channel in ("jd", "pdd", "taobao"):
        assert demo_db[storage.SALES].count_documents({"channel": channel, "amount_fen": 0}) > 0, channel


def test_a_jd_order_of_several_items_shares_what_the_buyer_paid_for_the_goods(demo_db):
    """Coupons come off, freight never counts: an order's lines come to at most its goods at 京东价."""
    orders: dict[str, list[dict]] = {}
    for line in demo_db[storage.SALES].find(
        {"channel": "jd", "amount_fen": {"$gt": 0}},
        {"external_id": 1, "amount_fen": 1, "unit_price_fen": 1, "quantity": 1},
    ):
        orders.setdefault(line["external_id"].split("-")[0], []).append(line)
    several = [lines for lines in orders.values() if len(lines) > 1]
    assert len(several) > 100
    discounted = 0
    for lines in orders.values():
        goods = sum(line["unit_price_fen"] * line["quantity"] for line in lines)
        paid = sum(line["amount_fen"] for line in lines)
        assert 0 < paid <= goods
        discounted += paid < goods
    assert discounted > 100


# Every query starts on an index --------------------------------------------------------------------

_IDS = {
    "product_id": storage.PRODUCTS, "household_id": storage.HOUSEHOLDS, "operator_id": storage.OPERATORS,
    "link_id": storage.BENEFIT_LINKS, "canteen_id": storage.CANTEENS, "run_id": storage.IMPORT_RUNS,
    "user_id": storage.USERS, "unit_id": storage.CANTEENS,
}  # fmt: skip
_NOT_PAGES = ("static", "swagger", "vendor", "logout", "template", "/api/docs")


def _get_everything(app, ids: dict, username: str) -> int:
    """Every GET route of the pages and the API this account may open, with a demo object's id."""
    page, api = PageBrowser(app.test_client()), ApiCaller(app.test_client())
    page.login(username, demo.DEMO_PASSWORD)
    api.login(username, demo.DEMO_PASSWORD)
    opened = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or any(part in (rule.rule + rule.endpoint) for part in _NOT_PAGES):
            continue
        if not set(rule.arguments) <= set(ids):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<objectid:{name}>", str(ids[name]))
        response = (api if url.startswith("/api/") else page).get(url)
        assert response.status_code < 500, (url, response.status_code)
        opened += response.status_code == 200
    return opened


def test_every_query_of_pages_api_and_ledger_starts_on_an_index(demo_app, demo_db):
    """County staff, enterprises and canteens (an admin's province-wide lists are paged scans by design)."""
    product = demo_db[storage.PRODUCTS].find_one({"status": "certified"})
    ids = {name: demo_db[collection].find_one({}, {"_id": 1})["_id"] for name, collection in _IDS.items()}
    with query_shapes.recording(demo_db) as shapes:
        users = ("county", "enterprise", "canteen", "unit")
        opened = sum(_get_everything(demo_app, ids, user) for user in users)
        partitions.mark_product_changed(demo_db, product["_id"])
        partitions.mark_product_changed(demo_db, product["_id"], since=utcnow() - timedelta(days=60))
        partitions.mark_operator_links_changed(demo_db, product["operator_id"])
        ledger_rebuilds.rebuild(demo_db)
        ledger_rebuilds.rematch(demo_db, [demo.COUNTY_CODE])
    assert opened > 60
    assert len(shapes) > 50
    problems = query_shapes.unsupported(shapes)
    assert problems == [], "\n".join(problems)
    pipelines = [found for found in shapes if found.operation == "aggregate"]
    assert len(pipelines) > 10
    assert [str(found) for found in pipelines if "allowDiskUse" not in found.options] == []
