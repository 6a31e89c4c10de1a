"""Canteen purchases: logging, the ledger lines they become, returns, access, and the monthly upload."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest

from service import canteen_purchases, ledger, sale_lines, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, system_principal
from service.clock import today_local, utcnow
from service.errors import Forbidden

COUNTY = "340722"
OTHER_COUNTY = "341024"
URL = "/api/v1/canteen-purchases"
SUPPLIER_USCC = "91110108551385082Q"
# Valid, but no registered operator has it.
UNREGISTERED_USCC = "91340823MA2N0ABC1A"


@pytest.fixture
def catalogue(factory):
    """A certified product here, a certified one of another county, and a draft (uncertified) one."""
    since = datetime(2023, 1, 1, tzinfo=UTC)
    here = factory.operator(COUNTY, uscc=SUPPLIER_USCC)
    there = factory.operator(OTHER_COUNTY)
    return {
        "rice": factory.product(
            here["_id"],
            county_code=COUNTY,
            status="certified",
            certified_at=since,
            channel_skus=[{"channel": "p832", "sku": "832-RICE"}],
            barcode="6901234567892",
            name="枞阳大米",
        ),
        "tea": factory.product(
            there["_id"], county_code=OTHER_COUNTY, status="certified", certified_at=since
        ),
        "draft": factory.product(here["_id"], county_code=COUNTY, status="draft"),
        "operator": here,
    }


@pytest.fixture
def canteen(factory):
    return factory.canteen(COUNTY, name="枞阳县第一中学食堂", unit_type="school")


@pytest.fixture
def cook(login, canteen):
    """The canteen's own account."""
    return login(CANTEEN, canteen_id=canteen["_id"])


def body(**fields):
    values = {"date": "2024-03-15", "quantity": 10, "amount_fen": 35_000, "invoice_no": "INV-0001"}
    values.update(fields)
    return values


def sales(db, **query):
    return list(db[storage.SALES].find(query))


# Logging one purchase ----------------------------------------------------------------------------


def test_a_purchase_of_a_certified_product_via_832_counts_toward_the_reserved_share(cook, catalogue):
    response = cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), via_832=True))
    assert response.status_code == 201, response.json
    purchase = response.json
    assert (purchase["matched"], purchase["certified"], purchase["counted_for_quota"]) == (True, True, True)
    assert (purchase["quota_reason"], purchase["message"]) == ("via_832", None)
    assert purchase["product_name"] == "枞阳大米" and purchase["operator_uscc"] == SUPPLIER_USCC
    assert purchase["ledger_status"] == "recorded"


def test_from_2021_a_certified_product_bought_outside_832_is_kept_but_does_not_count(cook, catalogue):
    purchase = cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]))).json
    assert (purchase["certified"], purchase["counted_for_quota"], purchase["quota_reason"]) == (
        True,
        False,
        "not_via_832",
    )
    assert "832 platform" in purchase["message"]


def test_a_purchase_on_the_day_a_product_is_certified_counts(db, factory, cook, catalogue):
    # Certified a moment ago: a purchase dated today (a date, no time) was of a certified product.
    fresh = factory.product(catalogue["operator"]["_id"], county_code=COUNTY, status="certified")
    response = cook.post(
        URL, json=body(product_id=str(fresh["_id"]), date=today_local().isoformat(), via_832=True)
    )
    assert response.status_code == 201, response.json
    assert (response.json["certified"], response.json["counted_for_quota"]) == (True, True)
    [line] = sales(db, product_id=fresh["_id"])
    assert line["certified"] is True and line["occurred_at"].replace(tzinfo=UTC) <= datetime.now(UTC)


