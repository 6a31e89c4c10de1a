"""Schemathesis over every operation of the served OpenAPI document, as each role, with every check.

Requests are generated from /api/openapi.json and sent to the app in-process (WSGI); every answer
is checked against the document: no 5xx, documented status codes, content types, headers and
bodies, valid data accepted and invalid data rejected. Examples per operation are bounded and
derandomized, so a run is repeatable and takes a couple of minutes; `--quick` leaves it out.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE
from tests.conftest import _drop, make_test_app
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = 12
ROLES = (ADMIN, COUNTY_STAFF, ENTERPRISE, CANTEEN)

CONFIG = {
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    # Every built-in check; the stateful ones need links between operations and stay idle here.
    "checks": {
        "enabled": True,
        # An If-Match that names no current version is a 412 (RFC 9110), well-formed or not.
        "negative_data_rejection": {
            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 415, 422, 428, 429],
        },
        # A required If-Match left out is a 428 Precondition Required (RFC 6585).
        "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]},
    },
    "phases": {"stateful": {"enabled": False}},
}


# Rules a JSON schema cannot state (one field given another, a period's order, what exists, what a
# file holds, the caller's role): valid-looking requests that break them are a 422, by design, so
# the check that schema-valid requests are accepted is off for these operations; the others stay on.
RULES_BEYOND_THE_DOCUMENT = {
    # An upload's bytes must be a spreadsheet (or export) of the right layout: no schema says so.
    "POST /api/v1/households/import": "the file is a household register spreadsheet",
    "POST /api/v1/benefit-links/import": "the file is a benefit-link spreadsheet",
    "POST /api/v1/imports": "the file is an export of the channel's platform",
    "POST /api/v1/benefit-links": "staff name the operator; household_id or household_no, one of them",
    "POST /api/v1/benefit-links/{link_id}/end": "the last day is not before the link's first day",
    # ID numbers are read leniently (full-width digits, spaces) and checked by GB 11643's check character.
    "POST /api/v1/households": "ID number check character, the village in the county, exit year if exited",
    "PATCH /api/v1/households/{household_id}": "the village stays in the household's county; ID number check",
    "POST /api/v1/households/lookup": "ID number check character (GB 11643)",
    "POST /api/v1/households/{household_id}/categories": "days from registration to today",
    "POST /api/v1/auth/password": "the current password must be the account's",
    "POST /api/v1/users": "the role decides which of county, operator or canteen is bound, and it must exist",
    "GET /api/v1/households/{household_id}/income": "from (default: a year back) is not after to",
    "GET /api/v1/products": "sku needs its channel",
    "PATCH /api/v1/products/{product_id}": "annual_output needs its unit",
    "POST /api/v1/products": "the operator must exist and be the caller's",
    "POST /api/v1/products/{product_id}/revoke": "revoking and rejecting need a reason, other steps not",
    "POST /api/v1/products/{product_id}/reject": "revoking and rejecting need a reason, other steps not",
    "POST /api/v1/products/{product_id}/object": "an objection needs its reason, other steps not",
    "POST /api/v1/operators": "the USCC's check character (GB 32100)",
    "PATCH /api/v1/operators/{operator_id}": "the USCC's check character (GB 32100)",
    "GET /api/v1/canteen-purchases": "a month needs its year",
    "POST /api/v1/canteen-purchases": "operator_uscc or operator_id, not both; the product must exist",
    "POST /api/v1/canteen-purchases/import": "staff name the canteen; the file must be a readable workbook",
    "PUT /api/v1/canteens/{canteen_id}/plans/{year}": "plan years 2019 to next year; a canteen to plan for",
    "POST /api/v1/canteens": "shared units, contractor and parent fit the mode and the county",
    "PATCH /api/v1/canteens/{canteen_id}": "shared units, contractor and parent fit the mode and exist",
    "POST /api/v1/canteen-purchases/832-orders": "staff name the canteen; the file is an 832 export",
    "POST /api/v1/counters/{cabinet_no}/events": "the body is signed by the cabinet's secret",
    "GET /api/v1/reports/unmatched": "an admin names the county; the period ends on or after it starts",
    "POST /api/v1/reports/unmatched/map": "every row names a product of the caller's counties and a free SKU",
    "PUT /api/v1/counties/{county_code}/places/{code}": "the place's code begins with its county's",
    "POST /api/v1/buying-units": "a name unique in the county, not blank; the USCC's check character",
    "POST /api/v1/pairings": "the unit must exist and be the caller's; the period ends on or after it starts",
    "POST /api/v1/unit-purchases": "the unit must exist and be the caller's, with a pairing in force then",
    "POST /api/v1/unit-purchases/import": "the file is a unit-purchase spreadsheet of the county's units",
    "GET /api/v1/reports/buyers": "the period ends on or after it starts",
    "POST /api/v1/counties/{county_code}/places/import": "the file is the national division-code file",
    "POST /api/v1/payouts": "staff name the operator; a household linked to it in the period; a new voucher",
    "POST /api/v1/payouts/import": "the file is a payout spreadsheet",
    "GET /api/v1/reports/payouts": "the period ends on or after it starts",
    "PUT /api/v1/control-totals/{county_code}/{channel}/{month}": "the month is YYYY-MM and has begun",
    "POST /api/v1/control-totals/import": "the file is a control-total spreadsheet",
    **{
        f"GET /api/v1/reports/{name}": "the period ends on or after it starts"
        for name in (
            "summary",
            "monthly",
            "products",
            "operators",
            "categories",
            "townships",
            "households",
            "certification",
            "unallocated",
        )
    },
}


class World:
    """One county's objects of every kind, and a token for each role bound to them."""

    def __init__(self, app):
        from service.storage import get_storage

        with app.app_context():
            db = get_storage().db
            factory = Factory(app, db)
            self.operator = factory.operator()
            self.product = factory.product(self.operator["_id"], status="certified")
            self.household = factory.household()
            self.link = factory.benefit_link(self.operator, self.household)
            self.canteen = factory.canteen(plans=[{"year": date.today().year, "food_total_fen": 10_000_000}])
            self.bystander, _ = factory.user(COUNTY_STAFF)
            self.users = {
                ADMIN: factory.user(ADMIN)[0],
                COUNTY_STAFF: factory.user(COUNTY_STAFF)[0],
                ENTERPRISE: factory.user(ENTERPRISE, operator_id=self.operator["_id"])[0],
                CANTEEN: factory.user(CANTEEN, canteen_id=self.canteen["_id"])[0],
            }
        self.app = app
        self.client = app.test_client()
        self.tokens = {role: self.login(role) for role in ROLES}
        self.path_ids = {
            "operator_id": str(self.operator["_id"]),
            "product_id": str(self.product["_id"]),
            "household_id": str(self.household["_id"]),
            "link_id": str(self.link["_id"]),
            "canteen_id": str(self.canteen["_id"]),
            "user_id": str(self.bystander["_id"]),
            "county_code": "340722",
        }

    def login(self, role: str) -> str:
        username = self.users[role]["username"]
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.json
        return response.json["token"]


