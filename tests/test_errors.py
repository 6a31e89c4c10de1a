"""One error envelope for every 4xx/5xx, and bad input refused before MongoDB sees it."""

from __future__ import annotations

import pytest


def _assert_envelope(response, status, kind, code=None):
    """The envelope: its generic ``kind``, and its rule's own ``code`` (the kind where there is none)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert error["kind"] == kind
    assert error["code"] == (code or kind)
    assert isinstance(error["params"], dict) and isinstance(error["detail_codes"], dict)
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


def test_400_malformed_json(client):
    response = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    error = _assert_envelope(response, 400, "bad_request", "body.not_json")
    assert "not valid JSON" in error["message"]


def test_401_without_token(client):
    _assert_envelope(client.get("/api/v1/audit"), 401, "unauthorized", "auth.login_first")


def test_403_wrong_role(login):
    _assert_envelope(login("canteen").get("/api/v1/users"), 403, "forbidden", "access.role_refused")


def test_404_flask_own(client):
    _assert_envelope(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_404_unknown_object(login):
    _assert_envelope(
        login("admin").get("/api/v1/users/0123456789abcdef01234567"), 404, "not_found", "account.not_found"
    )


def test_405_flask_own(client):
    response = client.delete("/api/v1/auth/login")
    _assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_413_oversized_body():
    from tests.conftest import make_test_app

    app = make_test_app(MAX_CONTENT_LENGTH=1024)
    response = app.test_client().post(
        "/api/v1/auth/login", data='{"username": "' + "x" * 5000 + '"}', content_type="application/json"
    )
    _assert_envelope(response, 413, "request_entity_too_large")


def test_415_wrong_content_type(client):
    response = client.post(
        "/api/v1/auth/login", data="username=a&password=b", content_type="application/x-www-form-urlencoded"
    )
    _assert_envelope(response, 415, "unsupported_media_type", "body.not_json_type")


def test_422_names_each_bad_field(client):
    response = client.post("/api/v1/auth/login", json={"username": "", "surprise": 1})
    error = _assert_envelope(response, 422, "validation_error")
    assert set(error["details"]) == {"username", "password", "surprise"}


def test_422_on_query_arguments(login):
    response = login("admin").get("/api/v1/users?per_page=1000")
    error = _assert_envelope(response, 422, "validation_error")
    assert "per_page" in error["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": {"$gt": ""}, "password": "x"},
        {"username": "admin", "password": {"$ne": None}},
        {"username": "admin", "password": "x", "$where": "1"},
        {"username": ["admin"], "password": "x"},
    ],
)
def test_query_operators_in_bodies_are_refused(client, factory, body):
    factory.user("admin")
    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code in (400, 422)
    assert "token" not in response.get_data(as_text=True)


def test_query_operators_in_query_strings_are_plain_strings(login):
    response = login("admin").get("/api/v1/audit?action[$ne]=x&entity_kind=%7B%22%24gt%22%3A%22%22%7D")
    assert response.status_code == 422
    assert "action[$ne]" in response.json["error"]["details"]


def test_500_is_in_the_envelope_and_hides_the_cause(app):
    from service.access import public

    @public
    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/api/v1/explode", "explode", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/api/v1/explode")
    error = _assert_envelope(response, 500, "internal_server_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert error["message"]


@pytest.mark.parametrize(
    ("raw", "said", "code"),
    [
        (
            b'{"username": "admin", "password": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "nested more than",
            "body.too_deep",
        ),
        (
            b'{"username": "' + b"[" * 40 + b'", "password": ' + b"[" * 40 + b"]" * 40 + b"}",
            "nested more than",
            "body.too_deep",
        ),
        (b'{"username": "\\udfff", "password": "x"}', "not valid Unicode text", "body.not_unicode"),
        (b'{"username": "admin", "password": 9223372036854775808}', "beyond 64 bits", "body.beyond_64_bits"),
    ],
)
def test_hostile_json_bodies_are_400_before_any_route_runs(client, raw, said, code):
    response = client.post("/api/v1/auth/login", data=raw, content_type="application/json")
    error = _assert_envelope(response, 400, "bad_request", code)
    assert said in error["message"]


@pytest.mark.parametrize("amount", [2**63 - 1, 10**14 + 1, -(10**14) - 1])
def test_amounts_beyond_a_real_line_are_refused_as_a_field_error(login, factory, amount):
    canteen = factory.canteen("340722")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.put(
        f"/api/v1/canteens/{canteen['_id']}/plans/2024",
        json={"food_total_fen": amount, "reserve_ratio_bp": 1000},
    )
    error = _assert_envelope(response, 422, "validation_error")
    assert "food_total_fen" in error["details"]