def test_a_purchase_becomes_one_ledger_line_in_the_selling_county(db, cook, canteen, catalogue):
    cook.post(URL, json=body(product_id=str(catalogue["tea"]["_id"]), invoice_no="A-1"))
    [line] = sales(db)
    assert line["county_code"] == OTHER_COUNTY
    assert line["channel"] == "canteen"
    assert line["external_id"] == f"canteen:{canteen['_id']}:A-1"
    assert line["buyer"] == {"type": "unit", "unit_id": canteen["_id"], "name": None}
    assert line["product_id"] == catalogue["tea"]["_id"] and line["certified"] is True
    # The last millisecond of 2024-03-15 in Asia/Shanghai: the day is judged by its end.
    assert line["occurred_at"].replace(tzinfo=UTC) == datetime(2024, 3, 15, 15, 59, 59, 999_000, tzinfo=UTC)
    assert line["day"] == "2024-03-15"
    assert (line["quantity"], line["amount_fen"]) == (10, 35_000)


def test_a_purchase_on_the_832_platform_is_a_p832_line(db, cook, catalogue):
    response = cook.post(URL, json=body(sku="832-RICE", via_832=True))
    assert response.json["channel"] == "p832" and response.json["product_id"] == str(catalogue["rice"]["_id"])
    [line] = sales(db)
    assert line["channel"] == "p832" and line["county_code"] == COUNTY


def test_the_daily_rollup_carries_the_canteen_as_buyer_unit(db, cook, canteen, catalogue):
    cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"])))
    [row] = db[storage.SALES_DAILY].find({"buyer_unit_id": canteen["_id"]})
    assert (row["sales_fen"], row["certified"], row["channel"]) == (35_000, True, "canteen")


def test_an_uncatalogued_product_is_kept_unmatched_and_does_not_count(db, cook, catalogue):
    response = cook.post(
        URL, json=body(product_name="农家土鸡蛋", sku="EGG-9", operator_uscc=SUPPLIER_USCC, unit="箱")
    )
    assert response.status_code == 201, response.json
    purchase = response.json
    assert (purchase["matched"], purchase["certified"], purchase["counted_for_quota"]) == (
        False,
        False,
        False,
    )
    assert purchase["quota_reason"] == "not_via_832"
    [line] = sales(db)
    assert line["matched"] is False and line["product_id"] is None
    assert line["raw"]["sku"] == "EGG-9" and line["raw"]["title"] == "农家土鸡蛋"
    # The supplier is registered: the unmatched line goes to the supplier's county.
    assert line["county_code"] == COUNTY


def test_an_uncatalogued_product_of_an_unregistered_supplier_stays_in_the_canteens_county(factory, login):
    canteen = factory.canteen("340823")
    caller = login(CANTEEN, canteen_id=canteen["_id"])
    response = caller.post(URL, json=body(product_name="散装面粉", operator_uscc=UNREGISTERED_USCC))
    assert response.status_code == 201, response.json
    assert response.json["operator_id"] is None and response.json["operator_uscc"] == UNREGISTERED_USCC
    assert response.json["sale_county_code"] == "340823"


def test_before_2021_an_uncertified_product_is_kept_but_does_not_count(db, cook, catalogue):
    response = cook.post(URL, json=body(product_id=str(catalogue["draft"]["_id"]), date="2020-06-01"))
    purchase = response.json
    assert response.status_code == 201
    assert (purchase["matched"], purchase["certified"], purchase["counted_for_quota"]) == (True, False, False)
    assert "not a certified" in purchase["message"]
    assert sales(db)[0]["certified"] is False


def test_an_uncatalogued_product_bought_via_832_counts(cook, catalogue):
    response = cook.post(
        URL, json=body(product_name="832平台杂粮", operator_uscc=SUPPLIER_USCC, via_832=True)
    )
    purchase = response.json
    assert (purchase["matched"], purchase["counted_for_quota"]) == (False, True)
    assert (purchase["quota_reason"], purchase["message"]) == ("via_832", None)


def test_a_purchase_before_its_products_certification_does_not_count(cook, catalogue):
    response = cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), date="2022-06-01"))
    assert response.json["certified"] is False and response.json["counted_for_quota"] is False


