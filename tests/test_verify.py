"""`ledger verify` fails on every kind of damage to the derived figures, and says what it expected."""

from __future__ import annotations

import pytest

from service import ledger, ledger_rebuilds, ledger_rollups, reconcile, storage
from service.ingest_scope import IngestScope
from tests.test_ledger import COUNTY, MARCH, certified, line  # noqa: F401  (the fixture)


@pytest.fixture
def ledger_with_figures(db, certified):  # noqa: F811
    ledger.ingest(
        db,
        [line("A-1", 10_000), line("A-2", 777, occurred_at=MARCH.replace(day=16))],
        IngestScope(COUNTY),
    )
    ledger.ingest(db, [line("B-1", 5_000, sku="NOPE")], IngestScope(COUNTY))
    assert reconcile.verify(db) == (1, [])
    return db


def _one(db, name):
    return db[name].find_one({"month": "2024-03"}, sort=[("_id", 1)])


def _texts(db) -> list[str]:
    checked, differences = reconcile.verify(db)
    assert checked == 1
    return [str(difference) for difference in differences]


@pytest.mark.parametrize("name", ledger_rollups.DERIVED)
def test_a_row_stored_twice_is_reported(ledger_with_figures, name):
    db = ledger_with_figures
    row = _one(db, name)
    db[name].insert_one({key: value for key, value in row.items() if key != "_id"})
    texts = _texts(db)
    assert any(f"{name} " in text and "rows: stored 2, expected 1" in text for text in texts), texts


@pytest.mark.parametrize("name", ledger_rollups.DERIVED)
def test_a_missing_row_is_reported(ledger_with_figures, name):
    db = ledger_with_figures
    db[name].delete_one({"_id": _one(db, name)["_id"]})
    texts = _texts(db)
    assert any(f"{name} " in text and "missing: stored 0, expected 1" in text for text in texts), texts


@pytest.mark.parametrize(
    ("name", "field_name", "change"),
    [
        (storage.SALES_DAILY, "quantity", {"$inc": {"quantity": 1}}),
        (storage.SALES_MONTHLY, "sales_fen", {"$inc": {"sales_fen": 1}}),
        (storage.OPERATOR_POOLS, "lines", {"$inc": {"lines": 1}}),
        (storage.HOUSEHOLD_INCOME, "household_no", {"$set": {"household_no": "X"}}),
    ],
)
def test_an_altered_field_is_reported_with_what_was_expected(ledger_with_figures, name, field_name, change):
    db = ledger_with_figures
    row = _one(db, name)
    db[name].update_one({"_id": row["_id"]}, change)
    texts = _texts(db)
    assert any(
        f"{name} " in text and f" {field_name}: stored " in text and f"expected {row[field_name]!r}" in text
        for text in texts
    ), texts


def test_a_stray_row_of_another_month_is_reported(ledger_with_figures):
    db = ledger_with_figures
    row = _one(db, storage.OPERATOR_POOLS)
    db[storage.OPERATOR_POOLS].insert_one(
        {**{key: value for key, value in row.items() if key != "_id"}, "month": "2024-04"}
    )
    checked, differences = reconcile.verify(db)
    assert checked == 2
    assert any("2024-04 operator_pools" in str(d) and "unexpected" in str(d) for d in differences)


def test_a_pool_that_does_not_match_its_lines_is_reported(ledger_with_figures):
    db = ledger_with_figures
    row = _one(db, storage.OPERATOR_POOLS)
    db[storage.OPERATOR_POOLS].update_one(
        {"_id": row["_id"]}, {"$inc": {"pool_fen": 3, "allocated_fen": 3, "sources.0.poor_income_fen": 3}}
    )
    texts = _texts(db)
    assert any("vs its certified lines: stored" in text for text in texts), texts
    assert any("shares of operator" in text for text in texts), texts


def test_shares_that_do_not_add_up_to_their_pool_are_reported(ledger_with_figures):
    db = ledger_with_figures
    incomes = list(db[storage.HOUSEHOLD_INCOME].find({"month": "2024-03"}))
    db[storage.HOUSEHOLD_INCOME].update_one({"_id": incomes[0]["_id"]}, {"$inc": {"share_fen": 1}})
    db[storage.HOUSEHOLD_INCOME].update_one({"_id": incomes[1]["_id"]}, {"$inc": {"share_fen": 1}})
    texts = _texts(db)
    pool = _one(db, storage.OPERATOR_POOLS)
    assert any(f"shares of operator {pool['operator_id']}" in text for text in texts), texts


@pytest.mark.parametrize("name", ledger_rollups.DERIVED)
def test_the_command_exits_1_on_a_duplicate_and_a_rebuild_repairs_it(ledger_with_figures, runner, name):
    db = ledger_with_figures
    row = _one(db, name)
    db[name].insert_one({key: value for key, value in row.items() if key != "_id"})
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "stored 2, expected 1" in result.output
    ledger_rebuilds.rebuild(db, all_partitions=True)
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
