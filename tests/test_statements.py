"""Income statements (收益明白卡): one PDF page per household with income, the income API's totals, masked
personal data, and verification codes that report figures changed since printing.

The ledger: operator P of 340722 sells T1 (10%) on 京东: 100,001 fen in January 2024 (a pool of 10,000
fen) and 30,000 fen in February (3,000). H1 (weight 2) and H2 (weight 1) of village V are linked to P;
H3 of V has no link, so no income; H4 of another village of the county is linked too.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from bson import ObjectId
from pypdf import PdfReader

from adapters.base import SaleLine
from service import ledger, statements, storage
from service.errors import ValidationFailed
from service.ingest_scope import IngestScope
from service.xlsx import yuan_text

A, B = "340722", "341822"
V, W = f"{A}100200", f"{A}100201"
NOW = datetime(2040, 6, 15, 2, 0, tzinfo=UTC)
FULL_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def books(factory, db):
    return statement_books(factory, db)


def statement_books(factory, db) -> dict:
    """The ledger of this module's docstring (shared by the income-line and page tests)."""
    p = factory.operator(A, name="枞阳茶叶合作社")
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
    h1 = factory.household(A, head_name="张三丰", status="exited", exit_year=2019)
    h2 = factory.household(A, head_name="李四", status="monitored", exit_year=2019)
    h3 = factory.household(A, head_name="王五", status="exited", exit_year=2019)
    h4 = factory.household(A, head_name="赵六", village_code=W, status="edge")
    factory.benefit_link(p, h1, weight=2)
    factory.benefit_link(p, h2, weight=1)
    factory.benefit_link(p, h4, weight=1)
    lines = [
        SaleLine("jd", "J-1", datetime(2024, 1, 10, 2, tzinfo=UTC), 1, 100_001, sku="T1"),
        SaleLine("jd", "F-1", datetime(2024, 2, 10, 2, tzinfo=UTC), 1, 30_000, sku="T1"),
    ]
    assert ledger.ingest(db, lines, IngestScope(A)).rejected == 0
    return {"P": p, "H1": h1, "H2": h2, "H3": h3, "H4": h4}


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=[A])


def _pages(response) -> list[str]:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/pdf"
    return [page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages]


def _code(text: str) -> str:
    return re.search(r"核验码：\s*([A-Z2-7]{5}-[A-Z2-7]{5})", text).group(1)


def test_a_villages_pdf_has_one_page_per_household_with_income_and_the_income_apis_totals(staff, books):
    pages = _pages(staff.get(f"/api/v1/counties/{A}/villages/{V}/statements?year=2024"))
    assert len(pages) == 2  # H1 and H2; H3 has no income, H4 lives in another village
    for household, text in zip((books["H1"], books["H2"]), pages, strict=True):
        income = staff.get(f"/api/v1/households/{household['_id']}/income?from=2024-01&to=2024-12").json
        assert income["total_fen"] > 0
        assert f"预计获得收益 {yuan_text(income['total_fen'])} 元" in text.replace("\n", "")
        assert f"已实际支付到户 {yuan_text(income['paid_fen'])} 元" in text.replace("\n", "")
        assert household["household_no"] in text
        assert household["id_number_masked"] in text
        assert not FULL_ID_NUMBER.search(text)
        masked = household["id_number_masked"]
        assert not re.search(rf"{masked[:6]}\s*\d{{8}}\s*{masked[-4:]}", text)
        assert household["head_name"] not in text
        assert "不作为脱贫退出或监测识别的依据" in text.replace("\n", "")
    assert "张**" in pages[0]


