"""Canteen units, their yearly plans, and progress against the reserved share (预留份额)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import openpyxl
import pytest

from service import canteen_progress, canteen_sheets, canteens, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, system_principal
from service.canteen_progress import quota_figures
from service.clock import today_local

COUNTY = "340722"
OTHER_COUNTY = "341024"
URL = "/api/v1/canteens"


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


@pytest.fixture
def canteen(factory):
    return factory.canteen(COUNTY, name="枞阳县人民医院食堂", unit_type="hospital")


def new_canteen(**fields):
    return {"name": "枞阳县实验小学食堂", "unit_type": "school", "county_code": COUNTY, **fields}


# Registering and editing ---------------------------------------------------------------------------


def test_county_staff_register_a_canteen(staff, db):
    response = staff.post(URL, json=new_canteen(address="枞阳镇", contact="王老师 0556-1234567"))
    assert response.status_code == 201, response.json
    assert response.json["version"] == 1 and response.json["plans"] == []
    assert response.headers["ETag"] == f'"{response.json["id"]}-1"'
    assert db[storage.AUDIT_LOG].find_one({"action": "canteen.create"}) is not None


def test_a_canteen_name_is_unique_within_its_county_only(staff, login):
    assert staff.post(URL, json=new_canteen()).status_code == 201
    duplicate = staff.post(URL, json=new_canteen(name=" 枞阳县实验小学食堂 "))
    assert duplicate.status_code == 409 and "name" in duplicate.json["error"]["details"]
    elsewhere = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    assert elsewhere.post(URL, json=new_canteen(county_code=OTHER_COUNTY)).status_code == 201


def test_staff_cannot_register_a_canteen_in_another_county(staff):
    assert staff.post(URL, json=new_canteen(county_code=OTHER_COUNTY)).status_code == 403


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"unit_type": "bakery"}, "unit_type"),
        ({"county_code": "34072"}, "county_code"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_canteen_is_refused_by_field(staff, fields, field):
    response = staff.post(URL, json=new_canteen(**fields))
    assert response.status_code == 422 and field in response.json["error"]["details"]


def test_canteen_and_enterprise_accounts_cannot_register_or_list_canteens(login, canteen):
    for caller in (login(CANTEEN, canteen_id=canteen["_id"]), login(ENTERPRISE)):
        assert caller.post(URL, json=new_canteen()).status_code == 403
        assert caller.get(URL).status_code == 403


def test_staff_list_the_canteens_of_their_counties_with_filters(staff, factory, canteen):
    factory.canteen(COUNTY, name="枞阳县第二中学食堂", unit_type="school")
    factory.canteen(OTHER_COUNTY, name="外县机关食堂")
    listed = staff.get(URL).json
    assert [item["name"] for item in listed["items"]] == sorted(["枞阳县人民医院食堂", "枞阳县第二中学食堂"])
    assert [item["name"] for item in staff.get(URL, query_string={"unit_type": "school"}).json["items"]] == [
        "枞阳县第二中学食堂"
    ]
    assert staff.get(URL, query_string={"q": "医院"}).json["total"] == 1
    assert staff.get(URL, query_string={"county_code": OTHER_COUNTY}).status_code == 403


def test_a_canteen_account_reads_its_own_canteen_only(login, factory, canteen):
    cook = login(CANTEEN, canteen_id=canteen["_id"])
    assert cook.get(f"{URL}/{canteen['_id']}").json["name"] == "枞阳县人民医院食堂"
    other = factory.canteen(COUNTY)
    assert cook.get(f"{URL}/{other['_id']}").status_code == 403


def test_staff_of_another_county_and_enterprises_cannot_read_a_canteen(login, canteen):
    assert login(COUNTY_STAFF, county_codes=[OTHER_COUNTY]).get(f"{URL}/{canteen['_id']}").status_code == 403
    assert login(ENTERPRISE).get(f"{URL}/{canteen['_id']}").status_code == 403


def test_a_canteen_outside_the_callers_scope_answers_as_a_missing_one(login, factory, canteen):
    """Whether a canteen id exists is not something another county's staff or another canteen can learn."""
    missing = "0123456789abcdef01234567"
    other_cook = login(CANTEEN, canteen_id=factory.canteen(COUNTY, name="另一食堂")["_id"])
    for caller in (login(COUNTY_STAFF, county_codes=[OTHER_COUNTY]), other_cook):
        answers = [caller.get(f"{URL}/{canteen_id}") for canteen_id in (canteen["_id"], missing)]
        assert [answer.status_code for answer in answers] == [403, 403]
        assert answers[0].json == answers[1].json
    assert login(ADMIN).get(f"{URL}/{missing}").status_code == 404


