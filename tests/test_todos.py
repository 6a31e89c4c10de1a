"""To-dos (service.todos): what each role's menu counts, and the date rules at pinned moments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from bson import ObjectId

from adapters.base import SaleLine
from service import ledger, partitions, storage, todos
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, Principal
from service.clock import utcnow
from service.ingest_scope import IngestScope

A, B = "340722", "341822"
# 10:00 on 15 June 2025 in Asia/Shanghai: the middle of a plan year, past its declaration deadline.
JUNE = datetime(2025, 6, 15, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def june():
    with time_machine.travel(JUNE, tick=False) as traveller:
        yield traveller


def staff(*counties: str) -> Principal:
    return Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=counties or (A,))


def admin() -> Principal:
    return Principal(user_id=None, username="admin", role=ADMIN)


def enterprise(operator_id: ObjectId) -> Principal:
    return Principal(user_id=None, username="firm", role=ENTERPRISE, operator_id=operator_id)


def canteen_of(canteen: dict) -> Principal:
    return Principal(user_id=None, username="cook", role=CANTEEN, canteen_id=canteen["_id"])


def counts(db, actor: Principal) -> dict[str, int]:
    return {todo.key: todo.count for todo in todos.todos(db, actor)}


def one(db, actor: Principal, key: str) -> todos.Todo:
    return next(todo for todo in todos.todos(db, actor) if todo.key == key)


def set_fields(db, product: dict, **fields) -> None:
    db[storage.PRODUCTS].update_one({"_id": product["_id"]}, {"$set": fields})


def run(db, county_code: str, operator_id=None, **fields) -> None:
    db[storage.IMPORT_RUNS].insert_one(
        {
            "channel": "jd",
            "county_code": county_code,
            "operator_id": operator_id,
            "dry_run": False,
            "status": "succeeded",
            "started_at": utcnow(),
            "heartbeat_at": utcnow(),
            "rejected": 0,
            **fields,
        }
    )


# Staff ------------------------------------------------------------------------------------------


def test_nothing_to_do_lists_no_to_do(db):
    assert todos.todos(db, staff()) == []


def test_the_review_queue_counts_products_waiting_for_a_county_step_in_the_staffs_counties(db, factory):
    for status in ("submitted", "county_approved", "publicizing", "draft", "certified", "rejected"):
        factory.product(status=status)
    factory.product(county_code=B, status="submitted")
    assert counts(db, staff())["review"] == 3
    assert counts(db, staff(B))["review"] == 1
    assert one(db, staff(), "review").endpoint == "certification_pages.review_queue"


def test_publicity_ended_counts_publicizing_products_whose_period_is_over(db, factory, june):
    over = factory.product(status="publicizing")
    set_fields(db, over, publicity_ends_at=JUNE)
    factory.product(status="publicizing")  # ends in seven days
    assert counts(db, staff())["publicity_ended"] == 1
    june.move_to(JUNE + timedelta(days=7))
    assert counts(db, staff())["publicity_ended"] == 2
    assert one(db, staff(), "publicity_ended").args == {"publicity_ended": "true"}


def test_certificates_expiring_within_30_days_at_a_pinned_moment(db, factory):
    for valid_until in (
        JUNE + timedelta(days=30),  # the last moment counted
        JUNE + timedelta(days=1),
        JUNE + timedelta(days=30, seconds=1),  # one second too late
        JUNE,  # expired now
    ):
        set_fields(db, factory.product(status="certified"), valid_until=valid_until)
    assert counts(db, staff())["expiring"] == 2
    assert one(db, staff(), "expiring").args == {"expiring_within_days": 30}


def test_unmatched_skus_count_the_sku_groups_of_this_year_in_the_staffs_counties(db):
    def line(external_id, sku, county_code=A, when=JUNE - timedelta(days=1)):
        return SaleLine(
            channel="jd", external_id=external_id, occurred_at=when, quantity=1, amount_fen=100, sku=sku
        )

    ledger.ingest(db, [line("1", "X"), line("2", "X"), line("3", "Y")], IngestScope(A))
    ledger.ingest(db, [line("4", "LAST-YEAR", when=datetime(2024, 12, 1, tzinfo=UTC))], IngestScope(A))
    ledger.ingest(db, [line("5", "Z")], IngestScope(B))
    assert counts(db, staff())["unmatched"] == 2
    assert counts(db, staff(A, B))["unmatched"] == 3


def test_canteens_behind_their_plan_in_the_staffs_counties(db, factory):
    plan = [{"year": 2025, "food_total_fen": 1_000_000}]
    factory.canteen(A, plans=plan)  # nothing bought by June: behind
    factory.canteen(A, plans=plan)
    factory.canteen(A)  # no plan: not behind
    factory.canteen(B, plans=plan)
    assert counts(db, staff())["canteens_behind"] == 2
    assert one(db, staff(), "canteens_behind").args == {"status": "behind"}


def test_stale_figures_count_the_dirty_months_of_the_dashboards_default_period(db):
    partitions.mark_dirty(db, [(A, "2025-05"), (A, "2025-06"), (A, "2024-12"), (B, "2025-06")])
    assert counts(db, staff())["stale"] == 2
    todo = one(db, staff(), "stale")
    assert (todo.endpoint, todo.anchor) == ("county_pages.dashboard", "stale-partitions")


def test_interrupted_imports_of_the_staffs_counties(db):
    run(db, A, status="interrupted")
    run(db, A, status="failed")
    run(db, B, status="interrupted")
    assert counts(db, staff())["interrupted"] == 1


def test_an_admin_sees_the_to_dos_of_every_county_that_need_no_county_named(db, factory):
    factory.product(status="submitted")
    factory.product(county_code=B, status="submitted")
    factory.canteen(A, plans=[{"year": 2025, "food_total_fen": 1_000_000}])
    assert counts(db, admin()) == {"review": 2}


# Enterprises ------------------------------------------------------------------------------------


def test_an_enterprise_counts_its_own_returned_applications_and_expiring_certificates(db, factory):
    mine, other = factory.operator(A), factory.operator(A)
    factory.product(mine["_id"], status="rejected")
    factory.product(mine["_id"], status="submitted")
    set_fields(db, factory.product(mine["_id"], status="certified"), valid_until=JUNE + timedelta(days=10))
    factory.product(other["_id"], status="rejected")
    assert counts(db, enterprise(mine["_id"])) == {"returned": 1, "expiring": 1}
    assert one(db, enterprise(mine["_id"]), "expiring").endpoint == "enterprise_pages.products"


def test_import_row_errors_count_the_operators_runs_of_the_last_30_days_that_rejected_rows(db, factory):
    mine = factory.operator(A)
    run(db, A, mine["_id"], rejected=3, started_at=JUNE - timedelta(days=30))
    run(db, A, mine["_id"], rejected=1, started_at=JUNE - timedelta(days=30, seconds=1))  # too old
    run(db, A, mine["_id"], rejected=0)
    run(db, A, None, rejected=5)  # a staff member's import
    assert counts(db, enterprise(mine["_id"])) == {"row_errors": 1}


# Canteens: the declaration deadline (20 February, Asia/Shanghai) ------------------------------------


def test_the_declaration_is_overdue_from_21_february_of_its_year():
    assert todos.declaration_overdue(2025, date(2025, 2, 20)) is False
    assert todos.declaration_overdue(2025, date(2025, 2, 21)) is True
    assert todos.declaration_overdue(2024, date(2024, 2, 29)) is True


@pytest.mark.parametrize(
    ("moment", "overdue"),
    [
        (datetime(2025, 1, 1, 0, 30, tzinfo=UTC) - timedelta(hours=8), False),  # 00:30 on 1 January
        (datetime(2025, 2, 20, 15, 59, tzinfo=UTC), False),  # 23:59 on 20 February in Shanghai
        (datetime(2025, 2, 20, 16, 0, tzinfo=UTC), True),  # 00:00 on 21 February in Shanghai
    ],
)
def test_a_canteen_without_this_years_plan_has_it_to_do_and_it_turns_overdue_after_20_february(
    db, factory, june, moment, overdue
):
    unit = factory.canteen(A, plans=[{"year": 2024, "food_total_fen": 1_000_000}])
    june.move_to(moment)
    todo = one(db, canteen_of(unit), "plan")
    assert (todo.count, todo.overdue, todo.args) == (1, overdue, {"year": 2025})
    assert ("逾期" in todo.label) is overdue


def test_a_canteen_with_this_years_plan_is_behind_until_it_buys_enough(db, factory):
    unit = factory.canteen(A, plans=[{"year": 2025, "food_total_fen": 1_000_000}])
    assert counts(db, canteen_of(unit)) == {"behind": 1}
    assert counts(db, canteen_of(factory.canteen(A))) == {"plan": 1}