def test_a_code_loads_the_same_figures_and_reports_a_changed_figure_as_superseded(staff, login, books):
    h1 = books["H1"]
    [text] = _pages(staff.get(f"/api/v1/households/{h1['_id']}/statement?year=2024"))
    code = _code(text)
    checked = staff.get(f"/api/v1/statements/{code}")
    assert checked.status_code == 200, checked.json
    income = staff.get(f"/api/v1/households/{h1['_id']}/income?from=2024-01&to=2024-12").json
    assert checked.json["superseded"] is False
    assert checked.json["printed"]["total_fen"] == checked.json["current"]["total_fen"] == income["total_fen"]
    assert checked.json["household"]["head_name_masked"] == "张**"
    # Typed in lower case without the dash, the code still reads.
    assert staff.get(f"/api/v1/statements/{code.replace('-', '').lower()}").json["code_grouped"] == code

    enterprise = login("enterprise", operator_id=books["P"]["_id"])
    paid = {
        "household_id": str(h1["_id"]),
        "kind": "dividend",
        "amount_fen": 5_000,
        "paid_on": "2024-03-05",
        "method": "bank_card",
        "voucher_no": "PZ-001",
        "period": "2024-01",
    }
    assert enterprise.post("/api/v1/payouts", json=paid).status_code == 201
    again = staff.get(f"/api/v1/statements/{code}").json
    assert again["superseded"] is True
    assert (again["printed"]["paid_fen"], again["current"]["paid_fen"]) == (0, 5_000)
    assert again["current"]["code_grouped"] != code


def test_printing_the_same_figures_twice_gives_the_same_code(staff, books, db):
    url = f"/api/v1/households/{books['H2']['_id']}/statement?year=2024"
    assert _code(_pages(staff.get(url))[0]) == _code(_pages(staff.get(url))[0])
    assert db[storage.STATEMENTS].count_documents({}) == 1


def test_staff_of_another_county_get_one_answer_for_missing_and_not_theirs(login, staff, books):
    far = login("county_staff", county_codes=[B])
    theirs = far.get(f"/api/v1/households/{books['H1']['_id']}/statement?year=2024")
    missing = far.get(f"/api/v1/households/{ObjectId()}/statement?year=2024")
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json == missing.json
    code = _code(_pages(staff.get(f"/api/v1/households/{books['H1']['_id']}/statement?year=2024"))[0])
    other_code = far.get(f"/api/v1/statements/{code}")
    unknown = far.get("/api/v1/statements/AAAAA-AAAAA")
    assert other_code.status_code == unknown.status_code == 403
    assert other_code.json == unknown.json
    assert far.get(f"/api/v1/counties/{A}/villages/{V}/statements?year=2024").status_code == 403


def test_enterprises_and_canteens_print_no_statements(login, books):
    enterprise = login("enterprise", operator_id=books["P"]["_id"])
    response = enterprise.get(f"/api/v1/households/{books['H1']['_id']}/statement?year=2024")
    assert response.status_code == 403
    assert login("canteen").get("/api/v1/statements/AAAAAAAAAA").status_code == 403


def test_a_village_without_income_and_a_malformed_code_are_refused_with_codes(staff, books):
    empty = staff.get(f"/api/v1/counties/{A}/villages/{A}100299/statements?year=2024")
    assert (empty.status_code, empty.json["error"]["code"]) == (404, "statement.village_without_income")
    outside = staff.get(f"/api/v1/counties/{A}/villages/{B}100200/statements?year=2024")
    assert outside.json["error"]["code"] == "statement.village_outside_county"
    assert staff.get("/api/v1/statements/0O1I").status_code == 404  # not a code's shape: no such URL
    with pytest.raises(ValidationFailed) as refused:
        statements.normalized_code("ABCDE-FGH1I")
    assert refused.value.code == "statement.bad_code"
    assert statements.normalized_code(" abcde fgh23 ") == "ABCDEFGH23"


def test_a_missing_font_is_a_coded_503(app, staff, books):
    app.config["FONT_PATH"] = "/nonexistent/font.ttc"
    response = staff.get(f"/api/v1/households/{books['H1']['_id']}/statement?year=2024")
    assert (response.status_code, response.json["error"]["code"]) == (503, "statement.font_missing")


def test_a_statement_year_is_checked(staff, books):
    response = staff.get(f"/api/v1/households/{books['H1']['_id']}/statement?year=1999")
    assert response.status_code == 422
