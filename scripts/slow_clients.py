"""Slow clients against a running service: do they keep others from being served?

    .venv/bin/python scripts/slow_clients.py --url http://127.0.0.1:8000 [--clients 50] [--seconds 30]
        [--username admin --password demo-pass-2020]

Opens --clients connections that each send a request head one byte a second and never finish it
(a slowloris), and meanwhile, from another client on fresh connections, times GET /healthz, the
login page and, given an account, POST /api/v1/auth/login, for --seconds. Prints one JSON object:
per request, how many, how many failed, and the latencies. tests/test_slow_clients.py runs the
same probe for a few seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

# A request head that never ends: the request line, then one header whose value grows forever.
_HEAD = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: "
REQUEST_TIMEOUT_SECONDS = 10.0


def _head_bytes() -> Iterator[bytes]:
    for byte in itertools.chain(_HEAD, itertools.repeat(ord("a"))):
        yield bytes([byte])


class Trickle:
    """``clients`` connections, each sending its request head one byte every ``interval`` seconds."""

    def __init__(self, url: str, clients: int, interval: float = 1.0):
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.clients, self.interval = clients, interval
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0
        self.bytes_sent = 0
        self._heads: list[Iterator[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        for _ in range(self.clients):
            connection = socket.create_connection(self.address, timeout=REQUEST_TIMEOUT_SECONDS)
            connection.setblocking(False)
            self.sockets.append(connection)
            self._heads.append(_head_bytes())
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self.sockets:
            connection.close()

    @property
    def open(self) -> int:
        return self.clients - self.closed_by_server

    def _run(self) -> None:
        alive = dict(zip(self.sockets, self._heads, strict=True))
        while alive and not self._stop.is_set():
            for connection, head in list(alive.items()):
                try:
                    self.bytes_sent += connection.send(next(head))
                except BlockingIOError:
                    continue  # its send buffer is full: the byte goes next round
                except OSError:
                    del alive[connection]
                    self.closed_by_server += 1
            self._stop.wait(self.interval)


def _timed(method: str, url: str, **kwargs) -> tuple[float, int | str]:
    started = time.perf_counter()
    try:
        # A fresh connection each time, as a health check or a new visitor makes one.
        response = requests.request(method, url, timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
        outcome: int | str = response.status_code
    except requests.RequestException as error:
        outcome = type(error).__name__
    return time.perf_counter() - started, outcome


def measure(url: str, seconds: float, *, login: tuple[str, str] | None = None, pause: float = 0.2) -> dict:
    """Times /healthz, the login page (and a login) over and over for ``seconds``; latencies in ms."""
    requests_made = {"GET /healthz": ("GET", "/healthz", {}), "GET /login": ("GET", "/login", {})}
    if login is not None:
        body = {"username": login[0], "password": login[1]}
        requests_made["POST /api/v1/auth/login"] = ("POST", "/api/v1/auth/login", {"json": body})
    timings: dict[str, list[tuple[float, int | str]]] = {name: [] for name in requests_made}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, (method, path, kwargs) in requests_made.items():
            timings[name].append(_timed(method, url + path, **kwargs))
        time.sleep(pause)
    return {name: _summary(results) for name, results in timings.items()}


def _summary(results: list[tuple[float, int | str]]) -> dict:
    latencies = sorted(latency * 1000 for latency, _ in results)
    return {
        "count": len(results),
        "failed": [outcome for _, outcome in results if outcome != 200],
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "max_ms": round(latencies[-1], 1),
    }


def probe(url: str, *, clients: int, seconds: float, login: tuple[str, str] | None = None) -> dict:
    """The whole probe: the slow clients connect, then others are timed while they trickle."""
    with Trickle(url, clients) as trickle:
        time.sleep(1.0)  # every slow client has sent its first byte and holds whatever it holds
        timings = measure(url, seconds, login=login)
        return {
            "slow_clients": clients,
            "seconds": seconds,
            "slow_clients_still_open": trickle.open,
            "slow_bytes_sent": trickle.bytes_sent,
            "requests": timings,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--username")
    parser.add_argument("--password")
    arguments = parser.parse_args()
    login = (arguments.username, arguments.password) if arguments.username else None
    result = probe(
        arguments.url.rstrip("/"), clients=arguments.clients, seconds=arguments.seconds, login=login
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