# Duplicates: never counted twice -----------------------------------------------------------------


def test_a_duplicate_invoice_is_409_and_is_counted_once(db, cook, catalogue):
    first = cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), invoice_no="D-1"))
    assert first.status_code == 201
    # Another product of another county and another amount: must not reach the ledger at all.
    again = cook.post(
        URL, json=body(product_id=str(catalogue["tea"]["_id"]), invoice_no="D-1", amount_fen=1, via_832=True)
    )
    assert again.status_code == 409
    assert again.json["error"]["details"] == {"invoice_no": ["Already logged for this canteen."]}
    [line] = sales(db)
    assert (line["county_code"], line["channel"], line["amount_fen"]) == (COUNTY, "canteen", 35_000)
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 1


def test_the_same_invoice_number_may_be_used_by_another_canteen(db, factory, login, cook, catalogue):
    other = login(CANTEEN, canteen_id=factory.canteen(COUNTY)["_id"])
    assert cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]))).status_code == 201
    assert other.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]))).status_code == 201
    assert len(sales(db)) == 2


def test_a_ledger_failure_leaves_a_pending_claim_that_the_same_submission_completes(
    db, cook, catalogue, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ledger, "ingest", broken)
    data = body(product_id=str(catalogue["rice"]["_id"]), invoice_no="P-1")
    with pytest.raises(RuntimeError):
        cook.post(URL, json=data)
    assert db[storage.CANTEEN_PURCHASES].find_one()["ledger_status"] == "pending"
    assert sales(db) == []
    monkeypatch.undo()
    # Right away the claim may still be in flight: a duplicate.
    assert cook.post(URL, json=data).status_code == 409
    db[storage.CANTEEN_PURCHASES].update_one({}, {"$set": {"created_at": utcnow() - timedelta(minutes=5)}})
    # Different details never complete someone else's claim.
    assert cook.post(URL, json={**data, "amount_fen": 1}).status_code == 409
    completed = cook.post(URL, json=data)
    assert completed.status_code == 201, completed.json
    assert completed.json["ledger_status"] == "recorded"
    assert len(sales(db)) == 1 and db[storage.CANTEEN_PURCHASES].count_documents({}) == 1


def test_a_line_the_ledger_refuses_leaves_no_record(db, cook, catalogue, monkeypatch):
    from adapters.base import RowError

    monkeypatch.setattr(
        sale_lines, "validate_line", lambda line, now: RowError(line.row, "occurred_at", "No.")
    )
    response = cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"])))
    assert response.status_code == 422
    assert "date" in response.json["error"]["details"]
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 0 and sales(db) == []


# Bad input: a precise 4xx, and nothing stored ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"quantity": -3, "amount_fen": -100}, 422, "quantity"),
        ({"amount_fen": 0}, 422, "amount_fen"),
        ({"amount_fen": 350.5}, 422, "amount_fen"),
        ({"date": "future"}, 422, "date"),
        ({"date": "2018-12-31"}, 422, "date"),
        ({"product_id": "65f000000000000000000000"}, 422, "product_id"),
        (
            {"product_id": None, "product_name": "某产品", "operator_uscc": "91310115MA1H8R7C6D"},
            422,
            "operator_uscc",
        ),
        ({"product_id": None, "product_name": "某产品"}, 422, "operator_uscc"),
        ({"product_id": None}, 422, "product_name"),
        ({"operator_uscc": UNREGISTERED_USCC}, 422, "operator_uscc"),
        ({"operator_id": "65f000000000000000000000"}, 422, "operator_id"),
        ({"invoice_no": ""}, 422, "invoice_no"),
        ({"refund_of_invoice_no": "NOPE", "quantity": -1, "amount_fen": -100}, 422, "refund_of_invoice_no"),
        ({"channel": "jd"}, 422, "channel"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_purchases_are_refused_precisely_and_store_nothing(db, cook, catalogue, fields, status, field):
    data = body(**{"product_id": str(catalogue["rice"]["_id"]), **fields})
    if data.get("date") == "future":
        data["date"] = (today_local() + timedelta(days=1)).isoformat()
    data = {name: value for name, value in data.items() if value is not None}
    response = cook.post(URL, json=data)
    assert response.status_code == status, response.json
    assert field in response.json["error"]["details"], response.json
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 0 and sales(db) == []


def test_a_purchase_dated_today_is_accepted(cook, catalogue):
    response = cook.post(
        URL, json=body(product_id=str(catalogue["rice"]["_id"]), date=today_local().isoformat())
    )
    assert response.status_code == 201, response.json


def test_a_supplier_who_does_not_sell_the_product_is_refused(cook, catalogue):
    other = catalogue["tea"]["operator_id"]
    response = cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), operator_id=str(other)))
    assert response.status_code == 422
    assert "another supplier" in response.json["error"]["details"]["operator_id"][0]


