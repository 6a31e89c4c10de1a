"""Household categories on the pages: the history and its form, the targeting gaps, the dashboard's split."""

from __future__ import annotations

import io
import re
from datetime import date

import openpyxl
import pytest
import time_machine
from bson import ObjectId

from service import storage
from service.household_categories import entry
from tests.pages.test_todos_pages import menu

A = "340722"
# Later than the wire tier's server clock, whose TTL indexes would otherwise drop the login tokens at once.
TODAY = "2040-06-10T12:00+08:00"
GAP_ROW = re.compile(r'data-testid="gap-row" data-household-no="(\d+)"')


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=True):
        yield


def _version(page: str) -> str:
    form = page[page.index('data-testid="category-form"') :]
    return re.search(r'name="version" value="(\d+)"', form).group(1)


def _entries(page: str) -> list[list[str]]:
    """The history table's rows, cell by cell."""
    table = page[page.index('data-testid="category-history"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<tr data-testid="category-entry"[^>]*>(.*?)</tr>', table, re.S)
    return [[cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]


def test_the_history_is_shown_in_chinese(factory, db, page_login):
    household = factory.household(registered_on="2020-05-01")
    history = [
        entry("2020-05-01", "exited"),
        entry("2023-02-20", "exited", "unstable", "2023-02-20"),
        entry("2023-03-15", "exited", "unstable", "2023-02-20", "2023-03-15", "assisted"),
    ]
    db[storage.HOUSEHOLDS].update_one({"_id": household["_id"]}, {"$set": {"categories": history}})
    page = page_login("county_staff", county_codes=[A]).text(f"/households/{household['_id']}")
    assert "户类型与监测记录" in page
    assert _entries(page) == [
        ["2020-05-01", "脱贫户", "—", "—", "—", "—"],
        ["2023-02-20", "脱贫户", "脱贫不稳定户", "2023-02-20", "—", "—"],
        ["2023-03-15", "脱贫户", "脱贫不稳定户", "2023-02-20", "2023-03-15", "帮扶消除"],
    ]


def test_a_household_without_a_recorded_history_shows_the_one_its_status_stands_for(factory, page_login):
    household = factory.household(status="edge")
    page = page_login("county_staff", county_codes=[A]).text(f"/households/{household['_id']}")
    assert _entries(page) == [["2014-01-01", "一般农户", "边缘易致贫户", "2014-01-01", "—", "—"]]
    assert "尚未记录变更" in page


def test_a_change_is_recorded_from_the_page(factory, db, login, page_login):
    household = factory.household(registered_on="2020-05-01")
    browser = page_login("county_staff", county_codes=[A])
    url = f"/households/{household['_id']}"
    form = {
        "version": _version(browser.text(url)),
        "valid_from": "2023-02-20",
        "household_type": "exited",
        "monitoring_category": "sudden",
        "identified_on": "2023-02-20",
        "risk_removed_on": "",
        "removal_method": "",
    }
    response = browser.post(f"{url}/categories", form)
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    page = browser.text(url)
    assert ["2023-02-20", "脱贫户", "突发严重困难户", "2023-02-20", "—", "—"] in _entries(page)
    api = login("county_staff", county_codes=[A]).get(
        f"{url.replace('/households', '/api/v1/households')}/categories"
    )
    assert api.json["category"] == "sudden" and api.json["recorded"] is True
    assert db[storage.AUDIT_LOG].count_documents({"action": "household.category_change"}) == 1
    # The same form sent again carries the version it was read at: refused, nothing changed.
    again = browser.post(f"{url}/categories", {**form, "valid_from": "2023-03-01"})
    assert again.status_code == 412
    assert "该记录已被他人修改" in again.get_data(as_text=True)
    assert db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})["version"] == 2


def test_a_bad_date_is_refused_in_chinese_next_to_its_field(factory, db, page_login):
    household = factory.household(registered_on="2020-05-01")
    browser = page_login("county_staff", county_codes=[A])
    url = f"/households/{household['_id']}"
    version = _version(browser.text(url))
    before = {
        "version": version,
        "valid_from": "2020-04-30",
        "household_type": "exited",
        "monitoring_category": "edge",
        "identified_on": "2020-04-30",
    }
    response = browser.post(f"{url}/categories", before)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'data-testid="error-valid_from">2020-04-30 早于该户的登记日期 2020-05-01。<', page)
    assert 'data-testid="error-identified_on"' in page
    assert 'value="2020-04-30"' in page  # the form as sent
    response = browser.post(f"{url}/categories", {**before, "valid_from": "2023-02-30"})
    assert response.status_code == 422
    assert 'data-testid="error-valid_from">日期格式应为 YYYY-MM-DD。<' in response.get_data(as_text=True)
    response = browser.post(
        f"{url}/categories", {**before, "valid_from": "2040-06-11", "identified_on": "2040-01-01"}
    )
    assert 'data-testid="error-valid_from">2040-06-11 晚于今天。<' in response.get_data(as_text=True)
    assert db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})["version"] == 1


