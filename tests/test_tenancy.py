"""Tenancy of the household register, benefit links and products: no tenant learns what another's holds.

An enterprise links households of its operator's county; one of another county only on a request
its county's staff approve. Unknown and out-of-scope numbers and ids answer exactly alike.
"""

from __future__ import annotations

import re

import pytest
from bson import ObjectId

from service import storage, unit_clerks
from service.access import UNIT, Principal
from service.errors import ServiceError
from tests.test_benefit_links import HEADER, USCC, _upload

HOME, FAR = "340722", "341822"


def _link(household_no: str, **fields):
    return {
        "household_no": household_no,
        "mechanism": "purchase",
        "weight": 1,
        "valid_from": "2024-01-01",
        **fields,
    }


@pytest.fixture
def operator(factory):
    return factory.operator(HOME)


@pytest.fixture
def enterprise(login, operator):
    return login("enterprise", operator_id=operator["_id"])


@pytest.fixture
def far_household(factory):
    return factory.household(FAR, village_code=f"{FAR}100201")


# Linking by number ----------------------------------------------------------------------------------


def test_an_enterprise_cannot_link_a_household_of_another_county_by_its_number(enterprise, far_household, db):
    response = enterprise.post("/api/v1/benefit-links", json=_link(far_household["household_no"]))
    assert response.status_code == 422
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 0


def test_unknown_and_other_county_numbers_get_the_same_answer(enterprise, far_household):
    far = enterprise.post("/api/v1/benefit-links", json=_link(far_household["household_no"]))
    unknown = enterprise.post("/api/v1/benefit-links", json=_link("341822999999999"))
    assert (far.status_code, far.json) == (unknown.status_code, unknown.json)
    assert "another county" in far.json["error"]["details"]["household_no"][0]


def test_unknown_and_other_county_ids_get_the_same_answer(enterprise, far_household):
    far = enterprise.post(
        "/api/v1/benefit-links",
        json={**_link("x"), "household_no": None, "household_id": str(far_household["_id"])},
    )
    unknown = enterprise.post(
        "/api/v1/benefit-links", json={**_link("x"), "household_no": None, "household_id": str(ObjectId())}
    )
    assert far.status_code == 422
    assert far.json == unknown.json


def test_an_enterprise_still_links_a_household_of_its_own_county(enterprise, factory):
    household = factory.household(HOME)
    response = enterprise.post("/api/v1/benefit-links", json=_link(household["household_no"]))
    assert response.status_code == 201


def test_an_enterprises_import_answers_other_counties_rows_as_unknown_numbers(
    login, factory, far_household, db
):
    operator = factory.operator(HOME, uscc=USCC)
    enterprise = login("enterprise", operator_id=operator["_id"])
    rows = f"{USCC},{far_household['household_no']},保底价或优惠价回收,1,2024-01-01,\n"
    rows += f"{USCC},341822999999999,保底价或优惠价回收,1,2024-01-01,\n"
    result = _upload(enterprise, (HEADER + rows).encode()).json
    assert result["inserted"] == 0
    far, unknown = sorted(result["errors"], key=lambda error: error["row"])
    assert far["field"] == unknown["field"] == "household_no"
    assert far["message"] == unknown["message"]
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 0


# Reading households and their income ------------------------------------------------------------------


def test_an_enterprise_reads_no_household_it_is_not_linked_to(enterprise, far_household, factory):
    own_unlinked = factory.household(HOME)
    for household_id in (far_household["_id"], own_unlinked["_id"], ObjectId()):
        for url in (f"/api/v1/households/{household_id}", f"/api/v1/households/{household_id}/income"):
            response = enterprise.get(url)
            assert response.status_code == 403
            assert response.json["error"]["message"] == "No household of yours has this id."


def test_a_missing_household_and_another_countys_answer_alike_for_staff(login, far_household):
    staff = login("county_staff", county_codes=[HOME])
    far = staff.get(f"/api/v1/households/{far_household['_id']}")
    missing = staff.get(f"/api/v1/households/{ObjectId()}")
    assert (far.status_code, far.json) == (missing.status_code, missing.json) and far.status_code == 403
    far = staff.get(f"/api/v1/households/{far_household['_id']}/income")
    missing = staff.get(f"/api/v1/households/{ObjectId()}/income")
    assert (far.status_code, far.json) == (missing.status_code, missing.json) and far.status_code == 403


