"""Canteens as the 832 system counts them: own, shared, outsourced or no canteen; a supervising
unit's roll-up; the union's share apart from the canteen's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from adapters.base import SaleLine
from service import canteen_progress, canteen_rollups, canteens, demo_canteens, ledger, todos
from service.access import CANTEEN, COUNTY_STAFF, Principal
from service.canteen_quota import UNION_SHARE, VIA_832, line_qualification
from service.clock import end_of_local_day
from service.errors import ValidationFailed
from service.ingest_scope import IngestScope

COUNTY = "340722"
YEAR = 2041
# 10:00 on 1 July 2041 in Asia/Shanghai: half the plan year gone by.
JULY = datetime(2041, 7, 1, 2, 0, tzinfo=UTC)
TODAY = date(2041, 7, 1)
PLAN = [{"year": YEAR, "food_total_fen": 1_000_000}]  # target 100,000 fen


@pytest.fixture(autouse=True)
def july():
    with time_machine.travel(JULY, tick=False) as traveller:
        yield traveller


def staff() -> Principal:
    return Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=(COUNTY,))


def account_of(unit: dict) -> Principal:
    return Principal(user_id=None, username="cook", role=CANTEEN, canteen_id=unit["_id"])


_orders = iter(range(1, 10_000))


def bought(
    db, unit: dict, amount_fen: int, *, day: date = date(2041, 3, 1), buyer_type: str = "unit"
) -> None:
    """An 832 order of the unit (or of its union), as the county's import ingests it."""
    line = SaleLine(
        channel="p832",
        external_id=f"832-{next(_orders)}",
        occurred_at=end_of_local_day(day) - timedelta(hours=3),
        quantity=1,
        amount_fen=amount_fen,
        sku="832-RICE",
        buyer_type=buyer_type,
        buyer_unit_id=str(unit["_id"]),
    )
    assert ledger.ingest(db, [line], IngestScope(COUNTY)).errors == []


def quota(db, unit: dict) -> dict:
    return canteen_progress.canteen_quota(db, staff(), unit["_id"], YEAR, TODAY)


def report(db) -> dict:
    return canteen_progress.county_quota_report(db, staff(), COUNTY, YEAR, TODAY)


# No canteen (无食堂) ---------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", [date(2041, 1, 1), TODAY, date(2041, 12, 31), date(2042, 3, 1)])
def test_a_unit_without_a_canteen_needs_no_share_and_is_never_behind(db, factory, moment):
    unit = factory.canteen(COUNTY, mode="none", plans=PLAN)
    figures = canteen_progress.canteen_quota(db, staff(), unit["_id"], YEAR, moment)
    assert figures["status"] == canteens.NOT_REQUIRED
    assert figures["target_fen"] is None and figures["progress_bp"] is None
    assert canteen_progress.QUOTA_STATUSES[figures["status"]] == "不作要求"


def test_the_menu_and_the_dashboard_count_the_same_canteens_behind_and_never_one_without_a_canteen(
    db, factory
):
    factory.canteen(COUNTY, plans=PLAN)  # nothing bought by July: behind
    factory.canteen(COUNTY, mode="none")
    factory.canteen(COUNTY, mode="none", plans=PLAN)
    menu = next(todo for todo in todos.todos(db, staff()) if todo.key == "canteens_behind")
    totals = report(db)["totals"]
    assert menu.count == totals["behind"] == 1
    assert totals["not_required"] == 2


def test_a_unit_without_a_canteen_has_no_plan_to_declare_nor_to_do(db, factory):
    unit = factory.canteen(COUNTY, mode="none")
    assert [todo.key for todo in todos.todos(db, account_of(unit)) if todo.count] == []
    with pytest.raises(ValidationFailed) as refused:
        canteens.set_plan(db, staff(), unit["_id"], YEAR, {"food_total_fen": 1_000_000})
    assert refused.value.code == "canteen.no_canteen_no_plan"


# Shared (合用食堂) -------------------------------------------------------------------------------------


def test_a_shared_canteens_reporter_carries_the_units_it_reports_for(db, factory):
    school = factory.canteen(COUNTY, name="实验小学", plans=PLAN)
    kindergarten = factory.canteen(COUNTY, name="实验幼儿园", mode="shared")
    canteens.update_canteen(
        db, staff(), school["_id"], 1, {"mode": "shared", "shared_unit_ids": [kindergarten["_id"]]}
    )
    bought(db, school, 30_000)
    bought(db, kindergarten, 30_000)
    reporter, reported = quota(db, school), quota(db, kindergarten)
    assert reporter["qualifying_fen"] == 60_000 and reporter["status"] == canteen_progress.ON_TRACK
    assert reported["status"] == canteens.REPORTED_BY_OTHER and reported["purchases_fen"] == 0
    assert reported["reported_by"] == {"canteen_id": school["_id"], "name": "实验小学"}
    assert report(db)["totals"]["purchases_fen"] == 60_000  # each line once


