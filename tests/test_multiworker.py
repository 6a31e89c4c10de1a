"""Several gunicorn workers on one database: concurrent ingests never make a figure wrong.

The real service runs with four worker processes against the server of TEST_MONGO_URI (the wire
tier's mongoeco, or a real MongoDB), on a database of its own. Clients push counter sales, log
canteen purchases, import small files and ask for rebuilds of one county-month all at once, while
another reads the monthly report over and over: no read may show more than the clients have sent
so far, and afterwards the figures are exactly what was acknowledged and ``ledger verify`` is clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import pytest
import requests
import time_machine

from service import storage
from service.counters import signature
from tests.conftest import TEST_MONGO_URI, _drop, make_test_app
from tests.factories import ApiCaller, Factory

pytestmark = pytest.mark.skipif(
    TEST_MONGO_URI is None, reason="several worker processes need a server: set TEST_MONGO_URI"
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COUNTY = "340722"
MONTH = "2024-03"
CABINET = "ZG-340722-MW1"
SKUS = ("MW-TEA", "MW-RICE")
WORKERS = 4
START_TIMEOUT_SECONDS = 90


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wall_clock() -> int:
    """The real time, for the cabinets' signatures: the service's clock is not the test's --clock."""
    if time_machine.escape_hatch.is_travelling():
        return int(time_machine.escape_hatch.time.time())
    return int(time.time())


class Tally:
    """What the clients have sent (in flight or acknowledged) and what the service acknowledged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.acknowledged = 0
        self.errors: list[str] = []

    def send(self, amount_fen: int, request: Callable[[], requests.Response], expected: int) -> None:
        with self._lock:
            self.sent += amount_fen
        response = request()
        if response.status_code != expected:
            with self._lock:
                self.errors.append(f"{response.status_code} {response.text[:300]}")
            return
        with self._lock:
            self.acknowledged += amount_fen

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)


@pytest.fixture
def seeded() -> Iterator[dict]:
    """A county with two operators, their certified products, linked households, a canteen, a
    cabinet and the accounts that use them, on a database of its own."""
    app = make_test_app(MONGO_DB_NAME=f"test_mw_{uuid.uuid4().hex[:12]}")
    with app.app_context():
        db = app.extensions["storage"].db
        factory = Factory(app, db)
        seeded = {"db_name": app.config["MONGO_DB_NAME"], "app": app}
        for number, sku in enumerate(SKUS):
            operator = factory.operator(COUNTY)
            product = factory.product(
                operator["_id"],
                status="certified",
                certified_at=datetime(2023, 1, 1, tzinfo=UTC),
                benefit_rate_bp=1000 + 500 * number,
                channel_skus=[{"channel": "jd", "sku": sku}, {"channel": "counter", "sku": sku}],
            )
            history = [
                {"benefit_rate_bp": 1000 + 500 * number, "valid_from": datetime(2023, 1, 1, tzinfo=UTC)}
            ]
            db[storage.PRODUCTS].update_one(
                {"_id": product["_id"]}, {"$set": {"benefit_rate_history": history}}
            )
            for weight in (1, 3):
                factory.benefit_link(
                    operator, factory.household(COUNTY), weight=weight, valid_from=date(2024, 1, 1)
                )
        canteen = factory.canteen(COUNTY)
        admin, password = factory.user("admin")
        cook, cook_password = factory.user("canteen", canteen_id=canteen["_id"])
        caller = ApiCaller(app.test_client())
        caller.login(admin["username"], password)
        registered = caller.post(
            "/api/v1/counters",
            json={"cabinet_no": CABINET, "name": "多进程专柜", "kind": "counter", "county_code": COUNTY},
        )
        assert registered.status_code == 201, registered.json
        seeded.update(
            admin=(admin["username"], password),
            cook=(cook["username"], cook_password),
            canteen_id=str(canteen["_id"]),
            secret=registered.json["secret"],
        )
    yield seeded
    _drop(app)


@pytest.fixture
def service(seeded) -> Iterator[str]:
    """gunicorn -c gunicorn.conf.py 'service:create_app()' with four workers on the seeded database."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"TEST_MONGO_URI", "DATA_DIR"}}
    env.update(
        MONGO_URI=TEST_MONGO_URI,
        MONGO_DB_NAME=seeded["db_name"],
        WEB_CONCURRENCY=str(WORKERS),
        THREADS="4",
        PORT=str(port),
        DEMO_ON_START="false",
        SECRET_KEY="multiworker-secret",
        PII_HASH_KEY="test-pii-key",
        LOG_LEVEL="WARNING",
        LOG_JSON="false",
    )
    output: list[str] = []
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "service:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"the service exited ({process.returncode}):\n{''.join(output)[-3000:]}")
        try:
            if requests.get(url + "/readyz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the service was not ready:\n{''.join(output)[-3000:]}")
        time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def _session(url: str, credentials: tuple[str, str]) -> requests.Session:
    session = requests.Session()
    username, password = credentials
    response = session.post(url + "/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    session.headers["Authorization"] = f"Bearer {response.json()['token']}"
    return session


def _push(url: str, secret: str, event_id: str, amount_fen: int, sku: str, day: int) -> requests.Response:
    event = {
        "event_id": event_id,
        "cabinet_no": CABINET,
        "type": "sale",
        "sku": sku,
        "quantity": 1,
        "amount_fen": amount_fen,
        "occurred_at": f"2024-03-{day:02d}T10:00:00+08:00",
    }
    raw = json.dumps([event]).encode()
    stamp = str(_wall_clock())
    return requests.post(
        f"{url}/api/v1/counters/{CABINET}/events",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Counter-Timestamp": stamp,
            "X-Counter-Signature": signature(secret, stamp, raw),
        },
        timeout=120,
    )


