"""Households' categories over time: the month rule, dated changes, the monitoring export, the split, gaps."""

from __future__ import annotations

import io
from datetime import date

import pytest
import time_machine
from bson import ObjectId

from service import household_categories as categories
from service import reports, storage
from service.access import system_principal
from service.household_categories import entry

# Later than the wire tier's server clock, whose TTL indexes would otherwise drop the login tokens at once.
TODAY = "2040-06-10T12:00+08:00"
MONITORING_HEADER = (
    "户编号,户主姓名,户类型,监测对象类别,识别监测时间,风险是否已消除,风险消除方式,消除监测时间\n"
)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=False):
        yield


def _removed_on_the_15th() -> list[dict]:
    return [
        entry("2020-01-01", "exited"),
        entry("2023-02-20", "exited", "unstable", "2023-02-20"),
        entry("2023-03-15", "exited", "unstable", "2023-02-20", "2023-03-15", "assisted"),
    ]


# The month rule ------------------------------------------------------------------------------------------


def test_a_risk_removed_on_the_15th_counts_as_monitored_the_month_before_and_not_the_month_after():
    history = _removed_on_the_15th()
    assert categories.category_in_month(history, 2023, 2) == "unstable"
    assert categories.category_in_month(history, 2023, 4) == "exited"
    # The month of the removal goes to the category that held on its last day: no longer monitored.
    assert categories.category_in_month(history, 2023, 3) == "exited"


def test_on_the_days_themselves_the_change_holds_from_its_day():
    history = _removed_on_the_15th()
    assert categories.category_at(history, date(2023, 3, 14)) == "unstable"
    assert categories.category_at(history, date(2023, 3, 15)) == "exited"
    assert categories.category_at(history, date(2023, 2, 19)) == "exited"
    assert categories.category_at(history, date(2019, 12, 31)) is None


def test_a_household_identified_mid_month_is_monitored_for_that_month():
    history = [entry("2020-01-01", "ordinary"), entry("2024-01-20", "ordinary", "sudden", "2024-01-20")]
    assert categories.category_in_month(history, 2023, 12) == "ordinary"
    assert categories.category_in_month(history, 2024, 1) == "sudden"


def test_legacy_statuses_become_the_new_categories():
    assert categories.history_of({"status": "edge"})[0]["monitoring_category"] == "edge"
    assert categories.history_of({"status": "monitored"})[0]["monitoring_category"] == "unstable"
    assert categories.category_in_month(categories.history_of({"status": "poor"}), 2024, 1) == "exited"


# Dated changes --------------------------------------------------------------------------------------------


def _history(staff, household):
    return staff.get(f"/api/v1/households/{household['_id']}/categories")


def _change(staff, household, **data):
    etag = _history(staff, household).headers["ETag"]
    return staff.post(
        f"/api/v1/households/{household['_id']}/categories", json=data, headers={"If-Match": etag}
    )


def test_staff_record_an_identification_and_a_removal(factory, login, db):
    household = factory.household(registered_on="2020-05-01")
    staff = login("county_staff", county_codes=["340722"])
    identified = {
        "household_type": "exited",
        "monitoring_category": "unstable",
        "identified_on": "2023-02-20",
    }
    assert _change(staff, household, valid_from="2023-02-20", **identified).status_code == 200
    response = _change(
        staff,
        household,
        valid_from="2023-03-15",
        **identified,
        risk_removed_on="2023-03-15",
        removal_method="assisted",
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["recorded"] is True and body["category"] == "exited"
    assert [item["valid_from"] for item in body["items"]] == ["2020-05-01", "2023-02-20", "2023-03-15"]
    assert body["items"][2]["removal_method_label"] == "帮扶消除"
    stored = db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})
    assert stored["version"] == 3 and stored["category"] == "exited"
    assert db[storage.AUDIT_LOG].count_documents({"action": "household.category_change"}) == 2


def test_a_category_change_before_the_registration_is_refused_naming_the_field(factory, login, db):
    household = factory.household(registered_on="2020-05-01")
    staff = login("county_staff", county_codes=["340722"])
    response = _change(
        staff,
        household,
        valid_from="2020-04-30",
        household_type="exited",
        monitoring_category="edge",
        identified_on="2020-04-30",
    )
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert set(details) == {"valid_from", "identified_on"}
    assert "2020-05-01" in details["valid_from"][0]
    assert db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})["version"] == 1


def test_a_change_after_today_and_a_removal_without_its_method_are_refused(factory, login):
    household = factory.household()
    staff = login("county_staff", county_codes=["340722"])
    response = _change(staff, household, valid_from="2040-06-11", household_type="exited")
    assert set(response.json["error"]["details"]) == {"valid_from"}
    response = _change(
        staff,
        household,
        valid_from="2024-01-01",
        household_type="exited",
        monitoring_category="edge",
        identified_on="2023-01-01",
        risk_removed_on="2024-01-01",
    )
    assert set(response.json["error"]["details"]) == {"removal_method"}


def test_another_countys_staff_cannot_read_or_change_the_categories(factory, login):
    household = factory.household()
    other = login("county_staff", county_codes=["340123"])
    missing = other.get(f"/api/v1/households/{ObjectId()}/categories")
    theirs = other.get(f"/api/v1/households/{household['_id']}/categories")
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json["error"]["code"] == missing.json["error"]["code"]


# The monitoring export ------------------------------------------------------------------------------------


