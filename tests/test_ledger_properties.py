"""Properties of the ledger over random sequences of ingests, refunds, link and rate changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import SaleLine
from service import ledger, ledger_rebuilds, partitions, reconcile, storage
from service.ingest_scope import IngestScope
from tests.conftest import _drop, make_test_app
from tests.factories import Factory

COUNTY = "340722"

sales = st.builds(
    dict,
    kind=st.just("sale"),
    order=st.integers(min_value=1, max_value=12),
    amount_fen=st.integers(min_value=0, max_value=2_000_000),
    sku=st.sampled_from(["S1", "S2", "UNKNOWN"]),
    month=st.integers(min_value=1, max_value=3),
    day=st.integers(min_value=1, max_value=28),
)
refunds = st.builds(dict, kind=st.just("refund"), order=st.integers(min_value=1, max_value=12))
link_changes = st.builds(
    dict,
    kind=st.just("link"),
    household=st.integers(min_value=0, max_value=3),
    weight=st.integers(min_value=1, max_value=50),
    start_day=st.integers(min_value=1, max_value=60),
)
rate_changes = st.builds(
    dict, kind=st.just("rate"), rate_bp=st.integers(min_value=0, max_value=10_000), month=st.integers(1, 3)
)
operations = st.lists(st.one_of(sales, refunds, link_changes, rate_changes), min_size=1, max_size=12)


def _world():
    app = make_test_app()
    context = app.app_context()
    context.push()
    db = app.extensions["storage"].db
    factory = Factory(app, db)
    operator = factory.operator(COUNTY)
    products = []
    for sku in ("S1", "S2"):
        product = factory.product(
            operator["_id"],
            status="certified",
            certified_at=datetime(2023, 1, 1, tzinfo=UTC),
            channel_skus=[{"channel": "jd", "sku": sku}],
        )
        db[storage.PRODUCTS].update_one(
            {"_id": product["_id"]},
            {
                "$set": {
                    "benefit_rate_history": [
                        {"benefit_rate_bp": 1234, "valid_from": datetime(2023, 1, 1, tzinfo=UTC)}
                    ]
                }
            },
        )
        products.append(product)
    households = [factory.household(COUNTY) for _ in range(4)]
    return app, context, db, factory, operator, products, households


def _apply(db, factory, operator, products, households, step, sold):
    if step["kind"] == "sale":
        occurred = datetime(2024, step["month"], step["day"], 4, tzinfo=UTC)
        external_id = f"O-{step['order']}"
        sold[external_id] = (occurred, step["amount_fen"], step["sku"])
        ledger.ingest(
            db,
            [SaleLine("jd", external_id, occurred, 1, step["amount_fen"], sku=step["sku"])],
            IngestScope(COUNTY),
        )
    elif step["kind"] == "refund" and f"O-{step['order']}" in sold:
        occurred, amount, sku = sold[f"O-{step['order']}"]
        ledger.ingest(
            db,
            [
                SaleLine(
                    "jd", f"R-{step['order']}", occurred, -1, -amount, sku=sku, refund_of=f"O-{step['order']}"
                )
            ],
            IngestScope(COUNTY),
        )
    elif step["kind"] == "link":
        household = households[step["household"]]
        start = date.fromordinal(date(2024, 1, 1).toordinal() + step["start_day"])
        if db[storage.BENEFIT_LINKS].count_documents({"household_id": household["_id"]}) == 0:
            factory.benefit_link(operator, household, weight=step["weight"], valid_from=start)
            partitions.mark_operator_links_changed(db, operator["_id"])
    elif step["kind"] == "rate":
        valid_from = datetime(2024, step["month"], 1, tzinfo=UTC)
        for product in products:
            db[storage.PRODUCTS].update_one(
                {"_id": product["_id"]},
                {
                    "$push": {
                        "benefit_rate_history": {
                            "$each": [{"benefit_rate_bp": step["rate_bp"], "valid_from": valid_from}],
                            "$sort": {"valid_from": 1},
                        }
                    }
                },
            )
            partitions.mark_product_changed(db, product["_id"], since=valid_from)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
def test_rollups_always_equal_a_recompute_from_scratch(steps):
    app, context, db, factory, operator, products, households = _world()
    try:
        sold = {}
        for step in steps:
            _apply(db, factory, operator, products, households, step, sold)
        ledger_rebuilds.rebuild(db)
        _, differences = reconcile.verify(db)
        assert differences == []
        # Pools add up to the certified lines' income; shares add up to the allocated pools.
        certified_income = sum(s["poor_income_fen"] for s in db[storage.SALES].find({"certified": True}))
        pools = list(db[storage.OPERATOR_POOLS].find())
        assert sum(p["pool_fen"] for p in pools) == certified_income
        assert sum(i["share_fen"] for i in db[storage.HOUSEHOLD_INCOME].find()) == sum(
            p["allocated_fen"] for p in pools
        )
    finally:
        context.pop()
        _drop(app)
