"""Market operators (市场经营主体): registration, USCC rules, scope by role, edits, suspension, benefits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId

from service import operators, storage
from service.clock import utcnow

VALID_USCC = "91110108551385082Q"
BAD_CHECKSUM_USCC = "91310115MA1H8R7C6D"
PILOT_USCC = "91350100M0001TGQXM"  # real early pilot code that fails the check character
OTHER_VALID_USCC = "91340722MA2N0F5Y4L"


def operator_body(**fields):
    return {
        "name": "枞阳县白云茶业专业合作社",
        "uscc": VALID_USCC,
        "kind": "cooperative",
        "county_code": "340722",
        "address": "枞阳县白云村",
        "legal_rep": "张三",
        "contact_phone": "0556-1234567",
        "is_leading_enterprise": False,
        "benefit_mechanisms": ["purchase", "employment"],
        **fields,
    }


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=["340722"])


# Registering -----------------------------------------------------------------------------------


def test_county_staff_register_an_operator_of_their_county(staff):
    response = staff.post("/api/v1/operators", json=operator_body())
    assert response.status_code == 201
    body = response.json
    assert body["uscc"] == VALID_USCC
    assert body["status"] == "active"
    assert body["version"] == 1
    assert body["uscc_checksum_override"] is False
    assert body["benefit_mechanisms"] == ["purchase", "employment"]
    assert body["linked_households"] == 0
    assert response.headers["ETag"] == f'"{body["id"]}-1"'


def test_a_uscc_is_stored_in_canonical_form(staff):
    response = staff.post("/api/v1/operators", json=operator_body(uscc=" 91110108551385082q "))
    assert response.json["uscc"] == VALID_USCC


def test_benefit_mechanisms_are_deduplicated_in_canonical_order(staff):
    body = operator_body(benefit_mechanisms=["other", "seed_supply", "other"])
    assert staff.post("/api/v1/operators", json=body).json["benefit_mechanisms"] == ["seed_supply", "other"]


def test_a_uscc_with_a_wrong_check_character_is_refused(staff, db):
    response = staff.post("/api/v1/operators", json=operator_body(uscc=BAD_CHECKSUM_USCC))
    assert response.status_code == 422
    assert "uscc" in response.json["error"]["details"]
    assert db[storage.OPERATORS].count_documents({}) == 0


def test_staff_may_save_a_real_pilot_code_that_fails_the_check_and_it_is_audited(staff, db):
    response = staff.post(
        "/api/v1/operators", json=operator_body(uscc=PILOT_USCC, uscc_checksum_override=True)
    )
    assert response.status_code == 201
    assert response.json["uscc_checksum_override"] is True
    entry = db[storage.AUDIT_LOG].find_one({"action": "operator.create"})
    assert PILOT_USCC in entry["note"]


def test_the_pilot_code_without_the_override_is_refused(staff):
    assert staff.post("/api/v1/operators", json=operator_body(uscc=PILOT_USCC)).status_code == 422


@pytest.mark.parametrize(
    "bad",
    [
        "9111010855138508",  # 16 characters
        "9111010855138508IQ",  # I is not in the GB 32100 alphabet
        "9A110108551385082Q",  # the first 8 must be digits
    ],
)
def test_format_errors_are_never_overridable(staff, bad):
    response = staff.post("/api/v1/operators", json=operator_body(uscc=bad, uscc_checksum_override=True))
    assert response.status_code == 422
    assert list(response.json["error"]["details"]) == ["uscc"]


def test_a_second_operator_with_the_same_uscc_is_a_conflict_naming_the_field(staff, db):
    assert staff.post("/api/v1/operators", json=operator_body()).status_code == 201
    response = staff.post("/api/v1/operators", json=operator_body(name="另一家"))
    assert response.status_code == 409
    assert "uscc" in response.json["error"]["details"]
    assert db[storage.OPERATORS].count_documents({}) == 1


def test_the_uscc_is_unique_in_the_database_too(db):
    index = db[storage.OPERATORS].index_information()["uscc_unique"]
    assert index["unique"] is True


def test_an_operator_in_another_county_cannot_be_registered_by_staff(staff):
    assert staff.post("/api/v1/operators", json=operator_body(county_code="341822")).status_code == 403


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_enterprises_and_canteens_cannot_register_operators(login, role):
    assert login(role).post("/api/v1/operators", json=operator_body()).status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "individual"),
        ("county_code", "34072"),
        ("benefit_mechanisms", ["dividends"]),
        ("contact_phone", "call me"),
        ("status", "suspended"),
        ("name", ""),
    ],
)
def test_bad_input_is_refused_naming_the_field(staff, db, field, value):
    response = staff.post("/api/v1/operators", json=operator_body(**{field: value}))
    assert response.status_code == 422
    assert field in response.json["error"]["details"]
    assert db[storage.OPERATORS].count_documents({}) == 0


# Reading ---------------------------------------------------------------------------------------


def test_an_enterprise_reads_its_own_operator_and_no_other(login, factory):
    mine = factory.operator("340722")
    other = factory.operator("340722")
    enterprise = login("enterprise", operator_id=mine["_id"])
    assert enterprise.get(f"/api/v1/operators/{mine['_id']}").status_code == 200
    assert enterprise.get(f"/api/v1/operators/{other['_id']}").status_code == 403
    listed = enterprise.get("/api/v1/operators").json
    assert [item["id"] for item in listed["items"]] == [str(mine["_id"])]
    assert listed["total"] == 1


def test_canteens_cannot_read_operators(login, factory):
    operator = factory.operator()
    canteen = login("canteen")
    assert canteen.get("/api/v1/operators").status_code == 403
    assert canteen.get(f"/api/v1/operators/{operator['_id']}").status_code == 403


def test_county_staff_see_only_operators_of_their_counties(staff, factory):
    mine = factory.operator("340722")
    theirs = factory.operator("341822")
    ids = {item["id"] for item in staff.get("/api/v1/operators").json["items"]}
    assert ids == {str(mine["_id"])}
    assert staff.get(f"/api/v1/operators/{theirs['_id']}").status_code == 403
    assert staff.get("/api/v1/operators?county_code=341822").status_code == 403


def test_admins_see_every_county(login, factory):
    factory.operator("340722")
    factory.operator("341822")
    assert login("admin").get("/api/v1/operators").json["total"] == 2


def test_an_unknown_operator_is_404(staff):
    assert staff.get("/api/v1/operators/0123456789abcdef01234567").status_code == 404


def test_list_filters_by_kind_status_and_leading_enterprise(staff, factory):
    coop = factory.operator(kind="cooperative")
    farm = factory.operator(kind="family_farm", status="suspended")
    leader = factory.operator(kind="enterprise", is_leading_enterprise=True)

    def ids(query):
        return {item["id"] for item in staff.get(f"/api/v1/operators?{query}").json["items"]}

    assert ids("kind=cooperative") == {str(coop["_id"])}
    assert ids("status=suspended") == {str(farm["_id"])}
    assert ids("is_leading_enterprise=true") == {str(leader["_id"])}
    assert ids("is_leading_enterprise=false") == {str(coop["_id"]), str(farm["_id"])}


def test_text_search_matches_names_literally(staff, factory):
    dotted = factory.operator(name="白云.茶业")
    factory.operator(name="白云X茶业")
    response = staff.get("/api/v1/operators", query_string={"q": "云.茶"})
    assert [item["id"] for item in response.json["items"]] == [str(dotted["_id"])]
    assert staff.get("/api/v1/operators", query_string={"q": "(["}).status_code == 200


def test_list_pages_and_sorts_by_name(staff, factory):
    for name in ("丙", "甲", "乙", "丁", "戊"):
        factory.operator(name=name)
    first = staff.get("/api/v1/operators?per_page=2&page=1&sort=name").json
    second = staff.get("/api/v1/operators?per_page=2&page=2&sort=name").json
    names = sorted(["丙", "甲", "乙", "丁", "戊"])
    assert first["total"] == 5
    assert [item["name"] for item in first["items"] + second["items"]] == names[:4]


def test_per_page_is_capped_and_unknown_parameters_refused(staff):
    assert staff.get("/api/v1/operators?per_page=201").status_code == 422
    assert staff.get("/api/v1/operators?sort=uscc").status_code == 422
    assert staff.get("/api/v1/operators?colour=red").status_code == 422


# Editing ---------------------------------------------------------------------------------------


def _create(staff, **fields):
    response = staff.post("/api/v1/operators", json=operator_body(**fields))
    assert response.status_code == 201, response.json
    return response.json, response.headers["ETag"]


def test_an_edit_needs_if_match(staff):
    operator, _ = _create(staff)
    response = staff.patch(f"/api/v1/operators/{operator['id']}", json={"name": "新名"})
    assert response.status_code == 428


def test_an_edit_with_a_stale_etag_is_refused_and_changes_nothing(staff, db):
    operator, etag = _create(staff)
    url = f"/api/v1/operators/{operator['id']}"
    first = staff.patch(url, json={"name": "第一次"}, headers={"If-Match": etag})
    assert first.status_code == 200
    assert first.headers["ETag"] == f'"{operator["id"]}-2"'
    stale = staff.patch(url, json={"name": "第二次"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert staff.get(url).json["name"] == "第一次"
    again = staff.patch(url, json={"name": "第二次"}, headers={"If-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert again.json["version"] == 3


def test_an_operator_stored_without_a_version_is_edited_as_version_one(staff, factory):
    legacy = factory.operator()
    url = f"/api/v1/operators/{legacy['_id']}"
    etag = staff.get(url).headers["ETag"]
    assert etag == f'"{legacy["_id"]}-1"'
    response = staff.patch(url, json={"name": "改名"}, headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.json["version"] == 2


def test_an_enterprise_edits_its_own_operator(login, factory):
    mine = factory.operator()
    enterprise = login("enterprise", operator_id=mine["_id"])
    url = f"/api/v1/operators/{mine['_id']}"
    etag = enterprise.get(url).headers["ETag"]
    response = enterprise.patch(
        url, json={"address": "新地址", "benefit_mechanisms": ["processing"]}, headers={"If-Match": etag}
    )
    assert response.status_code == 200
    assert response.json["address"] == "新地址"
    assert response.json["benefit_mechanisms"] == ["processing"]


@pytest.mark.parametrize(("field", "value"), [("county_code", "341822"), ("is_leading_enterprise", True)])
def test_an_enterprise_cannot_change_its_county_or_designation(login, factory, field, value):
    mine = factory.operator()
    enterprise = login("enterprise", operator_id=mine["_id"])
    url = f"/api/v1/operators/{mine['_id']}"
    response = enterprise.patch(url, json={field: value}, headers={"If-Match": f'"{mine["_id"]}-1"'})
    assert response.status_code == 403
    assert field in response.json["error"]["details"]


def test_status_is_not_an_editable_field(staff):
    operator, etag = _create(staff)
    response = staff.patch(
        f"/api/v1/operators/{operator['id']}", json={"status": "suspended"}, headers={"If-Match": etag}
    )
    assert response.status_code == 422
    assert "status" in response.json["error"]["details"]


def test_an_enterprise_cannot_edit_another_operator(login, factory):
    other = factory.operator()
    enterprise = login("enterprise")
    response = enterprise.patch(
        f"/api/v1/operators/{other['_id']}", json={"name": "x"}, headers={"If-Match": f'"{other["_id"]}-1"'}
    )
    assert response.status_code == 403


def test_an_enterprise_cannot_override_the_uscc_check(login, factory):
    mine = factory.operator()
    enterprise = login("enterprise", operator_id=mine["_id"])
    response = enterprise.patch(
        f"/api/v1/operators/{mine['_id']}",
        json={"uscc": PILOT_USCC, "uscc_checksum_override": True},
        headers={"If-Match": f'"{mine["_id"]}-1"'},
    )
    assert response.status_code == 403
    assert "uscc_checksum_override" in response.json["error"]["details"]


def test_an_edit_to_a_uscc_already_taken_is_a_conflict(staff):
    _create(staff)
    other, etag = _create(staff, uscc=OTHER_VALID_USCC, name="另一家")
    response = staff.patch(
        f"/api/v1/operators/{other['id']}", json={"uscc": VALID_USCC}, headers={"If-Match": etag}
    )
    assert response.status_code == 409
    assert "uscc" in response.json["error"]["details"]


def test_staff_override_on_edit_is_audited(staff, db):
    operator, etag = _create(staff)
    response = staff.patch(
        f"/api/v1/operators/{operator['id']}",
        json={"uscc": PILOT_USCC, "uscc_checksum_override": True},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200
    assert response.json["uscc_checksum_override"] is True
    entry = db[storage.AUDIT_LOG].find_one({"action": "operator.update"})
    assert PILOT_USCC in entry["note"]


def test_staff_cannot_move_an_operator_into_a_county_they_do_not_cover(staff):
    operator, etag = _create(staff)
    response = staff.patch(
        f"/api/v1/operators/{operator['id']}", json={"county_code": "341822"}, headers={"If-Match": etag}
    )
    assert response.status_code == 403


def test_moving_an_operator_moves_its_products_and_accounts(login, factory, db):
    operator = factory.operator("340722")
    product = factory.product(operator["_id"])
    user, _ = factory.user("enterprise", operator_id=operator["_id"])
    staff = login("county_staff", county_codes=["340722", "341822"])
    response = staff.patch(
        f"/api/v1/operators/{operator['_id']}",
        json={"county_code": "341822"},
        headers={"If-Match": f'"{operator["_id"]}-1"'},
    )
    assert response.status_code == 200
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["county_code"] == "341822"
    assert db[storage.USERS].find_one({"_id": user["_id"]})["county_codes"] == ["341822"]


def test_staff_of_another_county_cannot_edit(login, factory):
    theirs = factory.operator("341822")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.patch(
        f"/api/v1/operators/{theirs['_id']}", json={"name": "x"}, headers={"If-Match": f'"{theirs["_id"]}-1"'}
    )
    assert response.status_code == 403


# Suspension ------------------------------------------------------------------------------------


def test_suspension_needs_a_reason(staff):
    operator, _ = _create(staff)
    response = staff.post(f"/api/v1/operators/{operator['id']}/suspend", json={})
    assert response.status_code == 422
    assert "reason" in response.json["error"]["details"]


def test_staff_suspend_and_reactivate_an_operator_with_history_and_audit(staff, db):
    operator, _ = _create(staff)
    url = f"/api/v1/operators/{operator['id']}"
    suspended = staff.post(f"{url}/suspend", json={"reason": "带贫机制终止"})
    assert suspended.status_code == 200
    assert suspended.json["status"] == "suspended"
    assert suspended.json["status_history"][-1]["reason"] == "带贫机制终止"
    assert suspended.json["status_history"][-1]["by"]["role"] == "county_staff"
    again = staff.post(f"{url}/suspend", json={"reason": "again"})
    assert again.status_code == 409
    assert again.json["error"]["details"]["allowed"] == ["reactivate"]
    reactivated = staff.post(f"{url}/reactivate", json={})
    assert reactivated.json["status"] == "active"
    actions = [entry["action"] for entry in db[storage.AUDIT_LOG].find({"entity.kind": "operator"})]
    assert actions == ["operator.create", "operator.suspend", "operator.reactivate"]


def test_suspension_with_a_stale_if_match_is_refused(staff):
    operator, etag = _create(staff)
    url = f"/api/v1/operators/{operator['id']}"
    staff.patch(url, json={"name": "改名"}, headers={"If-Match": etag})
    response = staff.post(f"{url}/suspend", json={"reason": "x"}, headers={"If-Match": etag})
    assert response.status_code == 412
    assert staff.get(url).json["status"] == "active"


def test_an_enterprise_cannot_suspend_its_own_operator(login, factory):
    mine = factory.operator()
    enterprise = login("enterprise", operator_id=mine["_id"])
    assert (
        enterprise.post(f"/api/v1/operators/{mine['_id']}/suspend", json={"reason": "x"}).status_code == 403
    )


def test_staff_of_another_county_cannot_suspend(login, factory):
    theirs = factory.operator("341822")
    staff = login("county_staff", county_codes=["340722"])
    assert staff.post(f"/api/v1/operators/{theirs['_id']}/suspend", json={"reason": "x"}).status_code == 403


# Benefit figures (带贫户数/带贫人数) ---------------------------------------------------------------


def _household(db, members):
    number = f"H{ObjectId()}"
    document = {"household_no": number, "id_number_hash": number, "members": members}
    return db[storage.HOUSEHOLDS].insert_one(document).inserted_id


def _link(db, operator_id, household_id, valid_from, valid_to=None, **extra):
    db[storage.BENEFIT_LINKS].insert_one(
        {
            "operator_id": operator_id,
            "household_id": household_id,
            "valid_from": valid_from,
            "valid_to": valid_to,
            **extra,
        }
    )


def test_benefit_counts_count_current_links_only(db, factory):
    operator = factory.operator()["_id"]
    now = utcnow()
    day = timedelta(days=1)
    open_ended, ending_later, ended, future, cancelled = (_household(db, n) for n in (3, 4, 5, 6, 7))
    _link(db, operator, open_ended, now - day)
    _link(db, operator, open_ended, now - 2 * day)  # linked twice: counted once
    _link(db, operator, ending_later, now - day, now + day)
    _link(db, operator, ended, now - 2 * day, now - day)
    _link(db, operator, future, now + day)
    _link(db, operator, cancelled, now - day, status="cancelled")
    counts = operators.benefit_counts(db, [operator], at=now)
    assert counts == {operator: {"linked_households": 2, "linked_people": 7}}


def test_benefit_counts_are_zero_without_links_and_per_operator(db, factory):
    first, second = factory.operator()["_id"], factory.operator()["_id"]
    _link(db, first, _household(db, 2), utcnow() - timedelta(days=1))
    counts = operators.benefit_counts(db, [first, second])
    assert counts[first] == {"linked_households": 1, "linked_people": 2}
    assert counts[second] == {"linked_households": 0, "linked_people": 0}


def test_operator_reads_carry_the_benefit_figures(staff, factory, db):
    operator = factory.operator()
    _link(db, operator["_id"], _household(db, 4), utcnow() - timedelta(days=1))
    body = staff.get(f"/api/v1/operators/{operator['_id']}").json
    assert (body["linked_households"], body["linked_people"]) == (1, 4)
    listed = staff.get("/api/v1/operators").json["items"][0]
    assert (listed["linked_households"], listed["linked_people"]) == (1, 4)


# Look-ups for other modules ---------------------------------------------------------------------


def test_operators_are_found_by_id_or_uscc_in_one_query(factory, db):
    first = factory.operator("340722", uscc="91340722MA2N0EXA1X")
    second = factory.operator("340828")
    factory.operator("340722")
    found = operators.matching(db, {"name": 1}, ids=[second["_id"]], usccs=[first["uscc"]])
    assert {operator["_id"] for operator in found} == {first["_id"], second["_id"]}
    assert operators.matching(db, usccs=[first["uscc"]])[0]["county_code"] == "340722"
    assert operators.matching(db) == []
    assert operators.names_by_id(db, [first["_id"], None]) == {first["_id"]: first["name"]}
    assert operators.find_operator(db, second["_id"], {"county_code": 1}) == {
        "_id": second["_id"], "county_code": "340828"
    }  # fmt: skip
    assert operators.find_operator(db, None) is None
    assert operators.find_operator(db, ObjectId()) is None
