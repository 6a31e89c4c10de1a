"""The sales ledger: one ingest path, idempotent writes, rollups and household income."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId

from adapters.base import RowError, SaleLine
from service import (
    ingest_scope,
    ledger,
    ledger_rebuilds,
    ledger_rollups,
    ledger_writes,
    partitions,
    reconcile,
    sale_lines,
    storage,
)
from service.ingest_scope import IngestScope

COUNTY = "340722"
# 2024-03-15 10:00 in Asia/Shanghai.
MARCH = datetime(2024, 3, 15, 2, 0, tzinfo=UTC)


def line(external_id: str, amount_fen: int = 10_000, **fields) -> SaleLine:
    values = {
        "channel": "jd",
        "external_id": external_id,
        "occurred_at": MARCH,
        "quantity": 1,
        "amount_fen": amount_fen,
        "sku": "SKU-1",
        **fields,
    }
    return SaleLine(**values)


@pytest.fixture
def certified(factory):
    """A certified product (rate 15.00%) of an operator with two linked households."""
    operator = factory.operator(COUNTY)
    product = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "SKU-1"}],
        barcode="6901234567892",
    )
    # The rate history starts when the product was registered (today); backdate it for the tests.
    factory.db[storage.PRODUCTS].update_one(
        {"_id": product["_id"]},
        {
            "$set": {
                "benefit_rate_history": [
                    {"benefit_rate_bp": 1500, "valid_from": datetime(2023, 1, 1, tzinfo=UTC)}
                ]
            }
        },
    )
    first = factory.household(COUNTY)
    second = factory.household(COUNTY)
    factory.benefit_link(operator, first, weight=2)
    factory.benefit_link(operator, second, weight=1)
    return {"operator": operator, "product": product, "households": [first, second]}


def ingest(db, lines, **kwargs):
    return ledger.ingest(db, lines, IngestScope(COUNTY), **kwargs)


def test_certified_lines_carry_their_share_for_poor_households(db, certified):
    result = ingest(db, [line("A-1", 12_345)])
    assert result.counts()["inserted"] == 1
    stored = db[storage.SALES].find_one({"external_id": "A-1"})
    assert stored["product_id"] == certified["product"]["_id"]
    assert stored["certified"] is True
    assert stored["benefit_rate_bp"] == 1500
    assert stored["poor_income_fen"] == 1852
    assert stored["month"] == "2024-03" and stored["day"] == "2024-03-15"


def test_the_same_lines_twice_never_double_count(db, certified):
    ingest(db, [line("A-1"), line("A-2")])
    again = ingest(db, [line("A-1"), line("A-2")])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert db[storage.SALES].count_documents({}) == 2


def test_a_changed_line_updates_instead_of_duplicating(db, certified):
    ingest(db, [line("A-1", 10_000)])
    result = ingest(db, [line("A-1", 0)])
    assert result.updated == 1
    assert db[storage.SALES].count_documents({}) == 1
    assert db[storage.SALES].find_one()["poor_income_fen"] == 0


def test_a_duplicate_within_one_source_is_skipped_and_the_later_one_kept(db, certified):
    result = ingest(db, [line("A-1", 100), line("A-1", 200)])
    assert (result.inserted, result.skipped) == (1, 1)
    assert db[storage.SALES].find_one()["amount_fen"] == 200


def test_lines_are_matched_by_barcode_when_the_sku_is_unknown(db, certified):
    ingest(db, [line("A-1", sku="OTHER", barcode="6901234567892")])
    assert db[storage.SALES].find_one()["product_id"] == certified["product"]["_id"]


def test_unmatched_lines_keep_their_raw_sku_and_count_nothing_for_households(db, certified):
    result = ingest(db, [line("A-1", sku="NOPE", title="不认识的商品")])
    stored = db[storage.SALES].find_one()
    assert result.unmatched == 1
    assert stored["product_id"] is None and stored["matched"] is False
    assert stored["raw"]["sku"] == "NOPE" and stored["raw"]["title"] == "不认识的商品"
    assert stored["poor_income_fen"] == 0


def test_sales_before_certification_count_as_uncertified(db, certified):
    ingest(db, [line("OLD", occurred_at=datetime(2022, 6, 1, tzinfo=UTC))])
    stored = db[storage.SALES].find_one()
    assert stored["certified"] is False and stored["poor_income_fen"] == 0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (lambda: line("X", channel="ebay"), "channel"),
        (lambda: line(""), "external_id"),
        # Two days after the test runs (not after the module was imported).
        (lambda: line("X", occurred_at=datetime.now(UTC) + timedelta(days=2)), "occurred_at"),
        (lambda: line("X", -500, quantity=-1), "quantity"),
        (lambda: line("X", 500, quantity=-1, refund_of="A-1"), "amount_fen"),
    ],
)
def test_bad_lines_are_rejected_with_their_row_and_field(db, certified, bad, field):
    result = ingest(db, [SaleLine(**{**_fields(bad()), "row": 7})])
    assert result.rejected == 1
    [error] = result.errors
    assert (error["row"], error["field"], error["code"].split(".")[0]) == (7, field, "line")
    assert db[storage.SALES].count_documents({}) == 0


def _fields(sale: SaleLine) -> dict:
    return {name: getattr(sale, name) for name in SaleLine.__slots__}


def test_adapter_row_errors_are_counted_with_the_rest(db, certified):
    result = ingest(db, [line("A-1"), RowError(3, "金额", "Not a number.")])
    assert (result.rows, result.inserted, result.rejected) == (2, 1, 1)


def test_a_refund_reverses_its_sale_in_the_figures(db, certified):
    ingest(db, [line("A-1", 10_000), line("R-1", -10_000, quantity=-1, refund_of="A-1")])
    pool = db[storage.OPERATOR_POOLS].find_one({"month": "2024-03"})
    assert pool["pool_fen"] == 0


def test_an_enterprise_may_import_only_its_own_products(db, certified, factory):
    other = factory.operator(COUNTY)
    result = ledger.ingest(db, [line("A-1")], IngestScope(COUNTY, operator_id=other["_id"]))
    assert result.rejected == 1 and "another market operator" in result.errors[0]["message"]


def test_an_enterprise_never_overwrites_another_operators_line(db, certified, factory):
    """Its own SKU on the other operator's order number: rejected, and the stored line stays whole."""
    ingest(db, [line("A-1", 19_200)])  # the certified product's operator, imported by staff
    intruder = factory.operator(COUNTY)
    factory.product(intruder["_id"], channel_skus=[{"channel": "jd", "sku": "MINE"}])
    scope = IngestScope(COUNTY, operator_id=intruder["_id"])
    for dry_run in (True, False):
        result = ledger.ingest(db, [line("A-1", 1, sku="MINE")], scope, dry_run=dry_run)
        assert (result.rejected, result.updated, result.inserted) == (1, 0, 0)
        assert result.errors[0]["message"] == ingest_scope.FOREIGN_LINE
    stored = db[storage.SALES].find_one({"external_id": "A-1"})
    assert (stored["amount_fen"], stored["operator_id"]) == (19_200, certified["operator"]["_id"])
    assert reconcile.verify(db)[1] == []


