"""Slow clients against a running service: do they keep others from being served?

    .venv/bin/python scripts/slow_clients.py --url http://127.0.0.1:8000 [--clients 50] [--seconds 30]

Opens --clients connections that each send a request head one byte a second and never finish it
(a slowloris), and meanwhile, from another client on fresh connections, times GET /healthz and
the login page (GET /login) for --seconds. Prints one JSON object: per request, how many, how many
failed, and the latencies. tests/test_slow_clients.py runs the same probe for a few seconds.
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
# What a health check and a new visitor ask for.
PATHS = ("/healthz", "/login")


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


def _timed(url: str) -> tuple[float, int | str]:
    started = time.perf_counter()
    try:
        # A fresh connection each time, as a health check or a new visitor makes one.
        response = requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS)
        outcome: int | str = response.status_code
    except requests.RequestException as error:
        outcome = type(error).__name__
    return time.perf_counter() - started, outcome


def measure(url: str, seconds: float, *, pause: float = 0.2) -> dict:
    """Times /healthz and the login page over and over for ``seconds``; latencies in milliseconds."""
    timings: dict[str, list[tuple[float, int | str]]] = {path: [] for path in PATHS}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in PATHS:
            timings[path].append(_timed(url + path))
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


def probe(url: str, *, clients: int, seconds: float) -> dict:
    """The whole probe: the slow clients connect, then others are timed while they trickle."""
    with Trickle(url, clients) as trickle:
        time.sleep(1.0)  # every slow client has sent its first byte and holds whatever it holds
        timings = measure(url, seconds)
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
    arguments = parser.parse_args()
    result = probe(arguments.url.rstrip("/"), clients=arguments.clients, seconds=arguments.seconds)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
