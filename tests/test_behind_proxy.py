"""Behind the reverse proxy (TRUSTED_PROXIES): whose X-Forwarded-* headers the service believes."""

from __future__ import annotations

from flask import request

from service import config as config_module
from tests.conftest import _drop, make_test_app

PROXY = "172.18.0.5"
FORWARDED = {
    "X-Forwarded-For": "198.51.100.9, 203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "xiaofei.example.cn",
}


def _seen(**config) -> dict:
    """What the app makes of a request the proxy at PROXY passed on."""
    app = make_test_app(**config)
    seen: dict = {}

    @app.before_request
    def remember():
        seen.update(address=request.remote_addr, scheme=request.scheme, host=request.host)

    try:
        response = app.test_client().get("/healthz", headers=FORWARDED, environ_base={"REMOTE_ADDR": PROXY})
    finally:
        _drop(app)
    assert response.status_code == 200
    return seen


def test_without_trusted_proxies_forwarded_headers_are_ignored():
    seen = _seen()
    assert seen == {"address": PROXY, "scheme": "http", "host": "localhost"}


def test_one_trusted_proxy_gives_the_address_it_saw_and_the_clients_scheme_and_host():
    seen = _seen(TRUSTED_PROXIES=1)
    # The client wrote 198.51.100.9 itself; only the last entry, the proxy's own, is believed.
    assert seen == {"address": "203.0.113.7", "scheme": "https", "host": "xiaofei.example.cn"}


def test_trusted_proxies_is_read_from_the_environment():
    assert config_module.from_env({"TRUSTED_PROXIES": "1"}) == {"TRUSTED_PROXIES": 1}