def test_a_missing_link_and_another_tenants_answer_alike(enterprise, factory):
    foreign = factory.benefit_link(factory.operator(HOME), factory.household(HOME))
    other = enterprise.get(f"/api/v1/benefit-links/{foreign['_id']}")
    missing = enterprise.get(f"/api/v1/benefit-links/{ObjectId()}")
    assert (other.status_code, other.json) == (missing.status_code, missing.json) and other.status_code == 403


def test_admins_get_a_plain_404_for_a_missing_household(login):
    assert login("admin").get(f"/api/v1/households/{ObjectId()}").status_code == 404


# Requests across counties ------------------------------------------------------------------------------


def test_a_request_is_accepted_alike_for_an_unknown_and_another_countys_number(enterprise, far_household):
    far = enterprise.post("/api/v1/benefit-links/requests", json=_link(far_household["household_no"]))
    unknown = enterprise.post("/api/v1/benefit-links/requests", json=_link("341822999999999"))
    assert far.status_code == unknown.status_code == 202
    shape = {key for key in far.json if key not in ("id", "household_no", "created_at")}
    assert shape == {key for key in unknown.json if key not in ("id", "household_no", "created_at")}
    assert {far.json[key] == unknown.json[key] for key in shape if key not in ("id",)} == {True}
    assert "household_id" not in far.json and "household_county_code" not in far.json
    listed = enterprise.get("/api/v1/benefit-links/requests").json["items"]
    assert {item["status"] for item in listed} == {"pending"}


def test_the_households_county_staff_approve_a_request_and_the_enterprise_then_reads_the_household(
    enterprise, login, far_household, db
):
    asked = enterprise.post(
        "/api/v1/benefit-links/requests", json=_link(far_household["household_no"], weight=3)
    )
    assert enterprise.get(f"/api/v1/households/{far_household['_id']}").status_code == 403

    home_staff = login("county_staff", county_codes=[HOME])
    assert home_staff.get("/api/v1/benefit-links/requests").json["total"] == 0
    assert home_staff.post(f"/api/v1/benefit-links/requests/{asked.json['id']}/approve").status_code == 403

    far_staff = login("county_staff", county_codes=[FAR])
    pending = far_staff.get("/api/v1/benefit-links/requests?status=pending").json["items"]
    assert [item["household_county_code"] for item in pending] == [FAR]
    approved = far_staff.post(f"/api/v1/benefit-links/requests/{asked.json['id']}/approve")
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    link = db[storage.BENEFIT_LINKS].find_one({"_id": ObjectId(approved.json["link_id"])})
    assert link["weight"] == 3 and link["household_county_code"] == FAR and link["county_code"] == HOME

    seen = enterprise.get(f"/api/v1/households/{far_household['_id']}")
    assert seen.status_code == 200 and "*" in seen.json["head_name"]
    assert enterprise.get(f"/api/v1/households/{far_household['_id']}/income").status_code == 200
    assert far_staff.post(f"/api/v1/benefit-links/requests/{asked.json['id']}/approve").status_code == 409


def test_a_rejected_request_stores_no_link(enterprise, login, far_household, db):
    asked = enterprise.post("/api/v1/benefit-links/requests", json=_link(far_household["household_no"]))
    far_staff = login("county_staff", county_codes=[FAR])
    rejected = far_staff.post(
        f"/api/v1/benefit-links/requests/{asked.json['id']}/reject", json={"reason": "不认识"}
    )
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert db[storage.BENEFIT_LINKS].count_documents({}) == 0
    assert (
        enterprise.get(f"/api/v1/benefit-links/requests/{asked.json['id']}").json["decision_reason"]
        == "不认识"
    )


def test_a_request_for_an_unknown_number_is_seen_by_no_county(enterprise, login):
    asked = enterprise.post("/api/v1/benefit-links/requests", json=_link("341822999999999"))
    far_staff = login("county_staff", county_codes=[FAR])
    assert far_staff.get("/api/v1/benefit-links/requests").json["total"] == 0
    assert far_staff.get(f"/api/v1/benefit-links/requests/{asked.json['id']}").status_code == 403


def test_another_enterprise_never_sees_a_request(enterprise, login, far_household):
    asked = enterprise.post("/api/v1/benefit-links/requests", json=_link(far_household["household_no"]))
    other = login("enterprise")
    assert other.get("/api/v1/benefit-links/requests").json["total"] == 0
    mine = other.get(f"/api/v1/benefit-links/requests/{asked.json['id']}")
    missing = other.get(f"/api/v1/benefit-links/requests/{ObjectId()}")
    assert (mine.status_code, mine.json) == (missing.status_code, missing.json)