def _jd_file(prefix: str, amounts: list[int]) -> bytes:
    header = "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,应付金额,订单状态,商家SKU,订单备注"
    rows = [
        f"{prefix}{n:04d},1000{n % 2},枞阳茶,1,在线支付,2024-03-{n % 28 + 1:02d} 14:22:01,"
        f"{amount / 100:.2f},{amount / 100:.2f},完成,{SKUS[n % 2]},"
        for n, amount in enumerate(amounts)
    ]
    return ("\n".join([header, *rows]) + "\n").encode("utf-8-sig")


def _monthly_sales(session: requests.Session, url: str) -> int:
    response = session.get(
        f"{url}/api/v1/reports/monthly",
        params={"from": MONTH, "to": MONTH, "county_code": COUNTY},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return sum(row["sales_fen"] for row in response.json()["items"])


def test_four_workers_ingesting_one_county_month_at_once_keep_exact_figures(seeded, service):
    url = service
    tally = Tally()
    admin = _session(url, seeded["admin"])
    cook = _session(url, seeded["cook"])
    done = threading.Event()
    reads: list[tuple[int, int]] = []

    def pusher(number: int) -> None:
        for n in range(12):
            amount = 1_000 + 37 * n + number
            tally.send(
                amount,
                partial(_push, url, seeded["secret"], f"E{number}-{n}", amount, SKUS[n % 2], n + 1),
                200,
            )

    def canteen(number: int) -> None:
        for n in range(8):
            amount = 20_000 + 101 * n + number
            body = {
                "canteen_id": seeded["canteen_id"],
                "date": f"2024-03-{n + 10:02d}",
                "quantity": 5,
                "amount_fen": amount,
                "invoice_no": f"MW{number}{n:04d}",
                "operator_uscc": "91110108551385082Q",
                "product_name": "目录外蔬菜",
            }
            logging = partial(cook.post, f"{url}/api/v1/canteen-purchases", json=body, timeout=120)
            tally.send(amount, logging, 201)

    def importer() -> None:
        for n in range(4):
            amounts = [5_000 + 11 * n + row for row in range(5)]
            data = _jd_file(f"9{n}", amounts)
            tally.send(
                sum(amounts),
                partial(
                    admin.post,
                    f"{url}/api/v1/imports",
                    data={"channel": "jd", "county_code": COUNTY},
                    files={"file": (f"jd-{n}.csv", data, "text/csv")},
                    timeout=300,
                ),
                201,
            )

    def rebuilder() -> None:
        for _ in range(6):
            response = admin.post(f"{url}/api/v1/ledger/rebuild", params={"county_code": COUNTY}, timeout=300)
            if response.status_code != 200:
                tally.error(f"rebuild {response.status_code} {response.text[:300]}")

    def reader() -> None:
        while not done.is_set():
            shown = _monthly_sales(admin, url)
            with tally._lock:
                reads.append((shown, tally.sent))

    clients = [threading.Thread(target=pusher, args=(n,)) for n in range(3)]
    clients += [threading.Thread(target=canteen, args=(n,)) for n in range(2)]
    clients += [threading.Thread(target=importer), threading.Thread(target=rebuilder)]
    watching = threading.Thread(target=reader)
    watching.start()
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=600)
    done.set()
    watching.join(timeout=300)
    assert not any(client.is_alive() for client in clients), "a client hung"
    assert tally.errors == []
    assert reads, "the report was never read while the clients ran"
    assert [read for read in reads if read[0] > read[1]] == [], "a read showed more than was sent"

    # The last ingest leaves its partition exact: nothing stays dirty once every request is answered.
    db = seeded["app"].extensions["storage"].db
    with seeded["app"].app_context():
        assert list(db[storage.LEDGER_PARTITIONS].find({"dirty": True}, {"_id": 1})) == []
    assert _monthly_sales(admin, url) == tally.acknowledged
    verified = admin.get(f"{url}/api/v1/ledger/verify", params={"county_code": COUNTY}, timeout=300)
    assert verified.status_code == 200, verified.text
    assert verified.json()["differences"] == []