# Returns (退货) ------------------------------------------------------------------------------------


def test_a_return_reverses_its_purchase_in_the_ledger(db, cook, canteen, catalogue):
    cook.post(URL, json=body(product_id=str(catalogue["tea"]["_id"]), invoice_no="S-1", via_832=True))
    response = cook.post(
        URL,
        json=body(
            invoice_no="R-1", refund_of_invoice_no="S-1", quantity=-4, amount_fen=-14_000, date="2024-03-20"
        ),
    )
    assert response.status_code == 201, response.json
    assert response.json["channel"] == "p832" and response.json["product_id"] == str(catalogue["tea"]["_id"])
    refund = db[storage.SALES].find_one({"external_id": f"canteen:{canteen['_id']}:R-1"})
    assert refund["refund_of"] == f"canteen:{canteen['_id']}:S-1"
    assert refund["county_code"] == OTHER_COUNTY and refund["channel"] == "p832"
    total = sum(row["sales_fen"] for row in db[storage.SALES_MONTHLY].find({"buyer_unit_id": canteen["_id"]}))
    assert total == 21_000


def test_a_return_of_an_uncatalogued_purchase_names_it_as_the_purchase_did(db, cook, canteen):
    cook.post(
        URL, json=body(product_name="农家土鸡蛋", sku="EGG-9", operator_uscc=SUPPLIER_USCC, invoice_no="S-1")
    )
    response = cook.post(
        URL, json=body(invoice_no="R-1", refund_of_invoice_no="S-1", quantity=-1, amount_fen=-100)
    )
    assert response.status_code == 201, response.json
    assert (response.json["product_name"], response.json["operator_uscc"]) == ("农家土鸡蛋", SUPPLIER_USCC)
    refund = db[storage.SALES].find_one({"external_id": f"canteen:{canteen['_id']}:R-1"})
    assert refund["raw"]["sku"] == "EGG-9" and refund["county_code"] == COUNTY


def test_returns_cannot_exceed_the_purchase(db, cook, catalogue):
    cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), invoice_no="S-1"))
    returned = body(refund_of_invoice_no="S-1", quantity=-5, amount_fen=-20_000)
    assert cook.post(URL, json={**returned, "invoice_no": "R-1"}).status_code == 201
    response = cook.post(URL, json={**returned, "invoice_no": "R-2"})
    assert response.status_code == 422
    assert "exceed" in response.json["error"]["details"]["amount_fen"][0]


def test_a_return_with_a_positive_amount_is_refused(cook, catalogue):
    cook.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), invoice_no="S-1"))
    response = cook.post(
        URL, json=body(invoice_no="R-1", refund_of_invoice_no="S-1", quantity=-1, amount_fen=100)
    )
    assert response.status_code == 422 and "amount_fen" in response.json["error"]["details"]