def test_an_enterprise_loses_a_race_for_another_operators_line_without_overwriting_it(
    db, certified, factory, monkeypatch
):
    intruder = factory.operator(COUNTY)
    factory.product(intruder["_id"], channel_skus=[{"channel": "jd", "sku": "MINE"}])
    real_existing = ledger_writes.existing_lines

    def look_up_then_the_owner_imports(db_, county_code, accepted):
        found = real_existing(db_, county_code, accepted)
        monkeypatch.setattr(ledger_writes, "existing_lines", real_existing)  # the owner's ingest runs plainly
        ingest(db_, [line("A-1", 19_200)])
        return found

    monkeypatch.setattr(ledger_writes, "existing_lines", look_up_then_the_owner_imports)
    ledger.ingest(db, [line("A-1", 1, sku="MINE")], IngestScope(COUNTY, operator_id=intruder["_id"]))
    monkeypatch.undo()
    stored = db[storage.SALES].find_one({"external_id": "A-1"})
    assert (stored["amount_fen"], stored["operator_id"]) == (19_200, certified["operator"]["_id"])


def test_an_enterprise_updates_its_own_line(db, certified):
    scope = IngestScope(COUNTY, operator_id=certified["operator"]["_id"])
    ledger.ingest(db, [line("A-1", 10_000)], scope)
    result = ledger.ingest(db, [line("A-1", 0)], scope)  # refunded since
    assert result.updated == 1 and db[storage.SALES].find_one()["amount_fen"] == 0


def test_a_product_of_another_county_is_rejected(db, certified):
    result = ledger.ingest(db, [line("A-1")], IngestScope("341822"))
    assert result.rejected == 1 and "340722" in result.errors[0]["message"]


