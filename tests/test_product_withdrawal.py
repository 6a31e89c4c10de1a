"""An enterprise withdraws its application (撤回申请) before the county has approved it."""

from __future__ import annotations

import pytest

from service import storage


@pytest.fixture
def operator(factory):
    return factory.operator("340722")


@pytest.fixture
def enterprise(login, operator):
    return login("enterprise", operator_id=operator["_id"])


def url(product, action: str) -> str:
    return f"/api/v1/products/{product['_id']}/{action}"


def test_a_submitted_application_is_withdrawn_to_a_draft_and_audited(enterprise, factory, db, operator):
    product = factory.product(operator["_id"], status="submitted")
    response = enterprise.post(url(product, "withdraw"))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "draft"
    last = response.json["status_history"][-1]
    assert (last["from"], last["to"], last["action"]) == ("submitted", "draft", "withdraw")
    entry = db[storage.AUDIT_LOG].find_one({"action": "product.withdraw", "entity.id": product["_id"]})
    assert entry is not None and entry["actor"]["username"] == enterprise.user["username"]


def test_a_withdrawn_draft_is_editable_and_submitted_again(enterprise, factory, operator):
    product = factory.product(operator["_id"], status="submitted")
    withdrawn = enterprise.post(url(product, "withdraw"))
    edited = enterprise.patch(
        f"/api/v1/products/{product['_id']}",
        json={"spec": "500g/盒"},
        headers={"If-Match": withdrawn.headers["ETag"]},
    )
    assert edited.status_code == 200, edited.json
    assert enterprise.post(url(product, "submit")).json["status"] == "submitted"


@pytest.mark.parametrize("status", ["draft", "county_approved", "publicizing", "certified", "rejected"])
def test_only_a_submitted_application_can_be_withdrawn(enterprise, factory, db, operator, status):
    product = factory.product(operator["_id"], status=status)
    response = enterprise.post(url(product, "withdraw"))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "certification.wrong_status"
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == status


def test_staff_send_an_application_back_with_a_reason_instead_of_withdrawing_it(login, factory, db):
    product = factory.product(status="submitted")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.post(url(product, "withdraw"))
    assert response.status_code == 403
    assert db[storage.PRODUCTS].find_one({"_id": product["_id"]})["status"] == "submitted"


def test_another_operators_application_is_refused(enterprise, factory, db):
    other = factory.product(factory.operator("340722")["_id"], status="submitted")
    assert enterprise.post(url(other, "withdraw")).status_code == 403
    assert db[storage.PRODUCTS].find_one({"_id": other["_id"]})["status"] == "submitted"