def test_a_return_must_name_a_purchase_of_the_same_canteen(factory, login, cook, catalogue):
    other = login(CANTEEN, canteen_id=factory.canteen(COUNTY)["_id"])
    other.post(URL, json=body(product_id=str(catalogue["rice"]["_id"]), invoice_no="S-1"))
    response = cook.post(
        URL, json=body(invoice_no="R-1", refund_of_invoice_no="S-1", quantity=-1, amount_fen=-100)
    )
    assert response.status_code == 422 and "refund_of_invoice_no" in response.json["error"]["details"]


# Who may log and read --------------------------------------------------------------------------


def test_a_canteen_cannot_log_for_another_canteen(db, factory, cook, catalogue):
    other = factory.canteen(COUNTY)
    response = cook.post(
        URL, json=body(product_id=str(catalogue["rice"]["_id"]), canteen_id=str(other["_id"]))
    )
    assert response.status_code == 403
    assert sales(db) == []


def test_an_enterprise_cannot_log_or_list_purchases(login, canteen, catalogue):
    enterprise = login(ENTERPRISE, operator_id=catalogue["operator"]["_id"])
    data = body(product_id=str(catalogue["rice"]["_id"]), canteen_id=str(canteen["_id"]))
    assert enterprise.post(URL, json=data).status_code == 403
    assert enterprise.get(URL).status_code == 403


def test_county_staff_log_on_behalf_of_a_canteen_of_their_county(db, login, canteen, catalogue):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    response = staff.post(
        URL, json=body(product_id=str(catalogue["rice"]["_id"]), canteen_id=str(canteen["_id"]))
    )
    assert response.status_code == 201, response.json
    assert response.json["created_by"]["username"] == staff.user["username"]
    assert response.json["canteen_id"] == str(canteen["_id"])


def test_county_staff_must_name_the_canteen(login, catalogue):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    response = staff.post(URL, json=body(product_id=str(catalogue["rice"]["_id"])))
    assert response.status_code == 422 and "canteen_id" in response.json["error"]["details"]


def test_county_staff_cannot_log_for_a_canteen_of_another_county(db, login, canteen, catalogue):
    staff = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    response = staff.post(
        URL, json=body(product_id=str(catalogue["rice"]["_id"]), canteen_id=str(canteen["_id"]))
    )
    assert response.status_code == 403
    assert sales(db) == []


def test_a_canteen_lists_only_its_own_purchases(factory, cook, canteen):
    other = factory.canteen(COUNTY)
    factory.canteen_purchase(canteen, invoice_no="MINE")
    factory.canteen_purchase(other, invoice_no="THEIRS")
    listed = cook.get(URL).json
    assert [item["invoice_no"] for item in listed["items"]] == ["MINE"] and listed["total"] == 1
    assert cook.get(URL, query_string={"canteen_id": str(other["_id"])}).status_code == 403


def test_county_staff_list_only_their_counties_purchases(factory, login, canteen):
    elsewhere = factory.canteen(OTHER_COUNTY)
    factory.canteen_purchase(canteen, invoice_no="HERE")
    factory.canteen_purchase(elsewhere, invoice_no="THERE")
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    assert [item["invoice_no"] for item in staff.get(URL).json["items"]] == ["HERE"]
    assert staff.get(URL, query_string={"county_code": OTHER_COUNTY}).status_code == 403
    assert staff.get(URL, query_string={"canteen_id": str(elsewhere["_id"])}).status_code == 403
    admin = login(ADMIN)
    assert admin.get(URL).json["total"] == 2


def test_purchases_are_listed_by_year_and_month_newest_first(factory, cook, canteen):
    for invoice, day in (("JAN", date(2024, 1, 5)), ("MAR-1", date(2024, 3, 1)), ("MAR-2", date(2024, 3, 9))):
        factory.canteen_purchase(canteen, invoice_no=invoice, date=day)
    factory.canteen_purchase(canteen, invoice_no="OLD", date=date(2023, 3, 9))
    march = cook.get(URL, query_string={"year": 2024, "month": 3}).json
    assert [item["invoice_no"] for item in march["items"]] == ["MAR-2", "MAR-1"]
    year = cook.get(URL, query_string={"year": 2024, "per_page": 2, "page": 2}).json
    assert [item["invoice_no"] for item in year["items"]] == ["JAN"] and year["total"] == 3
    assert cook.get(URL, query_string={"month": 3}).status_code == 422