def test_a_dry_run_writes_nothing(db, certified):
    result = ingest(db, [line("A-1")], dry_run=True)
    assert result.inserted == 1
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.LEDGER_PARTITIONS].count_documents({}) == 0


def test_the_pool_is_shared_by_weight_times_days(db, certified):
    ingest(db, [line("A-1", 100_000)])  # pool 15,000 fen
    first, second = certified["households"]
    shares = {
        income["household_id"]: income["share_fen"]
        for income in db[storage.HOUSEHOLD_INCOME].find({"month": "2024-03"})
    }
    assert shares == {first["_id"]: 10_000, second["_id"]: 5_000}
    pool = db[storage.OPERATOR_POOLS].find_one({"month": "2024-03"})
    assert (pool["pool_fen"], pool["allocated_fen"], pool["unallocated_fen"]) == (15_000, 15_000, 0)
    assert pool["sources"] == [
        {
            "product_id": certified["product"]["_id"],
            "channel": "jd",
            "poor_income_fen": 15_000,
            "sales_fen": 100_000,
            "lines": 1,
        }
    ]


def test_a_pool_without_active_links_is_unallocated(db, factory):
    operator = factory.operator(COUNTY)
    product = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        channel_skus=[{"channel": "jd", "sku": "LONELY"}],
    )
    db[storage.PRODUCTS].update_one(
        {"_id": product["_id"]},
        {
            "$set": {
                "benefit_rate_history": [
                    {"benefit_rate_bp": 1000, "valid_from": datetime(2023, 1, 1, tzinfo=UTC)}
                ]
            }
        },
    )
    ingest(db, [line("A-1", 10_000, sku="LONELY")])
    pool = db[storage.OPERATOR_POOLS].find_one()
    assert (pool["pool_fen"], pool["allocated_fen"], pool["unallocated_fen"]) == (1_000, 0, 1_000)
    assert db[storage.HOUSEHOLD_INCOME].count_documents({}) == 0


def test_a_link_starting_mid_month_claims_only_its_days(db, certified, factory):
    late = factory.household(COUNTY)
    factory.benefit_link(certified["operator"], late, weight=2, valid_from=date(2024, 3, 17))  # 15 of 31 days
    ingest(db, [line("A-1", 100_000)])
    incomes = {i["household_no"]: i for i in db[storage.HOUSEHOLD_INCOME].find({"month": "2024-03"})}
    assert incomes[late["household_no"]]["weighted"] == 30
    assert incomes[late["household_no"]]["total_weighted"] == 2 * 31 + 31 + 30
    assert sum(i["share_fen"] for i in incomes.values()) == 15_000


def test_daily_rollups_split_certified_from_unmatched(db, certified):
    ingest(db, [line("A-1", 10_000), line("A-2", 3_000, sku="NOPE")])
    rows = list(db[storage.SALES_DAILY].find({"month": "2024-03"}))
    by_matched = {row["matched"]: row for row in rows}
    assert by_matched[True]["sales_fen"] == 10_000 and by_matched[True]["certified"] is True
    assert by_matched[False]["sales_fen"] == 3_000 and by_matched[False]["poor_income_fen"] == 0


def test_a_crash_before_the_rebuild_leaves_the_partition_dirty(db, certified):
    ingest(db, [line("A-1")], rebuild=False)
    assert partitions.dirty_partitions(db) == [(COUNTY, "2024-03")]
    assert db[storage.OPERATOR_POOLS].count_documents({}) == 0
    ledger_rebuilds.rebuild(db)
    assert partitions.dirty_partitions(db) == []
    assert db[storage.OPERATOR_POOLS].find_one()["pool_fen"] == 1_500


def test_an_ingest_during_a_rebuild_keeps_the_partition_dirty(db, certified, monkeypatch):
    ingest(db, [line("A-1")], rebuild=False)
    real_compute = ledger_rollups.compute_partition

    def compute_while_another_ingest_lands(db_, county, month, *groups):
        partitions.mark_dirty(db_, [(county, month)])
        return real_compute(db_, county, month, *groups)

    monkeypatch.setattr(ledger_rollups, "compute_partition", compute_while_another_ingest_lands)
    ledger_rebuilds.rebuild_partition(db, COUNTY, "2024-03")
    assert partitions.dirty_partitions(db) == [(COUNTY, "2024-03")]