def test_a_canteen_account_edits_its_own_address_but_not_its_name_or_county(login, canteen, db):
    cook = login(CANTEEN, canteen_id=canteen["_id"])
    etag = cook.get(f"{URL}/{canteen['_id']}").headers["ETag"]
    changed = cook.patch(f"{URL}/{canteen['_id']}", json={"address": "新地址"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json["address"] == "新地址" and changed.json["version"] == 2
    etag = changed.headers["ETag"]
    for change in ({"name": "改名食堂"}, {"county_code": OTHER_COUNTY}):
        response = cook.patch(f"{URL}/{canteen['_id']}", json=change, headers={"If-Match": etag})
        assert response.status_code == 403
    assert db[storage.CANTEENS].find_one({"_id": canteen["_id"]})["name"] == "枞阳县人民医院食堂"


def test_staff_rename_a_canteen_with_if_match(staff, canteen):
    url = f"{URL}/{canteen['_id']}"
    assert staff.patch(url, json={"name": "新名"}).status_code == 428
    assert (
        staff.patch(url, json={"name": "新名"}, headers={"If-Match": f'"{canteen["_id"]}-7"'}).status_code
        == 412
    )
    etag = staff.get(url).headers["ETag"]
    assert staff.patch(url, json={"name": "新名"}, headers={"If-Match": etag}).json["name"] == "新名"


def test_staff_cannot_move_a_canteen_to_a_county_not_theirs(staff, canteen):
    url = f"{URL}/{canteen['_id']}"
    etag = staff.get(url).headers["ETag"]
    assert staff.patch(url, json={"county_code": OTHER_COUNTY}, headers={"If-Match": etag}).status_code == 403


# Finding a canteen by its exact name (for the 832 importer) ------------------------------------------


def test_a_canteen_is_found_by_its_exact_name(db, canteen):
    assert canteens.find_canteen_by_name(db, "枞阳县人民医院食堂")["_id"] == canteen["_id"]
    assert canteens.find_canteen_by_name(db, " 枞阳县人民医院食堂\u3000")["_id"] == canteen["_id"]
    assert canteens.find_canteen_by_name(db, "枞阳县人民医院") is None
    assert canteens.find_canteen_by_name(db, "枞阳县人民医院食堂", county_code=OTHER_COUNTY) is None


def test_a_name_held_in_two_counties_needs_the_county(db, factory, canteen):
    twin = factory.canteen(OTHER_COUNTY, name="枞阳县人民医院食堂")
    assert canteens.find_canteen_by_name(db, "枞阳县人民医院食堂") is None
    assert (
        canteens.find_canteen_by_name(db, "枞阳县人民医院食堂", county_code=OTHER_COUNTY)["_id"]
        == twin["_id"]
    )
    found = canteens.find_canteens_by_names(db, ["枞阳县人民医院食堂", "无此食堂"], county_code=COUNTY)
    assert list(found) == ["枞阳县人民医院食堂"]


# Yearly plans -------------------------------------------------------------------------------------


def test_a_canteen_declares_its_plan_with_the_10_percent_floor_by_default(login, canteen):
    cook = login(CANTEEN, canteen_id=canteen["_id"])
    response = cook.put(f"{URL}/{canteen['_id']}/plans/2025", json={"food_total_fen": 3_333_333})
    assert response.status_code == 200, response.json
    [plan] = response.json["plans"]
    assert (plan["year"], plan["reserve_ratio_bp"]) == (2025, 1000)
    # 333,333.3 fen reserved: rounded up, the share is a minimum.
    assert plan["target_fen"] == 333_334


def test_a_plan_of_the_same_year_is_replaced_and_other_years_kept(staff, canteen):
    url = f"{URL}/{canteen['_id']}/plans"
    staff.put(f"{url}/2024", json={"food_total_fen": 100_000_00})
    staff.put(f"{url}/2025", json={"food_total_fen": 100_000_00})
    response = staff.put(f"{url}/2025", json={"food_total_fen": 200_000_00, "reserve_ratio_bp": 1500})
    plans = {plan["year"]: plan for plan in response.json["plans"]}
    assert sorted(plans) == [2024, 2025]
    assert (plans[2025]["food_total_fen"], plans[2025]["target_fen"]) == (200_000_00, 30_000_00)


def test_a_plan_declared_after_20_february_is_marked_late(db, canteen, app):
    with app.app_context():
        canteens.set_plan(db, system_principal(), canteen["_id"], 2019, {"food_total_fen": 100})
    [plan] = canteens.get_canteen(db, system_principal(), canteen["_id"])["plans"]
    assert plan["declared_late"] is True


@pytest.mark.parametrize(
    ("year", "data", "field"),
    [
        (2025, {"food_total_fen": 100, "reserve_ratio_bp": 999}, "reserve_ratio_bp"),
        (2025, {"food_total_fen": 0}, "food_total_fen"),
        (2025, {"food_total_fen": 12.5}, "food_total_fen"),
        (2018, {"food_total_fen": 100}, "year"),
    ],
)
def test_a_bad_plan_is_refused_by_field(staff, canteen, year, data, field):
    response = staff.put(f"{URL}/{canteen['_id']}/plans/{year}", json=data)
    assert response.status_code == 422 and field in response.json["error"]["details"], response.json


def test_a_plan_with_a_stale_if_match_is_412(staff, canteen):
    response = staff.put(
        f"{URL}/{canteen['_id']}/plans/2025",
        json={"food_total_fen": 100},
        headers={"If-Match": f'"{canteen["_id"]}-9"'},
    )
    assert response.status_code == 412


def test_a_canteen_cannot_declare_another_canteens_plan(login, factory, canteen):
    cook = login(CANTEEN, canteen_id=factory.canteen(COUNTY)["_id"])
    assert cook.put(f"{URL}/{canteen['_id']}/plans/2025", json={"food_total_fen": 100}).status_code == 403


# Quota arithmetic (pure) ---------------------------------------------------------------------------

PLAN = {"year": 2024, "food_total_fen": 10_000_000, "reserve_ratio_bp": 1500}


def test_progress_is_qualifying_over_target_in_whole_basis_points():
    figures = quota_figures(PLAN, 450_000, 2024, date(2025, 1, 10))
    assert (figures["target_fen"], figures["progress_bp"], figures["remaining_fen"]) == (
        1_500_000,
        3000,
        1_050_000,
    )


def test_the_forecast_of_a_past_year_is_its_actual():
    figures = quota_figures(PLAN, 450_000, 2024, date(2025, 1, 10))
    assert (figures["days_elapsed"], figures["forecast_fen"], figures["forecast_bp"]) == (366, 450_000, 3000)
    assert figures["status"] == "behind"


def test_the_forecast_extends_the_current_pace_to_the_whole_year():
    # 91 days of leap-year 2024 gone by on 31 March: 450,000 × 366 ÷ 91.
    figures = quota_figures(PLAN, 450_000, 2024, date(2024, 3, 31))
    assert (figures["days_elapsed"], figures["days_in_year"]) == (91, 366)
    assert (figures["forecast_fen"], figures["forecast_bp"]) == (1_809_890, 12065)
    assert figures["status"] == "on_track"


def test_a_year_not_begun_has_no_forecast_and_no_plan_no_progress():
    assert quota_figures(PLAN, 0, 2024, date(2023, 12, 31))["forecast_bp"] is None
    figures = quota_figures(None, 500, 2024, date(2024, 6, 1))
    assert (figures["target_fen"], figures["progress_bp"], figures["status"]) == (None, None, "no_plan")


def test_a_met_share_says_so_even_mid_year():
    figures = quota_figures(PLAN, 1_500_000, 2024, date(2024, 2, 1))
    assert (figures["progress_bp"], figures["status"]) == (10000, "met")


# Quota from the ledger's daily rollup ----------------------------------------------------------------


@pytest.fixture
def purchases(factory, canteen):
    """2024 via 832: certified 3,000 yuan, uncertified 2,000, a return of 500; else uncatalogued 1,000."""
    since = datetime(2023, 1, 1, tzinfo=UTC)
    certified = factory.product(county_code=OTHER_COUNTY, status="certified", certified_at=since)
    draft = factory.product(county_code=COUNTY, status="draft")
    factory.canteen_purchase(
        canteen, product_id=certified["_id"], amount_fen=300_000, invoice_no="C-1", via_832=True
    )
    factory.canteen_purchase(
        canteen, product_id=draft["_id"], amount_fen=200_000, invoice_no="P-1", via_832=True
    )
    factory.canteen_purchase(canteen, amount_fen=100_000, invoice_no="U-1")
    factory.canteen_purchase(
        canteen,
        refund_of_invoice_no="C-1",
        quantity=-1,
        amount_fen=-50_000,
        invoice_no="C-1R",
        date=date(2024, 3, 20),
    )
    factory.canteen_purchase(
        canteen, product_id=certified["_id"], amount_fen=999_999, date=date(2023, 12, 31)
    )
    factory.db[storage.CANTEENS].update_one(
        {"_id": canteen["_id"]},
        {"$set": {"plans": [{**PLAN, "declared_at": datetime(2024, 2, 1, tzinfo=UTC)}]}},
    )


def test_the_quota_counts_the_832_purchases_of_the_year(login, canteen, purchases):
    cook = login(CANTEEN, canteen_id=canteen["_id"])
    quota = cook.get(f"{URL}/{canteen['_id']}/quota", query_string={"year": 2024}).json
    assert quota["qualifying_fen"] == 450_000
    assert (quota["via_832_fen"], quota["certified_other_fen"], quota["purchases_fen"]) == (
        450_000,
        0,
        550_000,
    )
    assert (quota["not_counted_fen"], quota["lines"], quota["p832_only"]) == (100_000, 4, True)
    assert (quota["target_fen"], quota["progress_bp"]) == (1_500_000, 3000)
    assert (quota["forecast_fen"], quota["forecast_bp"]) == (450_000, 3000)


def test_the_quota_forecasts_from_the_days_elapsed(db, canteen, purchases):
    quota = canteen_progress.canteen_quota(
        db, system_principal(), canteen["_id"], 2024, today=date(2024, 3, 31)
    )
    assert (quota["forecast_fen"], quota["forecast_bp"], quota["status"]) == (1_809_890, 12065, "on_track")


def test_the_quota_reads_the_ledger_lines_the_canteen_bought(db, canteen, purchases):
    db[storage.SALES_MONTHLY].delete_many({})
    assert (
        canteen_progress.canteen_quota(db, system_principal(), canteen["_id"], 2024)["qualifying_fen"]
        == 450_000
    )
    db[storage.SALES].delete_many({})
    assert canteen_progress.canteen_quota(db, system_principal(), canteen["_id"], 2024)["qualifying_fen"] == 0


def test_a_canteen_cannot_read_another_canteens_quota(login, factory, canteen):
    cook = login(CANTEEN, canteen_id=factory.canteen(COUNTY)["_id"])
    assert cook.get(f"{URL}/{canteen['_id']}/quota").status_code == 403
    assert login(ENTERPRISE).get(f"{URL}/{canteen['_id']}/quota").status_code == 403


def test_the_quota_defaults_to_this_year_without_a_plan(staff, canteen):
    quota = staff.get(f"{URL}/{canteen['_id']}/quota").json
    assert quota["year"] == today_local().year
    assert (quota["status"], quota["target_fen"], quota["qualifying_fen"]) == ("no_plan", None, 0)


# The county report --------------------------------------------------------------------------------

REPORT = "/api/v1/reports/canteens"


def test_the_county_report_lists_every_canteen_with_its_progress(staff, factory, canteen, purchases):
    factory.canteen(COUNTY, name="枞阳县机关食堂")
    factory.canteen(OTHER_COUNTY, name="外县食堂")
    report = staff.get(REPORT, query_string={"county_code": COUNTY, "year": 2024}).json
    assert [(item["name"], item["progress_bp"]) for item in report["items"]] == [
        ("枞阳县人民医院食堂", 3000),
        ("枞阳县机关食堂", None),
    ]
    totals = report["totals"]
    assert (totals["canteens"], totals["with_plan"], totals["target_fen"], totals["qualifying_fen"]) == (
        2,
        1,
        1_500_000,
        450_000,
    )


def test_the_county_report_is_for_staff_of_that_county(login, canteen):
    query = {"county_code": COUNTY}
    assert login(COUNTY_STAFF, county_codes=[OTHER_COUNTY]).get(REPORT, query_string=query).status_code == 403
    assert login(CANTEEN, canteen_id=canteen["_id"]).get(REPORT, query_string=query).status_code == 403
    assert login(ADMIN).get(REPORT, query_string=query).status_code == 200
    assert login(ADMIN).get(REPORT).status_code == 422


def test_the_county_report_downloads_as_xlsx(staff, canteen, purchases):
    response = staff.get(REPORT, query_string={"county_code": COUNTY, "year": 2024, "format": "xlsx"})
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    row = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert row["食堂"] == "枞阳县人民医院食堂" and row["完成进度"] == "30.00%"
    assert str(row["已完成(元)"]) in ("4500", "4500.00")


def test_the_county_report_downloads_the_one_quota_sheet(staff, canteen, purchases):
    # One definition of the quota sheet: the API's workbook and the dashboard's sheet read alike.
    api = staff.get(REPORT, query_string={"county_code": COUNTY, "year": 2024, "format": "xlsx"})
    headers = [cell.value for cell in openpyxl.load_workbook(io.BytesIO(api.data)).worksheets[0][1]]
    assert headers == [column.header for column in canteen_sheets.QUOTA_COLUMNS]
