"""Poverty-alleviation products (扶贫产品): registration, checks, certification over HTTP, scope, rates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from service import certification, product_listing, product_lookups, products, storage
from service import clock as clock_module
from service.access import system_principal
from service.clock import local_date, start_of_local_day, utcnow
from service.errors import Conflict

DAY = timedelta(days=1)
VALID_GTIN = "6901234567892"


@pytest.fixture
def clock(monkeypatch):
    """A settable now for the products modules and the Asia/Shanghai day cut."""

    class Clock:
        now = utcnow()

        def advance(self, **kwargs):
            self.now += timedelta(**kwargs)

    frozen = Clock()
    monkeypatch.setattr(products, "utcnow", lambda: frozen.now)
    monkeypatch.setattr(product_listing, "utcnow", lambda: frozen.now)
    monkeypatch.setattr(clock_module, "utcnow", lambda: frozen.now)
    return frozen


@pytest.fixture
def operator(factory):
    return factory.operator("340722")


@pytest.fixture
def enterprise(login, operator):
    return login("enterprise", operator_id=operator["_id"])


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=["340722"])


def product_body(**fields):
    return {
        "name": "白云毛峰",
        "category": "tea",
        "spec": "250g/盒",
        "unit": "盒",
        "price_fen": 6800,
        "brand": "白云",
        "barcode": VALID_GTIN,
        "annual_output": 30000,
        "annual_output_unit": "kg",
        "annual_value_fen": 406_000_000,
        "benefit_rate_bp": 1000,
        "channel_skus": [{"channel": "jd", "sku": "100012345"}],
        **fields,
    }


def etag_of(product):
    return f'"{product["_id"]}-{product["version"]}"'


def url(product, action=""):
    return f"/api/v1/products/{product['_id']}" + (f"/{action}" if action else "")


# Registering -----------------------------------------------------------------------------------


def test_an_enterprise_registers_a_draft_product_for_its_own_operator(enterprise, operator):
    response = enterprise.post("/api/v1/products", json=product_body())
    assert response.status_code == 201, response.json
    body = response.json
    assert body["operator_id"] == str(operator["_id"])
    assert body["county_code"] == operator["county_code"]
    assert body["origin_county_code"] == operator["county_code"]
    assert body["status"] == "draft"
    assert body["benefit_rate_bp"] == 1000
    assert body["channel_skus"] == [{"channel": "jd", "sku": "100012345"}]
    assert body["status_history"][0]["to"] == "draft"
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    assert "channel_sku_keys" not in body


def test_the_sku_keys_are_stored_flattened(enterprise, db):
    enterprise.post("/api/v1/products", json=product_body())
    assert db[storage.PRODUCTS].find_one()["channel_sku_keys"] == ["jd:100012345"]


def test_staff_register_a_product_on_an_operators_behalf(staff, operator):
    response = staff.post("/api/v1/products", json=product_body(operator_id=str(operator["_id"])))
    assert response.status_code == 201
    assert response.json["created_at"]


def test_staff_must_name_the_operator(staff):
    response = staff.post("/api/v1/products", json=product_body())
    assert response.status_code == 422
    assert "operator_id" in response.json["error"]["details"]


def test_an_unknown_operator_is_refused_naming_the_field(staff):
    response = staff.post("/api/v1/products", json=product_body(operator_id="0123456789abcdef01234567"))
    assert response.status_code == 422
    assert "operator_id" in response.json["error"]["details"]


def test_an_enterprise_cannot_register_for_another_operator(enterprise, factory, db):
    other = factory.operator()
    response = enterprise.post("/api/v1/products", json=product_body(operator_id=str(other["_id"])))
    assert response.status_code == 403
    assert db[storage.PRODUCTS].count_documents({}) == 0


def test_staff_cannot_register_for_an_operator_of_another_county(staff, factory):
    other = factory.operator("341822")
    response = staff.post("/api/v1/products", json=product_body(operator_id=str(other["_id"])))
    assert response.status_code == 403


def test_canteens_cannot_register_products(login):
    assert login("canteen").post("/api/v1/products", json=product_body()).status_code == 403


def test_a_suspended_operator_cannot_register_products(login, factory):
    suspended = factory.operator(status="suspended")
    enterprise = login("enterprise", operator_id=suspended["_id"])
    response = enterprise.post("/api/v1/products", json=product_body())
    assert response.status_code == 409
    assert "operator_id" in response.json["error"]["details"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "seafood"),
        ("price_fen", -100),
        ("price_fen", 0),
        ("price_fen", 12.5),
        ("price_fen", "6800"),
        ("benefit_rate_bp", 10001),
        ("benefit_rate_bp", -1),
        ("annual_value_fen", -1),
        ("annual_output", -5),
        ("origin_county_code", "3407"),
        ("barcode", "6901234567891"),  # wrong check digit
        ("barcode", "690123456789"),  # 12 digits
        ("barcode", "69012345678９2"),  # a full-width digit
        ("channel_skus", [{"channel": "ebay", "sku": "1"}]),
        ("channel_skus", [{"channel": "jd", "sku": "has space"}]),
        ("name", ""),
        ("status", "certified"),
        ("certificate_no", "FP1"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(enterprise, db, field, value):
    response = enterprise.post("/api/v1/products", json=product_body(**{field: value}))
    assert response.status_code == 422
    assert field in response.json["error"]["details"]
    assert db[storage.PRODUCTS].count_documents({}) == 0


def test_an_annual_output_needs_its_unit(enterprise):
    body = product_body()
    del body["annual_output_unit"]
    response = enterprise.post("/api/v1/products", json=body)
    assert response.status_code == 422
    assert "annual_output_unit" in response.json["error"]["details"]


def test_a_product_without_a_barcode_is_accepted(enterprise):
    body = product_body()
    del body["barcode"]
    assert enterprise.post("/api/v1/products", json=body).status_code == 201


# Channel SKUs ----------------------------------------------------------------------------------


def test_a_sku_taken_by_another_product_is_a_conflict_naming_it_and_the_holder(enterprise, factory, db):
    holder = factory.product(channel_skus=[{"channel": "jd", "sku": "100012345"}])
    response = enterprise.post("/api/v1/products", json=product_body())
    assert response.status_code == 409
    error = response.json["error"]
    assert "jd:100012345" in error["message"]
    assert str(holder["_id"]) in error["message"]
    assert error["details"]["product_id"] == str(holder["_id"])
    assert "channel_skus" in error["details"]
    assert db[storage.PRODUCTS].count_documents({}) == 1


def test_the_same_sku_on_another_channel_is_free(enterprise, factory):
    factory.product(channel_skus=[{"channel": "taobao", "sku": "100012345"}])
    assert enterprise.post("/api/v1/products", json=product_body()).status_code == 201


def test_a_sku_listed_twice_in_one_product_is_refused(enterprise, db):
    skus = [{"channel": "jd", "sku": "1"}, {"channel": "jd", "sku": "1"}]
    response = enterprise.post("/api/v1/products", json=product_body(channel_skus=skus))
    assert response.status_code == 422
    assert "channel_skus" in response.json["error"]["details"]
    assert db[storage.PRODUCTS].count_documents({}) == 0


def test_the_sku_index_is_unique(db):
    assert db[storage.PRODUCTS].index_information()["channel_sku_keys_unique"]["unique"] is True


def test_an_edit_to_a_taken_sku_is_a_conflict_and_changes_nothing(staff, factory, db):
    factory.product(channel_skus=[{"channel": "pdd", "sku": "A1"}])
    mine = factory.product(channel_skus=[{"channel": "pdd", "sku": "B2"}])
    response = staff.patch(
        url(mine),
        json={"channel_skus": [{"channel": "pdd", "sku": "A1"}], "price_fen": 1},
        headers={"If-Match": etag_of(mine)},
    )
    assert response.status_code == 409
    stored = db[storage.PRODUCTS].find_one({"_id": mine["_id"]})
    assert stored["channel_sku_keys"] == ["pdd:B2"]
    assert stored["price_fen"] == mine["price_fen"]
    assert stored["version"] == 1


def test_a_product_is_found_by_channel_and_sku(staff, factory):
    wanted = factory.product(channel_skus=[{"channel": "p832", "sku": "X-9"}])
    factory.product(channel_skus=[{"channel": "jd", "sku": "X-9"}])
    items = staff.get("/api/v1/products?channel=p832&sku=X-9").json["items"]
    assert [item["id"] for item in items] == [str(wanted["_id"])]


def test_a_sku_lookup_needs_its_channel(staff):
    response = staff.get("/api/v1/products?sku=X-9")
    assert response.status_code == 422
    assert "channel" in response.json["error"]["details"]


# Certification over HTTP -----------------------------------------------------------------------

_SOURCES = {
    "submit": ["draft", "rejected", "expired"],
    "approve": ["submitted"],
    "reject": ["submitted", "county_approved", "publicizing"],
    "publicize": ["county_approved"],
    "object": ["publicizing"],
    "certify": ["publicizing"],
    "revoke": ["certified"],
}
_TARGETS = {
    "submit": "submitted",
    "approve": "county_approved",
    "reject": "rejected",
    "publicize": "publicizing",
    "object": "rejected",
    "certify": "certified",
    "revoke": "revoked",
}


def product_in(factory, db, status, **fields):
    """A product of county 340722 in ``status``; publicity already over, expiry already passed for expired."""
    if status == "expired":
        return factory.product(status="certified", certified_at=utcnow() - 800 * DAY, **fields)
    product = factory.product(status=status, **fields)
    if status == "publicizing":
        db[storage.PRODUCTS].update_one(
            {"_id": product["_id"]}, {"$set": {"publicity_ends_at": utcnow() - timedelta(minutes=1)}}
        )
    return db[storage.PRODUCTS].find_one({"_id": product["_id"]})


@pytest.mark.parametrize(
    ("action", "source"), [(action, source) for action, sources in _SOURCES.items() for source in sources]
)
def test_staff_take_every_step_from_every_allowed_status(staff, factory, db, action, source):
    product = product_in(factory, db, source)
    response = staff.post(url(product, action), json={"reason": "依据核查结果"})
    assert response.status_code == 200, response.json
    assert response.json["status"] == _TARGETS[action]
    last = response.json["status_history"][-1]
    assert (last["from"], last["to"], last["by"]["role"]) == (source, _TARGETS[action], "county_staff")
    assert db[storage.AUDIT_LOG].count_documents({"action": f"product.{action}"}) == 1


@pytest.mark.parametrize("source", ["draft", "rejected", "expired"])
def test_the_enterprise_submits_its_own_product(enterprise, factory, db, operator, source):
    product = product_in(factory, db, source, operator_id=operator["_id"])
    response = enterprise.post(url(product, "submit"))
    assert response.status_code == 200
    assert response.json["status"] == "submitted"


@pytest.mark.parametrize("action", ["approve", "reject", "publicize", "object", "certify", "revoke"])
def test_an_enterprise_may_take_no_review_step_on_its_own_product(enterprise, factory, db, operator, action):
    product = product_in(factory, db, _SOURCES[action][0], operator_id=operator["_id"])
    response = enterprise.post(url(product, action), json={"reason": "x"})
    assert response.status_code == 403
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == product["status"]


def test_an_enterprise_cannot_certify_its_own_product(enterprise, factory, db, operator):
    product = product_in(factory, db, "publicizing", operator_id=operator["_id"])
    assert enterprise.post(url(product, "certify")).status_code == 403
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["certificates"] == []


@pytest.mark.parametrize("action", list(_SOURCES))
def test_a_canteen_may_take_no_step(login, factory, db, action):
    product = product_in(factory, db, _SOURCES[action][0])
    assert login("canteen").post(url(product, action), json={"reason": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        ("draft", "approve", ["submit"]),
        ("submitted", "certify", ["approve", "reject"]),
        ("county_approved", "certify", ["reject", "publicize"]),
        ("certified", "submit", ["revoke"]),
        ("revoked", "submit", []),
        ("expired", "revoke", ["submit"]),
    ],
)
def test_a_step_from_the_wrong_status_is_409_listing_the_allowed_ones(
    staff, factory, db, status, action, allowed
):
    product = product_in(factory, db, status)
    response = staff.post(url(product, action), json={"reason": "x"})
    assert response.status_code == 409
    assert response.json["error"]["details"]["allowed"] == allowed


def test_the_allowed_list_depends_on_the_role(enterprise, factory, db, operator):
    product = product_in(factory, db, "submitted", operator_id=operator["_id"])
    response = enterprise.post(url(product, "submit"))
    assert response.status_code == 409
    assert response.json["error"]["details"]["allowed"] == ["withdraw"]


@pytest.mark.parametrize(
    ("action", "source"), [("reject", "submitted"), ("object", "publicizing"), ("revoke", "certified")]
)
def test_rejection_objection_and_revocation_need_a_reason(staff, factory, db, action, source):
    product = product_in(factory, db, source)
    response = staff.post(url(product, action), json={})
    assert response.status_code == 422
    assert "reason" in response.json["error"]["details"]
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == source


def test_staff_of_another_county_cannot_review(login, factory, db):
    product = product_in(factory, db, "submitted")
    other = login("county_staff", county_codes=["341822"])
    assert other.post(url(product, "approve")).status_code == 403


def test_a_suspended_operators_product_cannot_advance_but_can_be_rejected(staff, factory, db):
    operator = factory.operator()
    product = product_in(factory, db, "submitted", operator_id=operator["_id"])
    db[storage.OPERATORS].update_one({"_id": operator["_id"]}, {"$set": {"status": "suspended"}})
    response = staff.post(url(product, "approve"))
    assert response.status_code == 409
    assert "operator_id" in response.json["error"]["details"]
    assert staff.post(url(product, "reject"), json={"reason": "主体已暂停"}).status_code == 200


def test_the_whole_workflow_issues_a_numbered_certificate_after_publicity(enterprise, staff, clock, db):
    product = enterprise.post("/api/v1/products", json=product_body()).json
    path = f"/api/v1/products/{product['id']}"
    assert enterprise.post(f"{path}/submit").json["status"] == "submitted"
    approved = staff.post(f"{path}/approve", json={"township_review_note": "镇办初审通过"}).json
    assert approved["township_review_note"] == "镇办初审通过"
    assert approved["status_history"][-1]["township_review_note"] == "镇办初审通过"
    publicized = staff.post(f"{path}/publicize").json
    ends = datetime.fromisoformat(publicized["publicity_ends_at"])
    assert ends == clock.now + timedelta(days=7)

    clock.advance(days=7, seconds=-1)
    early = staff.post(f"{path}/certify")
    assert early.status_code == 409
    assert "publicity_ends_at" in early.json["error"]["details"]

    clock.advance(seconds=1)
    certified = staff.post(f"{path}/certify")
    assert certified.status_code == 200
    body = certified.json
    year = local_date(clock.now).year
    assert body["status"] == "certified"
    assert body["certificate_no"] == f"FP340722{year}00001"
    assert datetime.fromisoformat(body["valid_until"]) == clock.now + timedelta(days=730)
    assert [entry["to"] for entry in body["status_history"]] == [
        "draft",
        "submitted",
        "county_approved",
        "publicizing",
        "certified",
    ]
    actions = [entry["action"] for entry in db[storage.AUDIT_LOG].find({"entity.kind": "product"})]
    assert actions == [
        "product.create",
        "product.submit",
        "product.approve",
        "product.publicize",
        "product.certify",
    ]


def test_certificate_numbers_count_up_per_county_and_year(staff, factory, db):
    numbers = [
        staff.post(url(product_in(factory, db, "publicizing"), "certify")).json["certificate_no"]
        for _ in range(2)
    ]
    assert [number[-5:] for number in numbers] == ["00001", "00002"]
    assert numbers[0][:-5] == numbers[1][:-5]


def test_publicity_and_validity_follow_the_settings(login, factory, db, app):
    app.config.update(PUBLICITY_DAYS=3, CERTIFICATION_VALID_DAYS=365, CERTIFICATE_PREFIX="RZ")
    staff = login("county_staff", county_codes=["340722"])
    product = product_in(factory, db, "county_approved")
    publicized = staff.post(url(product, "publicize")).json
    started = datetime.fromisoformat(publicized["status_history"][-1]["at"])
    assert datetime.fromisoformat(publicized["publicity_ends_at"]) - started == timedelta(days=3)
    certified = staff.post(url(product_in(factory, db, "publicizing"), "certify")).json
    assert certified["certificate_no"].startswith("RZ340722")
    assert datetime.fromisoformat(certified["valid_until"]) - datetime.fromisoformat(
        certified["certified_at"]
    ) == timedelta(days=365)


def test_an_objection_returns_the_product_to_the_enterprise_for_edits_and_resubmission(
    enterprise, staff, factory, db, operator
):
    product = product_in(factory, db, "publicizing", operator_id=operator["_id"])
    objected = staff.post(url(product, "object"), json={"reason": "群众反映带贫户名单不实"})
    assert objected.json["status"] == "rejected"
    assert objected.json["status_history"][-1]["reason"] == "群众反映带贫户名单不实"
    edited = enterprise.patch(
        url(product), json={"benefit_rate_bp": 1500}, headers={"If-Match": objected.headers["ETag"]}
    )
    assert edited.status_code == 200
    assert enterprise.post(url(product, "submit")).json["status"] == "submitted"


def test_a_step_with_a_stale_if_match_is_refused(staff, factory, db):
    product = product_in(factory, db, "submitted")
    stale = f'"{product["_id"]}-{product["version"] + 5}"'
    response = staff.post(url(product, "approve"), headers={"If-Match": stale})
    assert response.status_code == 412
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == "submitted"


def test_a_step_with_the_current_if_match_returns_the_next_etag(staff, factory, db):
    product = product_in(factory, db, "submitted")
    response = staff.post(url(product, "approve"), headers={"If-Match": etag_of(product)})
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{product["_id"]}-{product["version"] + 1}"'


# Expiry and revocation -------------------------------------------------------------------------


def test_a_certified_product_reads_expired_once_its_validity_passes(staff, factory, clock):
    product = factory.product(status="certified", certified_at=clock.now)
    assert staff.get(url(product)).json["status"] == "certified"
    clock.advance(days=730)
    assert staff.get(url(product)).json["status"] == "expired"


def test_status_filters_use_the_effective_status(staff, factory, clock):
    current = factory.product(status="certified", certified_at=clock.now - 10 * DAY)
    expired = factory.product(status="certified", certified_at=clock.now - 731 * DAY)
    factory.product(status="draft")

    def ids(query):
        return {item["id"] for item in staff.get(f"/api/v1/products?{query}").json["items"]}

    assert ids("status=certified") == {str(current["_id"])}
    assert ids("status=expired") == {str(expired["_id"])}
    assert staff.get("/api/v1/products?status=expired").json["items"][0]["status"] == "expired"


def test_products_expiring_soon_are_listed(staff, factory, clock):
    soon = factory.product(status="certified", certified_at=clock.now - 720 * DAY)
    factory.product(status="certified", certified_at=clock.now - 100 * DAY)
    factory.product(status="certified", certified_at=clock.now - 800 * DAY)
    items = staff.get("/api/v1/products?expiring_within_days=30").json["items"]
    assert [item["id"] for item in items] == [str(soon["_id"])]


def test_a_revoked_product_was_certified_before_revocation_only(staff, factory, db, clock):
    product = factory.product(status="certified", certified_at=clock.now - 30 * DAY)
    clock.advance(seconds=1)
    revoked_at = clock.now
    response = staff.post(url(product, "revoke"), json={"reason": "抽检不合格"})
    assert response.json["status"] == "revoked"
    stored = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    assert stored["certificates"][0]["end_reason"] == "revoked"
    assert certification.certified_at(stored, revoked_at - DAY)
    assert not certification.certified_at(stored, revoked_at)


# Editing ---------------------------------------------------------------------------------------


def test_an_edit_needs_if_match(enterprise, factory, operator):
    product = factory.product(operator["_id"])
    assert enterprise.patch(url(product), json={"price_fen": 100}).status_code == 428


def test_an_edit_with_a_stale_etag_is_refused_and_the_new_etag_works(enterprise, factory, operator, db):
    product = factory.product(operator["_id"])
    first = enterprise.patch(url(product), json={"price_fen": 100}, headers={"If-Match": etag_of(product)})
    assert first.status_code == 200
    assert first.headers["ETag"] == f'"{product["_id"]}-2"'
    stale = enterprise.patch(url(product), json={"price_fen": 200}, headers={"If-Match": etag_of(product)})
    assert stale.status_code == 412
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["price_fen"] == 100
    again = enterprise.patch(
        url(product), json={"price_fen": 200}, headers={"If-Match": first.headers["ETag"]}
    )
    assert again.status_code == 200
    assert again.json["price_fen"] == 200


def test_an_if_match_naming_another_product_is_refused(enterprise, factory, operator):
    product = factory.product(operator["_id"])
    other = factory.product(operator["_id"])
    response = enterprise.patch(url(product), json={"price_fen": 1}, headers={"If-Match": etag_of(other)})
    assert response.status_code == 412


@pytest.mark.parametrize("status", ["submitted", "county_approved", "publicizing", "revoked"])
def test_a_product_under_review_or_revoked_cannot_be_edited(staff, factory, status):
    product = factory.product(status=status)
    response = staff.patch(url(product), json={"price_fen": 1}, headers={"If-Match": etag_of(product)})
    assert response.status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"name": "新品名"},
        {"category": "herbs"},
        {"benefit_rate_bp": 2000},
        {"channel_skus": [{"channel": "jd", "sku": "new-1"}]},
    ],
)
def test_editing_a_reviewed_field_sends_a_certified_product_back_to_review(staff, factory, db, change):
    product = factory.product(status="certified")
    number = product["certificate_no"]
    response = staff.patch(url(product), json=change, headers={"If-Match": etag_of(product)})
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "submitted"
    assert body["certificate_no"] is None
    assert body["certificates"][0]["number"] == number
    assert body["certificates"][0]["end_reason"] == "sent_back_for_review"
    assert body["status_history"][-1]["from"] == "certified"
    assert body["status_history"][-1]["to"] == "submitted"


def test_moving_a_certified_product_to_another_operator_sends_it_back(staff, factory):
    product = factory.product(status="certified")
    other = factory.operator("340722")
    response = staff.patch(
        url(product), json={"operator_id": str(other["_id"])}, headers={"If-Match": etag_of(product)}
    )
    assert response.json["status"] == "submitted"
    assert response.json["operator_id"] == str(other["_id"])


def test_a_price_change_keeps_a_certified_product_certified(staff, factory, db):
    product = factory.product(status="certified")
    response = staff.patch(
        url(product), json={"price_fen": 7200, "spec": "500g"}, headers={"If-Match": etag_of(product)}
    )
    assert response.json["status"] == "certified"
    assert response.json["certificate_no"] == product["certificate_no"]
    assert response.json["price_fen"] == 7200
    entry = db[storage.AUDIT_LOG].find_one({"action": "product.update"})
    assert entry["before"]["price_fen"] == product["price_fen"]
    assert entry["after"]["price_fen"] == 7200


def test_an_unchanged_value_is_not_an_edit(staff, factory):
    product = factory.product(status="certified")
    response = staff.patch(
        url(product), json={"name": product["name"]}, headers={"If-Match": etag_of(product)}
    )
    assert response.json["status"] == "certified"
    assert response.json["version"] == product["version"]


def test_an_enterprise_cannot_move_its_product_to_another_operator(enterprise, factory, operator):
    product = factory.product(operator["_id"])
    other = factory.operator()
    response = enterprise.patch(
        url(product), json={"operator_id": str(other["_id"])}, headers={"If-Match": etag_of(product)}
    )
    assert response.status_code == 403
    assert "operator_id" in response.json["error"]["details"]


def test_staff_moving_a_product_to_an_operator_of_another_county_they_cover_moves_its_county(login, factory):
    staff = login("county_staff", county_codes=["340722", "341822"])
    product = factory.product()
    other = factory.operator("341822")
    response = staff.patch(
        url(product), json={"operator_id": str(other["_id"])}, headers={"If-Match": etag_of(product)}
    )
    assert response.json["county_code"] == "341822"


def test_a_barcode_can_be_cleared(enterprise, factory, operator):
    product = factory.product(operator["_id"], barcode=VALID_GTIN)
    response = enterprise.patch(url(product), json={"barcode": None}, headers={"If-Match": etag_of(product)})
    assert response.status_code == 200
    assert response.json["barcode"] is None


def test_a_bad_barcode_on_edit_is_refused(enterprise, factory, operator):
    product = factory.product(operator["_id"])
    response = enterprise.patch(
        url(product), json={"barcode": "6901234567891"}, headers={"If-Match": etag_of(product)}
    )
    assert response.status_code == 422
    assert "barcode" in response.json["error"]["details"]


# Effective-dated benefit rates -----------------------------------------------------------------


def test_rate_at_gives_the_rate_that_held_at_each_moment():
    change = datetime(2021, 6, 1, 16, 0, tzinfo=UTC)
    product = {
        "benefit_rate_history": [
            {"benefit_rate_bp": 800, "valid_from": datetime(2021, 1, 1, tzinfo=UTC)},
            {"benefit_rate_bp": 1200, "valid_from": change},
        ]
    }
    assert certification.rate_at(product, datetime(2020, 12, 31, tzinfo=UTC)) == 0
    assert certification.rate_at(product, change - timedelta(milliseconds=1)) == 800
    assert certification.rate_at(product, change) == 1200
    assert certification.rate_at(product, change + 400 * DAY) == 1200


def test_a_rate_change_from_a_later_day_leaves_earlier_moments_alone(
    enterprise, factory, operator, db, clock
):
    product = factory.product(operator["_id"], benefit_rate_bp=1000)
    tomorrow = local_date(clock.now) + DAY
    response = enterprise.patch(
        url(product),
        json={"benefit_rate_bp": 1500, "benefit_rate_valid_from": tomorrow.isoformat()},
        headers={"If-Match": etag_of(product)},
    )
    assert response.status_code == 200
    assert response.json["benefit_rate_bp"] == 1000
    stored = db[storage.PRODUCTS].find_one({"_id": product["_id"]})
    starts = start_of_local_day(tomorrow)
    assert certification.rate_at(stored, starts - timedelta(milliseconds=1)) == 1000
    assert certification.rate_at(stored, starts) == 1500
    clock.now = starts
    assert enterprise.get(url(product)).json["benefit_rate_bp"] == 1500


def test_a_rate_change_defaults_to_the_start_of_today_in_shanghai(enterprise, factory, operator, db, clock):
    product = factory.product(operator["_id"], benefit_rate_bp=1000)
    enterprise.patch(url(product), json={"benefit_rate_bp": 900}, headers={"If-Match": etag_of(product)})
    history = db[storage.PRODUCTS].find_one({"_id": product["_id"]})["benefit_rate_history"]
    assert history[-1] == {"benefit_rate_bp": 900, "valid_from": start_of_local_day(local_date(clock.now))}


def test_a_rate_change_cannot_start_in_the_past(enterprise, factory, operator, clock):
    product = factory.product(operator["_id"])
    yesterday = local_date(clock.now) - DAY
    response = enterprise.patch(
        url(product),
        json={"benefit_rate_bp": 1500, "benefit_rate_valid_from": yesterday.isoformat()},
        headers={"If-Match": etag_of(product)},
    )
    assert response.status_code == 422
    assert "benefit_rate_valid_from" in response.json["error"]["details"]


def test_a_rate_start_without_a_rate_is_refused(enterprise, factory, operator):
    product = factory.product(operator["_id"])
    response = enterprise.patch(
        url(product), json={"benefit_rate_valid_from": "2030-01-01"}, headers={"If-Match": etag_of(product)}
    )
    assert response.status_code == 422
    assert "benefit_rate_valid_from" in response.json["error"]["details"]


def test_a_second_change_on_the_same_day_replaces_the_first(enterprise, factory, operator, db):
    product = factory.product(operator["_id"], benefit_rate_bp=1000)
    first = enterprise.patch(
        url(product), json={"benefit_rate_bp": 1100}, headers={"If-Match": etag_of(product)}
    )
    enterprise.patch(
        url(product), json={"benefit_rate_bp": 1200}, headers={"If-Match": first.headers["ETag"]}
    )
    history = db[storage.PRODUCTS].find_one({"_id": product["_id"]})["benefit_rate_history"]
    assert [entry["benefit_rate_bp"] for entry in history] == [1200]


# Who sees what ---------------------------------------------------------------------------------


def test_an_enterprise_cannot_read_or_edit_another_operators_product(enterprise, factory, operator):
    other = factory.product()
    assert enterprise.get(url(other)).status_code == 403
    assert (
        enterprise.patch(url(other), json={"price_fen": 1}, headers={"If-Match": etag_of(other)}).status_code
        == 403
    )
    assert enterprise.post(url(other, "submit")).status_code == 403


def test_an_enterprise_lists_only_its_own_products(enterprise, factory, operator):
    mine = factory.product(operator["_id"])
    factory.product()
    listed = enterprise.get("/api/v1/products").json
    assert [item["id"] for item in listed["items"]] == [str(mine["_id"])]
    assert listed["total"] == 1


def test_county_staff_cannot_touch_another_countys_products(staff, factory):
    theirs = factory.product(county_code="341822")
    assert staff.get(url(theirs)).status_code == 403
    assert (
        staff.patch(url(theirs), json={"price_fen": 1}, headers={"If-Match": etag_of(theirs)}).status_code
        == 403
    )
    assert staff.post(url(theirs, "submit")).status_code == 403
    assert staff.get("/api/v1/products").json["total"] == 0
    assert staff.get("/api/v1/products?county_code=341822").status_code == 403


def test_a_canteen_sees_only_certified_unexpired_products_of_every_county(login, factory):
    certified_here = factory.product(status="certified")
    certified_there = factory.product(status="certified", county_code="341822")
    factory.product(status="draft")
    factory.product(status="publicizing")
    factory.product(status="certified", certified_at=utcnow() - 800 * DAY)
    canteen = login("canteen")
    listed = canteen.get("/api/v1/products").json
    assert {item["id"] for item in listed["items"]} == {
        str(certified_here["_id"]),
        str(certified_there["_id"]),
    }
    assert listed["total"] == 2


def test_a_canteen_cannot_read_an_uncertified_product_or_list_other_statuses(login, factory):
    draft = factory.product(status="draft")
    certified = factory.product(status="certified")
    canteen = login("canteen")
    assert canteen.get(url(draft)).status_code == 403
    assert canteen.get(url(certified)).status_code == 200
    assert canteen.get("/api/v1/products?status=draft").status_code == 403
    assert canteen.get("/api/v1/products?status=certified").status_code == 200


def test_a_canteen_cannot_edit_a_certified_product(login, factory):
    certified = factory.product(status="certified")
    response = login("canteen").patch(
        url(certified), json={"price_fen": 1}, headers={"If-Match": etag_of(certified)}
    )
    assert response.status_code == 403


# Listing ---------------------------------------------------------------------------------------


def test_list_filters_by_operator_category_and_name(staff, factory):
    operator = factory.operator()
    tea = factory.product(operator["_id"], name="白云毛峰", category="tea")
    factory.product(operator["_id"], name="枞阳媒鸭", category="meat_eggs")
    factory.product(name="白云绿茶", category="tea")

    def ids(query):
        return {item["id"] for item in staff.get("/api/v1/products", query_string=query).json["items"]}

    assert ids({"operator_id": str(operator["_id"]), "category": "tea"}) == {str(tea["_id"])}
    assert len(ids({"q": "白云"})) == 2
    assert ids({"q": "白.毛"}) == set()


def test_list_sorts_by_price_and_pages(staff, factory):
    for price in (300, 100, 200):
        factory.product(price_fen=price)
    first = staff.get("/api/v1/products?sort=price_fen&per_page=2").json
    second = staff.get("/api/v1/products?sort=price_fen&per_page=2&page=2").json
    assert [item["price_fen"] for item in first["items"] + second["items"]] == [100, 200, 300]
    assert first["total"] == 3
    descending = staff.get("/api/v1/products?sort=-price_fen").json["items"]
    assert [item["price_fen"] for item in descending] == [300, 200, 100]


@pytest.mark.parametrize(
    "query", ["status=archived", "category=toys", "sort=barcode", "per_page=500", "expiring_within_days=-1"]
)
def test_bad_list_parameters_are_refused(staff, query):
    assert staff.get(f"/api/v1/products?{query}").status_code == 422


def test_concurrent_registrations_of_one_sku_create_exactly_one_product(app, enterprise, db):
    def create(index: int) -> int:
        response = app.test_client().post(
            "/api/v1/products",
            json=product_body(name=f"同款{index}"),
            headers={"Authorization": f"Bearer {enterprise.token}"},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(16)))
    assert statuses == [201] + [409] * 15
    assert db[storage.PRODUCTS].count_documents({"channel_sku_keys": "jd:100012345"}) == 1


# Steps taken at a past moment (the demo county's history) ---------------------------------------


def test_a_product_registered_and_certified_in_the_past_follows_the_rules_of_then(factory, db, app):
    admin = system_principal("tests")
    operator = factory.operator("340722")
    registered = utcnow() - 1000 * DAY
    with app.app_context():
        product = products.create_product(
            db, admin, {**product_body(), "operator_id": operator["_id"]}, at=registered
        )
        for action, day in (("submit", 2), ("approve", 4), ("publicize", 6)):
            step = products.transition(db, admin, product["_id"], action, at=registered + day * DAY)
        with pytest.raises(Conflict):  # publicity runs its days then as now
            products.transition(db, admin, product["_id"], "certify", at=step["publicity_ends_at"] - DAY)
        certified = products.transition(db, admin, product["_id"], "certify", at=step["publicity_ends_at"])
    assert product["created_at"] == registered
    assert product["benefit_rate_history"][0]["valid_from"] == start_of_local_day(local_date(registered))
    assert [entry["at"] for entry in certified["status_history"]][:2] == [registered, registered + 2 * DAY]
    year = certified["certified_at"].astimezone(clock_module.SHANGHAI).year
    assert certified["certificate_no"] == f"FP340722{year}00001"
    assert certified["valid_until"] == certified["certified_at"] + products.certificate_validity()
    assert products.get_product(db, admin, product["_id"])["status"] == "expired"


# Look-ups for other modules ---------------------------------------------------------------------


def test_products_are_matched_by_id_sku_barcode_or_certificate_in_one_query(factory, db):
    by_id = factory.product()
    by_sku = factory.product(channel_skus=[{"channel": "jd", "sku": "JD-1"}])
    by_barcode = factory.product(barcode=VALID_GTIN)
    by_certificate = factory.product(status="certified")
    factory.product(channel_skus=[{"channel": "taobao", "sku": "JD-1"}])
    found = product_lookups.matching(
        db,
        {"name": 1},
        ids=[by_id["_id"]],
        sku_keys=["jd:JD-1"],
        barcodes=[VALID_GTIN],
        certificate_numbers=by_certificate["certificate_numbers"],
    )
    assert {product["_id"] for product in found} == {
        by_id["_id"], by_sku["_id"], by_barcode["_id"], by_certificate["_id"]
    }  # fmt: skip
    assert product_lookups.matching(db, {"name": 1}) == []
    assert product_lookups.names_by_id(db, [by_id["_id"], None]) == {by_id["_id"]: by_id["name"]}


def test_products_of_counties_and_an_operator(factory, db):
    here = factory.product(county_code="340722")
    there = factory.product(county_code="340828")
    fields = {"county_code": 1}
    assert {p["_id"] for p in product_lookups.of_counties(db, ["340722"], None, fields)} == {here["_id"]}
    assert {p["_id"] for p in product_lookups.of_counties(db, ["340722", "340828"], None, fields)} == {
        here["_id"], there["_id"]
    }  # fmt: skip
    assert product_lookups.of_counties(db, None, there["operator_id"], fields) == [
        {"_id": there["_id"], "county_code": "340828"}
    ]