def test_another_countys_staff_get_the_same_answer_as_for_a_missing_household(factory, page_login):
    household = factory.household()
    other = page_login("county_staff", county_codes=["341822"])
    form = {"version": "1", "valid_from": "2023-02-20", "household_type": "exited"}
    theirs = other.post(f"/households/{household['_id']}/categories", form)
    missing = other.post(f"/households/{ObjectId()}/categories", form)
    assert theirs.status_code == missing.status_code == 403
    assert theirs.get_data(as_text=True) == missing.get_data(as_text=True)


@pytest.fixture
def gaps(factory):
    """Four monitored households of county A: one linked today, three gaps (one's link has ended)."""
    operator = factory.operator(A)
    linked = factory.household(status="monitored")
    factory.benefit_link(operator, linked)
    ended = factory.household(status="edge")
    factory.benefit_link(operator, ended, valid_to=date(2023, 12, 31))
    found = [ended, factory.household(status="monitored"), factory.household(status="edge")]
    factory.household(status="exited", exit_year=2019)
    factory.household("341822", status="edge")
    return found


def test_the_gaps_list_equals_the_apis_and_links_to_the_household_and_a_new_link(gaps, login, page_login):
    staff = page_login("county_staff", county_codes=[A])
    api = login("county_staff", county_codes=[A]).get("/api/v1/households/targeting-gaps?per_page=200").json
    page = staff.text("/households/targeting-gaps")
    assert GAP_ROW.findall(page) == [item["household_no"] for item in api["items"]]
    assert sorted(GAP_ROW.findall(page)) == sorted(household["household_no"] for household in gaps)
    assert f"共 {api['total']} 条" in page
    first = gaps[0]
    assert f'href="/households/{first["_id"]}"' in page
    assert f"/links/new?household_no={first['household_no']}" in page
    paged = staff.text("/households/targeting-gaps?per_page=2&page=2")
    assert GAP_ROW.findall(paged) == [api["items"][2]["household_no"]]


def test_the_gaps_download_holds_every_row(gaps, page_login):
    response = page_login("county_staff", county_codes=[A]).get("/households/targeting-gaps?format=xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "户编号" and rows[0][-1] == "监测对象类别"
    assert sorted(row[0] for row in rows[1:]) == sorted(household["household_no"] for household in gaps)
    assert {row[-1] for row in rows[1:]} == {"脱贫不稳定户", "边缘易致贫户"}


def test_the_to_do_counts_the_rows_of_the_gaps_list(gaps, factory, page_login):
    staff = page_login("county_staff", county_codes=[A])
    url, count = menu(staff.text("/households/"))["targeting_gaps"]
    assert count == 3 == len(GAP_ROW.findall(staff.text(url)))
    factory.benefit_link(factory.operator(A), gaps[1])
    url, count = menu(staff.text("/households/"))["targeting_gaps"]
    assert count == 2 == len(GAP_ROW.findall(staff.text(url)))


# The dashboard ------------------------------------------------------------------------------------------


def _income(db, household, month: str, share_fen: int) -> None:
    db[storage.HOUSEHOLD_INCOME].insert_one(
        {
            "county_code": A,
            "month": month,
            "operator_id": ObjectId(),
            "household_id": household["_id"],
            "household_no": household["household_no"],
            "household_county_code": A,
            "township_code": household["township_code"],
            "members": 3,
            "share_fen": share_fen,
        }
    )


def test_the_dashboard_splits_income_by_category_as_the_api_does(factory, db, login, page_login):
    removed = factory.household()
    history = [
        entry("2020-01-01", "exited"),
        entry("2023-02-20", "exited", "unstable", "2023-02-20"),
        entry("2023-03-15", "exited", "unstable", "2023-02-20", "2023-03-15", "assisted"),
    ]
    db[storage.HOUSEHOLDS].update_one({"_id": removed["_id"]}, {"$set": {"categories": history}})
    edge = factory.household(status="edge")
    _income(db, removed, "2023-02", 1_000)
    _income(db, removed, "2023-03", 200)
    _income(db, edge, "2023-03", 4)
    period = "from=2023-01&to=2023-12"
    api = login("county_staff", county_codes=[A]).get(f"/api/v1/reports/summary?{period}").json
    page = page_login("county_staff", county_codes=[A]).text(f"/county/?{period}")
    table = page[page.index('data-testid="category-table"') :]
    table = table[: table.index("</table>")]
    shown = re.findall(
        r'<tr data-testid="category-(\w+)">\s*<td>([^<]*)</td>\s*<td class="num" data-fen="(\d+)">'
        r'[^<]*</td>\s*<td class="num" data-value="(\d+)">',
        table,
    )
    expected = [
        (row["category"] or "none", row["category_label"], str(row["income_fen"]), str(row["households"]))
        for row in api["by_category"]
    ]
    assert shown == expected
    assert [label for _, label, _, _ in shown] == ["脱贫不稳定户", "边缘易致贫户", "脱贫户"]
