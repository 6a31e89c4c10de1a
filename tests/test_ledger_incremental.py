"""Incremental maintenance: an ingest recomputes only the operator-months it touches, and what it
leaves is, document for document, what a rebuild from scratch writes."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
import time_machine
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.base import SaleLine
from service import (
    ledger,
    ledger_deltas,
    ledger_rebuilds,
    ledger_rollups,
    ledger_session,
    partitions,
    reconcile,
    storage,
)
from service.ingest_scope import IngestScope
from tests.conftest import _drop, make_test_app
from tests.factories import Factory
from tests.test_ledger import COUNTY, MARCH, certified, line  # noqa: F401  (the fixture)

MONTH = "2024-03"


def _derived(db) -> dict[str, list[dict]]:
    """Every derived document, ids included, in a canonical order."""
    return {
        name: sorted(
            (
                {
                    k: sorted(v, key=lambda x: str(x.get("link_id"))) if k == "links" else v
                    for k, v in row.items()
                }
                for row in db[name].find()
            ),
            key=lambda row: row["_id"],
        )
        for name in ledger_rollups.DERIVED
    }


def _recorded_groups(monkeypatch) -> list:
    calls = []
    real = ledger_rollups.compute_partition

    def recording(db, county_code, month, operator_ids=None):
        calls.append(None if operator_ids is None else sorted(map(str, operator_ids)))
        return real(db, county_code, month, operator_ids)

    monkeypatch.setattr(ledger_rollups, "compute_partition", recording)
    return calls


def _recorded_deltas(monkeypatch) -> list:
    applied = []
    real = ledger_deltas.apply

    def recording(db, county_code, month, deltas, before_write):
        applied.append(sorted(str(operator_id) for operator_id in ledger_deltas.operators_of(deltas)))
        return real(db, county_code, month, deltas, before_write)

    monkeypatch.setattr(ledger_deltas, "apply", recording)
    return applied


def test_an_ingest_applies_its_differences_and_recomputes_nothing(db, certified, factory, monkeypatch):  # noqa: F811
    other = factory.operator(COUNTY)
    factory.product(other["_id"], channel_skus=[{"channel": "jd", "sku": "OTHER"}])
    ledger.ingest(
        db, [line("A-1"), line("B-1", 700, sku="OTHER"), line("U-1", 300, sku="NOPE")], IngestScope(COUNTY)
    )
    untouched = db[storage.SALES_DAILY].find_one({"operator_id": other["_id"]})
    calls = _recorded_groups(monkeypatch)
    applied = _recorded_deltas(monkeypatch)
    ledger.ingest(db, [line("A-2", 2_000)], IngestScope(COUNTY))
    assert calls == []
    assert applied == [[str(certified["operator"]["_id"])]]
    assert db[storage.SALES_DAILY].find_one({"operator_id": other["_id"]}) == untouched
    assert reconcile.verify(db)[1] == []
    assert partitions.dirty_partitions(db) == []
    assert db[storage.LEDGER_DELTAS].count_documents({}) == 0
    assert (
        "tickets" not in db[storage.LEDGER_PARTITIONS].find_one()
        or not db[storage.LEDGER_PARTITIONS].find_one()["tickets"]
    )


def test_unmatched_lines_are_a_group_of_their_own(db, certified, monkeypatch):  # noqa: F811
    ledger.ingest(db, [line("A-1")], IngestScope(COUNTY))
    applied = _recorded_deltas(monkeypatch)
    ledger.ingest(db, [line("U-1", 300, sku="NOPE")], IngestScope(COUNTY))
    assert applied == [["None"]]
    assert reconcile.verify(db)[1] == []


def test_a_line_moved_to_another_operator_and_month_is_taken_out_of_the_first(db, certified, factory):  # noqa: F811
    other = factory.operator(COUNTY)
    factory.product(
        other["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        channel_skus=[{"channel": "jd", "sku": "OTHER"}],
    )
    ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY))
    april = MARCH.replace(month=4)
    ledger.ingest(db, [line("A-1", 9_000, sku="OTHER", occurred_at=april)], IngestScope(COUNTY))
    assert db[storage.OPERATOR_POOLS].count_documents({"operator_id": certified["operator"]["_id"]}) == 0
    assert db[storage.SALES_MONTHLY].count_documents({"month": MONTH}) == 0
    assert [row["sales_fen"] for row in db[storage.SALES_MONTHLY].find({"month": "2024-04"})] == [9_000]
    assert reconcile.verify(db)[1] == []


def test_an_ingest_that_stops_before_rebuilding_leaves_its_differences_handed_over(db, certified):  # noqa: F811
    ledger.ingest(db, [line("A-1")], IngestScope(COUNTY), rebuild=False)  # and then the worker dies
    marker = db[storage.LEDGER_PARTITIONS].find_one({"_id": f"{COUNTY}:{MONTH}"})
    assert marker["dirty"] is True and marker["full"] is False
    [ticket] = marker["tickets"].values()
    assert ticket["ready"] is True and ticket["groups"] == [certified["operator"]["_id"]]
    assert ledger_rebuilds.rebuild(db)[0][2]["deltas"] == 1
    assert partitions.dirty_partitions(db) == []
    assert reconcile.verify(db)[1] == []


def test_a_ticket_never_handed_over_is_recomputed_once_abandoned(db, certified, monkeypatch):  # noqa: F811
    """The worker dies after writing its lines, before handing its differences over."""
    monkeypatch.setattr(ledger_session.Session, "hand_over", lambda self: set(self.groups))
    with time_machine.travel(datetime(2024, 4, 1, 8, tzinfo=UTC), tick=False):
        ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY), rebuild=False)
    monkeypatch.undo()
    with time_machine.travel(datetime(2024, 4, 1, 8, 4, tzinfo=UTC), tick=False):
        assert ledger_rebuilds.rebuild(db)[0][2] == {"groups": 0}  # its owner may still be writing
        assert partitions.dirty_partitions(db) == [(COUNTY, MONTH)]
    with time_machine.travel(datetime(2024, 4, 1, 8, 6, tzinfo=UTC), tick=False):
        assert ledger_rebuilds.rebuild(db)[0][2]["groups"] == 1
        assert partitions.dirty_partitions(db) == []
    assert reconcile.verify(db)[1] == []
    assert (
        db[storage.SALES_MONTHLY].find_one({"operator_id": certified["operator"]["_id"]})["sales_fen"]
        == 10_000
    )


def test_at_start_up_the_one_owner_of_the_data_abandons_every_open_ticket(db, certified, monkeypatch):  # noqa: F811
    """The zero-setup default restarts after a kill -9: no ticket of the dead process will be handed over."""
    monkeypatch.setattr(ledger_session.Session, "hand_over", lambda self: set(self.groups))
    ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY), rebuild=False)
    monkeypatch.undo()
    assert partitions.abandon_tickets(db) == 1
    marker = db[storage.LEDGER_PARTITIONS].find_one({"_id": f"{COUNTY}:{MONTH}"})
    assert marker["tickets"] == {} and marker["dirty_groups"] == [certified["operator"]["_id"]]
    assert ledger_rebuilds.rebuild(db)[0][2]["groups"] == 1
    assert reconcile.verify(db)[1] == []
    assert (
        db[storage.SALES_MONTHLY].find_one({"operator_id": certified["operator"]["_id"]})["sales_fen"]
        == 10_000
    )


def test_a_ticket_taken_off_by_a_rebuild_is_recomputed_not_applied(db, certified, monkeypatch):  # noqa: F811
    """A full rebuild runs while an ingest is between writing its lines and handing over."""
    real = ledger_session.Session.hand_over

    def rebuild_first(self):
        partitions.mark_dirty(db, [(COUNTY, MONTH)])
        ledger_rebuilds.rebuild_partition(db, COUNTY, MONTH)
        return real(self)

    monkeypatch.setattr(ledger_session.Session, "hand_over", rebuild_first)
    ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY))
    monkeypatch.undo()
    assert partitions.dirty_partitions(db) == []
    assert reconcile.verify(db)[1] == []
    assert (
        db[storage.SALES_MONTHLY].find_one({"operator_id": certified["operator"]["_id"]})["sales_fen"]
        == 10_000
    )


def test_a_rebuild_dying_mid_apply_leaves_its_operator_months_to_recompute(db, certified, monkeypatch):  # noqa: F811
    ledger.ingest(db, [line("A-1", 10_000)], IngestScope(COUNTY))
    real = ledger_deltas.apply

    def dies_half_way(db_, county_code, month, deltas, before_write):
        db_[storage.SALES_MONTHLY].update_many({}, {"$inc": {"sales_fen": 500}})
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ledger_deltas, "apply", dies_half_way)
    with pytest.raises(RuntimeError):
        ledger.ingest(db, [line("A-2", 500)], IngestScope(COUNTY))
    monkeypatch.setattr(ledger_deltas, "apply", real)
    marker = db[storage.LEDGER_PARTITIONS].find_one({"_id": f"{COUNTY}:{MONTH}"})
    assert marker["applying"]["groups"] == [certified["operator"]["_id"]]
    ledger_rebuilds.rebuild(db)
    assert reconcile.verify(db)[1] == []
    assert (
        db[storage.SALES_MONTHLY].find_one({"operator_id": certified["operator"]["_id"]})["sales_fen"]
        == 10_500
    )


def test_a_correction_still_rebuilds_the_whole_partition(db, certified, monkeypatch):  # noqa: F811
    ledger.ingest(db, [line("A-1"), line("U-1", 300, sku="NOPE")], IngestScope(COUNTY))
    partitions.mark_product_changed(db, certified["product"]["_id"])
    calls = _recorded_groups(monkeypatch)
    ledger_rebuilds.rebuild(db)
    assert calls == [None]


def test_verify_reports_a_row_stored_under_another_id(db, certified):  # noqa: F811
    ledger.ingest(db, [line("A-1")], IngestScope(COUNTY))
    row = db[storage.OPERATOR_POOLS].find_one()
    db[storage.OPERATOR_POOLS].delete_one({"_id": row["_id"]})
    db[storage.OPERATOR_POOLS].insert_one({**row, "_id": "elsewhere"})
    assert [d.what.rsplit(" ", 1)[-1] for d in reconcile.verify(db)[1]] == ["_id"]


# Properties --------------------------------------------------------------------------------------

SKUS = ("A1", "A2", "B1", "UNKNOWN")  # A1 and A2 are the first operator's, B1 the second's
sale = st.builds(
    dict,
    kind=st.just("sale"),
    order=st.integers(1, 8),
    amount_fen=st.integers(0, 2_000_000),
    sku=st.sampled_from(SKUS),
    month=st.integers(1, 2),
    day=st.integers(1, 28),
)
refund = st.builds(dict, kind=st.just("refund"), order=st.integers(1, 8))
link = st.builds(
    dict,
    kind=st.just("link"),
    household=st.integers(0, 2),
    operator=st.integers(0, 1),
    weight=st.integers(1, 50),
    start_day=st.integers(1, 50),
)
rate = st.builds(dict, kind=st.just("rate"), rate_bp=st.integers(0, 10_000), month=st.integers(1, 2))
together = st.builds(dict, kind=st.just("together"), first=sale, second=sale)
steps_strategy = st.lists(st.one_of(sale, sale, refund, link, rate, together), min_size=1, max_size=10)


def _world():
    app = make_test_app()
    context = app.app_context()
    context.push()
    db = app.extensions["storage"].db
    factory = Factory(app, db)
    operators = [factory.operator(COUNTY), factory.operator(COUNTY)]
    products = []
    for sku, operator in zip(SKUS[:3], (0, 0, 1), strict=True):
        product = factory.product(
            operators[operator]["_id"],
            status="certified",
            certified_at=datetime(2023, 1, 1, tzinfo=UTC),
            channel_skus=[{"channel": "jd", "sku": sku}],
        )
        history = [{"benefit_rate_bp": 1234, "valid_from": datetime(2023, 1, 1, tzinfo=UTC)}]
        db[storage.PRODUCTS].update_one({"_id": product["_id"]}, {"$set": {"benefit_rate_history": history}})
        products.append(product)
    households = [factory.household(COUNTY) for _ in range(3)]
    return app, context, db, factory, operators, products, households


def _sale_line(step, sold) -> SaleLine:
    occurred = datetime(2024, step["month"], step["day"], 4, tzinfo=UTC)
    external_id = f"O-{step['order']}"
    sold[external_id] = (occurred, step["amount_fen"], step["sku"])
    return SaleLine("jd", external_id, occurred, 1, step["amount_fen"], sku=step["sku"])


def _apply(world, step, sold) -> None:
    _, _, db, factory, operators, products, households = world
    if step["kind"] == "sale":
        ledger.ingest(db, [_sale_line(step, sold)], IngestScope(COUNTY))
    elif step["kind"] == "together":
        # Two workers at once; on the wire tier (TEST_MONGO_URI) their operations really overlap.
        lines = [_sale_line(step["first"], sold), _sale_line(step["second"], sold)]
        barrier = threading.Barrier(2)
        errors = []

        def work(sale_line):
            try:
                barrier.wait()
                ledger.ingest(db, [sale_line], IngestScope(COUNTY))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(sale_line,)) for sale_line in lines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
    elif step["kind"] == "refund" and f"O-{step['order']}" in sold:
        occurred, amount, sku = sold[f"O-{step['order']}"]
        refund_line = SaleLine(
            "jd", f"R-{step['order']}", occurred, -1, -amount, sku=sku, refund_of=f"O-{step['order']}"
        )
        ledger.ingest(db, [refund_line], IngestScope(COUNTY))
    elif step["kind"] == "link":
        household, operator = households[step["household"]], operators[step["operator"]]
        start = date.fromordinal(date(2024, 1, 1).toordinal() + step["start_day"])
        query = {"household_id": household["_id"], "operator_id": operator["_id"]}
        if db[storage.BENEFIT_LINKS].count_documents(query) == 0:
            factory.benefit_link(operator, household, weight=step["weight"], valid_from=start)
            partitions.mark_operator_links_changed(db, operator["_id"])
            ledger_rebuilds.rebuild(db)
    elif step["kind"] == "rate":
        valid_from = datetime(2024, step["month"], 1, tzinfo=UTC)
        for product in products:
            change = {"benefit_rate_bp": step["rate_bp"], "valid_from": valid_from}
            db[storage.PRODUCTS].update_one(
                {"_id": product["_id"]},
                {"$push": {"benefit_rate_history": {"$each": [change], "$sort": {"valid_from": 1}}}},
            )
            partitions.mark_product_changed(db, product["_id"], since=valid_from)
        ledger_rebuilds.rebuild(db)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_strategy)
# A line moved to another operator within its month: both operator-months are recomputed in one query.
@example(
    steps=[
        {"kind": "sale", "order": 8, "amount_fen": 114, "sku": "A2", "month": 2, "day": 20},
        {"kind": "sale", "order": 8, "amount_fen": 2_000_000, "sku": "B1", "month": 2, "day": 6},
    ]
)
def test_incremental_figures_equal_a_rebuild_from_scratch_document_for_document(steps):
    world = _world()
    app, context, db = world[:3]
    try:
        sold: dict = {}
        for step in steps:
            _apply(world, step, sold)
        assert partitions.dirty_partitions(db) == []
        kept = _derived(db)
        assert reconcile.verify(db)[1] == []
        ledger_rebuilds.rebuild(db, all_partitions=True)
        assert _derived(db) == kept
        for name in ledger_rollups.DERIVED:
            db[name].delete_many({})
        ledger_rebuilds.rebuild(db, all_partitions=True)
        assert _derived(db) == kept
    finally:
        context.pop()
        _drop(app)