def test_staff_and_canteens_do_not_request(login, far_household):
    for role in ("county_staff", "canteen"):
        response = login(role).post(
            "/api/v1/benefit-links/requests", json=_link(far_household["household_no"])
        )
        assert response.status_code == 403


# The same order key from another unit or cabinet ------------------------------------------------------


def test_two_canteens_with_the_same_invoice_number_never_touch_each_others_line(login, factory, db):
    first, second = factory.canteen(HOME), factory.canteen(HOME)
    purchase = {
        "date": "2024-03-15",
        "quantity": 1,
        "amount_fen": 1000,
        "invoice_no": "INV-1",
        "product_name": "大米",
        "operator_uscc": USCC,
    }
    assert (
        login("canteen", canteen_id=first["_id"]).post("/api/v1/canteen-purchases", json=purchase).status_code
        == 201
    )
    other = login("canteen", canteen_id=second["_id"])
    response = other.post("/api/v1/canteen-purchases", json={**purchase, "amount_fen": 9999})
    assert response.status_code == 201
    assert str(first["_id"]) not in response.get_data(as_text=True)
    lines = {
        line["external_id"]: line["amount_fen"] for line in db[storage.SALES].find({"channel": "canteen"})
    }
    assert lines == {f"canteen:{first['_id']}:INV-1": 1000, f"canteen:{second['_id']}:INV-1": 9999}


def test_a_cabinets_event_id_is_its_own_another_cabinets_same_id_is_another_sale(login, factory, db):
    from tests.test_counters import event, push

    staff = login("county_staff", county_codes=[HOME])
    operator = factory.operator(HOME)
    factory.product(
        operator["_id"], status="certified", channel_skus=[{"channel": "counter", "sku": "ZY-TEA-250G"}]
    )
    secrets = {}
    for number in ("ZG-340722-001", "ZG-340722-002"):
        created = staff.post(
            "/api/v1/counters",
            json={"cabinet_no": number, "name": number, "kind": "counter", "county_code": HOME},
        )
        secrets[number] = created.json["secret"]
    client = login("admin").client
    first = push(client, secrets["ZG-340722-001"], [event("E-1")])
    assert first.json["events"][0]["status"] in ("accepted", "uncertified")  # stored either way
    second = push(
        client,
        secrets["ZG-340722-002"],
        [event("E-1", cabinet_no="ZG-340722-002", amount_fen=1)],
        cabinet_no="ZG-340722-002",
    )
    # Event ids are the cabinet's own: the second cabinet's E-1 is its own sale, never a duplicate
    # of (nor a change to) the first's, and the answer names no other cabinet.
    assert second.json["events"][0]["status"] in ("accepted", "uncertified")
    assert "ZG-340722-001" not in second.get_data(as_text=True)
    lines = {
        line["external_id"]: line["amount_fen"] for line in db[storage.SALES].find({"channel": "counter"})
    }
    assert lines == {"ZG-340722-001:E-1": 5800, "ZG-340722-002:E-1": 1}


# Products ----------------------------------------------------------------------------------------------

STEPS = ("submit", "approve", "reject", "publicize", "object", "certify", "revoke", "withdraw")
_REQUEST_DETAILS = re.compile(r'name="csrf_token" value="[^"]+"|data-request-id="[^"]*"')


def _api_answers(caller, product_id) -> list[tuple[str, int, object]]:
    """Every product route of the API, as (route, status, body)."""
    url = f"/api/v1/products/{product_id}"
    answers = [
        ("GET", caller.get(url)),
        ("PATCH", caller.patch(url, json={"name": "改名"}, headers={"If-Match": f'"{product_id}-1"'})),
        *((step, caller.post(f"{url}/{step}", json={"reason": "理由"})) for step in STEPS),
    ]
    if caller.user["role"] == "county_staff":
        answers += [
            ("audit", caller.get(f"/api/v1/audit?entity_kind=product&entity_id={product_id}")),
            (
                "map",
                caller.post(
                    "/api/v1/reports/unmatched/map",
                    json=[{"channel": "taobao", "sku": "SKU-1", "product_id": str(product_id)}],
                ),
            ),
        ]
    return [(route, response.status_code, response.json) for route, response in answers]


