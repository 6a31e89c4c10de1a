"""Absurd dates, times and time zone offsets are a 422 naming the field, never an overflow (500)."""

from __future__ import annotations

import importlib
import pkgutil
from urllib.parse import quote

import marshmallow as ma
import pytest
from marshmallow import fields

import schemas
from schemas.base import BaseSchema, DateRange

ABSURD_DAYS = ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"]
ABSURD_MOMENTS = [
    "0001-01-01T00:00:00+08:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59-08:00",
    "2024-03-01T00:00:00+14:30",
    "2024-03-01T00:00:00-12:30",
    "2024-03-01T00:00:00+24:00",
]


def _refused(response, field_name: str) -> None:
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    error = response.json["error"]
    assert field_name in error["details"]
    assert field_name in error["message"]


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=["340722"])


@pytest.mark.parametrize("value", ABSURD_DAYS + ABSURD_MOMENTS)
def test_a_benefit_link_with_an_absurd_first_or_last_day_is_refused(staff, factory, value):
    operator, household = factory.operator(), factory.household()
    body = {
        "operator_id": str(operator["_id"]),
        "household_id": str(household["_id"]),
        "mechanism": "purchase",
        "weight": 1,
        "valid_from": "2024-01-01",
    }
    _refused(staff.post("/api/v1/benefit-links", json={**body, "valid_from": value}), "valid_from")
    _refused(staff.post("/api/v1/benefit-links", json={**body, "valid_to": value}), "valid_to")


@pytest.mark.parametrize("value", ABSURD_DAYS + ABSURD_MOMENTS)
def test_ending_a_link_on_an_absurd_day_is_refused(staff, factory, value):
    link = factory.benefit_link(factory.operator(), factory.household())
    response = staff.post(f"/api/v1/benefit-links/{link['_id']}/end", json={"valid_to": value, "reason": "x"})
    _refused(response, "valid_to")


@pytest.mark.parametrize("value", ABSURD_DAYS + ABSURD_MOMENTS)
def test_listing_links_active_on_an_absurd_day_is_refused(staff, value):
    _refused(staff.get(f"/api/v1/benefit-links?active_on={quote(value)}"), "active_on")


@pytest.mark.parametrize("value", ABSURD_MOMENTS)
@pytest.mark.parametrize("name", ["since", "until"])
def test_the_audit_log_refuses_absurd_moments(staff, name, value):
    _refused(staff.get(f"/api/v1/audit?{name}={quote(value)}"), name)


@pytest.mark.parametrize("value", ABSURD_DAYS + ABSURD_MOMENTS)
def test_a_canteen_purchase_on_an_absurd_day_is_refused(login, value):
    cook = login("canteen")
    body = {"date": value, "quantity": 1, "amount_fen": 100, "invoice_no": "A-1", "product_name": "米"}
    _refused(
        cook.post("/api/v1/canteen-purchases", json={**body, "operator_uscc": "91110108551385082Q"}), "date"
    )


@pytest.mark.parametrize("value", ABSURD_DAYS)
def test_a_products_rate_starting_on_an_absurd_day_is_refused(login, factory, value):
    operator = factory.operator()
    enterprise = login("enterprise", operator_id=operator["_id"])
    body = {"name": "茶", "category": "tea", "unit": "盒", "price_fen": 100, "benefit_rate_bp": 1000}
    _refused(
        enterprise.post("/api/v1/products", json={**body, "benefit_rate_valid_from": value}),
        "benefit_rate_valid_from",
    )


def test_the_audit_page_refuses_an_absurd_day(page_login):
    browser = page_login("county_staff", county_codes=["340722"])
    response = browser.get("/audit/?since=0001-01-01")
    assert response.status_code in (200, 422)
    assert "日期应在 2000-01-01 到 2100-12-31 之间" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["2000-01-01", "2100-12-31"])
def test_the_range_includes_its_ends(staff, value):
    assert staff.get(f"/api/v1/benefit-links?active_on={value}").status_code == 200


def _input_schemas() -> list[type[ma.Schema]]:
    for module in pkgutil.iter_modules(schemas.__path__):
        importlib.import_module(f"schemas.{module.name}")
    found, stack = [], [BaseSchema]
    while stack:
        schema = stack.pop()
        found.append(schema)
        stack.extend(schema.__subclasses__())
    return found


def test_every_date_field_of_every_schema_is_range_checked():
    dated = 0
    for schema_class in _input_schemas():
        schema = schema_class()
        for name, field in schema.fields.items():
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, (fields.Date, fields.DateTime)):
                dated += 1
                assert any(isinstance(check, DateRange) for check in inner.validators), (schema_class, name)
    assert dated > 10
