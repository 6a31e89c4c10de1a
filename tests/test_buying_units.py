"""Buying units and their pairings: registering, editing, periods, and who may see them."""

from __future__ import annotations

import pytest

from service.access import ADMIN, COUNTY_STAFF, ENTERPRISE

COUNTY = "340722"
OTHER_COUNTY = "341024"
UNITS = "/api/v1/buying-units"
PAIRINGS = "/api/v1/pairings"


def unit_body(**fields):
    return {
        "name": "深圳市福田区机关事务管理局",
        "kind": "aid_unit",
        "region_code": "440304",
        "county_code": COUNTY,
        **fields,
    }


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


@pytest.fixture
def unit(staff):
    response = staff.post(UNITS, json=unit_body())
    assert response.status_code == 201, response.json
    return response.json


def test_staff_register_a_unit_of_their_county(staff, unit):
    assert unit["kind"] == "aid_unit"
    assert unit["region_code"] == "440304"
    assert staff.get(f"{UNITS}/{unit['id']}").json["name"] == unit["name"]
    assert [item["id"] for item in staff.get(UNITS).json["items"]] == [unit["id"]]


def test_a_unit_name_is_unique_within_its_county(staff, unit):
    response = staff.post(UNITS, json=unit_body())
    assert response.status_code == 409
    assert response.json["error"]["code"] == "buying_unit.name_taken"


def test_a_bad_uscc_is_refused_on_its_field(staff):
    response = staff.post(UNITS, json=unit_body(uscc="91310115MA1H8R7C6D"))
    assert response.status_code == 422
    assert response.json["error"]["detail_codes"]["uscc"][0]["code"] == "buying_unit.bad_uscc"


def test_a_unit_may_own_canteens_of_its_county_only(staff, factory):
    own = factory.canteen(COUNTY)
    foreign = factory.canteen(OTHER_COUNTY)
    assert staff.post(UNITS, json=unit_body(canteen_ids=[str(own["_id"])])).status_code == 201
    response = staff.post(UNITS, json=unit_body(name="另一单位", canteen_ids=[str(foreign["_id"])]))
    assert response.status_code == 422
    assert "canteen_ids" in response.json["error"]["details"]


def test_another_countys_unit_and_a_missing_one_answer_alike(login, unit):
    stranger = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    foreign = stranger.get(f"{UNITS}/{unit['id']}")
    missing = stranger.get(f"{UNITS}/{'0' * 24}")
    assert foreign.status_code == missing.status_code == 403
    assert foreign.json["error"]["code"] == missing.json["error"]["code"] == "buying_unit.not_in_scope"
    assert stranger.get(UNITS).json["items"] == []


def test_enterprises_cannot_see_units(login, unit):
    assert login(ENTERPRISE).get(UNITS).status_code == 403


def test_an_edit_needs_the_current_version(staff, unit):
    url = f"{UNITS}/{unit['id']}"
    etag = staff.get(url).headers["ETag"]
    changed = staff.patch(url, json={"kind": "university"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json["version"] == 2
    stale = staff.patch(url, json={"kind": "hospital"}, headers={"If-Match": etag})
    assert stale.status_code == 412


def test_a_pairing_defaults_to_the_units_region_and_is_listed_by_day(staff, unit):
    body = {"unit_id": unit["id"], "kind": "east_west", "valid_from": "2021-01-01", "valid_to": "2021-12-31"}
    pairing = staff.post(PAIRINGS, json=body)
    assert pairing.status_code == 201, pairing.json
    assert pairing.json["partner_region_code"] == "440304"
    assert pairing.json["county_code"] == COUNTY
    assert staff.get(PAIRINGS, query_string={"on": "2021-06-01"}).json["total"] == 1
    assert staff.get(PAIRINGS, query_string={"on": "2022-01-01"}).json["total"] == 0


def test_a_pairing_ending_before_it_starts_is_refused(staff, unit):
    body = {"unit_id": unit["id"], "kind": "designated", "valid_from": "2021-05-01", "valid_to": "2021-04-30"}
    response = staff.post(PAIRINGS, json=body)
    assert response.status_code == 422
    assert response.json["error"]["detail_codes"]["valid_to"][0]["code"] == "pairing.ends_before_start"


def test_a_pairing_for_another_countys_unit_names_the_unit(login, unit):
    stranger = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    response = stranger.post(
        PAIRINGS, json={"unit_id": unit["id"], "kind": "east_west", "valid_from": "2021-01-01"}
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "buying_unit.not_in_scope"


def test_a_unit_without_pairings_or_purchases_may_be_deleted(login, unit):
    admin = login(ADMIN)
    url = f"{UNITS}/{unit['id']}"
    etag = admin.get(url).headers["ETag"]
    assert admin.delete(url, headers={"If-Match": etag}).status_code == 204
    assert admin.get(url).status_code == 404


def test_a_paired_unit_is_kept(staff, unit):
    staff.post(PAIRINGS, json={"unit_id": unit["id"], "kind": "east_west", "valid_from": "2021-01-01"})
    url = f"{UNITS}/{unit['id']}"
    response = staff.delete(url, headers={"If-Match": staff.get(url).headers["ETag"]})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "buying_unit.in_use"
