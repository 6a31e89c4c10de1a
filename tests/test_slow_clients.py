"""Slow clients cannot stall the zero-setup service.

The service is started as ./scripts/run starts it (gunicorn.conf.py, one worker on the emulator,
the default thread count). Fifty connections send a request head one byte a second and never finish
it, while another client keeps asking for /healthz and the login page and logging in, on fresh
connections: every one of those must be answered, promptly. scripts/slow_clients.py is the same
probe, run longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.slow_clients import probe
from tests.test_durable import PASSWORD, Service, _create_admin

SLOW_CLIENTS = 50
TRICKLE_SECONDS = 8
# A login hashes the password with argon2 on purpose (about 0.4 s on a busy 2-core machine alone).
LATENCY_LIMIT_MS = {"GET /healthz": 1000, "GET /login": 1000, "POST /api/v1/auth/login": 3000}


@pytest.fixture
def service(tmp_path: Path, monkeypatch):
    # The configuration's own thread count, not one the environment running the tests may set.
    monkeypatch.delenv("THREADS", raising=False)
    data_dir = tmp_path / "data"
    _create_admin(data_dir)
    running = Service(data_dir).start()
    yield running
    running.kill()


def test_fifty_clients_trickling_headers_do_not_delay_health_checks_or_logins(service):
    result = probe(service.url, clients=SLOW_CLIENTS, seconds=TRICKLE_SECONDS, login=("admin", PASSWORD))

    # The slow clients were held open all along: the service served others while they trickled.
    assert result["slow_clients_still_open"] == SLOW_CLIENTS
    assert set(result["requests"]) == set(LATENCY_LIMIT_MS)
    for name, timings in result["requests"].items():
        assert timings["failed"] == [], (name, timings)
        assert timings["max_ms"] < LATENCY_LIMIT_MS[name], (name, timings)
        assert timings["count"] >= 5, (name, timings)