# The monthly upload --------------------------------------------------------------------------------

HEADER = "采购日期,供应商统一社会信用代码,产品编号,产品名称,数量,单位,金额(元),发票号,是否832平台"


def upload(caller, content: bytes, filename: str = "purchases.csv", **form):
    return caller.post(
        f"{URL}/import",
        data={"file": (io.BytesIO(content), filename), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data",
    )


def csv_file(*rows: str) -> bytes:
    return ("\n".join((HEADER, *rows)) + "\n").encode("utf-8")


GOOD_ROWS = (
    "2024-03-01,,FPTEST-RICE,,10,斤,350.00,F-1,否",
    "2024/3/2,,832-RICE,枞阳大米,20,斤,700,F-2,是",
    f'2024-03-03,{SUPPLIER_USCC},,农家土鸡蛋,5,箱,"1,250.50",F-3,',
)


@pytest.fixture
def rice_certificate(db, catalogue):
    """Give the rice a certificate number the file can name (产品编号)."""
    db[storage.PRODUCTS].update_one(
        {"_id": catalogue["rice"]["_id"]}, {"$set": {"certificate_numbers": ["FPTEST-RICE"]}}
    )


def test_an_upload_logs_each_row_with_the_ledger(db, cook, canteen, catalogue, rice_certificate):
    result = upload(cook, csv_file(*GOOD_ROWS)).json
    assert (result["rows"], result["inserted"], result["rejected"]) == (3, 3, 0), result
    # From 2021 only the row bought on the 832 platform counts.
    assert (result["unmatched"], result["not_counted"]) == (1, 2)
    by_invoice = {record["invoice_no"]: record for record in db[storage.CANTEEN_PURCHASES].find()}
    assert by_invoice["F-1"]["product_id"] == catalogue["rice"]["_id"]
    assert (
        by_invoice["F-2"]["channel"] == "p832" and by_invoice["F-2"]["product_id"] == catalogue["rice"]["_id"]
    )
    assert by_invoice["F-3"]["amount_fen"] == 125_050 and by_invoice["F-3"]["matched"] is False
    assert {line["external_id"] for line in sales(db)} == {
        f"canteen:{canteen['_id']}:F-{n}" for n in (1, 2, 3)
    }
    assert all(record["ledger_status"] == "recorded" for record in by_invoice.values())


def test_reimporting_the_same_file_changes_nothing(db, cook, catalogue, rice_certificate):
    upload(cook, csv_file(*GOOD_ROWS))
    before = sorted((line["external_id"], line["amount_fen"], line["updated_at"]) for line in sales(db))
    again = upload(cook, csv_file(*GOOD_ROWS)).json
    assert (again["inserted"], again["unchanged"], again["rejected"]) == (0, 3, 0), again
    assert (
        sorted((line["external_id"], line["amount_fen"], line["updated_at"]) for line in sales(db)) == before
    )
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 3


def test_a_reimported_invoice_with_other_details_is_a_row_error(db, cook, catalogue, rice_certificate):
    upload(cook, csv_file(*GOOD_ROWS))
    changed = upload(cook, csv_file("2024-03-01,,FPTEST-RICE,,10,斤,351.00,F-1,否")).json
    assert changed["rejected"] == 1 and changed["errors"][0]["row"] == 2
    assert changed["errors"][0]["field"] == "invoice_no"
    assert db[storage.SALES].find_one({"external_id": {"$regex": "F-1$"}})["amount_fen"] == 35_000


def test_bad_rows_are_reported_with_their_row_numbers_and_store_nothing(
    db, cook, catalogue, rice_certificate
):
    future = (today_local() + timedelta(days=3)).isoformat()
    content = csv_file(
        "2024-03-01,,FPTEST-RICE,,10,斤,350.005,B-1,否",
        "2024-03-01,,FPTEST-RICE,,-10,斤,-350,B-2,否",
        f"{future},,FPTEST-RICE,,10,斤,350,B-3,否",
        "2024-03-01,,FPTEST-RICE,,10,斤,350,GOOD,否",
        "2024-03-01,,FPTEST-RICE,,10,斤,350,GOOD,否",
        "2024-03-01,,FPTEST-RICE,,2.5,斤,350,B-5,否",
        "2024-02-30,,FPTEST-RICE,,10,斤,350,B-6,否",
        "2024-03-01,91310115MA1H8R7C6D,,无名菜,10,斤,350,B-7,否",
        "2024-03-01,,FPTEST-RICE,,10,斤,350,B-8,也许",
        "2024-03-01,,FPTEST-RICE,,10,斤,350,,否",
    )
    result = upload(cook, content).json
    assert (result["rows"], result["inserted"], result["rejected"]) == (10, 1, 9), result
    assert {(error["row"], error["field"]) for error in result["errors"]} == {
        (2, "amount_fen"),
        (3, "quantity"),
        (3, "amount_fen"),
        (4, "date"),
        (6, "invoice_no"),
        (7, "quantity"),
        (8, "date"),
        (9, "operator_uscc"),
        (10, "via_832"),
        (11, "invoice_no"),
    }
    assert next(e for e in result["errors"] if e["row"] == 2)["column"] == "金额(元)"
    assert [record["invoice_no"] for record in db[storage.CANTEEN_PURCHASES].find()] == ["GOOD"]
    assert len(sales(db)) == 1


def test_a_row_the_ledger_refuses_is_reported_and_its_claim_removed(
    db, cook, catalogue, rice_certificate, monkeypatch
):
    from adapters.base import RowError

    checks = sale_lines.validate_line

    def refuse_f2(line, now):
        return (
            RowError(line.row, "amount_fen", "No.")
            if line.external_id.endswith(":F-2")
            else checks(line, now)
        )

    monkeypatch.setattr(sale_lines, "validate_line", refuse_f2)
    result = upload(cook, csv_file(*GOOD_ROWS)).json
    assert (result["inserted"], result["rejected"]) == (2, 1)
    assert [(error["row"], error["field"]) for error in result["errors"]] == [(3, "amount_fen")]
    assert sorted(record["invoice_no"] for record in db[storage.CANTEEN_PURCHASES].find()) == ["F-1", "F-3"]
    assert len(sales(db)) == 2


def test_an_interrupted_upload_is_completed_by_uploading_it_again(
    db, cook, catalogue, rice_certificate, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ledger, "ingest", broken)
    with pytest.raises(RuntimeError):
        upload(cook, csv_file(*GOOD_ROWS))
    monkeypatch.undo()
    assert db[storage.CANTEEN_PURCHASES].count_documents({"ledger_status": "pending"}) == 3
    db[storage.CANTEEN_PURCHASES].update_many({}, {"$set": {"created_at": utcnow() - timedelta(minutes=5)}})
    result = upload(cook, csv_file(*GOOD_ROWS)).json
    assert (result["inserted"], result["rejected"]) == (3, 0), result
    assert db[storage.CANTEEN_PURCHASES].count_documents({"ledger_status": "recorded"}) == 3
    assert len(sales(db)) == 3


def test_a_dry_run_counts_but_stores_nothing(db, cook, catalogue, rice_certificate):
    result = upload(cook, csv_file(*GOOD_ROWS), dry_run=True).json
    assert (result["dry_run"], result["inserted"], result["unmatched"]) == (True, 3, 1)
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 0 and sales(db) == []


def test_an_upload_may_return_a_purchase_of_an_earlier_row(db, cook, canteen, catalogue, rice_certificate):
    header = HEADER + ",原发票号"
    content = "\n".join(
        (
            header,
            "2024-03-01,,FPTEST-RICE,,10,斤,350.00,S-1,否,",
            "2024-03-05,,,,-2,斤,-70.00,R-1,,S-1",
        )
    ).encode("utf-8")
    result = upload(cook, content).json
    assert (result["inserted"], result["rejected"]) == (2, 0), result
    refund = db[storage.SALES].find_one({"external_id": f"canteen:{canteen['_id']}:R-1"})
    assert refund["refund_of"] == f"canteen:{canteen['_id']}:S-1" and refund["amount_fen"] == -7_000


def test_staff_upload_for_a_named_canteen_of_their_county(db, login, canteen, catalogue, rice_certificate):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    assert upload(staff, csv_file(*GOOD_ROWS)).status_code == 422
    result = upload(staff, csv_file(*GOOD_ROWS), canteen_id=canteen["_id"])
    assert result.status_code == 200 and result.json["inserted"] == 3
    outsider = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    assert upload(outsider, csv_file(*GOOD_ROWS), canteen_id=canteen["_id"]).status_code == 403


def test_a_canteen_cannot_upload_for_another_canteen(db, factory, cook, catalogue):
    other = factory.canteen(COUNTY)
    assert upload(cook, csv_file(*GOOD_ROWS), canteen_id=other["_id"]).status_code == 403
    assert db[storage.CANTEEN_PURCHASES].count_documents({}) == 0


def test_a_file_without_a_product_column_is_refused(cook):
    content = "采购日期,数量,金额(元),发票号\n2024-03-01,1,1.00,X\n".encode()
    response = upload(cook, content)
    assert response.status_code == 422 and "file" in response.json["error"]["details"]


# The template ------------------------------------------------------------------------------------


def test_the_template_has_the_columns_an_example_row_and_notes(cook):
    response = cook.get(f"{URL}/template")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = workbook.worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADER.split(",")
    assert sheet["H2"].value.startswith("示例")
    assert workbook.sheetnames[1] == "填写说明" and workbook.worksheets[1].max_row > 9


def test_a_filled_template_uploads_and_its_example_row_is_skipped(db, cook, catalogue, rice_certificate):
    workbook = openpyxl.load_workbook(io.BytesIO(cook.get(f"{URL}/template").data))
    sheet = workbook.worksheets[0]
    sheet.append([date(2024, 4, 1), None, "FPTEST-RICE", None, 30, "斤", 1050.5, "T-1", "否"])
    sheet.append([date(2024, 4, 2), SUPPLIER_USCC, "6901234567892", None, 3, "袋", 99, "T-2", "是"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = upload(cook, buffer.getvalue(), filename="四月.xlsx").json
    assert (result["rows"], result["skipped"], result["inserted"], result["rejected"]) == (3, 1, 2, 0), result
    amounts = {record["invoice_no"]: record["amount_fen"] for record in db[storage.CANTEEN_PURCHASES].find()}
    assert amounts == {"T-1": 105_050, "T-2": 9_900}


def test_the_import_command_logs_a_file_for_a_canteen(
    runner, db, tmp_path, canteen, catalogue, rice_certificate
):
    path = tmp_path / "march.csv"
    path.write_bytes(csv_file(*GOOD_ROWS))
    result = runner.invoke(args=["canteens", "import-purchases", "--canteen", str(canteen["_id"]), str(path)])
    assert result.exit_code == 0, result.output
    assert "inserted 3" in result.output
    assert db[storage.CANTEEN_PURCHASES].count_documents({"canteen_id": canteen["_id"]}) == 3


def test_the_service_function_refuses_an_enterprise(db, canteen):
    from dataclasses import replace

    actor = replace(system_principal("x"), role=ENTERPRISE)
    with pytest.raises(Forbidden, match="Enterprise"):
        canteen_purchases.log_purchase(db, actor, {"canteen_id": canteen["_id"]})
