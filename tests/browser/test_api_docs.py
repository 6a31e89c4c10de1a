"""The API documentation in a real browser: Swagger UI starts under the pages' CSP, offline."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _operation_count(base_url: str) -> int:
    with urllib.request.urlopen(base_url + "/api/openapi.json", timeout=10) as response:  # noqa: S310 - our own URL
        spec = json.load(response)
    return sum(1 for item in spec["paths"].values() for method in item if method in HTTP_METHODS)


def test_swagger_ui_renders_every_operation_from_local_files_only(new_page, base_url):
    page = new_page()
    requested: list[str] = []
    refused: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    response = page.goto("/api/docs")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    operations = _operation_count(base_url)
    assert operations > 50
    expect(page.locator(".opblock")).to_have_count(operations)
    expect(page.locator(".information-container .title")).to_contain_text("消费帮扶")
    screenshot(page, "api-docs")
    assert refused == []
    assert {urlsplit(url).hostname for url in requested} == {"127.0.0.1"}, requested
