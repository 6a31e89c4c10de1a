"""Control totals (账实相符): outside figures per channel, county and month; `ledger verify` against them."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
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


# Import ------------------------------------------------------------------------------------------------

HEADER = "县区代码,渠道,月份,金额(元),来源\n"


def upload(caller, text: str, filename: str = "totals.csv", encoding: str = "utf-8", **form):
    return caller.post(
        "/api/v1/control-totals/import",
        data={
            "file": (io.BytesIO(text.encode(encoding)), filename),
            **{name: str(value).lower() for name, value in form.items()},
        },
        content_type="multipart/form-data",
    )


def test_a_file_enters_figures_in_yuan_beside_the_ledger_and_again_changes_nothing(staff, sold, db):
    text = HEADER + f'{A},京东,2024-03,"1,234.56",京东结算单\n{A},pdd,2024-3,50,\n'
    first = upload(staff, text).json
    assert (first["rows"], first["inserted"], first["rejected"]) == (2, 2, 0), first
    items = staff.get(f"/api/v1/control-totals?county_code={A}").json["items"]
    assert [(i["channel"], i["amount_fen"], i["difference_fen"], i["source"]) for i in items] == [
        ("jd", 123_456, 0, "京东结算单"),
        ("pdd", 5_000, 0, None),
    ]
    again = upload(staff, text).json
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert db[storage.AUDIT_LOG].count_documents({"action": "control_total.create"}) == 2
    assert db[storage.AUDIT_LOG].count_documents({"action": "control_total.update"}) == 0


def test_a_changed_amount_in_a_later_file_replaces_the_figure_like_entering_it(staff, sold, db):
    put(staff, amount_fen=1)
    result = upload(staff, HEADER + f"{A},jd,2024-03,1234.56,\n").json
    assert (result["updated"], result["rejected"]) == (1, 0)
    stored = db[storage.CONTROL_TOTALS].find_one({"county_code": A})
    assert (stored["amount_fen"], stored["version"], stored["updated_by"]["role"]) == (
        123_456,
        2,
        "county_staff",
    )
    assert db[storage.AUDIT_LOG].count_documents({"action": "control_total.update"}) == 1


def test_a_gb18030_csv_is_read(staff, sold, db):
    result = upload(staff, HEADER + f"{A},京东,2024-03,1234.56,结算单\n", encoding="gb18030").json
    assert (result["inserted"], result["rejected"]) == (1, 0), result
    assert db[storage.CONTROL_TOTALS].find_one()["source"] == "结算单"


def test_row_errors_name_the_column_and_row_and_nothing_of_theirs_is_stored(login, staff, db):
    text = HEADER + (
        f"{A},京东,2040-07,1,\n"  # row 2: not begun (10:00 on 15 June 2040)
        f"{A},亚马逊,2024-03,1,\n"  # row 3: no such channel
        f"{B},jd,2024-03,1,\n"  # row 4: another's county
        "999999,jd,2024-03,1,\n"  # row 5: no such county: read alike
        f"{A},jd,2024-03,1.234,\n"  # row 6: below a fen
        f"{A},jd,2040-06,1,\n"  # row 7: this month: fine
        f"{A},京东,2040-06,2,\n"  # row 8: the same figure twice
    )
    result = upload(staff, text).json
    assert (result["inserted"], result["rejected"]) == (1, 6), result
    by_row = {error["row"]: (error["column"], error["message"]) for error in result["errors"]}
    assert {row: column for row, (column, _message) in by_row.items()} == {
        2: "月份",
        3: "渠道",
        4: "县区代码",
        5: "县区代码",
        6: "金额(元)",
        8: "月份",
    }
    assert by_row[4][1] == by_row[5][1]
    assert "has not begun" in by_row[2][1]
    assert db[storage.CONTROL_TOTALS].count_documents({}) == 1


def test_a_dry_run_counts_and_stores_nothing(staff, db):
    result = upload(staff, HEADER + f"{A},jd,2024-03,1,\n", dry_run=True).json
    assert (result["dry_run"], result["inserted"]) == (True, 1)
    assert db[storage.CONTROL_TOTALS].count_documents({}) == 0
    assert db[storage.AUDIT_LOG].count_documents({"action": {"$regex": "^control_total"}}) == 0


def test_a_file_without_the_required_columns_is_refused(staff):
    response = upload(staff, "县区代码,渠道,月份\n340722,jd,2024-03\n")
    assert response.status_code == 422


def test_only_staff_import_and_download_the_template(login):
    for role in ("enterprise", "canteen"):
        caller = login(role)
        assert upload(caller, HEADER + f"{A},jd,2024-03,1,\n").status_code == 403
        assert caller.get("/api/v1/control-totals/template").status_code == 403


def test_the_template_downloads_and_its_example_row_is_skipped(staff, db):
    response = staff.get("/api/v1/control-totals/template")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADER.strip().split(",")
    result = staff.post(
        "/api/v1/control-totals/import",
        data={"file": (io.BytesIO(response.data), "totals.xlsx")},
        content_type="multipart/form-data",
    ).json
    assert (result["rows"], result["skipped"], result["rejected"]) == (1, 1, 0)
    assert db[storage.CONTROL_TOTALS].count_documents({}) == 0


def test_an_xlsx_file_is_read_with_its_month_as_a_date_cell(staff, sold, db):
    book = openpyxl.Workbook()
    book.active.append(HEADER.strip().split(","))
    book.active.append([A, "京东", datetime(2024, 3, 1), 1234.56, None])
    stream = io.BytesIO()
    book.save(stream)
    result = staff.post(
        "/api/v1/control-totals/import",
        data={"file": (io.BytesIO(stream.getvalue()), "totals.xlsx")},
        content_type="multipart/form-data",
    ).json
    assert (result["inserted"], result["rejected"]) == (1, 0), result
    assert staff.get("/api/v1/control-totals").json["items"][0]["difference_fen"] == 0


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
