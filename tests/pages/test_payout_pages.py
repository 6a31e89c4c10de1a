"""The payout pages (到户资金) and the control totals page (账实核对), over the same services as the API."""

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
def linked(factory):
    operator = factory.operator(A, name="枞阳茶叶合作社")
    household = factory.household(A, head_name="张三")
    factory.benefit_link(operator, household)
    return {"operator": operator, "household": household}


@pytest.fixture
def enterprise(page_login, linked):
    return page_login("enterprise", operator_id=linked["operator"]["_id"])


def payout_form(household, **fields):
    return {
        "household_id": str(household["_id"]),
        "kind": "wage",
        "amount": "1,200.50",
        "paid_on": "2024-03-05",
        "method": "transfer",
        "voucher_no": "GZ-001",
        "period": "2024-02",
        **fields,
    }


def test_an_enterprise_logs_a_payout_through_the_form_in_yuan(enterprise, linked, db):
    page = enterprise.text("/payouts/")
    assert 'data-testid="payout-form"' in page
    assert linked["household"]["household_no"] in page
    response = enterprise.post("/payouts/", payout_form(linked["household"]))
    assert response.status_code == 302
    assert db[storage.PAYOUTS].find_one({})["amount_fen"] == 120_050
    listing = enterprise.text("/payouts/")
    assert listing.count('data-testid="payout-row"') == 1
    assert "1,200.50" in listing and "张*" in listing


def test_a_used_voucher_is_shown_next_to_its_box_and_nothing_more_is_stored(enterprise, linked, db):
    enterprise.post("/payouts/", payout_form(linked["household"]))
    response = enterprise.post("/payouts/", payout_form(linked["household"], amount="1"))
    assert response.status_code == 422
    assert 'data-testid="error-voucher_no"' in response.get_data(as_text=True)
    assert db[storage.PAYOUTS].count_documents({}) == 1


def test_a_bad_amount_is_shown_next_to_the_amount_box(enterprise, linked, db):
    response = enterprise.post("/payouts/", payout_form(linked["household"], amount="十元"))
    assert response.status_code == 422
    assert 'data-testid="error-amount"' in response.get_data(as_text=True)
    assert db[storage.PAYOUTS].count_documents({}) == 0


def test_an_enterprise_uploads_the_template_filled_in(enterprise, linked, db):
    template = enterprise.get("/payouts/template.xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(template.data))
    sheet = workbook.worksheets[0]
    sheet.append(
        [
            linked["operator"].get("uscc") or "",
            linked["household"]["household_no"],
            "分红",
            "300.00",
            "2024-12-20",
            "打卡",
            "FH-1",
            "2024",
        ]
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = enterprise.post(
        "/payouts/upload",
        {"file": (io.BytesIO(buffer.getvalue()), "payouts.xlsx")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert 'data-testid="upload-result"' in page
    # The factory's operator has no credit code, so the row is refused on it, by its column.
    assert "经营主体统一社会信用代码" in page
    assert db[storage.PAYOUTS].count_documents({}) == 0


def test_staff_see_the_estimate_beside_what_was_paid(page_login, enterprise, linked):
    enterprise.post("/payouts/", payout_form(linked["household"]))
    staff = page_login("county_staff", county_codes=[A])
    listing = staff.text("/payouts/")
    assert 'data-testid="payout-form"' not in listing
    assert listing.count('data-testid="payout-row"') == 1
    report = staff.text("/payouts/report?from=2024-01&to=2024-12")
    assert report.count('data-testid="payout-report-row"') == 1
    assert "-1,200.50" in report


def test_other_roles_are_refused_the_pages(page_login, enterprise):
    canteen = page_login("canteen")
    assert canteen.get("/payouts/").status_code == 403
    assert canteen.get("/control-totals/").status_code == 403
    assert enterprise.get("/control-totals/").status_code == 403


def test_staff_enter_a_control_total_and_see_its_difference(page_login, db):
    lines = [SaleLine("jd", "J-1", datetime(2024, 3, 3, 2, tzinfo=UTC), 1, 100_000)]
    assert ledger.ingest(db, lines, IngestScope(A)).rejected == 0
    staff = page_login("county_staff", county_codes=[A])
    form = {"county_code": A, "channel": "jd", "month": "2024-03", "amount": "1000.01", "source": "结算单"}
    assert staff.post("/control-totals/", form).status_code == 302
    page = staff.text("/control-totals/")
    assert page.count('data-testid="control-total-row"') == 1
    assert "-0.01" in page


def test_a_control_total_for_a_month_not_begun_is_shown_at_the_month(page_login, db):
    staff = page_login("county_staff", county_codes=[A])
    form = {"county_code": A, "channel": "jd", "month": "2040-07", "amount": "1"}
    response = staff.post("/control-totals/", form)
    assert response.status_code == 422
    assert 'data-testid="error-month"' in response.get_data(as_text=True)
    assert db[storage.CONTROL_TOTALS].count_documents({}) == 0


def _upload_totals(staff, text: str, **form):
    return staff.post(
        "/control-totals/import",
        {"file": (io.BytesIO(text.encode("gb18030")), "totals.csv"), **form},
        content_type="multipart/form-data",
    )


def test_staff_upload_control_totals_on_the_page_and_see_the_rows_errors(page_login, db):
    lines = [SaleLine("jd", "J-1", datetime(2024, 3, 3, 2, tzinfo=UTC), 1, 100_000)]
    assert ledger.ingest(db, lines, IngestScope(A)).rejected == 0
    staff = page_login("county_staff", county_codes=[A])
    listing = staff.text("/control-totals/")
    assert 'data-testid="control-total-upload"' in listing
    template = staff.get("/control-totals/template.xlsx")
    assert template.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(template.data)).worksheets[0]["A1"].value == "县区代码"
    text = f"县区代码,渠道,月份,金额(元),来源\n{A},京东,2024-03,1000.01,结算单\n{B},京东,2024-03,1,\n"
    response = _upload_totals(staff, text)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[-800:]
    assert 'data-testid="count-inserted">1<' in page
    assert page.count('data-testid="control-total-row"') == 1
    assert "-0.01" in page
    assert '<tr data-row="3"><td data-label="行号" class="num">3</td><td data-label="列">县区代码' in page
    assert "您管辖的县中没有这个县区代码。" in page


def test_a_control_total_upload_without_a_file_is_shown_at_the_file(page_login, db):
    staff = page_login("county_staff", county_codes=[A])
    response = staff.post("/control-totals/import", {"dry_run": "true"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "请选择要上传的文件" in response.get_data(as_text=True)
    assert page_login("enterprise").post("/control-totals/import", {}).status_code == 403