def _page_answers(browser, product_id) -> list[tuple[str, int, str]]:
    """Every product page, as (route, status, page without its per-request details)."""
    staff = browser.user["role"] == "county_staff"
    edit = f"/products/{product_id}/edit" if staff else f"/enterprise/products/{product_id}/edit"
    answers = [
        ("page", browser.get(f"/products/{product_id}")),
        ("edit", browser.get(edit)),
        ("certificate", browser.get(f"/products/{product_id}/certificate")),
        (
            "transition",
            browser.post(
                f"/products/{product_id}/transition",
                {"action": "approve" if staff else "withdraw", "reason": "理由"},
                follow_redirects=True,
            ),
        ),
    ]
    if staff:
        answers.append(
            (
                "sku",
                browser.post(
                    f"/products/{product_id}/skus",
                    {"channel": "taobao", "sku": "SKU-1"},
                    follow_redirects=True,
                ),
            )
        )
    return [
        (route, response.status_code, _REQUEST_DETAILS.sub("", response.get_data(as_text=True)))
        for route, response in answers
    ]


@pytest.fixture
def product_callers(factory, login, page_login, operator):
    """Per role: its API caller, its page browser, and a product that exists but is not its own."""
    other_operator = factory.operator(HOME)
    far_operator = factory.operator(FAR)
    return {
        "enterprise": (
            login("enterprise", operator_id=operator["_id"]),
            page_login("enterprise", operator_id=operator["_id"]),
            factory.product(other_operator["_id"], status="submitted"),
        ),
        "county_staff": (
            login("county_staff", county_codes=[HOME]),
            page_login("county_staff", county_codes=[HOME]),
            factory.product(far_operator["_id"], status="submitted"),
        ),
    }


@pytest.mark.parametrize("role", ["enterprise", "county_staff"])
def test_a_missing_product_and_another_tenants_answer_alike_on_every_route(product_callers, role, db):
    caller, browser, foreign = product_callers[role]
    before = db[storage.PRODUCTS].find_one({"_id": foreign["_id"]})
    missing = ObjectId()
    answers = _api_answers(caller, foreign["_id"])
    assert answers == _api_answers(caller, missing)
    assert {status for _, status, _ in answers} <= {200, 403, 422}
    assert _page_answers(browser, foreign["_id"]) == _page_answers(browser, missing)
    refusal = caller.get(f"/api/v1/products/{foreign['_id']}")
    assert (refusal.status_code, refusal.json["error"]["code"]) == (403, "product.not_in_scope")
    assert db[storage.PRODUCTS].find_one({"_id": foreign["_id"]}) == before


def test_a_canteen_gets_the_same_answer_for_a_missing_and_an_uncertified_product(login, factory, operator):
    canteen = login("canteen", canteen_id=factory.canteen(HOME)["_id"])
    draft = factory.product(operator["_id"], status="draft")
    hidden, missing = (canteen.get(f"/api/v1/products/{ident}") for ident in (draft["_id"], ObjectId()))
    assert (hidden.status_code, hidden.json) == (missing.status_code, missing.json)
    assert hidden.status_code == 403


def test_admins_get_a_plain_404_for_a_missing_product(login):
    response = login("admin").get(f"/api/v1/products/{ObjectId()}")
    assert (response.status_code, response.json["error"]["code"]) == (404, "product.not_found")


# Unit clerks ------------------------------------------------------------------------------------------


@pytest.fixture
def unit_clerk(login, factory):
    return login("unit", unit_id=factory.buying_unit(HOME)["_id"])


def test_a_unit_clerk_is_refused_by_every_api_list_but_its_own_account(app, unit_clerk):
    answers = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and "GET" in rule.methods and not rule.arguments:
            answers[rule.rule] = unit_clerk.get(rule.rule).status_code
    own = {url: status for url, status in answers.items() if url.startswith("/api/v1/auth/")}
    assert own and set(own.values()) <= {200}
    refused = {
        url: status for url, status in answers.items() if url not in own and url != "/api/v1/openapi.json"
    }
    assert len(refused) > 20
    assert {url: status for url, status in refused.items() if status not in (403, 422)} == {}


def test_a_unit_clerk_names_another_unit_and_a_missing_one_alike(app, factory, db):
    own, other = factory.buying_unit(HOME), factory.buying_unit(HOME)
    clerk = Principal(user_id=None, username="clerk", role=UNIT, county_codes=(HOME,), unit_id=own["_id"])
    answers = []
    for unit_id in (other["_id"], ObjectId()):
        with app.app_context(), pytest.raises(ServiceError) as refused:
            unit_clerks.list_purchases(db, clerk, unit_id=unit_id)
        answers.append((refused.value.status, refused.value.code))
    assert answers[0] == answers[1] == (403, "buying_unit.not_in_scope")
