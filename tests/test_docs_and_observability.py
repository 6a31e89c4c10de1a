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
    assert all(source.startswith("/api/docs/static/") for source in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source


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
