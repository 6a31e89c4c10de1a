"""OpenAPI, the offline docs page, request ids, JSON logs and metrics."""

from __future__ import annotations

import json
import logging
import re


def test_openapi_document_lists_the_api(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/auth/login" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_loads_only_local_assets(client):
    page = client.get("/api/docs").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert all(source.startswith(("/api/docs/static/", "/static/")) for source in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_docs_page_runs_no_inline_script(client):
    """The pages' CSP allows script files of our own origin only (tests/browser/test_api_docs.py runs it)."""
    page = client.get("/api/docs").get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "/static/swagger-init.js" in page


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_each_request_logs_one_json_line_with_its_request_id(client, capfd):
    logging.getLogger("service.request").setLevel(logging.INFO)
    client.get("/healthz", headers={"X-Request-ID": "trace-me"})
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "trace-me" in line]
    assert lines and lines[0]["request_id"] == "trace-me"
    assert lines[0]["status"] == 200 and lines[0]["path"] == "/healthz"


def test_metrics_count_requests(client):
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_debug_logs_never_carry_the_drivers_commands_or_replies(capfd):
    """At LOG_LEVEL=DEBUG the service logs its own detail, but the driver's command log (every
    command and reply: password and token hashes, household data) stays silent."""
    from tests.conftest import _drop, make_test_app
    from tests.factories import ApiCaller, Factory, valid_id_number

    app = make_test_app(LOG_LEVEL="DEBUG")
    try:
        with app.app_context():
            factory = Factory(app, app.extensions["storage"].db)
            user, password = factory.user("admin")
        capfd.readouterr()
        caller = ApiCaller(app.test_client())
        caller.login(user["username"], password)
        id_number = valid_id_number(424242)
        created = caller.post(
            "/api/v1/households",
            json={"household_no": "3407220000424242", "village_code": "340722100200", "head_name": "王小明",
                  "id_number": id_number, "members": 3, "status": "poor"},
        )  # fmt: skip
        assert created.status_code == 201, created.json
        # Something in the process lowering the driver's level must not open the tap either.
        logging.getLogger("pymongo.command").setLevel(logging.DEBUG)
        logging.getLogger("pymongo.command").debug('{"command": "find", "reply": "%s"}', id_number)
        err = capfd.readouterr().err
        assert "service.request" in err  # the service did log at DEBUG
        assert id_number not in err
        assert caller.token not in err
        assert "argon2" not in err
        assert not [line for line in err.splitlines() if '"logger": "pymongo' in line]
    finally:
        logging.getLogger("pymongo.command").setLevel(logging.NOTSET)
        _drop(app)
