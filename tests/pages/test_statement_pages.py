"""The pages of income statements (收益明白卡) and of the income line (收入监测线)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from pypdf import PdfReader

from service import storage
from tests.test_statements import A, V, statement_books

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
def staff(page_login):
    return page_login("county_staff", county_codes=[A])


def _pdf_pages(response) -> list[str]:
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    return [page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages]


def test_the_household_page_prints_its_statement(staff, books):
    household = books["H1"]
    page = staff.text(f"/households/{household['_id']}?from=2024-01&to=2024-12")
    assert 'data-testid="print-statement"' in page
    [text] = _pdf_pages(staff.get(f"/households/{household['_id']}/statement.pdf?year=2024"))
    assert household["household_no"] in text


def test_the_places_page_links_each_villages_statements(staff, books):
    page = staff.text(f"/places/?county_code={A}&from=2024-01&to=2024-12")
    assert f"/places/villages/{V}/statements.pdf?year=2024" in page
    assert len(_pdf_pages(staff.get(f"/places/villages/{V}/statements.pdf?year=2024"))) == 2


def test_the_verification_page_shows_the_figures_and_a_superseded_statement(staff, books, db):
    [text] = _pdf_pages(staff.get(f"/households/{books['H2']['_id']}/statement.pdf?year=2024"))
    code = re.search(r"核验码：\s*([A-Z2-7]{5}-[A-Z2-7]{5})", text).group(1)
    page = staff.text(f"/statements/verify?code={code}")
    assert 'data-superseded="false"' in page
    # A share recomputed since printing (the ledger is derived; here changed in place).
    db[storage.HOUSEHOLD_INCOME].update_one({"household_id": books["H2"]["_id"]}, {"$inc": {"share_fen": 1}})
    page = staff.text(f"/statements/verify?code={code}")
    assert 'data-testid="verify-superseded"' in page
    unknown = staff.text("/statements/verify?code=AAAAA-AAAAA")
    assert 'data-testid="verify-error"' in unknown


def test_the_income_line_page_always_says_it_decides_nothing_and_admins_set_the_line(
    page_login, staff, books, db
):
    page = staff.text(f"/income-lines/?county_code={A}&year=2024")
    assert NOTICE in page
    assert 'data-testid="line-missing"' in page
    assert 'data-testid="set-income-line"' not in page
    admin = page_login("admin")
    response = admin.post(
        "/income-lines/set", {"county_code": A, "province_code": "34", "year": "2024", "amount_yuan": "4,000"}
    )
    assert response.status_code == 302
    assert db[storage.INCOME_LINES].find_one({})["amount_fen"] == 400_000
    page = staff.text(f"/income-lines/?county_code={A}&year=2024")
    assert 'data-fen="400000"' in page
    assert page.count(NOTICE) == 2
    assert books["H1"]["household_no"] in page
