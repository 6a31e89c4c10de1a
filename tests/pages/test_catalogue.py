"""The catalogue pages: product review and certification, products, operators, households, links."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from adapters.base import SaleLine
from service import ledger, storage
from service.ingest_scope import IngestScope
from tests.conftest import _drop, make_test_app
from tests.factories import valid_id_number

A, B = "340722", "341822"
JAN = datetime(2024, 1, 15, 2, 0, tzinfo=UTC)
FEB = datetime(2024, 2, 10, 2, 0, tzinfo=UTC)
SINCE = datetime(2023, 1, 1, tzinfo=UTC)
PERIOD = "from=2024-01&to=2024-02"


@pytest.fixture
def app():
    """Publicity ends as soon as it starts, so a test can certify right after publicizing."""
    app = make_test_app(PUBLICITY_DAYS=0)
    yield app
    _drop(app)


def follow(browser, response) -> str:
    """The page a form post redirected to (with its flashed message)."""
    assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    return browser.text(response.headers["Location"])


def status_of(db, product) -> str:
    return db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"]


def workbook(response):
    assert response.status_code == 200, response.get_data(as_text=True)[-500:]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return openpyxl.load_workbook(io.BytesIO(response.data))


def column(sheet, header: str) -> list:
    headers = [cell.value for cell in sheet[1]]
    index = headers.index(header)
    return [row[index] for row in sheet.iter_rows(min_row=2, values_only=True)]


def count_testid(page: str, name: str) -> int:
    return page.count(f'data-testid="{name}"')


@pytest.fixture
def books(factory, db):
    """Operator P (tea T1 certified at 15% on jd) linked to H1 (weight 2) and H2 (weight 1), with sales."""
    operator = factory.operator(A, name="枞阳茶叶合作社")
    tea = factory.product(
        operator["_id"],
        status="certified",
        certified_at=SINCE,
        valid_days=3650,
        benefit_rate_bp=1500,
        name="枞阳黄花茶",
        channel_skus=[{"channel": "jd", "sku": "T1"}],
    )
    tea = factory.certified_since(tea, SINCE, 1500)
    h1 = factory.household(A, village_code=f"{A}101001", head_name="张三", members=4)
    h2 = factory.household(A, village_code=f"{A}102001", head_name="李四", members=2)
    factory.benefit_link(operator, h1, weight=2, mechanism="purchase")
    factory.benefit_link(operator, h2, weight=1, mechanism="employment")
    lines = [
        SaleLine(channel="jd", external_id="A-1", occurred_at=JAN, quantity=2, amount_fen=100_000, sku="T1"),
        SaleLine(channel="jd", external_id="A-2", occurred_at=JAN, quantity=1, amount_fen=33_333, sku="T1"),
        SaleLine(channel="jd", external_id="B-1", occurred_at=FEB, quantity=1, amount_fen=40_000, sku="T1"),
    ]
    result = ledger.ingest(db, lines, IngestScope(A))
    assert result.rejected == 0, result.errors
    return {"operator": operator, "product": tea, "households": {"H1": h1, "H2": h2}}


# Certification -----------------------------------------------------------------------------------


def test_a_product_goes_from_application_to_certificate_through_the_pages(page_login, factory, db):
    operator = factory.operator(A)
    product = factory.product(operator["_id"], name="枞阳大米")
    enterprise = page_login("enterprise", operator_id=operator["_id"])
    url = f"/products/{product['_id']}"

    page = enterprise.text(url)
    assert count_testid(page, "action-submit") == 1 and count_testid(page, "action-approve") == 0
    assert "已提交认定申请" in follow(enterprise, enterprise.post(f"{url}/transition", {"action": "submit"}))
    assert status_of(db, product) == "submitted"

    staff = page_login("county_staff", county_codes=[A])
    queue = staff.text("/products/review")
    assert count_testid(queue, "review-item") == 1 and url in queue and "已申请" in queue
    page = staff.text(url)
    assert {"action-approve", "action-reject"} <= set(re.findall(r'data-testid="(action-\w+)"', page))
    assert count_testid(page, "reason-reject") == 1

    note = "镇里已实地查看"
    page = follow(staff, staff.post(f"{url}/transition", {"action": "approve", "township_review_note": note}))
    assert "已审核通过" in page and note in page
    assert 'data-status="county_approved"' in page
    page = follow(staff, staff.post(f"{url}/transition", {"action": "publicize"}))
    assert "已进入公示" in page and 'data-status="publicizing"' in page
    assert "公示中" in staff.text("/products/review")
    page = follow(staff, staff.post(f"{url}/transition", {"action": "certify"}))

    stored = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert stored["status"] == "certified"
    assert f"已认定，证书编号 {stored['certificate_no']}" in page
    assert 'data-status="certified"' in page and count_testid(page, "action-revoke") == 1
    # The history names who took each step.
    assert count_testid(page, "history-item") == 5 and staff.user["username"] in page
    assert count_testid(staff.text("/products/review"), "review-item") == 0


def test_rejecting_without_a_reason_shows_an_error_and_changes_nothing(page_login, factory, db):
    product = factory.product(status="submitted")
    staff = page_login("county_staff", county_codes=[A])
    url = f"/products/{product['_id']}"
    page = follow(staff, staff.post(f"{url}/transition", {"action": "reject", "reason": "  "}))
    assert "必须填写理由" in page
    assert status_of(db, product) == "submitted"

    page = follow(staff, staff.post(f"{url}/transition", {"action": "reject", "reason": "包装标识不全"}))
    assert "已退回申请人" in page and "包装标识不全" in page
    assert status_of(db, product) == "rejected"


def test_a_step_from_the_wrong_status_or_before_publicity_ends_is_refused(page_login, factory, db):
    staff = page_login("county_staff", county_codes=[A])
    draft = factory.product()
    page = follow(staff, staff.post(f"/products/{draft['_id']}/transition", {"action": "approve"}))
    assert "产品当前状态为“草稿”，不能县级审定通过" in page
    assert status_of(db, draft) == "draft"

    publicizing = factory.product(status="publicizing")  # publicity ends in seven days
    page = follow(staff, staff.post(f"/products/{publicizing['_id']}/transition", {"action": "certify"}))
    assert "公示期尚未结束" in page
    assert status_of(db, publicizing) == "publicizing"


def test_an_enterprise_sees_only_its_own_products_and_no_staff_actions(page_login, factory, db):
    own_operator, other_operator = factory.operator(A), factory.operator(A)
    own = factory.product(own_operator["_id"], status="publicizing")
    other = factory.product(other_operator["_id"], status="submitted")
    enterprise = page_login("enterprise", operator_id=own_operator["_id"])

    page = enterprise.text(f"/products/{own['_id']}")
    assert re.findall(r'data-testid="action-\w+"', page) == []
    assert 'data-testid="reason-' not in page

    assert "没有权限" in enterprise.text(f"/products/{other['_id']}", status=403)
    response = enterprise.post(f"/products/{other['_id']}/transition", {"action": "submit"})
    assert enterprise.get(response.headers["Location"]).status_code == 403
    assert status_of(db, other) == "submitted"
    for staff_page in ("/products/", "/products/review", "/operators/", "/households/", "/links/"):
        assert enterprise.get(staff_page).status_code == 403


def test_staff_of_another_county_get_a_403_page(page_login, factory):
    operator = factory.operator(A)
    product = factory.product(operator["_id"])
    household = factory.household(A)
    link = factory.benefit_link(operator, household)
    outsider = page_login("county_staff", county_codes=[B])
    for url in (
        f"/products/{product['_id']}",
        f"/operators/{operator['_id']}",
        f"/households/{household['_id']}",
        f"/links/{link['_id']}",
    ):
        assert 'data-testid="error-page"' in outsider.text(url, status=403)
    assert "测试产品" not in outsider.text("/products/")


# Lists and downloads -----------------------------------------------------------------------------


def test_the_product_list_filters_pages_and_downloads_every_filtered_row(page_login, factory):
    operator = factory.operator(A, name="黄梅茶社")
    for number in range(3):
        factory.product(operator["_id"], name=f"黄梅绿茶{number}", status="certified")
    factory.product(operator["_id"], name="黄梅红茶", status="draft")
    factory.product(name="别家的茶", status="certified")
    staff = page_login("county_staff", county_codes=[A])

    page = staff.text("/products/?q=绿茶&status=certified&per_page=2")
    assert count_testid(page, "product-row") == 2 and "共 3 条" in page and "黄梅茶社" in page
    assert (
        count_testid(staff.text("/products/?q=绿茶&status=certified&per_page=2&page=2"), "product-row") == 1
    )
    page = staff.text(f"/products/?operator_id={operator['_id']}")
    assert count_testid(page, "product-row") == 4
    assert "请从以下选项中选择" in staff.text("/products/?status=nonsense")

    sheet = workbook(staff.get("/products/?q=绿茶&status=certified&per_page=2&format=xlsx")).active
    assert sorted(column(sheet, "产品名称")) == ["黄梅绿茶0", "黄梅绿茶1", "黄梅绿茶2"]
    assert set(column(sheet, "经营主体")) == {"黄梅茶社"}
    assert set(column(sheet, "状态")) == {"已认定"}


def test_the_review_queue_lists_waiting_products_oldest_first(page_login, factory, db):
    staff = page_login("county_staff", county_codes=[A])
    first = factory.product(name="先申请的", status="submitted")
    second = factory.product(name="后申请的", status="county_approved")
    factory.product(name="公示中的", status="publicizing")
    factory.product(name="草稿", status="draft")
    db[storage.PRODUCTS].update_one(
        {"_id": second["_id"]}, {"$set": {"status_history.0.at": datetime(2020, 1, 1, tzinfo=UTC)}}
    )
    page = staff.text("/products/review")
    assert count_testid(page, "review-item") == 3 and "草稿" not in page
    assert page.index("后申请的") < page.index("先申请的") < page.index("公示中的")
    assert count_testid(staff.text("/products/review?status=submitted"), "review-item") == 1
    assert str(first["_id"]) in staff.text("/products/review?status=submitted")
    sheet = workbook(staff.get("/products/review?format=xlsx")).active
    assert column(sheet, "产品名称") == ["后申请的", "先申请的", "公示中的"]


def test_operators_show_their_linked_households_as_the_api_does(books, page_login, login, factory):
    factory.operator(A, name="无带贫的公司")
    staff = page_login("county_staff", county_codes=[A])
    api = login("county_staff", county_codes=[A]).get("/api/v1/operators?q=茶叶").json["items"][0]
    page = staff.text("/operators/?q=茶叶")
    assert count_testid(page, "operator-row") == 1
    assert f'data-testid="linked-households">{api["linked_households"]}<' in page
    assert f'data-testid="linked-people">{api["linked_people"]}<' in page
    sheet = workbook(staff.get("/operators/?format=xlsx")).active
    rows = dict(zip(column(sheet, "名称"), column(sheet, "带贫户数"), strict=True))
    assert rows == {"枞阳茶叶合作社": 2, "无带贫的公司": 0}


def test_an_operator_page_shows_its_products_links_and_sales(books, page_login, login):
    operator = books["operator"]
    staff = page_login("county_staff", county_codes=[A])
    api = login("county_staff", county_codes=[A])
    summary = api.get(f"/api/v1/reports/summary?operator_id={operator['_id']}&{PERIOD}").json
    page = staff.text(f"/operators/{operator['_id']}?{PERIOD}")
    assert f'data-testid="summary-sales" data-fen="{summary["sales_fen"]}"' in page
    assert f'data-testid="summary-income" data-fen="{summary["poor_income_fen"]}"' in page
    assert count_testid(page, "product-row") == 1 and count_testid(page, "link-row") == 2
    assert "保底价或优惠价回收" in page and "吸纳就业" in page

    book = workbook(staff.get(f"/operators/{operator['_id']}?{PERIOD}&format=xlsx"))
    assert book.sheetnames == ["产品", "带贫关系", "分渠道销售"]
    assert column(book["产品"], "产品名称") == ["枞阳黄花茶"]
    assert len(column(book["带贫关系"], "户编号")) == 2


def test_the_product_page_shows_its_sales_as_the_reports_count_them(books, page_login, login):
    product = books["product"]
    staff = page_login("county_staff", county_codes=[A])
    ranking = login("admin").get(f"/api/v1/reports/products?operator_id={product['operator_id']}&{PERIOD}")
    row = next(item for item in ranking.json["items"] if item["product_id"] == str(product["_id"]))
    page = staff.text(f"/products/{product['_id']}?{PERIOD}")
    assert f'data-testid="figure-sales" data-fen="{row["sales_fen"]}"' in page
    assert f'data-testid="figure-income" data-fen="{row["poor_income_fen"]}"' in page
    assert count_testid(page, "sale-line") == 3 and "1,733.33" in page
    assert "15.00%" in page and "京东：T1" in page

    book = workbook(staff.get(f"/products/{product['_id']}?format=xlsx"))
    assert book.sheetnames == ["认定记录", "证书", "带贫比例", "最近销售"]
    assert sorted(column(book["最近销售"], "订单号")) == ["A-1", "A-2", "B-1"]


# Households and links ------------------------------------------------------------------------------


def test_household_pages_and_downloads_never_hold_the_full_id_number(page_login, factory, db):
    clear = valid_id_number(424242)
    household = factory.household(A, id_number=clear, head_name="赵六")
    factory.benefit_link(factory.operator(A), household)
    masked = db[storage.HOUSEHOLDS].find_one({"_id": household["_id"]})["id_number_masked"]
    staff = page_login("county_staff", county_codes=[A])

    for url in ("/households/", "/households/?q=赵六", f"/households/{household['_id']}"):
        page = staff.text(url)
        assert clear not in page and masked in page
    for url in (
        "/households/?format=xlsx",
        f"/households/{household['_id']}?format=xlsx",
        "/links/?format=xlsx",
    ):
        book = workbook(staff.get(url))
        cells = [str(value) for sheet in book for row in sheet.iter_rows(values_only=True) for value in row]
        assert not any(clear in value for value in cells)
    sheet = workbook(staff.get("/households/?format=xlsx")).active
    assert column(sheet, "身份证号（已脱敏）") == [masked]


def test_the_income_explanation_equals_the_api(books, page_login, login):
    h1 = books["households"]["H1"]
    staff = page_login("county_staff", county_codes=[A])
    api = login("county_staff", county_codes=[A]).get(f"/api/v1/households/{h1['_id']}/income?{PERIOD}").json
    assert api["total_fen"] > 0 and len(api["items"]) == 2

    page = staff.text(f"/households/{h1['_id']}?{PERIOD}")
    assert count_testid(page, "income-explanation") == 1
    assert f'data-testid="income-total" data-fen="{api["total_fen"]}"' in page
    articles = page.split('data-testid="income-item"')[1:]
    assert len(articles) == len(api["items"])
    for article, item in zip(articles, api["items"], strict=True):
        assert f'data-month="{item["month"]}"' in article
        assert f'data-testid="pool" data-fen="{item["pool_fen"]}"' in article
        assert f'data-testid="weighted" data-value="{item["weighted"]}"' in article
        assert f'data-testid="total-weighted" data-value="{item["total_weighted"]}"' in article
        assert f'data-testid="share" data-fen="{item["share_fen"]}"' in article
        assert item["explanation"] in article
        for source in item["sources"]:
            assert source["product_name"] in article and source["channel_label"] in article
    assert "枞阳茶叶合作社" in page and count_testid(page, "link-row") == 1

    book = workbook(staff.get(f"/households/{h1['_id']}?{PERIOD}&format=xlsx"))
    assert [Decimal(str(value)) for value in column(book["收益计算"], "本户分得（元）")] == [
        Decimal(item["share_fen"]).scaleb(-2) for item in api["items"]
    ]


def test_a_bad_period_is_reported_and_the_current_year_shown(books, page_login):
    h1 = books["households"]["H1"]
    staff = page_login("county_staff", county_codes=[A])
    page = staff.text(f"/households/{h1['_id']}?from=2024-05&to=2024-01")
    assert 'data-testid="query-errors"' in page and 'data-testid="income-explanation"' in page


def test_benefit_links_are_listed_filtered_and_shown(books, page_login):
    staff = page_login("county_staff", county_codes=[A])
    page = staff.text("/links/")
    assert count_testid(page, "link-row") == 2 and "有效" in page
    page = staff.text("/links/?mechanism=employment")
    assert count_testid(page, "link-row") == 1 and "吸纳就业" in page
    assert count_testid(staff.text("/links/?active_on=2019-06-01"), "link-row") == 0

    link_id = re.search(r'href="/links/([0-9a-f]{24})"', page).group(1)
    detail = staff.text(f"/links/{link_id}")
    assert "吸纳就业" in detail and "枞阳茶叶合作社" in detail and "长期" in detail
    sheet = workbook(staff.get("/links/?mechanism=employment&format=xlsx")).active
    assert column(sheet, "带贫方式") == ["吸纳就业"] and column(sheet, "权重") == [1]