def test_a_unit_is_reported_for_by_one_shared_canteen_only(db, factory):
    first = factory.canteen(COUNTY, mode="shared")
    second = factory.canteen(COUNTY, mode="shared")
    unit = factory.canteen(COUNTY, mode="shared")
    canteens.update_canteen(db, staff(), first["_id"], 1, {"shared_unit_ids": [unit["_id"]]})
    with pytest.raises(ValidationFailed) as refused:
        canteens.update_canteen(db, staff(), second["_id"], 1, {"shared_unit_ids": [unit["_id"]]})
    assert refused.value.code == "canteen.shared_unit_taken"
    with pytest.raises(ValidationFailed) as refused:
        canteens.update_canteen(
            db, staff(), factory.canteen(COUNTY)["_id"], 1, {"shared_unit_ids": [unit["_id"]]}
        )
    assert refused.value.code == "canteen.shared_units_need_shared_mode"


# Outsourced (外包食堂) --------------------------------------------------------------------------------


def test_an_outsourced_canteen_still_reserves_and_its_contractors_purchases_count_for_it(db, factory):
    unit = factory.canteen(COUNTY, plans=PLAN)
    after = canteens.update_canteen(
        db, staff(), unit["_id"], 1, {"mode": "outsourced", "contractor": "安徽膳食公司"}
    )
    assert after["contractor"] == "安徽膳食公司"
    assert quota(db, unit)["status"] == canteen_progress.BEHIND
    bought(db, unit, 100_000)
    assert quota(db, unit)["status"] == canteen_progress.MET


def test_only_an_outsourced_canteen_names_a_contractor(db, factory):
    unit = factory.canteen(COUNTY)
    with pytest.raises(ValidationFailed) as refused:
        canteens.update_canteen(db, staff(), unit["_id"], 1, {"contractor": "安徽膳食公司"})
    assert refused.value.code == "canteen.contractor_needs_outsourced"


# Supervising unit (主管预算单位) --------------------------------------------------------------------------


def test_a_supervising_units_figures_are_the_sum_of_its_subordinates(db, factory):
    bureau = factory.canteen(COUNTY, name="县教育局", mode="none")
    schools = [factory.canteen(COUNTY, parent_id=bureau["_id"], plans=PLAN) for _ in range(3)]
    grandchild = factory.canteen(COUNTY, parent_id=schools[0]["_id"], plans=PLAN)
    factory.canteen(COUNTY, plans=PLAN)  # another department's unit
    for amount, unit in zip((10_000, 55_000, 120_000, 7_000), [*schools, grandchild], strict=True):
        bought(db, unit, amount)
    rollup = canteen_rollups.unit_rollup(db, account_of(bureau), bureau["_id"], YEAR, TODAY)
    below = [item for item in rollup["items"] if item["depth"] > 0]
    assert [item["depth"] for item in rollup["items"]] == [0, 1, 1, 1, 2]
    for name in ("target_fen", "qualifying_fen", "purchases_fen", "union_qualifying_fen"):
        assert rollup["subordinates"][name] == sum(item[name] or 0 for item in below)
    assert rollup["subordinates"]["qualifying_fen"] == rollup["totals"]["qualifying_fen"] == 192_000
    assert rollup["totals"]["target_fen"] == 400_000
    assert rollup["totals"]["not_required"] == 1  # the bureau itself has no canteen


def test_a_subordinate_cannot_see_its_supervising_units_roll_up(db, factory):
    bureau = factory.canteen(COUNTY)
    school = factory.canteen(COUNTY, parent_id=bureau["_id"])
    with pytest.raises(Exception) as refused:
        canteen_rollups.unit_rollup(db, account_of(school), bureau["_id"], YEAR, TODAY)
    assert refused.value.code == "canteen.not_in_scope"


def test_a_unit_cannot_be_supervised_by_a_unit_below_it(db, factory):
    bureau = factory.canteen(COUNTY)
    school = factory.canteen(COUNTY, parent_id=bureau["_id"])
    with pytest.raises(ValidationFailed) as refused:
        canteens.update_canteen(db, staff(), bureau["_id"], 1, {"parent_id": school["_id"]})
    assert refused.value.code == "canteen.parent_cycle"