def _import(staff, text: str, encoding: str = "utf-8", filename: str = "监测对象.csv"):
    return staff.post(
        "/api/v1/households/import",
        data={"file": (io.BytesIO(text.encode(encoding)), filename)},
        content_type="multipart/form-data",
    )


def test_the_monitoring_export_records_dated_categories_by_its_own_columns(factory, login, db):
    removed = factory.household(registered_on="2019-01-01")
    edge = factory.household(status="edge")
    plain = factory.household()
    staff = login("county_staff", county_codes=["340722"])
    text = (
        MONITORING_HEADER
        + f"{removed['household_no']},甲,脱贫户,脱贫不稳定户,2023-02-20,是,帮扶消除,2023-03-15\n"
        + f"{edge['household_no']},乙,一般农户,边缘户,2022/7/1,否,,\n"
        + f"{plain['household_no']},丙,脱贫户,,,,,\n"
    )
    response = _import(staff, text, encoding="gb18030")
    assert response.status_code == 200, response.json
    # The third had no history recorded: it now has one, the same as its status said.
    assert (response.json["updated"], response.json["rejected"]) == (3, 0)
    stored = db[storage.HOUSEHOLDS].find_one({"_id": removed["_id"]})
    assert categories.category_in_month(stored["categories"], 2023, 2) == "unstable"
    assert categories.category_in_month(stored["categories"], 2023, 3) == "exited"
    assert db[storage.HOUSEHOLDS].find_one({"_id": edge["_id"]})["category"] == "edge"
    # Importing it again changes nothing.
    assert _import(staff, text).json["unchanged"] == 3


def test_a_monitoring_row_before_the_registration_is_a_row_error_naming_the_column(factory, login, db):
    household = factory.household(registered_on="2021-01-01")
    staff = login("county_staff", county_codes=["340722"])
    text = MONITORING_HEADER + f"{household['household_no']},甲,脱贫户,边缘易致贫户,2020-12-31,否,,\n"
    result = _import(staff, text).json
    assert result["rejected"] == 1
    assert [(error["row"], error["column"]) for error in result["errors"]] == [(2, "识别监测时间")]
    assert db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})["version"] == 1


def test_a_monitoring_row_of_an_unregistered_or_another_countys_household_is_refused_alike(factory, login):
    theirs = factory.household(county_code="340123")
    staff = login("county_staff", county_codes=["340722"])
    text = MONITORING_HEADER + f"{theirs['household_no']},甲,脱贫户,,,,,\n" + "99999999,乙,脱贫户,,,,,\n"
    errors = _import(staff, text).json["errors"]
    assert [error["field"] for error in errors] == ["household_no", "household_no"]
    assert errors[0]["message"].split(" ")[2:] == errors[1]["message"].split(" ")[2:]


def test_the_legacy_seven_column_sheet_is_still_accepted(login, db):
    staff = login("county_staff", county_codes=["340722"])
    text = (
        "户编号,村代码,户主姓名,身份证号,家庭人口数,户类型,脱贫年度\n"
        "3407229001,340722100201,张三,360426199101010071,3,边缘户,\n"
    )
    assert _import(staff, text, filename="households.csv").json["inserted"] == 1
    household = staff.get("/api/v1/households?q=3407229001").json["items"][0]
    assert household["category"] == "edge"


# Reports and gaps -----------------------------------------------------------------------------------------


def _income(db, household, month: str, share_fen: int) -> None:
    db[storage.HOUSEHOLD_INCOME].insert_one(
        {
            "county_code": "340722",
            "month": month,
            "operator_id": ObjectId(),
            "household_id": household["_id"],
            "household_no": household["household_no"],
            "household_county_code": "340722",
            "township_code": household["township_code"],
            "members": 3,
            "share_fen": share_fen,
        }
    )


def test_the_summary_splits_income_by_the_category_of_each_month_and_adds_up_to_the_totals(factory, app, db):
    removed = factory.household()
    db[storage.HOUSEHOLDS].update_one(
        {"_id": removed["_id"]}, {"$set": {"categories": _removed_on_the_15th()}}
    )
    edge = factory.household(status="edge")
    _income(db, removed, "2023-02", 1_000)
    _income(db, removed, "2023-03", 200)
    _income(db, removed, "2023-04", 30)
    _income(db, edge, "2023-03", 4)
    with app.app_context():
        body = reports.summary(db, system_principal("tests"), from_month="2023-01", to_month="2023-12")
    split = {row["category"]: (row["income_fen"], row["households"]) for row in body["by_category"]}
    assert split == {"unstable": (1_000, 0), "edge": (4, 1), "exited": (230, 1)}
    assert sum(income for income, _ in split.values()) == 1_234
    assert sum(count for _, count in split.values()) == body["households_benefited"] == 2


def test_monitored_households_with_no_active_link_are_targeting_gaps(factory, login):
    operator = factory.operator()
    linked, ended = factory.household(status="monitored"), factory.household(status="edge")
    factory.household(status="exited", exit_year=2019)
    factory.benefit_link(operator, linked)
    factory.benefit_link(operator, ended, valid_to=date(2023, 12, 31))
    staff = login("county_staff", county_codes=["340722"])
    body = staff.get("/api/v1/households/targeting-gaps").json
    assert [item["household_no"] for item in body["items"]] == [ended["household_no"]]
    assert body["total"] == 1
    assert (
        login("county_staff", county_codes=["340123"]).get("/api/v1/households/targeting-gaps").json["total"]
        == 0
    )