# The document does not depend on the data: it is read once, at collection, from an app of its own.
_DOCUMENT_APP = make_test_app(MONGO_URI=None)
schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", _DOCUMENT_APP, config=SchemathesisConfig.from_dict(CONFIG)
)


@pytest.fixture(scope="module")
def world():
    # Generated logins fail by the hundred: the throttle (tests/test_throttle.py) would answer them all 429.
    app = make_test_app(LOGIN_MAX_FAILURES=10**6, LOGIN_MAX_FAILURES_PER_ADDRESS=10**6)
    yield World(app)
    _drop(app)


@pytest.fixture(scope="module", params=ROLES)
def role(request) -> str:
    return request.param


def _aim_at_world(case, world: World) -> None:
    # Valid requests name the objects that exist, so they reach the rules behind the 404.
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    for name in case.path_parameters or {}:
        if name in world.path_ids:
            case.path_parameters[name] = world.path_ids[name]


_STEP = re.compile(
    r"/(suspend|reactivate|submit|approve|reject|publicize|object|certify|revoke|withdraw|plans/\d+)$"
)


def _current_etag(case, token: str, world: World) -> str | None:
    path = _STEP.sub("", case.formatted_path)
    response = world.client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.headers.get("ETag")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_as_every_role(case, role: str, world: World) -> None:
    _aim_at_world(case, world)
    token = world.tokens[role]
    if case.operation.method.upper() == "POST" and case.operation.path == "/api/v1/auth/logout":
        # Logging out ends the token: end a session of its own instead.
        token = world.login(role)
    headers: dict[str, Any] = {"Authorization": f"Bearer {token}"}
    header_part = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header_part is not None and header_part.mode.is_negative:
        # The generated headers are the invalid part (perhaps no Authorization): send them as they are.
        headers = {}
    excluded = []
    if case.operation.label in RULES_BEYOND_THE_DOCUMENT:
        excluded.append(positive_data_acceptance)
    if case.headers and "If-Match" in case.headers and case.meta.generation.mode.is_positive:
        etag = _current_etag(case, token, world)
        if etag:
            case.headers["If-Match"] = etag
        else:
            # Not this role's object (or no longer, after another role's edit): its 412 stands for a 404.
            excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=headers, app=world.app, excluded_checks=excluded)
