"""The payout ledger (到户资金): who may log what, its refusals, its import, the estimate beside it.

The ledger: operator P of 340722 sells its certified product T1 (10%) on 京东: 100,001 fen in January
2024 (a pool of 10,000 fen) and 30,000 fen in February (3,000 fen). Households H1 (weight 2) and H2
(weight 1) are linked to P from 2020, so H1's estimate is 6,667 + 2,000 fen and H2's 3,333 + 1,000.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import openpyxl
import pytest
import time_machine
from bson import ObjectId

from adapters.base import SaleLine
from service import benefit_links, ledger, storage
from service.access import system_principal
from service.ingest_scope import IngestScope

A, B = "340722", "341822"
USCC = "91110108551385082Q"
# 10:00 on 15 June 2040 in Asia/Shanghai: later than the wire tier's server clock (its TTL indexes).
NOW = datetime(2040, 6, 15, 2, 0, tzinfo=UTC)
HEADER = "经营主体统一社会信用代码,户编号,类型,金额(元),支付日期,支付方式,凭证号,所属期\n"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def books(factory, db):
    p = factory.operator(A, uscc=USCC, name="枞阳茶叶合作社")
    since = datetime(2023, 1, 1, tzinfo=UTC)
    product = factory.product(
        p["_id"],
        status="certified",
        certified_at=since,
        valid_days=3650,
        benefit_rate_bp=1000,
        channel_skus=[{"channel": "jd", "sku": "T1"}],
    )
    factory.certified_since(product, since, 1000)
    h1 = factory.household(A, head_name="张三")
    h2 = factory.household(A, head_name="李四")
    stranger = factory.household(A, head_name="王五")
    links = [factory.benefit_link(p, h1, weight=2), factory.benefit_link(p, h2, weight=1)]
    lines = [
        SaleLine("jd", "J-1", datetime(2024, 1, 10, 2, tzinfo=UTC), 1, 100_001, sku="T1"),
        SaleLine("jd", "F-1", datetime(2024, 2, 10, 2, tzinfo=UTC), 1, 30_000, sku="T1"),
    ]
    assert ledger.ingest(db, lines, IngestScope(A)).rejected == 0
    return {"P": p, "H1": h1, "H2": h2, "stranger": stranger, "links": links}


@pytest.fixture
def enterprise(login, books):
    return login("enterprise", operator_id=books["P"]["_id"])


def payout(household, **fields):
    return {
        "household_id": str(household["_id"]),
        "kind": "dividend",
        "amount_fen": 5_000,
        "paid_on": "2024-03-05",
        "method": "bank_card",
        "voucher_no": "PZ-001",
        "period": "2024-01",
        **fields,
    }


def _upload(caller, text: str, filename: str = "payouts.csv", **form):
    return caller.post(
        "/api/v1/payouts/import",
        data={"file": (io.BytesIO(text.encode()), filename), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data",
    )


# Logging one payout -------------------------------------------------------------------------------------


def test_an_enterprise_logs_a_payout_to_a_linked_household(enterprise, books, db):
    response = enterprise.post("/api/v1/payouts", json=payout(books["H1"]))
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["amount_fen"], body["paid_on"], body["period"], body["kind_label"]) == (
        5_000,
        "2024-03-05",
        "2024-01",
        "分红",
    )
    assert body["operator_id"] == str(books["P"]["_id"])
    assert body["head_name"] == "张*"
    stored = db[storage.PAYOUTS].find_one({})
    # The day is stored as the UTC moment it began in Asia/Shanghai.
    assert stored["paid_at"].replace(tzinfo=UTC) == datetime(2024, 3, 4, 16, tzinfo=UTC)
    assert db[storage.AUDIT_LOG].count_documents({"action": "payout.create"}) == 1


def test_a_household_without_a_link_is_refused_on_household_id_and_nothing_is_written(enterprise, books, db):
    response = enterprise.post("/api/v1/payouts", json=payout(books["stranger"]))
    assert response.status_code == 422
    assert response.json["error"]["detail_codes"]["household_id"][0]["code"] == "payout.not_linked"
    assert db[storage.PAYOUTS].count_documents({}) == 0


def test_an_unknown_household_and_another_countys_get_the_same_answer(enterprise, books, factory):
    far = factory.household(B, village_code=f"{B}100201")
    unknown = enterprise.post("/api/v1/payouts", json=payout({"_id": ObjectId()}))
    other = enterprise.post("/api/v1/payouts", json=payout(far))
    assert (unknown.status_code, unknown.json) == (other.status_code, other.json)


def test_a_period_the_link_does_not_cover_is_refused(enterprise, books):
    response = enterprise.post("/api/v1/payouts", json=payout(books["H1"], period="2019"))
    assert response.status_code == 422
    assert "household_id" in response.json["error"]["details"]


def test_a_voucher_used_twice_by_one_operator_is_a_conflict_on_voucher_no(enterprise, books, db):
    assert enterprise.post("/api/v1/payouts", json=payout(books["H1"])).status_code == 201
    again = enterprise.post("/api/v1/payouts", json=payout(books["H2"], amount_fen=1))
    assert again.status_code == 409
    assert again.json["error"]["code"] == "payout.voucher_taken"
    assert list(again.json["error"]["details"]) == ["voucher_no"]
    assert db[storage.PAYOUTS].count_documents({}) == 1


def test_another_operator_may_use_the_same_voucher_number(login, enterprise, books, factory):
    q = factory.operator(A)
    factory.benefit_link(q, books["H1"])
    assert enterprise.post("/api/v1/payouts", json=payout(books["H1"])).status_code == 201
    other = login("enterprise", operator_id=q["_id"])
    assert other.post("/api/v1/payouts", json=payout(books["H1"])).status_code == 201


def test_a_day_after_today_is_refused_on_paid_on(enterprise, books):
    response = enterprise.post("/api/v1/payouts", json=payout(books["H1"], paid_on="2040-06-16"))
    assert response.status_code == 422
    assert response.json["error"]["detail_codes"]["paid_on"][0]["code"] == "payout.paid_in_future"


def test_a_period_is_a_month_or_a_year(enterprise, books):
    response = enterprise.post("/api/v1/payouts", json=payout(books["H1"], period="2024-13"))
    assert response.status_code == 422
    assert "period" in response.json["error"]["details"]


def test_an_enterprise_may_not_log_for_another_operator_and_a_missing_one_reads_alike(enterprise, factory):
    other = factory.operator(A)
    foreign = enterprise.post(
        "/api/v1/payouts", json={**payout({"_id": ObjectId()}), "operator_id": str(other["_id"])}
    )
    missing = enterprise.post(
        "/api/v1/payouts", json={**payout({"_id": ObjectId()}), "operator_id": str(ObjectId())}
    )
    assert foreign.status_code == missing.status_code == 403
    assert foreign.json == missing.json


def test_staff_log_for_operators_of_their_counties_only(login, books):
    staff = login("county_staff", county_codes=[A])
    body = {**payout(books["H1"]), "operator_id": str(books["P"]["_id"])}
    assert staff.post("/api/v1/payouts", json=body).status_code == 201
    far = login("county_staff", county_codes=[B])
    assert far.post("/api/v1/payouts", json={**body, "voucher_no": "PZ-2"}).status_code == 403


def test_a_canteen_may_not_log_or_list_payouts(login, books):
    canteen = login("canteen")
    assert canteen.get("/api/v1/payouts").status_code == 403
    assert canteen.post("/api/v1/payouts", json=payout(books["H1"])).status_code == 403


def test_each_tenant_lists_only_its_own_payouts(login, enterprise, books, factory):
    assert enterprise.post("/api/v1/payouts", json=payout(books["H1"])).status_code == 201
    q = factory.operator(A)
    other = login("enterprise", operator_id=q["_id"])
    assert other.get("/api/v1/payouts").json["total"] == 0
    assert login("county_staff", county_codes=[A]).get("/api/v1/payouts").json["total"] == 1
    far = login("county_staff", county_codes=[B])
    assert far.get("/api/v1/payouts").json["total"] == 0
    assert far.get(f"/api/v1/payouts?county_code={A}").status_code == 403
    assert login("admin").get("/api/v1/payouts").json["total"] == 1


# Import ------------------------------------------------------------------------------------------------


def _row(
    household, voucher, *, kind="分红", amount="50.00", day="2024-03-05", method="打卡", period="2024-01"
):
    return f"{USCC},{household['household_no']},{kind},{amount},{day},{method},{voucher},{period}\n"


def test_an_import_logs_good_rows_and_names_the_field_of_each_bad_one(enterprise, books, db):
    text = (
        HEADER
        + _row(books["H1"], "V1")
        + _row(books["stranger"], "V2")
        + _row(books["H2"], "V1")
        + _row(books["H2"], "V3", kind="红包")
        + _row(books["H2"], "V4", day="2040-07-01")
    )
    result = _upload(enterprise, text).json
    assert (result["inserted"], result["rejected"]) == (1, 4)
    assert {(error["row"], error["field"]) for error in result["errors"]} == {
        (3, "household_no"),
        (4, "voucher_no"),
        (5, "kind"),
        (6, "paid_on"),
    }
    assert db[storage.PAYOUTS].find_one({})["amount_fen"] == 5_000


def test_a_dry_run_writes_nothing_and_a_second_import_changes_nothing(enterprise, books, db):
    text = HEADER + _row(books["H1"], "V1") + _row(books["H2"], "V2", period="2024")
    dry = _upload(enterprise, text, dry_run=True).json
    assert (dry["inserted"], dry["dry_run"]) == (2, True)
    assert db[storage.PAYOUTS].count_documents({}) == 0
    assert _upload(enterprise, text).json["inserted"] == 2
    again = _upload(enterprise, text).json
    assert (again["inserted"], again["unchanged"], again["rejected"]) == (0, 2, 0)


def test_a_stored_voucher_with_other_details_is_a_row_error(enterprise, books):
    assert _upload(enterprise, HEADER + _row(books["H1"], "V1")).json["inserted"] == 1
    result = _upload(enterprise, HEADER + _row(books["H1"], "V1", amount="60.00")).json
    assert result["rejected"] == 1
    assert result["errors"][0]["field"] == "voucher_no"


def test_an_enterprise_import_refuses_another_operators_rows_as_unknown(login, books, factory):
    other = login("enterprise", operator_id=factory.operator(A)["_id"])
    result = _upload(other, HEADER + _row(books["H1"], "V1")).json
    assert result["rejected"] == 1
    assert result["errors"][0]["field"] == "uscc"


def test_the_template_downloads_and_its_example_row_is_skipped(enterprise, books, db):
    response = enterprise.get("/api/v1/payouts/template")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADER.strip().split(",")
    upload = enterprise.post(
        "/api/v1/payouts/import",
        data={"file": (io.BytesIO(response.data), "payouts.xlsx")},
        content_type="multipart/form-data",
    ).json
    assert (upload["rows"], upload["skipped"], upload["rejected"]) == (1, 1, 0)
    assert db[storage.PAYOUTS].count_documents({}) == 0


# Estimated beside paid ---------------------------------------------------------------------------------


def _report(caller, query="from=2024-01&to=2024-12"):
    response = caller.get(f"/api/v1/reports/payouts?{query}")
    assert response.status_code == 200, response.json
    return response.json


def test_estimated_minus_paid_is_exact_per_household(enterprise, books):
    enterprise.post("/api/v1/payouts", json=payout(books["H1"], amount_fen=6_000, voucher_no="V1"))
    enterprise.post(
        "/api/v1/payouts", json=payout(books["H1"], amount_fen=2_000, period="2024-02", voucher_no="V2")
    )
    body = _report(enterprise)
    rows = {(row["household_no"], row["period"]): row for row in body["rows"]}
    h1, h2 = books["H1"]["household_no"], books["H2"]["household_no"]
    assert {
        key: (row["estimated_fen"], row["paid_fen"], row["difference_fen"]) for key, row in rows.items()
    } == {
        (h1, "2024-01"): (6_667, 6_000, 667),
        (h1, "2024-02"): (2_000, 2_000, 0),
        (h2, "2024-01"): (3_333, 0, 3_333),
        (h2, "2024-02"): (1_000, 0, 1_000),
    }
    assert (body["estimated_fen"], body["paid_fen"], body["difference_fen"]) == (13_000, 8_000, 5_000)
    assert {(row["household_no"], row["period"]) for row in body["never_paid"]} == {
        (h2, "2024-01"),
        (h2, "2024-02"),
    }
    assert body["unlinked"] == []


def test_a_year_paid_as_a_whole_is_one_row_holding_its_months_estimates(enterprise, books):
    enterprise.post(
        "/api/v1/payouts", json=payout(books["H2"], amount_fen=4_000, period="2024", voucher_no="Y")
    )
    body = _report(enterprise)
    h2 = [row for row in body["rows"] if row["household_id"] == str(books["H2"]["_id"])]
    assert [(row["period"], row["estimated_fen"], row["paid_fen"], row["difference_fen"]) for row in h2] == [
        ("2024", 4_333, 4_000, 333)
    ]


def test_a_payout_whose_link_was_ended_before_its_period_is_listed_as_unlinked(enterprise, books, app, db):
    enterprise.post("/api/v1/payouts", json=payout(books["H2"], voucher_no="U"))
    with app.app_context():
        benefit_links.end_link(
            db, system_principal("tests"), books["links"][1]["_id"], date(2023, 12, 31), "退出"
        )
    body = _report(enterprise)
    assert [item["voucher_no"] for item in body["unlinked"]] == ["U"]


def test_the_report_keeps_each_tenant_to_its_own(login, enterprise, books, factory):
    enterprise.post("/api/v1/payouts", json=payout(books["H1"]))
    other = login("enterprise", operator_id=factory.operator(A)["_id"])
    assert _report(other)["rows"] == []
    assert (
        login("county_staff", county_codes=[B]).get(f"/api/v1/reports/payouts?county_code={A}").status_code
        == 403
    )
    assert login("canteen").get("/api/v1/reports/payouts").status_code == 403


def test_the_income_explanation_shows_paid_beside_its_total(login, enterprise, books):
    enterprise.post("/api/v1/payouts", json=payout(books["H1"], amount_fen=6_000))
    staff = login("county_staff", county_codes=[A])
    body = staff.get(f"/api/v1/households/{books['H1']['_id']}/income?from=2024-01&to=2024-12").json
    assert (body["total_fen"], body["paid_fen"]) == (8_667, 6_000)
    outside = staff.get(f"/api/v1/households/{books['H1']['_id']}/income?from=2024-02&to=2024-12").json
    assert outside["paid_fen"] == 0
