"""Income lines (收入监测线) per province and year, and a county's 脱贫户 and 监测对象 against them.

The ledger of tests/test_statements.py: in 2024 operator P's pools go to H1 (脱贫户) and H2 (监测对象)
of village V and H4 (边缘户, so 监测对象) of village W; H3 (脱贫户, V) has no link and no income.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from service import storage
from tests.test_statements import A, B, V, W, statement_books

NOW = datetime(2040, 6, 15, 2, 0, tzinfo=UTC)
NOTICE = "本页数据仅反映消费帮扶带来的收益，不作为脱贫退出或监测识别的依据。"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def books(factory, db):
    return statement_books(factory, db)


@pytest.fixture
def admin(login):
    return login("admin")


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=[A])


def _rows(body):
    return {row["household_no"]: row for village in body["villages"] for row in village["items"]}


def test_an_admin_sets_a_line_in_fen_audited_and_staff_read_their_provinces(admin, staff, login, db):
    response = admin.put("/api/v1/income-lines/34/2024", json={"amount_fen": 400_000, "note": "省定标准"})
    assert response.status_code == 200, response.json
    assert (response.json["amount_fen"], response.json["province_code"]) == (400_000, "34")
    assert admin.put("/api/v1/income-lines/34/2024", json={"amount_fen": 450_000}).status_code == 200
    assert db[storage.INCOME_LINES].count_documents({}) == 1
    assert db[storage.AUDIT_LOG].count_documents({"action": "income_line.set"}) == 2
    assert admin.put("/api/v1/income-lines/11/2024", json={"amount_fen": 500_000}).status_code == 200
    lines = staff.get("/api/v1/income-lines").json["items"]
    assert [(line["province_code"], line["amount_fen"]) for line in lines] == [("34", 450_000)]
    assert len(admin.get("/api/v1/income-lines?year=2024").json["items"]) == 2


def test_only_admins_set_a_line_and_amounts_are_checked(admin, staff):
    refused = staff.put("/api/v1/income-lines/34/2024", json={"amount_fen": 400_000})
    assert refused.status_code == 403
    assert admin.put("/api/v1/income-lines/34/2024", json={"amount_fen": 0}).status_code == 422
    assert admin.put("/api/v1/income-lines/34/2024", json={"amount_fen": 4000.5}).status_code == 422
    assert admin.put("/api/v1/income-lines/345/2024", json={"amount_fen": 400_000}).status_code == 404
    assert admin.put("/api/v1/income-lines/34/2013", json={"amount_fen": 400_000}).status_code == 404


def test_progress_by_village_per_capita_estimated_and_paid_against_the_line(admin, staff, books, login):
    admin.put("/api/v1/income-lines/34/2024", json={"amount_fen": 2_000})  # 20 yuan a person
    enterprise = login("enterprise", operator_id=books["P"]["_id"])
    payout = {
        "household_id": str(books["H1"]["_id"]),
        "kind": "dividend",
        "amount_fen": 6_000,
        "paid_on": "2024-03-05",
        "method": "bank_card",
        "voucher_no": "PZ-001",
        "period": "2024",
    }
    assert enterprise.post("/api/v1/payouts", json=payout).status_code == 201
    body = staff.get(f"/api/v1/counties/{A}/income-line-progress?year=2024").json
    assert body["notice"] == NOTICE
    assert body["line"]["amount_fen"] == 2_000
    assert [village["village_code"] for village in body["villages"]] == [V, W]
    rows = _rows(body)
    h1, h2, h3 = (rows[books[name]["household_no"]] for name in ("H1", "H2", "H3"))
    for name, row in (("H1", h1), ("H2", h2)):
        income = staff.get(f"/api/v1/households/{books[name]['_id']}/income?from=2024-01&to=2024-12").json
        assert (row["estimated_fen"], row["paid_fen"]) == (income["total_fen"], income["paid_fen"])
        assert row["per_capita_estimated_fen"] == income["total_fen"] // 3
    assert (h1["category_label"], h2["category_label"], h3["category_label"]) == (
        "脱贫户",
        "监测对象",
        "脱贫户",
    )
    assert h1["estimated_reaches_line"] is (h1["estimated_fen"] >= 6_000)
    assert (h1["paid_fen"], h1["per_capita_paid_fen"], h1["paid_reaches_line"]) == (6_000, 2_000, True)
    assert (h3["estimated_fen"], h3["estimated_reaches_line"], h3["paid_reaches_line"]) == (0, False, False)
    village = body["villages"][0]
    assert village["households"] == 3
    assert village["paid_reaching"] == 1


def test_without_a_line_the_progress_still_lists_income_and_compares_nothing(staff, books):
    body = staff.get(f"/api/v1/counties/{A}/income-line-progress?year=2024").json
    assert body["line"] is None
    assert body["notice"] == NOTICE
    assert all(row["estimated_reaches_line"] is None for row in _rows(body).values())


def test_the_category_is_the_one_held_at_the_years_end_and_ordinary_households_are_left_out(
    staff, books, factory, login, db
):
    removed = factory.household(A, status="edge")
    history = [
        {
            "valid_from": "2014-01-01",
            "household_type": "ordinary",
            "monitoring_category": "edge",
            "identified_on": "2020-01-01",
            "risk_removed_on": "2023-06-01",
            "removal_method": "assisted",
        }
    ]
    db[storage.HOUSEHOLDS].update_one({"_id": removed["_id"]}, {"$set": {"categories": history}})
    before = _rows(staff.get(f"/api/v1/counties/{A}/income-line-progress?year=2022").json)
    assert before[removed["household_no"]]["category"] == "monitored"
    body = staff.get(f"/api/v1/counties/{A}/income-line-progress?year=2024").json
    assert removed["household_no"] not in _rows(body)
    assert sum(village["households"] for village in body["villages"]) == 4


def test_another_county_and_enterprises_are_refused(staff, books, login):
    assert staff.get(f"/api/v1/counties/{B}/income-line-progress?year=2024").status_code == 403
    enterprise = login("enterprise", operator_id=books["P"]["_id"])
    assert enterprise.get(f"/api/v1/counties/{A}/income-line-progress?year=2024").status_code == 403
    assert enterprise.get("/api/v1/income-lines").status_code == 403