# Union share (工会) -------------------------------------------------------------------------------------


def test_the_unions_purchases_count_toward_its_own_share_only(db, factory):
    unit = factory.canteen(COUNTY)
    canteens.set_plan(
        db,
        staff(),
        unit["_id"],
        YEAR,
        {"food_total_fen": 1_000_000, "union_total_fen": 200_000, "union_ratio_bp": 3000},
    )
    bought(db, unit, 40_000)
    bought(db, unit, 30_000, buyer_type="union")
    figures = quota(db, unit)
    assert figures["qualifying_fen"] == 40_000
    assert (figures["union_target_fen"], figures["union_qualifying_fen"]) == (60_000, 30_000)
    assert figures["union_progress_bp"] == 5000
    assert (
        figures["purchases_fen"]
        == figures["qualifying_fen"] + figures["not_counted_fen"] + figures["union_fen"]
    )


def test_a_union_line_shows_it_counts_toward_the_union_share():
    line = {"month": "2041-03", "channel": "p832", "amount_fen": 500, "buyer": {"type": "union"}}
    assert line_qualification(line) == (False, UNION_SHARE)
    assert line_qualification({**line, "buyer": {"type": "unit"}}) == (True, VIA_832)


def test_the_unions_share_needs_both_its_total_and_its_ratio(db, factory):
    unit = factory.canteen(COUNTY)
    with pytest.raises(ValidationFailed) as refused:
        canteens.set_plan(
            db, staff(), unit["_id"], YEAR, {"food_total_fen": 1_000_000, "union_ratio_bp": 3000}
        )
    assert refused.value.code == "canteen.union_share_pair"


def test_the_roll_up_api_answers_the_supervising_units_account_and_refuses_another(login, factory):
    bureau = factory.canteen(COUNTY, mode="none")
    school = factory.canteen(COUNTY, parent_id=bureau["_id"], plans=PLAN)
    own = login(CANTEEN, canteen_id=bureau["_id"]).get(f"/api/v1/canteens/{bureau['_id']}/rollup?year={YEAR}")
    assert own.status_code == 200, own.json
    assert [item["canteen_id"] for item in own.json["items"]] == [str(bureau["_id"]), str(school["_id"])]
    assert own.json["subordinates"]["target_fen"] == own.json["totals"]["target_fen"] == 100_000
    other = login(CANTEEN, canteen_id=school["_id"]).get(f"/api/v1/canteens/{bureau['_id']}/rollup")
    assert other.status_code == 403


def test_staff_set_a_units_mode_and_supervising_unit_through_the_api(login, factory):
    staff_api = login(COUNTY_STAFF, county_codes=[COUNTY])
    bureau, school = factory.canteen(COUNTY), factory.canteen(COUNTY)
    response = staff_api.patch(
        f"/api/v1/canteens/{school['_id']}",
        json={"mode": "outsourced", "contractor": "安徽膳食公司", "parent_id": str(bureau["_id"])},
        headers={"If-Match": f'"{school["_id"]}-1"'},
    )
    assert response.status_code == 200, response.json
    assert (response.json["mode"], response.json["parent_id"]) == ("outsourced", str(bureau["_id"]))
    cook = login(CANTEEN, canteen_id=school["_id"])
    refused = cook.patch(
        f"/api/v1/canteens/{school['_id']}",
        json={"mode": "none"},
        headers={"If-Match": f'"{school["_id"]}-2"'},
    )
    assert refused.status_code == 403


# The demo ---------------------------------------------------------------------------------------------


def test_the_demo_supervising_unit_has_three_subordinate_canteens_of_different_modes(db):
    bureau = demo_canteens.load(db, staff(), COUNTY, ["91110108551385082Q"], TODAY, password="demo-pass-2020")
    rollup = canteen_rollups.unit_rollup(db, account_of(bureau), bureau["_id"], YEAR, TODAY)
    canteens_below = [item for item in rollup["items"] if item["depth"] == 1 and not item["reported_by"]]
    assert sorted(item["mode"] for item in canteens_below) == ["outsourced", "own", "shared"]
    assert rollup["items"][0]["status"] == canteens.NOT_REQUIRED
    below = rollup["items"][1:]
    assert rollup["subordinates"]["qualifying_fen"] == sum(item["qualifying_fen"] for item in below) > 0
    assert rollup["subordinates"]["union_qualifying_fen"] == 900_000
