"""A canteen's own 832 order export, imported into its purchases with the 832 adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import canteen_832_orders, canteen_progress, imports, storage
from service.access import CANTEEN, COUNTY_STAFF, Principal

COUNTY = "340722"
ORDERS = Path(__file__).parent / "fixtures" / "p832" / "orders.xlsx"
STAFF = Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=(COUNTY,))


def account_of(unit: dict) -> Principal:
    return Principal(user_id=None, username="cook", role=CANTEEN, canteen_id=unit["_id"])


def import_own(db, actor, **options) -> dict:
    with ORDERS.open("rb") as stream:
        return canteen_832_orders.import_orders(db, actor, stream, ORDERS.name, **options)


@pytest.fixture
def hospital(factory):
    return factory.canteen(COUNTY, name="枞阳县人民医院食堂")


def test_a_canteens_own_export_is_its_purchases_whatever_unit_the_file_names(db, hospital):
    result = import_own(db, account_of(hospital))
    assert (result["inserted"], result["skipped"], result["rejected"]) == (5, 1, 0)
    assert db[storage.SALES].count_documents({"buyer.unit_id": hospital["_id"]}) == 5
    quota = canteen_progress.canteen_quota(db, STAFF, hospital["_id"], 2020)
    assert quota["via_832_fen"] == quota["qualifying_fen"] == quota["purchases_fen"]


def test_reimporting_the_export_changes_nothing(db, hospital):
    import_own(db, account_of(hospital))
    again = import_own(db, account_of(hospital))
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 5)


def test_the_countys_import_of_the_same_orders_adds_no_second_line(db, hospital):
    import_own(db, account_of(hospital))
    imports.run_import(db, STAFF, "p832", ORDERS.open("rb"), ORDERS.name, county_code=COUNTY)
    assert db[storage.SALES].count_documents({"channel": "p832"}) == 5


def test_an_order_already_another_units_purchase_is_refused(db, factory, hospital):
    university = factory.canteen(COUNTY, name="安徽大学第一食堂")
    imports.run_import(db, STAFF, "p832", ORDERS.open("rb"), ORDERS.name, county_code=COUNTY)
    result = import_own(db, account_of(hospital))
    assert result["rejected"] == 1 and result["errors"][0]["code"] == "canteen_832.other_buyer"
    assert db[storage.SALES].count_documents({"buyer.unit_id": university["_id"]}) == 1


def test_the_unions_export_counts_toward_the_unions_share_only(db, hospital):
    import_own(db, account_of(hospital), union=True)
    quota = canteen_progress.canteen_quota(db, STAFF, hospital["_id"], 2020)
    assert quota["qualifying_fen"] == 0
    assert quota["union_qualifying_fen"] == quota["union_fen"] == quota["purchases_fen"] > 0


def test_a_canteen_account_imports_for_its_own_canteen_only(db, factory, hospital):
    other = factory.canteen(COUNTY)
    with pytest.raises(Exception) as refused:
        import_own(db, account_of(hospital), canteen_id=other["_id"])
    assert refused.value.code == "canteen_purchase.other_canteen"


def test_a_canteen_account_uploads_its_export_through_the_api(login, db, hospital):
    cook = login(CANTEEN, canteen_id=hospital["_id"])
    with ORDERS.open("rb") as stream:
        response = cook.post(
            "/api/v1/canteen-purchases/832-orders",
            data={"file": (stream, ORDERS.name), "dry_run": "true"},
            content_type="multipart/form-data",
        )
    assert response.status_code == 200, response.json
    assert (response.json["inserted"], response.json["dry_run"]) == (5, True)
    assert db[storage.SALES].count_documents({}) == 0
