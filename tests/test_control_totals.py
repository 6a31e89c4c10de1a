"""Control totals (账实相符): outside figures per channel, county and month; `ledger verify` against them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from adapters.base import SaleLine
from service import ledger, storage
from service.ingest_scope import IngestScope

A, B = "340722", "341822"
# 10:00 on 15 June 2040 in Asia/Shanghai: later than the wire tier's server clock (its TTL indexes).
NOW = datetime(2040, 6, 15, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def sold(db):
    """京东 sales of 340722 in March 2024: 1,234.56 yuan (01:00 on 1 April in Shanghai is April)."""
    lines = [
        SaleLine("jd", "J-1", datetime(2024, 3, 3, 2, tzinfo=UTC), 1, 100_000),
        SaleLine("jd", "J-2", datetime(2024, 3, 31, 15, tzinfo=UTC), 1, 23_456),
        SaleLine("jd", "J-3", datetime(2024, 3, 31, 17, tzinfo=UTC), 1, 999),
        SaleLine("pdd", "P-1", datetime(2024, 3, 5, 2, tzinfo=UTC), 1, 5_000),
    ]
    assert ledger.ingest(db, lines, IngestScope(A)).rejected == 0


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=[A])


def put(caller, month="2024-03", channel="jd", county=A, **body):
    return caller.put(
        f"/api/v1/control-totals/{county}/{channel}/{month}", json={"amount_fen": 123_456, **body}
    )


def test_a_figure_is_entered_and_listed_beside_the_ledger(staff, sold):
    response = put(staff, source="京东结算单 2024-03")
    assert response.status_code == 200, response.json
    assert (response.json["ledger_fen"], response.json["difference_fen"]) == (123_456, 0)
    items = staff.get(f"/api/v1/control-totals?county_code={A}").json["items"]
    assert [(item["channel"], item["month"], item["amount_fen"], item["source"]) for item in items] == [
        ("jd", "2024-03", 123_456, "京东结算单 2024-03")
    ]


def test_entering_again_replaces_the_figure_with_its_version_and_audit(staff, sold, db):
    put(staff)
    again = put(staff, amount_fen=123_457).json
    assert (again["amount_fen"], again["version"], again["difference_fen"]) == (123_457, 2, -1)
    assert db[storage.CONTROL_TOTALS].count_documents({}) == 1
    actions = [entry["action"] for entry in db[storage.AUDIT_LOG].find({"entity.kind": "control_total"})]
    assert sorted(actions) == ["control_total.create", "control_total.update"]


def test_a_month_not_yet_begun_is_refused_on_month(staff, db):
    response = put(staff, month="2040-07")
    assert response.status_code == 422
    assert response.json["error"]["detail_codes"]["month"][0]["code"] == "control_total.future_month"
    assert put(staff, month="2040-06").status_code == 200
    assert db[storage.CONTROL_TOTALS].count_documents({}) == 1


def test_a_month_is_yyyy_mm(staff):
    response = put(staff, month="2024-3x")
    assert response.status_code == 422
    assert "month" in response.json["error"]["details"]


def test_an_unknown_channel_is_not_a_route(staff):
    assert put(staff, channel="ebay").status_code == 404


def test_other_counties_and_other_roles_are_refused_alike(login, staff):
    far = login("county_staff", county_codes=[B])
    assert put(far).status_code == 403
    # A county that exists and one that does not answer alike (the code named is the caller's own).
    assert put(far).json["error"]["code"] == put(far, county="999999").json["error"]["code"]
    assert far.get(f"/api/v1/control-totals?county_code={A}").status_code == 403
    for role in ("enterprise", "canteen"):
        caller = login(role)
        assert put(caller).status_code == 403
        assert caller.get("/api/v1/control-totals").status_code == 403


def test_staff_list_only_their_counties_figures(login, staff, admin_put):
    assert staff.get("/api/v1/control-totals").json["items"] == []
    assert len(login("admin").get("/api/v1/control-totals").json["items"]) == 1


@pytest.fixture
def admin_put(login):
    assert put(login("admin"), county=B).status_code == 200


# ledger verify --------------------------------------------------------------------------------------------


def test_verify_passes_when_the_ledger_equals_every_figure(runner, staff, sold):
    put(staff)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "Compared 1 control total(s) with the ledger: 0 difference(s)." in result.output


def test_a_figure_one_fen_off_makes_verify_exit_1_naming_the_channel_and_month(runner, staff, sold):
    put(staff, amount_fen=123_457)
    put(staff, channel="pdd", amount_fen=5_000)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "340722 2024-03 channel jd sales vs control total: stored 123456, expected 123457" in result.output
    assert "channel pdd" not in result.output


def test_a_figure_for_a_month_without_sales_is_a_difference(runner, staff):
    put(staff, month="2024-05", amount_fen=1)
    result = runner.invoke(args=["ledger", "verify", "--county", A, "--from", "2024-05", "--to", "2024-05"])
    assert result.exit_code == 1
    assert "2024-05 channel jd" in result.output


def test_verify_keeps_to_the_chosen_counties_and_months(runner, staff, sold):
    put(staff, amount_fen=1)
    assert runner.invoke(args=["ledger", "verify", "--county", B]).exit_code == 0
    assert runner.invoke(args=["ledger", "verify", "--from", "2024-04"]).exit_code == 0


def test_the_apis_verify_lists_the_control_total_difference_too(staff, sold):
    put(staff, amount_fen=123_455)
    differences = staff.get("/api/v1/ledger/verify").json["differences"]
    assert [(d["month"], d["what"], d["stored"], d["expected"]) for d in differences] == [
        ("2024-03", "channel jd sales vs control total", 123_456, 123_455)
    ]