def test_verify_finds_nothing_after_ingests_and_refunds(db, certified):
    ingest(db, [line("A-1", 10_000), line("A-2", 777), line("B-1", 5_000, sku="NOPE")])
    ingest(db, [line("R-1", -777, quantity=-1, refund_of="A-2")])
    checked, differences = reconcile.verify(db)
    assert checked == 1 and differences == []


def test_a_backdated_rate_change_shows_in_verify_until_the_rebuild(db, certified):
    ingest(db, [line("A-1", 10_000)])
    db[storage.PRODUCTS].update_one(
        {"_id": certified["product"]["_id"]},
        {
            "$push": {
                "benefit_rate_history": {
                    "benefit_rate_bp": 2000,
                    "valid_from": datetime(2024, 3, 1, tzinfo=UTC),
                }
            }
        },
    )
    _, differences = reconcile.verify(db)
    assert any("poor_income_fen" in str(difference) for difference in differences)
    ledger_rebuilds.rebuild(db, all_partitions=True)
    assert reconcile.verify(db)[1] == []
    assert db[storage.SALES].find_one()["poor_income_fen"] == 2_000


def test_verify_reports_a_tampered_rollup(db, certified):
    ingest(db, [line("A-1", 10_000)])
    db[storage.HOUSEHOLD_INCOME].update_one({}, {"$inc": {"share_fen": 1}})
    differences = reconcile.verify(db)[1]
    assert any("share_fen" in str(difference) for difference in differences)
    assert any("shares of operator" in str(difference) for difference in differences)


def test_rematch_resolves_lines_once_their_sku_is_mapped(db, certified):
    ingest(db, [line("A-1", 10_000, sku="LATER")])
    assert db[storage.OPERATOR_POOLS].count_documents({}) == 0
    db[storage.PRODUCTS].update_one(
        {"_id": certified["product"]["_id"]}, {"$push": {"channel_sku_keys": "jd:LATER"}}
    )
    assert ledger_rebuilds.rematch(db) == {"unmatched_before": 1, "matched": 1, "partitions_rebuilt": 1}
    assert db[storage.SALES].find_one()["product_id"] == certified["product"]["_id"]
    assert db[storage.OPERATOR_POOLS].find_one()["pool_fen"] == 1_500
    assert reconcile.verify(db)[1] == []


def test_a_product_change_marks_its_months_dirty_from_the_change_on(db, certified):
    ingest(db, [line("A-1"), line("B-1", occurred_at=datetime(2024, 5, 2, tzinfo=UTC))])
    marked = partitions.mark_product_changed(
        db, certified["product"]["_id"], since=datetime(2024, 4, 1, tzinfo=UTC)
    )
    assert marked == 1
    assert partitions.dirty_partitions(db) == [(COUNTY, "2024-05")]


def test_a_link_change_marks_the_operators_pools_dirty_and_the_next_ingest_repairs_them(
    db, certified, factory
):
    ingest(db, [line("A-1", 100_000)])
    newcomer = factory.household(COUNTY)
    factory.benefit_link(certified["operator"], newcomer, weight=1)
    assert partitions.mark_operator_links_changed(db, certified["operator"]["_id"]) == 1
    ingest(db, [line("Z-1", 100, occurred_at=datetime(2024, 6, 1, tzinfo=UTC))])
    assert partitions.dirty_partitions(db) == []
    shares = [i["share_fen"] for i in db[storage.HOUSEHOLD_INCOME].find({"month": "2024-03"})]
    assert sorted(shares) == [3_750, 3_750, 7_500]


def test_ledger_commands_rebuild_verify_and_rematch(runner, db, certified):
    ingest(db, [line("A-1", 10_000)], rebuild=False)
    rebuilt = runner.invoke(args=["ledger", "rebuild"])
    assert rebuilt.exit_code == 0 and "Rebuilt 1 county-month" in rebuilt.output
    verified = runner.invoke(args=["ledger", "verify", "--county", COUNTY])
    assert verified.exit_code == 0 and "0 difference(s)" in verified.output
    db[storage.OPERATOR_POOLS].update_one({}, {"$inc": {"pool_fen": 5}})
    tampered = runner.invoke(args=["ledger", "verify"])
    assert tampered.exit_code == 1 and "pool_fen" in tampered.output
    rematched = runner.invoke(args=["ledger", "rematch"])
    assert rematched.exit_code == 0 and "unmatched_before 0" in rematched.output


