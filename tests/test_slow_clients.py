"""Slow clients cannot stall the zero-setup service.

The service is started as ./scripts/run starts it (gunicorn.conf.py, one worker on the emulator,
the default thread count). Fifty connections send a request head one byte a second and never finish
it, while another client keeps asking for /healthz and the login page on fresh connections: every
one of those must be answered within a second. scripts/slow_clients.py is the same probe, run longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.slow_clients import PATHS, probe
from tests.test_durable import Service

SLOW_CLIENTS = 50
TRICKLE_SECONDS = 8
LATENCY_LIMIT_MS = 1000


@pytest.fixture
def service(tmp_path: Path, monkeypatch):
    # The configuration's own thread count, not one the environment running the tests may set.
    monkeypatch.delenv("THREADS", raising=False)
    running = Service(tmp_path / "data").start()
    yield running
    running.kill()


def test_fifty_clients_trickling_headers_do_not_delay_health_checks_or_the_login_page(service):
    result = probe(service.url, clients=SLOW_CLIENTS, seconds=TRICKLE_SECONDS)

    # The slow clients were held open all along: the service served others while they trickled.
    assert result["slow_clients_still_open"] == SLOW_CLIENTS
    assert set(result["requests"]) == set(PATHS)
    for path, timings in result["requests"].items():
        assert timings["failed"] == [], (path, timings)
        assert timings["max_ms"] < LATENCY_LIMIT_MS, (path, timings)
        assert timings["count"] >= 5, (path, timings)
