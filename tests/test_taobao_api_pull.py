"""The open-platform pull (taobao-api): signing, mapping, and whole pulls against a real local HTTP server.

The server (``FakeTop``) runs in a thread on 127.0.0.1, checks every request's signature, serves
orders by modified time and page, and injects failures on chosen pages: 429s, 500s, answers slower
than the client's read timeout, connections closed without an answer, bodies cut short, and TOP
rate-limit errors. Backoff is tiny, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import urllib3.util.retry

from adapters import taobao_api
from adapters.base import RowError, SaleLine, Skipped
from adapters.taobao_api import TopSettings, make_session, order_line, sign, signed_params, with_item_ids
from service import pull, storage
from service.clock import SHANGHAI

COUNTY = "340722"
APP_KEY = "test-app-key"
SECRET = "s3cr3t-app-secret-9f8e7d"
# The period pulled in most tests: 2024-03-01 08:00 to 11:00 Asia/Shanghai, three one-hour windows.
SINCE = datetime(2024, 3, 1, 8, 0, tzinfo=SHANGHAI)
UNTIL = datetime(2024, 3, 1, 11, 0, tzinfo=SHANGHAI)
WINDOW_STARTS = ["2024-03-01 08:00:00", "2024-03-01 09:00:00", "2024-03-01 10:00:00"]


def make_order(number: int, modified: datetime, **fields) -> dict:
    return {
        "order_id": f"T{number:05d}",
        "outer_sku_id": "ZY-TEA-250G",
        "title": "枞阳绿茶 250g",
        "price": "58.00",
        "num": 1,
        "payment": f"{50 + number}.00",
        "status": "TRADE_FINISHED",
        "pay_time": (modified - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S"),
        "modified": modified.strftime("%Y-%m-%d %H:%M:%S"),
        **fields,
    }


def orders_over_the_period() -> list[dict]:
    """Five orders an hour, 11 minutes apart, one exactly on the 09:00 window boundary."""
    orders = []
    for hour in range(3):
        for slot in range(5):
            modified = SINCE + timedelta(hours=hour, minutes=11 * slot)
            orders.append(make_order(len(orders) + 1, modified))
    return orders


class FakeTop:
    """What the server serves and how it misbehaves; faults are consumed in order, once each."""

    slow_seconds = 0.6

    def __init__(self, orders: list[dict], secret: str = SECRET):
        self.orders = sorted(orders, key=lambda order: (order["modified"], order["order_id"]))
        self.secret = secret
        self.faults: dict[tuple[str, int], list[str]] = defaultdict(list)
        self.broken_windows: set[str] = set()
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def fail(self, window_start: str, page_no: int, *faults: str) -> None:
        self.faults[(window_start, page_no)].extend(faults)

    def served(self, window_start: str) -> list[dict[str, str]]:
        return [params for params in self.requests if params.get("start_modified") == window_start]

    def next_fault(self, params: dict[str, str]) -> str | None:
        with self.lock:
            self.requests.append(params)
            if params["start_modified"] in self.broken_windows:
                return "500"
            queue = self.faults.get((params["start_modified"], int(params["page_no"])))
            return queue.pop(0) if queue else None

    def page(self, params: dict[str, str]) -> dict:
        start, end = params["start_modified"], params["end_modified"]
        size, number = int(params["page_size"]), int(params["page_no"])
        matching = [order for order in self.orders if start <= order["modified"] < end]
        chunk = matching[(number - 1) * size : number * size]
        return {"orders": chunk, "has_next": number * size < len(matching)}


def server_sign(params: dict[str, str], secret: str) -> str:
    """The platform's own check, written apart from the client's so a client bug cannot hide."""
    pairs = "".join(key + value for key, value in sorted(params.items()) if key != "sign")
    return hashlib.md5((secret + pairs + secret).encode("utf-8")).hexdigest().upper()  # noqa: S324 - TOP's scheme


class Handler(BaseHTTPRequestHandler):
    fake: FakeTop

    def log_message(self, format, *args):
        pass

    def reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        if params.get("sign") != server_sign(params, self.fake.secret):
            self.reply(401, {"error_response": {"code": 25, "msg": "Invalid signature"}})
            return
        fault = self.fake.next_fault(params)
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "429":
            self.reply(429, {}, {"Retry-After": "0"})
            return
        if fault == "429-wait-1s":
            self.reply(429, {}, {"Retry-After": "1"})
            return
        if fault == "500":
            self.reply(500, {})
            return
        if fault == "403":
            self.reply(403, {})
            return
        if fault == "rate-limited":
            self.reply(200, {"error_response": {"code": 7, "msg": "App Call Limited"}})
            return
        if fault == "slow":
            threading.Event().wait(self.fake.slow_seconds)
        if fault == "truncated":
            data = json.dumps(self.fake.page(params)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.reply(200, self.fake.page(params))


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A slow answer written after the client gave up fails with a broken pipe: expected here.
        pass


@pytest.fixture
def fake_top():
    fake = FakeTop(orders_over_the_period())
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/router/rest"
    yield fake
    server.shutdown()
    server.server_close()


def settings_for(fake: FakeTop, secret: str = SECRET, **overrides) -> pull.PullSettings:
    top = {
        "base_url": fake.url,
        "app_key": APP_KEY,
        "app_secret": secret,
        "page_size": 2,
        "connect_timeout": 1.0,
        "read_timeout": 0.25,
        "retries": 3,
        "backoff_factor": 0.001,
        "backoff_max": 0.01,
        "backoff_jitter": 0.001,
        **overrides,
    }
    return pull.PullSettings(top=TopSettings(**top), shop="枞阳特产店", county_code=COUNTY)


def run(db, fake: FakeTop, *, secret: str = SECRET, since=SINCE, until=UNTIL, **overrides) -> pull.PullReport:
    settings = settings_for(fake, secret, **overrides)
    with make_session(settings.top) as session:
        return pull.pull(db, settings, session, since=since, until=until, sleep=lambda seconds: None)


def stored_orders(db) -> list[str]:
    return sorted(sale["external_id"] for sale in db[storage.SALES].find({"channel": "taobao"}))


def all_order_ids(fake: FakeTop) -> list[str]:
    return sorted(order["order_id"] for order in fake.orders)


# Signing and mapping (pure) -------------------------------------------------------------------------


def test_the_sign_is_the_uppercase_md5_of_the_sorted_pairs_wrapped_in_the_secret():
    params = {"method": "m.get", "app_key": "k1", "page_no": "2", "sign": "ignored"}
    expected = hashlib.md5(b"SECapp_keyk1methodm.getpage_no2SEC").hexdigest().upper()  # noqa: S324
    assert sign(params, "SEC") == expected


def test_signed_params_carry_shanghai_times_and_every_required_parameter():
    params = signed_params(
        app_key="k1",
        secret="SEC",
        method=taobao_api.DEFAULT_METHOD,
        start=datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        end=datetime(2024, 3, 1, 1, 0, tzinfo=UTC),
        page_no=1,
        page_size=100,
        now=datetime(2024, 3, 2, 4, 5, 6, tzinfo=UTC),
    )
    assert params["start_modified"] == "2024-03-01 08:00:00"
    assert params["end_modified"] == "2024-03-01 09:00:00"
    assert params["timestamp"] == "2024-03-02 12:05:06"
    assert params["sign_method"] == "md5"
    assert params["sign"] == sign(params, "SEC")
    assert "SEC" not in json.dumps(params)


def test_a_paid_order_becomes_a_taobao_line_at_its_payment_time():
    line = order_line(make_order(7, datetime(2024, 3, 1, 9, 0)), 1)
    assert isinstance(line, SaleLine)
    assert (line.channel, line.external_id, line.amount_fen, line.sku) == (
        "taobao",
        "T00007",
        5700,
        "ZY-TEA-250G",
    )
    assert line.occurred_at == datetime(2024, 3, 1, 0, 55, tzinfo=UTC)


def test_a_closed_order_is_zeroed_if_it_was_paid_and_skipped_if_not():
    paid = order_line(make_order(1, datetime(2024, 3, 1, 9, 0), status="TRADE_CLOSED"))
    assert (paid.quantity, paid.amount_fen) == (1, 0)  # the quantity stays, as in the export
    unpaid = order_line(make_order(2, datetime(2024, 3, 1, 9, 0), status="TRADE_CLOSED", pay_time=None))
    assert isinstance(unpaid, Skipped)


def test_an_unknown_status_is_a_row_error_naming_the_order():
    error = order_line(make_order(3, datetime(2024, 3, 1, 9, 0), status="WEIRD"), 5)
    assert isinstance(error, RowError) and error.field == "status" and "T00003" in error.message


def test_only_orders_of_several_items_get_item_ids():
    moment = datetime(2024, 3, 1, 9, 0)
    items = [
        order_line(make_order(1, moment)),
        order_line(make_order(1, moment, outer_sku_id="RICE")),
        order_line(make_order(2, moment)),
    ]
    assert [item.external_id for item in with_item_ids(items)] == [
        "T00001-ZY-TEA-250G",
        "T00001-RICE",
        "T00002",
    ]


def test_windows_are_at_most_an_hour_and_leave_no_gaps():
    start = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    cut = list(pull.windows(start, start + timedelta(hours=2, minutes=10)))
    assert [end - begin for begin, end in cut] == [timedelta(hours=1)] * 2 + [timedelta(minutes=10)]
    assert all(cut[i][1] == cut[i + 1][0] for i in range(len(cut) - 1))


def test_settings_repr_never_shows_the_secret():
    assert SECRET not in repr(TopSettings(base_url="http://x", app_key="k", app_secret=SECRET))


# Whole pulls against the local server ---------------------------------------------------------------


def test_a_clean_pull_stores_every_order_once_and_saves_the_cursor(db, fake_top):
    report = run(db, fake_top)
    assert report.error is None and report.windows == 3
    assert stored_orders(db) == all_order_ids(fake_top)
    assert report.result.inserted == len(fake_top.orders)
    assert pull.get_cursor(db, settings_for(fake_top)) == UNTIL
    assert [
        params["start_modified"] for params in fake_top.requests if params["page_no"] == "1"
    ] == WINDOW_STARTS


def test_a_pull_survives_every_transient_failure_without_gaps_or_duplicates(db, fake_top):
    fake_top.fail(WINDOW_STARTS[0], 1, "429", "500")
    fake_top.fail(WINDOW_STARTS[0], 2, "drop")
    fake_top.fail(WINDOW_STARTS[1], 2, "slow", "500")
    fake_top.fail(WINDOW_STARTS[1], 3, "truncated")
    fake_top.fail(WINDOW_STARTS[2], 1, "rate-limited", "drop")
    report = run(db, fake_top)
    assert report.error is None, report.error
    assert stored_orders(db) == all_order_ids(fake_top)
    assert (report.result.inserted, report.result.updated, report.result.unchanged) == (15, 0, 0)
    assert report.result.rejected == 0
    assert not any(fake_top.faults.values()), "every injected failure was met"
    assert len(fake_top.requests) == 9 + 8, "nine pages, each failure retried once"


def test_retry_after_is_honoured(db, fake_top, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", waits.append)
    fake_top.fail(WINDOW_STARTS[0], 1, "429-wait-1s")
    report = run(db, fake_top, until=SINCE + timedelta(hours=1))
    assert report.error is None
    assert 1.0 in waits


def test_other_client_errors_are_not_retried(db, fake_top):
    fake_top.fail(WINDOW_STARTS[0], 1, "403")
    report = run(db, fake_top)
    assert report.error and "403" in report.error
    assert len(fake_top.requests) == 1
    assert pull.get_cursor(db, settings_for(fake_top)) is None


def test_a_bad_signature_stops_the_pull_at_once(db, fake_top):
    report = run(db, fake_top, secret="not-the-secret")
    assert report.error and "Invalid signature" in report.error
    assert report.windows == 0 and stored_orders(db) == []
    assert pull.get_cursor(db, settings_for(fake_top)) is None


def test_a_server_that_keeps_failing_stops_the_pull_after_the_retries(db, fake_top):
    fake_top.broken_windows.add(WINDOW_STARTS[0])
    report = run(db, fake_top, retries=2)
    assert report.error and "500" in report.error
    assert len(fake_top.requests) == 3


def test_an_interrupted_pull_resumes_from_the_last_completed_window(db, fake_top):
    fake_top.broken_windows.add(WINDOW_STARTS[1])
    first = run(db, fake_top)
    assert first.error is not None and first.windows == 1
    assert pull.get_cursor(db, settings_for(fake_top)) == SINCE + timedelta(hours=1)
    assert stored_orders(db) == all_order_ids(fake_top)[:5]

    fake_top.broken_windows.clear()
    fake_top.requests.clear()
    second = run(db, fake_top, since=None)
    assert second.error is None
    assert fake_top.requests[0]["start_modified"] == WINDOW_STARTS[1]
    assert fake_top.served(WINDOW_STARTS[0]) == []
    assert second.result.inserted == 10 and second.result.unchanged == 0
    assert stored_orders(db) == all_order_ids(fake_top)
    assert pull.get_cursor(db, settings_for(fake_top)) == UNTIL


def test_the_derived_figures_include_what_an_interrupted_pull_stored(db, fake_top):
    fake_top.broken_windows.add(WINDOW_STARTS[1])
    run(db, fake_top)
    daily = list(db[storage.SALES_DAILY].find({"county_code": COUNTY, "channel": "taobao"}))
    assert sum(row["lines"] for row in daily) == 5


def test_the_first_pull_of_a_shop_needs_a_start(db, fake_top):
    with pytest.raises(pull.ValidationFailed):
        run(db, fake_top, since=None)


def test_a_run_with_nothing_new_to_pull_does_nothing(db, fake_top):
    now = datetime.now(UTC)
    run(db, fake_top, since=now - timedelta(minutes=30), until=now)
    fake_top.requests.clear()
    report = run(db, fake_top, since=None, until=None)
    assert report.error is None and report.windows == 0 and fake_top.requests == []


def test_a_later_since_does_not_move_the_cursor_over_a_gap(db, fake_top):
    run(db, fake_top, until=SINCE + timedelta(hours=1))
    report = run(db, fake_top, since=SINCE + timedelta(hours=2))
    assert report.error is None and not report.cursor_moved
    assert pull.get_cursor(db, settings_for(fake_top)) == SINCE + timedelta(hours=1)


def test_a_pull_never_runs_past_now(db, fake_top):
    now = datetime.now(UTC)
    report = run(db, fake_top, since=now - timedelta(minutes=30), until=now + timedelta(days=1))
    assert report.error is None
    assert report.until <= now and report.cursor == report.until


def test_an_order_closed_after_a_pull_is_zeroed_by_the_next(db, fake_top):
    run(db, fake_top, until=SINCE + timedelta(hours=1))
    refunded = dict(fake_top.orders[0], status="TRADE_CLOSED", modified="2024-03-01 10:30:00")
    fake_top.orders = sorted(
        [refunded, *fake_top.orders[1:]], key=lambda order: (order["modified"], order["order_id"])
    )
    run(db, fake_top, since=None)
    sale = db[storage.SALES].find_one({"external_id": refunded["order_id"]})
    assert (sale["quantity"], sale["amount_fen"]) == (1, 0)


# The command and the configuration ------------------------------------------------------------------


def configure(app, fake: FakeTop) -> None:
    app.config.update(
        TAOBAO_API_BASE_URL=fake.url,
        TAOBAO_API_APP_KEY=APP_KEY,
        TAOBAO_API_APP_SECRET=SECRET,
        TAOBAO_API_SHOP="枞阳特产店",
        TAOBAO_API_COUNTY_CODE=COUNTY,
        TAOBAO_API_PAGE_SIZE=2,
        TAOBAO_API_READ_TIMEOUT=0.25,
        TAOBAO_API_BACKOFF_FACTOR=0.001,
        TAOBAO_API_BACKOFF_MAX=0.01,
        TAOBAO_API_BACKOFF_JITTER=0.001,
    )


def test_the_command_pulls_and_reports(app, runner, db, fake_top):
    configure(app, fake_top)
    result = runner.invoke(
        args=[
            "sales",
            "pull",
            "--channel",
            "taobao-api",
            "--since",
            "2024-03-01T08:00",
            "--until",
            "2024-03-01T11:00",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "3 window(s)" in result.output and "inserted 15" in result.output
    assert stored_orders(db) == all_order_ids(fake_top)


def test_the_command_exits_1_when_the_pull_stops_early(app, runner, fake_top):
    configure(app, fake_top)
    fake_top.broken_windows.add(WINDOW_STARTS[2])
    result = runner.invoke(
        args=[
            "sales",
            "pull",
            "--channel",
            "taobao-api",
            "--since",
            "2024-03-01T08:00",
            "--until",
            "2024-03-01T11:00",
        ]
    )
    assert result.exit_code == 1
    assert "Stopped early in window 2024-03-01T10:00:00+08:00" in result.output


def test_the_command_names_missing_settings_without_values(app, runner):
    app.config.update(TAOBAO_API_APP_KEY=APP_KEY, TAOBAO_API_APP_SECRET=None)
    result = runner.invoke(args=["sales", "pull", "--channel", "taobao-api", "--since", "2024-03-01T08:00"])
    assert result.exit_code == 1
    assert "TAOBAO_API_APP_SECRET" in result.output and APP_KEY not in result.output


def test_the_settings_are_read_from_the_environment():
    from service import config

    read = config.from_env({"TAOBAO_API_APP_SECRET": SECRET, "TAOBAO_API_READ_TIMEOUT": "2.5"})
    assert read == {"TAOBAO_API_APP_SECRET": SECRET, "TAOBAO_API_READ_TIMEOUT": 2.5}


def test_the_secret_never_appears_in_logs_or_output(app, runner, fake_top, caplog):
    caplog.set_level(logging.DEBUG)
    configure(app, fake_top)
    fake_top.fail(WINDOW_STARTS[0], 1, "429", "drop")
    fake_top.broken_windows.add(WINDOW_STARTS[2])
    result = runner.invoke(
        args=[
            "sales",
            "pull",
            "--channel",
            "taobao-api",
            "--since",
            "2024-03-01T08:00",
            "--until",
            "2024-03-01T11:00",
        ]
    )
    assert result.exit_code == 1
    assert any("urllib3" in record.name for record in caplog.records), (
        "the transport's debug logs were captured"
    )
    assert SECRET not in caplog.text
    assert SECRET not in result.output