def test_staff_may_correct_a_past_rate_and_the_figures_follow(login, db, certified):
    ingest(db, [line("A-1", 10_000)])
    staff = login("county_staff")
    product_url = f"/api/v1/products/{certified['product']['_id']}"
    etag = staff.get(product_url).headers["ETag"]
    response = staff.patch(
        product_url,
        json={"benefit_rate_bp": 2000, "benefit_rate_valid_from": "2024-03-01"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.json
    assert partitions.dirty_partitions(db) == [(COUNTY, "2024-03")]
    ledger_rebuilds.rebuild(db)
    assert db[storage.OPERATOR_POOLS].find_one()["pool_fen"] == 2_000
    assert reconcile.verify(db)[1] == []


def test_an_enterprise_may_not_backdate_its_rate(login, db, certified):
    enterprise = login("enterprise", operator_id=certified["operator"]["_id"])
    product_url = f"/api/v1/products/{certified['product']['_id']}"
    etag = enterprise.get(product_url).headers["ETag"]
    response = enterprise.patch(
        product_url,
        json={"benefit_rate_bp": 2000, "benefit_rate_valid_from": "2024-03-01"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 422
    assert "benefit_rate_valid_from" in response.json["error"]["details"]


def test_ending_a_link_marks_the_operators_months_dirty(login, db, certified, factory):
    ingest(db, [line("A-1", 10_000)])
    link = db[storage.BENEFIT_LINKS].find_one({"household_id": certified["households"][0]["_id"]})
    staff = login("county_staff")
    response = staff.post(
        f"/api/v1/benefit-links/{link['_id']}/end", json={"valid_to": "2024-03-10", "reason": "退出合作"}
    )
    assert response.status_code == 200, response.json
    assert partitions.dirty_partitions(db) == [(COUNTY, "2024-03")]


def test_a_line_inserted_by_a_concurrent_ingest_is_updated_not_duplicated(db, certified, monkeypatch):
    # The other ingest lands between this batch's look-up of existing lines and its write.
    real_existing = ledger_writes.existing_lines

    def look_up_then_lose_the_race(db_, county_code, accepted):
        found = real_existing(db_, county_code, accepted)
        monkeypatch.setattr(ledger_writes, "existing_lines", real_existing)  # the race happens once
        db_[storage.SALES].insert_one(sale_lines.line_document(line("A-1", 111), IngestScope(COUNTY), None))
        return found

    monkeypatch.setattr(ledger_writes, "existing_lines", look_up_then_lose_the_race)
    ingest(db, [line("A-1", 10_000)])
    assert db[storage.SALES].count_documents({}) == 1
    assert db[storage.SALES].find_one()["amount_fen"] == 10_000


def test_every_update_of_a_sale_line_names_the_shard_key(db, certified, monkeypatch):
    """On a sharded cluster an update is routed to one shard only if its filter holds the shard key."""
    filters = []

    class RecordingUpdateOne(ledger_writes.UpdateOne):
        def __init__(self, filter, update, *args, **kwargs):
            filters.append(filter)
            super().__init__(filter, update, *args, **kwargs)

    for writer in (ledger_writes, ledger_rebuilds):
        monkeypatch.setattr(writer, "UpdateOne", RecordingUpdateOne)
    ingest(db, [line("A-1", 10_000), line("A-2", 500, sku="LATER")])
    ingest(db, [line("A-1", 9_000)])  # a changed line: updated in place
    db[storage.PRODUCTS].update_one(
        {"_id": certified["product"]["_id"]}, {"$push": {"channel_sku_keys": "jd:LATER"}}
    )
    ledger_rebuilds.rematch(db)  # the unmatched line gets its product
    history = [{"benefit_rate_bp": 900, "valid_from": datetime(2023, 1, 1, tzinfo=UTC)}]
    db[storage.PRODUCTS].update_one(
        {"_id": certified["product"]["_id"]}, {"$set": {"benefit_rate_history": history}}
    )
    partitions.mark_product_changed(db, certified["product"]["_id"])
    ledger_rebuilds.rebuild(db)  # lines refreshed with the new rate

    # Partition markers are keyed by a string id; sale lines by an ObjectId or their natural key.
    sale_filters = [f for f in filters if "external_id" in f or isinstance(f.get("_id"), ObjectId)]
    assert len(sale_filters) >= 4
    for sale_filter in sale_filters:
        assert {"county_code", "channel", "external_id"} <= set(sale_filter), sale_filter
    assert db[storage.SALES].find_one({"external_id": "A-1"})["benefit_rate_bp"] == 900
    assert reconcile.verify(db)[1] == []
