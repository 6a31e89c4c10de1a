"""Benefit links (带贫关系): who may link, overlap refusal, ending, import, and active days per month."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import openpyxl
import pytest

from service import benefit_links, link_register, storage
from service.clock import end_of_local_day, start_of_local_day
from service.link_periods import active_days_in_month

USCC = "91110108551385082Q"
HEADER = "经营主体统一社会信用代码,户编号,带贫方式,权重,开始日期,结束日期\n"


def _stored(first: date, last: date | None) -> dict:
    """A link as stored: UTC day starts, exclusive end."""
    return {"valid_from": start_of_local_day(first), "valid_to": end_of_local_day(last) if last else None}


def _new(household, **fields):
    return {
        "household_no": household["household_no"],
        "mechanism": "purchase",
        "weight": 100,
        "valid_from": "2020-01-01",
        **fields,
    }


def _upload(caller, data: bytes, filename: str = "links.csv", **form):
    return caller.post(
        "/api/v1/benefit-links/import",
        data={"file": (io.BytesIO(data), filename), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data",
    )


def _error_keys(result) -> set[tuple[int, str]]:
    return {(error["row"], error["field"]) for error in result["errors"]}


@pytest.fixture
def operator(factory):
    return factory.operator("340722", uscc=USCC)


@pytest.fixture
def household(factory):
    return factory.household("340722", head_name="张三")


# Active days per month -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "year", "month", "days"),
    [
        (date(2020, 1, 1), None, 2020, 3, 31),  # open-ended, whole month
        (date(2020, 3, 10), None, 2020, 3, 22),  # starts mid-month
        (date(2020, 1, 1), date(2020, 3, 10), 2020, 3, 10),  # ends mid-month (last day inclusive)
        (date(2020, 3, 10), date(2020, 3, 20), 2020, 3, 11),  # both inside the month
        (date(2020, 3, 15), date(2020, 3, 15), 2020, 3, 1),  # a single day
        (date(2020, 1, 1), date(2020, 2, 29), 2020, 3, 0),  # ended before the month
        (date(2020, 4, 1), None, 2020, 3, 0),  # starts after the month
        (date(2020, 1, 1), date(2020, 3, 31), 2020, 3, 31),  # ends on the month's last day
        (date(2020, 1, 1), None, 2020, 2, 29),  # leap February
        (date(2020, 12, 20), date(2021, 1, 5), 2020, 12, 12),  # across the year end
        (date(2020, 12, 20), date(2021, 1, 5), 2021, 1, 5),
    ],
)
def test_active_days_in_month(first, last, year, month, days):
    assert active_days_in_month(_stored(first, last), year, month) == days


def test_active_days_count_shanghai_days_not_utc_days():
    # 2020-03-01 00:00 in Shanghai is 2020-02-29 16:00 UTC: still March's first day.
    link = {
        "valid_from": datetime(2020, 2, 29, 16, 0, tzinfo=UTC),
        "valid_to": datetime(2020, 3, 1, 16, 0, tzinfo=UTC),
    }
    assert active_days_in_month(link, 2020, 3) == 1
    assert active_days_in_month(link, 2020, 2) == 0


def test_active_days_accept_naive_utc_datetimes_from_a_driver_without_tz_aware():
    link = {"valid_from": datetime(2020, 2, 29, 16, 0), "valid_to": None}
    assert active_days_in_month(link, 2020, 3) == 31


# Creating -----------------------------------------------------------------------------


def test_an_enterprise_links_a_household_by_its_number(login, operator, household):
    enterprise = login("enterprise", operator_id=operator["_id"])
    response = enterprise.post("/api/v1/benefit-links", json=_new(household))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["operator_id"] == str(operator["_id"]) and body["household_id"] == str(household["_id"])
    assert body["head_name"] == "张*"
    assert (body["valid_from"], body["valid_to"]) == ("2020-01-01", None)
    assert body["county_code"] == "340722" and body["household_no"] == household["household_no"]


def test_dates_are_stored_as_shanghai_day_boundaries(login, operator, household, db):
    staff = login("county_staff")
    payload = _new(household, operator_id=str(operator["_id"]), valid_to="2020-06-30")
    response = staff.post("/api/v1/benefit-links", json=payload)
    assert response.json["valid_to"] == "2020-06-30"
    stored = db[storage.BENEFIT_LINKS].find_one()
    assert stored["valid_from"] == datetime(2019, 12, 31, 16, 0, tzinfo=UTC)
    assert stored["valid_to"] == datetime(2020, 6, 30, 16, 0, tzinfo=UTC)


def test_an_enterprise_links_only_to_its_own_operator(login, factory, operator, household):
    enterprise = login("enterprise", operator_id=factory.operator("340722")["_id"])
    response = enterprise.post(
        "/api/v1/benefit-links", json=_new(household, operator_id=str(operator["_id"]))
    )
    assert response.status_code == 403


def test_staff_name_the_operator(login, household):
    response = login("county_staff").post("/api/v1/benefit-links", json=_new(household))
    assert response.status_code == 422
    assert "operator_id" in response.json["error"]["details"]


def test_staff_must_see_the_operators_county(login, factory, household):
    other = factory.operator("341822")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.post("/api/v1/benefit-links", json=_new(household, operator_id=str(other["_id"])))
    assert response.status_code == 403


def test_staff_must_see_the_households_county_too(login, factory, operator):
    far = factory.household("341822", village_code="341822100201")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.post("/api/v1/benefit-links", json=_new(far, operator_id=str(operator["_id"])))
    unknown = staff.post(
        "/api/v1/benefit-links", json={**_new(far, operator_id=str(operator["_id"])), "household_no": "999"}
    )
    assert response.status_code == 422
    assert response.json == unknown.json  # as if the number did not exist: no other county's register leaks


def test_a_cross_county_link_is_allowed_to_staff_of_both_counties(login, factory, operator):
    far = factory.household("341822", village_code="341822100201")
    staff = login("county_staff", county_codes=["340722", "341822"])
    response = staff.post("/api/v1/benefit-links", json=_new(far, operator_id=str(operator["_id"])))
    assert response.status_code == 201
    assert response.json["household_county_code"] == "341822"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"household_no": None}, "household_id"),
        ({"household_no": "999"}, "household_no"),
        ({"valid_to": "2019-12-31"}, "valid_to"),
        ({"valid_from": "1999-12-31"}, "valid_from"),
    ],
)
def test_bad_links_are_422_naming_the_field(login, operator, household, change, field):
    payload = {k: v for k, v in {**_new(household), **change}.items() if v is not None}
    response = login("enterprise", operator_id=operator["_id"]).post("/api/v1/benefit-links", json=payload)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]


def test_both_household_id_and_number_is_422(login, operator, household):
    payload = _new(household, household_id=str(household["_id"]))
    response = login("enterprise", operator_id=operator["_id"]).post("/api/v1/benefit-links", json=payload)
    assert response.status_code == 422


def test_canteens_cannot_link(login, household):
    assert login("canteen").post("/api/v1/benefit-links", json=_new(household)).status_code == 403


# Overlaps -----------------------------------------------------------------------------


def test_an_overlapping_link_of_the_same_pair_is_refused_naming_the_existing_one(login, operator, household):
    enterprise = login("enterprise", operator_id=operator["_id"])
    first = enterprise.post("/api/v1/benefit-links", json=_new(household, valid_to="2020-12-31")).json
    response = enterprise.post("/api/v1/benefit-links", json=_new(household, valid_from="2020-12-31"))
    assert response.status_code == 409
    message = response.json["error"]["message"]
    assert first["id"] in message and "from 2020-01-01 to 2020-12-31" in message
    assert household["household_no"] in message


def test_an_open_ended_link_overlaps_any_later_one(login, operator, household):
    enterprise = login("enterprise", operator_id=operator["_id"])
    enterprise.post("/api/v1/benefit-links", json=_new(household))
    later = _new(household, valid_from="2030-01-01", valid_to="2030-01-31")
    assert enterprise.post("/api/v1/benefit-links", json=later).status_code == 409


def test_adjacent_periods_do_not_overlap(login, operator, household):
    enterprise = login("enterprise", operator_id=operator["_id"])
    enterprise.post("/api/v1/benefit-links", json=_new(household, valid_to="2020-06-30"))
    response = enterprise.post("/api/v1/benefit-links", json=_new(household, valid_from="2020-07-01"))
    assert response.status_code == 201


def test_a_household_may_be_linked_to_several_operators(login, factory, operator, household):
    admin = login("admin")
    for linked in (operator, factory.operator("340722")):
        payload = _new(household, operator_id=str(linked["_id"]))
        assert admin.post("/api/v1/benefit-links", json=payload).status_code == 201


def test_two_overlapping_links_created_at_once_never_both_survive(
    app, login, operator, household, db, monkeypatch
):
    enterprise = login("enterprise", operator_id=operator["_id"])
    # Hold both requests after their overlap check, so both insert before either re-checks.
    barrier = threading.Barrier(2)
    checked_once = threading.local()
    original = benefit_links._overlapping

    def gated(*args, **kwargs):
        found = original(*args, **kwargs)
        if kwargs.get("exclude_id") is None and not getattr(checked_once, "done", False):
            checked_once.done = True
            barrier.wait(timeout=10)
        return found

    monkeypatch.setattr(benefit_links, "_overlapping", gated)

    def create(day: int) -> int:
        payload = _new(household, valid_from=f"2020-01-{day:02d}")
        headers = {"Authorization": f"Bearer {enterprise.token}"}
        return app.test_client().post("/api/v1/benefit-links", json=payload, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(create, [1, 2]))
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) <= 1
    assert db[storage.BENEFIT_LINKS].count_documents({}) == statuses.count(201)


# Reading -----------------------------------------------------------------------------


def test_an_enterprise_lists_only_its_operators_links_with_masked_names(login, factory, operator, household):
    factory.benefit_link(operator, household)
    factory.benefit_link(factory.operator("340722"), factory.household())
    enterprise = login("enterprise", operator_id=operator["_id"])
    listed = enterprise.get("/api/v1/benefit-links").json
    assert listed["total"] == 1
    assert listed["items"][0]["head_name"] == "张*"
    other = factory.operator("340722")
    assert enterprise.get(f"/api/v1/benefit-links?operator_id={other['_id']}").status_code == 403


def test_an_enterprise_cannot_read_another_operators_link(login, factory, household):
    link = factory.benefit_link(factory.operator("340722"), household)
    assert login("enterprise").get(f"/api/v1/benefit-links/{link['_id']}").status_code == 403


def test_staff_see_links_of_their_counties_operators_or_households(login, factory, operator, household):
    far_operator = factory.operator("341822")
    far_household = factory.household("341822", village_code="341822100201")
    mine = factory.benefit_link(operator, household)
    inbound = factory.benefit_link(far_operator, household)
    elsewhere = factory.benefit_link(far_operator, far_household)
    staff = login("county_staff", county_codes=["340722"])
    listed = {item["id"] for item in staff.get("/api/v1/benefit-links").json["items"]}
    assert listed == {str(mine["_id"]), str(inbound["_id"])}
    assert staff.get(f"/api/v1/benefit-links/{elsewhere['_id']}").status_code == 403
    assert staff.get(f"/api/v1/benefit-links/{mine['_id']}").json["head_name"] == "张三"


def test_canteens_cannot_list_links(login):
    assert login("canteen").get("/api/v1/benefit-links").status_code == 403


def test_the_list_filters_by_day_mechanism_and_household(login, factory, operator, household):
    other = factory.household()
    factory.benefit_link(operator, household, valid_from=date(2020, 1, 1), valid_to=date(2020, 6, 30))
    factory.benefit_link(operator, household, valid_from=date(2020, 7, 1), mechanism="employment")
    factory.benefit_link(operator, other, valid_from=date(2021, 1, 1))
    admin = login("admin")

    def total(query):
        return admin.get(f"/api/v1/benefit-links?{query}").json["total"]

    assert total("active_on=2020-06-30") == 1
    assert total("active_on=2020-07-01") == 1
    assert total("active_on=2021-01-01") == 2
    assert total("active_on=2019-12-31") == 0
    assert total("mechanism=employment") == 1
    assert total(f"household_id={household['_id']}") == 2
    assert total(f"operator_id={operator['_id']}&county_code=340722") == 3


# Changing and ending -----------------------------------------------------------------------------


def test_staff_change_the_weight_with_if_match_and_it_is_audited(login, operator, household, factory):
    link = factory.benefit_link(operator, household, weight=10)
    staff = login("county_staff")
    url = f"/api/v1/benefit-links/{link['_id']}"
    assert staff.patch(url, json={"weight": 20}).status_code == 428
    response = staff.patch(url, json={"weight": 20}, headers={"If-Match": f'"{link["_id"]}-1"'})
    assert response.status_code == 200 and response.json["weight"] == 20 and response.json["version"] == 2
    entries = staff.get(f"/api/v1/audit?entity_id={link['_id']}&action=benefit_link.update").json["items"]
    assert (entries[0]["before"]["weight"], entries[0]["after"]["weight"]) == (10, 20)


def test_enterprises_cannot_change_or_end_links(login, operator, household, factory):
    link = factory.benefit_link(operator, household)
    enterprise = login("enterprise", operator_id=operator["_id"])
    url = f"/api/v1/benefit-links/{link['_id']}"
    assert (
        enterprise.patch(url, json={"weight": 2}, headers={"If-Match": f'"{link["_id"]}-1"'}).status_code
        == 403
    )
    assert enterprise.post(f"{url}/end", json={"valid_to": "2020-12-31", "reason": "x"}).status_code == 403


def test_staff_end_a_link_which_stays_readable(login, operator, household, factory):
    link = factory.benefit_link(operator, household)
    staff = login("county_staff")
    response = staff.post(
        f"/api/v1/benefit-links/{link['_id']}/end", json={"valid_to": "2020-12-31", "reason": "合同到期"}
    )
    assert response.status_code == 200, response.json
    assert response.json["valid_to"] == "2020-12-31" and response.json["end_reason"] == "合同到期"
    assert staff.get("/api/v1/benefit-links?active_on=2020-12-31").json["total"] == 1
    assert staff.get("/api/v1/benefit-links?active_on=2021-01-01").json["total"] == 0
    assert staff.get(f"/api/v1/benefit-links/{link['_id']}").status_code == 200
    entries = staff.get(f"/api/v1/audit?entity_id={link['_id']}&action=benefit_link.end").json["items"]
    assert entries[0]["note"] == "合同到期"


def test_an_end_can_be_brought_forward_but_never_pushed_back(login, operator, household, factory):
    link = factory.benefit_link(operator, household)
    staff = login("county_staff")
    url = f"/api/v1/benefit-links/{link['_id']}/end"
    assert staff.post(url, json={"valid_to": "2020-12-31", "reason": "a"}).status_code == 200
    assert staff.post(url, json={"valid_to": "2021-03-31", "reason": "b"}).status_code == 409
    assert staff.post(url, json={"valid_to": "2020-10-31", "reason": "c"}).json["valid_to"] == "2020-10-31"


def test_a_link_cannot_end_before_it_starts(login, operator, household, factory):
    link = factory.benefit_link(operator, household, valid_from=date(2020, 5, 1))
    response = login("admin").post(
        f"/api/v1/benefit-links/{link['_id']}/end", json={"valid_to": "2020-04-30", "reason": "x"}
    )
    assert response.status_code == 422


def test_links_cannot_be_deleted(login, operator, household, factory):
    link = factory.benefit_link(operator, household)
    assert login("admin").delete(f"/api/v1/benefit-links/{link['_id']}").status_code == 405


# Bulk import -----------------------------------------------------------------------------


def test_links_import_with_labels_or_codes_and_many_date_forms(login, operator, factory, db):
    first = factory.household(household_no="3407221001")
    second = factory.household(household_no="3407221002")
    rows = HEADER + f"{USCC},3407221001,保底价或优惠价回收,500,2020/1/1,2020-12-31\n"
    rows += f"{USCC.lower()},3407221002,employment,30,44197,\n"
    result = _upload(login("county_staff"), rows.encode("gb18030")).json
    assert (result["inserted"], result["rejected"]) == (2, 0), result
    one = db[storage.BENEFIT_LINKS].find_one({"household_id": first["_id"]})
    assert one["mechanism"] == "purchase" and one["weight"] == 500
    assert one["valid_to"] == end_of_local_day(date(2020, 12, 31))
    two = db[storage.BENEFIT_LINKS].find_one({"household_id": second["_id"]})
    assert two["valid_from"] == start_of_local_day(date(2021, 1, 1)) and two["valid_to"] is None


def test_importing_the_same_links_again_changes_nothing(login, operator, factory, db):
    factory.household(household_no="3407221001")
    data = (HEADER + f"{USCC},3407221001,吸纳就业,20,2020-01-01,\n").encode("utf-8-sig")
    staff = login("county_staff")
    _upload(staff, data)
    entries = db[storage.AUDIT_LOG].count_documents({})
    again = _upload(staff, data).json
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 1)
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 1
    assert db[storage.AUDIT_LOG].count_documents({}) == entries


def test_bad_link_rows_are_reported_by_row_number_and_not_stored(login, operator, factory, db):
    stored_household = factory.household(household_no="3407221001")
    factory.household(household_no="3407221002")
    factory.household(household_no="3407221003")
    factory.benefit_link(operator, stored_household, valid_from=date(2020, 1, 1), valid_to=date(2020, 6, 30))
    rows = [
        HEADER,
        f"{USCC},3407221002,吸纳就业,20,2020-01-01,\n",  # 2 good
        "91310115MA1H8R7C6D,3407221002,吸纳就业,20,2021-01-01,\n",  # 3 unknown operator
        f"{USCC},9999999999,吸纳就业,20,2020-01-01,\n",  # 4 unknown household
        f"{USCC},3407221003,帮扶,20,2020-01-01,\n",  # 5 unknown mechanism
        f"{USCC},3407221003,吸纳就业,0,2020-01-01,\n",  # 6 weight 0
        f"{USCC},3407221003,吸纳就业,1,2020-02-30,\n",  # 7 no such date
        f"{USCC},3407221003,吸纳就业,1,2020-03-01,2020-02-01\n",  # 8 ends before it starts
        f"{USCC},3407221001,吸纳就业,1,2020-06-01,\n",  # 9 overlaps the stored link
        f"{USCC},3407221002,吸纳就业,1,2020-05-01,2020-05-31\n",  # 10 overlaps row 2
        f"{USCC},3407221002,吸纳就业,20,2020-01-01,\n",  # 11 same as row 2
        f"{USCC},3407221001,吸纳就业,1,2020-07-01,\n",  # 12 good: right after the stored link
    ]
    result = _upload(login("county_staff"), "".join(rows).encode()).json
    assert (result["rows"], result["inserted"], result["rejected"]) == (11, 2, 9)
    assert _error_keys(result) == {
        (3, "uscc"),
        (4, "household_no"),
        (5, "mechanism"),
        (6, "weight"),
        (7, "valid_from"),
        (8, "valid_to"),
        (9, "valid_from"),
        (10, "valid_from"),
        (11, "valid_from"),
    }
    assert "row 2" in next(e["message"] for e in result["errors"] if e["row"] == 10)
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 3


def test_a_missing_link_column_is_named(login):
    response = _upload(login("admin"), "户编号,权重\n1,2\n".encode())
    assert response.status_code == 422
    assert "经营主体统一社会信用代码" in response.json["error"]["message"]


def test_staff_may_change_weight_or_end_by_import_but_not_extend(login, operator, factory, db):
    household = factory.household(household_no="3407221001")
    factory.benefit_link(
        operator, household, valid_from=date(2020, 1, 1), valid_to=date(2020, 12, 31), weight=5
    )
    staff = login("county_staff")
    changed = _upload(staff, (HEADER + f"{USCC},3407221001,purchase,9,2020-01-01,2020-10-31\n").encode()).json
    assert changed["updated"] == 1
    stored = db[storage.BENEFIT_LINKS].find_one()
    assert stored["weight"] == 9 and stored["valid_to"] == end_of_local_day(date(2020, 10, 31))
    extended = _upload(staff, (HEADER + f"{USCC},3407221001,purchase,9,2020-01-01,\n").encode()).json
    assert _error_keys(extended) == {(2, "valid_to")}


def test_a_link_changed_during_the_import_is_a_row_error_and_keeps_that_change(
    login, operator, factory, db, monkeypatch
):
    household = factory.household(household_no="3407221001")
    link = factory.benefit_link(operator, household, valid_from=date(2020, 1, 1), weight=5)
    diff = link_register.LinkRegister.diff

    def ended_meanwhile(self, row_number, stored, data):
        db[storage.BENEFIT_LINKS].update_one(
            {"_id": link["_id"]},
            {"$set": {"valid_to": end_of_local_day(date(2020, 6, 30))}, "$inc": {"version": 1}},
        )
        return diff(self, row_number, stored, data)

    monkeypatch.setattr(link_register.LinkRegister, "diff", ended_meanwhile)
    result = _upload(
        login("county_staff"), (HEADER + f"{USCC},3407221001,purchase,9,2020-01-01,\n").encode()
    ).json
    assert (result["updated"], result["rejected"]) == (0, 1)
    assert _error_keys(result) == {(2, "valid_from")}
    assert "someone else" in result["errors"][0]["message"]
    stored = db[storage.BENEFIT_LINKS].find_one()
    assert (stored["weight"], stored["version"]) == (5, 2)
    assert stored["valid_to"].replace(tzinfo=UTC) == end_of_local_day(date(2020, 6, 30))


def test_an_enterprise_imports_only_new_links_for_its_own_operator(login, operator, factory, db):
    household = factory.household(household_no="3407221001")
    factory.household(household_no="3407221002")
    factory.benefit_link(operator, household, weight=5)
    other = factory.operator("340722", uscc="91340722MA2N0DEMO1")
    enterprise = login("enterprise", operator_id=operator["_id"])
    rows = HEADER + f"{USCC},3407221002,purchase,1,2020-01-01,\n"
    rows += f"{USCC},3407221001,purchase,7,2020-01-01,\n"  # changes a stored link
    rows += f"{other['uscc']},3407221002,purchase,1,2020-01-01,\n"  # another operator
    result = _upload(enterprise, rows.encode()).json
    assert result["inserted"] == 1
    assert _error_keys(result) == {(3, "weight"), (4, "uscc")}


def test_links_import_from_xlsx_with_date_cells(login, operator, factory, db):
    factory.household(household_no="3407221001")
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER.strip().split(","))
    workbook.active.append([USCC, 3407221001, "土地经营权林权入股或流转", 12.0, datetime(2020, 3, 1), None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = _upload(login("admin"), buffer.getvalue(), "links.xlsx").json
    assert result["inserted"] == 1, result
    stored = db[storage.BENEFIT_LINKS].find_one()
    assert stored["mechanism"] == "land_equity" and stored["weight"] == 12
    assert stored["valid_from"] == start_of_local_day(date(2020, 3, 1))


def test_a_links_dry_run_stores_nothing(login, operator, factory, db):
    factory.household(household_no="3407221001")
    data = (HEADER + f"{USCC},3407221001,其他,1,2020-01-01,\n").encode()
    result = _upload(login("admin"), data, dry_run=True).json
    assert (result["dry_run"], result["inserted"]) == (True, 1)
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 0


def test_canteens_cannot_import_links(login):
    assert _upload(login("canteen"), HEADER.encode()).status_code == 403


def test_the_links_import_command(runner, operator, factory, db, tmp_path):
    factory.household(household_no="3407221001")
    path = tmp_path / "links.csv"
    path.write_bytes((HEADER + f"{USCC},3407221001,技术指导,1,2020-01-01,\n").encode("gb18030"))
    result = runner.invoke(args=["benefit-links", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "inserted 1" in result.output
    assert db[storage.BENEFIT_LINKS].find_one()["mechanism"] == "technical_guidance"
