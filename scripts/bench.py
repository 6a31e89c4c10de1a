"""Benchmarks of the service, each selectable by name: ``./scripts/bench NAME [--quick]``.

- ``ledger`` (the default): ingest throughput against the backend's raw insert rate, report
  latency, rebuild time and peak memory at 10,000 / 100,000 / 1,000,000 lines.
- ``import``: a 京东 export imported end to end through ``POST /api/v1/imports`` (the derived
  figures rebuilt before the answer), against the backend's raw ``insert_many`` of the very
  documents the import stored.
- ``push``: one counter push and one canteen purchase through the API, time per request with
  10,000 and with 1,000,000 lines already in the month.
- ``dashboard``: the county dashboard against the login page on the demo county (the ratio).
- ``load``: 16 clients on a realistic mix for 60 s against gunicorn started as ./scripts/run
  starts it: throughput and p50/p95/p99.

Each size runs in a fresh process (its peak memory is its own) against ``MONGO_URI`` when set,
otherwise on the embedded emulator. ``--quick`` runs small sizes for a smoke test; ``--code DIR``
measures the service code in DIR (an earlier checkout, say) with this same script. Prints one
JSON object per measurement and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIZES = (10_000, 100_000, 1_000_000)
COUNTY = "340722"
REPEATS = 5
DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - the demo accounts' published password
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# Common ---------------------------------------------------------------------------------------------


def _backend() -> str:
    if os.environ.get("MONGO_URI"):
        return f"MONGO_URI ({os.environ['MONGO_URI'].split('@')[-1]})"
    return "embedded emulator (mongomock-ng, patched)"


def _app(**config):
    """An app on a database of its own (dropped by :func:`_drop`), the demo county not loaded."""
    from service import create_app

    return create_app(
        {"TESTING": True, "DEMO_ON_START": "false", "LOG_LEVEL": "WARNING", "DATA_DIR": None,
         "MONGO_DB_NAME": f"bench_{uuid.uuid4().hex[:8]}", **config}
    )  # fmt: skip


def _drop(app) -> None:
    handle = app.extensions["storage"]
    if not handle.embedded:
        handle.client.drop_database(handle.db_name)


def _api_token(client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['token']}"}


def _page_login(client, username: str) -> None:
    """Log in through the login form, as a browser does (its CSRF token included)."""
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-300:]


def _progress(message: str) -> None:
    """A line on stderr, so a long measurement shows where it is."""
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _cpu_timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU milliseconds of an in-process call: the CPU time is the request's own, whatever
    else the machine runs at the same moment."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _percentile(values: list[float], percent: int) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-percent * len(ordered) // 100) - 1)]


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    def cell(value) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _in_subprocess(name: str, size: int, args: argparse.Namespace, timeout: float | None = None) -> dict:
    """One measurement in a fresh process: ``bench.py NAME --size SIZE`` prints its JSON last."""
    command = [sys.executable, __file__, name, "--size", str(size)]
    if args.code:
        command += ["--code", str(args.code)]
    # Its stderr (progress, the service's warnings, a traceback) goes straight to ours.
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout)  # noqa: S603
    if completed.returncode != 0:
        raise SystemExit(f"{name} at {size:,} failed")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# The ledger: ingest, rebuild, reports, memory -----------------------------------------------------------


def _lines(
    products: list[dict],
    count: int,
    seed: int = 7,
    start: datetime | None = None,
    end: datetime | None = None,
    prefix: str = "B",
    channels: tuple[str, ...] = ("jd", "taobao", "pdd", "counter", "wechat", "p832"),
):
    """``count`` sale lines from ``start`` to ``end`` (default: the last twelve months), ~2% unmatched."""
    from adapters.base import SaleLine

    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    end = end or datetime.now(UTC) - timedelta(days=1)
    start = start or end - timedelta(days=360)
    span = max(1, int((end - start).total_seconds()))
    # Each channel sells the products listed on it, as a shop does.
    listed = {
        channel: [(p, s["sku"]) for p in products for s in p["channel_skus"] if s["channel"] == channel]
        for channel in channels
    }
    for number in range(count):
        channel = channels[number % len(channels)]
        product, sku = listed[channel][number // len(channels) % len(listed[channel])]
        quantity = rng.randint(1, 4)
        moment = start + timedelta(seconds=rng.randrange(span))
        unmatched = rng.random() < 0.02
        yield SaleLine(
            channel=channel,
            external_id=f"{prefix}{number:09d}",
            occurred_at=moment.replace(microsecond=0),
            quantity=quantity,
            amount_fen=product["price_fen"] * quantity,
            unit_price_fen=product["price_fen"],
            sku=f"UNKNOWN-{number % 97}" if unmatched else sku,
            title=product["name"],
        )


def _median_ms(call) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def _service_cost(db, products: list[dict], count: int) -> float:
    """Lines per second for validate + match + attribute with storage taken out (one core)."""
    from service import catalogue_match, ingest_scope, sale_lines
    from service.clock import utcnow

    catalogue = catalogue_match.Catalogue(db)
    lines = list(_lines(products, count, seed=11))
    catalogue.load(lines)  # the one query, outside the timing
    scope = ingest_scope.IngestScope(COUNTY)
    now = utcnow()
    started = time.perf_counter()
    for line in lines:
        if sale_lines.validate_line(line, now) is None:
            sale_lines.line_document(line, scope, catalogue.match(line))
    return round(count / (time.perf_counter() - started))


def _page_latencies(app, db, months: dict) -> dict:
    """Median full-request time of the county staff's pages (every report they run, templates, xlsx)."""
    from service import accounts, auth
    from service.access import COUNTY_STAFF, system_principal
    from service.web.core import SESSION_TOKEN

    user = accounts.create_user(
        db,
        system_principal("bench"),
        {"username": f"bench-{uuid.uuid4().hex[:6]}", "role": COUNTY_STAFF,
         "county_codes": [COUNTY], "password": "bench-password-1"},
    )  # fmt: skip
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_TOKEN] = auth.issue_token(db, user)
    period = f"from={months['from_month']}&to={months['to_month']}"

    def page(url: str):
        def call():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return call

    return {
        "dashboard_page_ms": _median_ms(page(f"/county/?{period}")),
        "dashboard_xlsx_ms": _median_ms(page(f"/county/?{period}&format=xlsx")),
        "households_page_ms": _median_ms(page("/households/")),
    }


def run_size(size: int) -> dict:
    from pymongo import InsertOne

    from service import (
        demo,
        ingest_scope,
        ledger,
        ledger_rebuilds,
        ledger_rollups,
        partitions,
        reports,
        sale_lines,
        storage,
    )
    from service.access import system_principal

    app = _app()
    result = {"size": size, "backend": _backend()}
    with app.app_context():
        handle = app.extensions["storage"]
        db = handle.db
        demo.load(db, with_sales=False)
        products = list(db[storage.PRODUCTS].find({"status": "certified"}))
        actor = system_principal("bench")

        # The backend's raw insert rate: the same documents, the same indexes, no service code.
        scratch = db[f"raw_{uuid.uuid4().hex[:6]}"]
        scratch.create_indexes(storage.INDEXES[storage.SALES])
        scope = ingest_scope.IngestScope(COUNTY)
        raw_count = min(size, 100_000)
        documents = [
            sale_lines.line_document(line, scope, None) for line in _lines(products, raw_count, seed=3)
        ]
        started = time.perf_counter()
        for start in range(0, raw_count, ledger.BATCH_SIZE):
            scratch.bulk_write(
                [InsertOne(d) for d in documents[start : start + ledger.BATCH_SIZE]], ordered=False
            )
        result["raw_insert_lines_per_s"] = round(raw_count / (time.perf_counter() - started))
        scratch.drop()
        del documents

        # The real ingest path: match, validate, de-duplicate, write; then the rollup rebuild.
        started = time.perf_counter()
        with ledger_rebuilds.deferred_rebuilds(db):
            ingest = ledger.ingest(db, _lines(products, size), scope)
            ingest_seconds = time.perf_counter() - started
        total_seconds = time.perf_counter() - started
        result["ingest_lines_per_s"] = round(size / ingest_seconds)
        result["ingest_with_rebuild_lines_per_s"] = round(size / total_seconds)
        result["ingest_counts"] = {k: v for k, v in ingest.counts().items() if v}

        partitions = ledger_rollups.all_partitions(db, [COUNTY])
        county, month = partitions[len(partitions) // 2]
        started = time.perf_counter()
        partitions.mark_dirty(db, [(county, month)])
        ledger_rebuilds.rebuild_partition(db, county, month)
        result["rebuild_one_month_s"] = round(time.perf_counter() - started, 2)

        months = {"from_month": partitions[0][1], "to_month": partitions[-1][1], "county_code": COUNTY}
        result["summary_ms"] = _median_ms(lambda: reports.summary(db, actor, **months))
        result["monthly_ms"] = _median_ms(lambda: reports.monthly(db, actor, **months))
        result["households_ms"] = _median_ms(lambda: reports.household_list(db, actor, **months))
        result.update(_page_latencies(app, db, months))
        result["service_cost_lines_per_s"] = _service_cost(db, products, min(size, 100_000))
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if not handle.embedded:
            handle.client.drop_database(handle.db_name)
    return result


def bench_ledger(args: argparse.Namespace) -> None:
    """Each size in a fresh process, going up only as far as fits in ``--budget`` seconds."""
    deadline = time.monotonic() + args.budget
    results, previous = [], None
    for size in args.sizes or ((1_000, 10_000) if args.quick else SIZES):
        remaining = deadline - time.monotonic()
        # Ten times the lines take at least ten times as long: skip a size that cannot finish.
        needed = previous["seconds"] * size / previous["size"] if previous else 0
        if needed > remaining:
            print(
                f"skipping {size:,} lines: about {needed:.0f} s needed, {remaining:.0f} s left",
                file=sys.stderr,
            )
            break
        started = time.monotonic()
        result = _in_subprocess("ledger", size, args, timeout=max(remaining, 1))
        result["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
        previous = result
    header = (
        "lines",
        "ingest/s",
        "raw insert/s",
        "ingest+rebuild/s",
        "rebuild 1 month s",
        "summary ms",
        "monthly ms",
        "households ms",
        "dashboard page ms",
        "dashboard xlsx ms",
        "households page ms",
        "service cost/s",
        "peak RSS MB",
    )
    names = (
        "ingest_lines_per_s",
        "raw_insert_lines_per_s",
        "ingest_with_rebuild_lines_per_s",
        "rebuild_one_month_s",
        "summary_ms",
        "monthly_ms",
        "households_ms",
        "dashboard_page_ms",
        "dashboard_xlsx_ms",
        "households_page_ms",
        "service_cost_lines_per_s",
        "peak_rss_mb",
    )
    print()
    print(_table(header, [(f"{r['size']:,}", *(r[name] for name in names)) for r in results]))


# An export imported through the API against the raw insert rate ----------------------------------------

JD_HEADER = (
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "下单时间",
    "京东价",
    "应付金额",
    "订单状态",
    "商家SKU",
)


def _jd_export(products: list[dict], count: int) -> bytes:
    """A 京东 export (the jd-basic layout, UTF-8) of ``count`` item rows over the last twelve months."""
    from service.clock import SHANGHAI

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(JD_HEADER)
    for number, line in enumerate(_lines(products, count, seed=5, channels=("jd",))):
        local = line.occurred_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        price = f"{line.unit_price_fen // 100}.{line.unit_price_fen % 100:02d}"
        amount = f"{line.amount_fen // 100}.{line.amount_fen % 100:02d}"
        writer.writerow(
            (f"J{number:011d}", "1", line.title, line.quantity, local, price, amount, "完成", line.sku)
        )
    return out.getvalue().encode()


def run_import(size: int) -> dict:
    """POST one export of ``size`` rows to /api/v1/imports, then insert_many the documents it stored."""
    from service import demo, ledger, storage

    # A million rows are about 70 MB: above the service's default request limit of 64 MiB.
    app = _app(MAX_CONTENT_LENGTH=512 * 1024 * 1024)
    result = {"size": size, "backend": _backend()}
    with app.app_context():
        db = app.extensions["storage"].db
        _progress("loading the demo catalogue")
        demo.load(db, with_sales=False)
        products = [
            product
            for product in db[storage.PRODUCTS].find({"status": "certified"})
            if any(sku["channel"] == "jd" for sku in product["channel_skus"])
        ]
        export = _jd_export(products, size)
        result["file_mb"] = round(len(export) / 1e6, 1)
        client = app.test_client()
        headers = _api_token(client, "county")
        _progress(f"importing {size:,} rows through the API")
        started = time.perf_counter()
        response = client.post(
            "/api/v1/imports",
            data={"channel": "jd", "county_code": COUNTY, "file": (io.BytesIO(export), "orders.csv")},
            headers=headers,
            content_type="multipart/form-data",
        )
        seconds = time.perf_counter() - started
        assert response.status_code == 201, response.get_data(as_text=True)[-500:]
        run = response.json
        result["import_s"] = round(seconds, 1)
        result["import_lines_per_s"] = round(size / seconds)
        result["run_status"] = run.get("status")
        result["counts"] = {k: run.get(k) for k in ("rows", "inserted", "updated", "skipped", "rejected")}
        result["derived_dirty_after"] = db[storage.LEDGER_PARTITIONS].count_documents({"dirty": True})
        del export

        # The backend's raw rate: the very documents the import stored, the same indexes, no service code.
        _progress(f"imported in {seconds:.1f} s; inserting the same documents raw")
        documents = list(db[storage.SALES].find({}, {"_id": 0}))
        scratch = db[f"raw_{uuid.uuid4().hex[:6]}"]
        scratch.create_indexes(storage.INDEXES[storage.SALES])
        started = time.perf_counter()
        for start in range(0, len(documents), ledger.BATCH_SIZE):
            scratch.insert_many(documents[start : start + ledger.BATCH_SIZE], ordered=False)
        raw_seconds = time.perf_counter() - started
        result["raw_documents"] = len(documents)
        result["raw_insert_lines_per_s"] = round(len(documents) / raw_seconds)
        result["import_vs_raw"] = round(result["import_lines_per_s"] / result["raw_insert_lines_per_s"], 2)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        scratch.drop()
        _drop(app)
    return result


def bench_import(args: argparse.Namespace) -> None:
    results = []
    for size in args.sizes or ((2_000,) if args.quick else (20_000, 100_000, 1_000_000)):
        started = time.monotonic()
        result = _in_subprocess("import", size, args)
        result["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
    header = (
        "rows",
        "backend",
        "file MB",
        "import through the API s",
        "import lines/s",
        "raw insert_many lines/s",
        "import ÷ raw",
        "peak RSS MB",
    )
    rows = [
        (
            r["size"],
            r["backend"],
            r["file_mb"],
            r["import_s"],
            r["import_lines_per_s"],
            r["raw_insert_lines_per_s"],
            r["import_vs_raw"],
            r["peak_rss_mb"],
        )
        for r in results
    ]
    print()
    print(_table(header, rows))


# A counter push and a canteen purchase with many lines in the month ------------------------------------


def run_push(size: int, requests_each: int = 10) -> dict:
    """Fill this month with ``size`` lines, then time single counter pushes and canteen purchases."""
    from service import (
        counters,
        demo,
        ingest_scope,
        ledger,
        ledger_rebuilds,
        storage,
    )
    from service.clock import SHANGHAI, today_local, utcnow

    app = _app()
    result = {"size": size, "backend": _backend()}
    with app.app_context():
        db = app.extensions["storage"].db
        demo.load(db, with_sales=False)
        products = list(db[storage.PRODUCTS].find({"status": "certified"}))
        now = utcnow()
        local = now.astimezone(SHANGHAI)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        started = time.perf_counter()
        with ledger_rebuilds.deferred_rebuilds(db):
            lines = _lines(
                products, size, seed=9, start=month_start, end=now - timedelta(seconds=60), prefix="M"
            )
            ledger.ingest(db, lines, ingest_scope.IngestScope(COUNTY))
        result["fill_s"] = round(time.perf_counter() - started, 1)
        _progress(f"{size:,} lines in the month after {result['fill_s']} s; timing requests")
        month = f"{local:%Y-%m}"
        result["lines_in_month"] = db[storage.SALES].count_documents({"county_code": COUNTY, "month": month})

        client = app.test_client()
        staff = _api_token(client, "county")
        canteen = _api_token(client, "canteen")
        cabinet_no = f"BENCH-{uuid.uuid4().hex[:6]}"
        created = client.post(
            "/api/v1/counters",
            json={"cabinet_no": cabinet_no, "name": "基准测试专柜", "kind": "counter", "county_code": COUNTY},
            headers=staff,
        )
        assert created.status_code == 201, created.json
        secret = created.json["secret"]
        counter_product, counter_sku = next(
            (p, s["sku"]) for p in products for s in p["channel_skus"] if s["channel"] == "counter"
        )

        def push(number: int):
            event = {
                "event_id": f"E{number:06d}",
                "cabinet_no": cabinet_no,
                "type": "sale",
                "sku": counter_sku,
                "quantity": 1,
                "amount_fen": counter_product["price_fen"],
                "occurred_at": utcnow().isoformat(),
            }
            body = json.dumps([event]).encode()
            stamp = str(int(time.time()))
            response = client.post(
                f"/api/v1/counters/{cabinet_no}/events",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Counter-Timestamp": stamp,
                    "X-Counter-Signature": counters.signature(secret, stamp, body),
                },
            )
            assert response.status_code == 200, response.json

        def purchase(number: int):
            body = {
                "date": today_local().isoformat(),
                "product_id": str(products[number % len(products)]["_id"]),
                "quantity": 2,
                "amount_fen": 2 * products[number % len(products)]["price_fen"],
                "invoice_no": f"BENCH-{number:06d}",
            }
            response = client.post("/api/v1/canteen-purchases", json=body, headers=canteen)
            assert response.status_code == 201, response.json

        push(0)
        purchase(0)  # the first of each outside the timing (the rebuild of the filled month)
        pushes = [_timed(lambda n=n: push(n)) for n in range(1, requests_each + 1)]
        purchases = [_timed(lambda n=n: purchase(n)) for n in range(1, requests_each + 1)]
        result["push_ms_median"] = round(statistics.median(pushes), 1)
        result["push_ms_p95"] = round(_percentile(pushes, 95), 1)
        result["purchase_ms_median"] = round(statistics.median(purchases), 1)
        result["purchase_ms_p95"] = round(_percentile(purchases, 95), 1)
        result["requests_each"] = requests_each
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        _drop(app)
    return result


def bench_push(args: argparse.Namespace) -> None:
    results = []
    for size in args.sizes or ((1_000, 10_000) if args.quick else (10_000, 1_000_000)):
        started = time.monotonic()
        result = _in_subprocess("push", size, args)
        result["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
    header = ("lines in the month", "counter push ms (median)", "p95", "canteen purchase ms (median)", "p95")
    rows = [
        (
            r["lines_in_month"],
            r["push_ms_median"],
            r["push_ms_p95"],
            r["purchase_ms_median"],
            r["purchase_ms_p95"],
        )
        for r in results
    ]
    print()
    print(_table(header, rows))
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"\nlargest ÷ smallest: counter push {last['push_ms_median'] / first['push_ms_median']:.2f}×, "
            f"canteen purchase {last['purchase_ms_median'] / first['purchase_ms_median']:.2f}×"
        )


# The dashboard against a bare page -----------------------------------------------------------------------


def run_dashboard(repeats: int) -> dict:
    """The demo county; the login page and the dashboard timed in turn, ``repeats`` times each."""
    from service import demo
    from service.clock import today_local

    app = _app()
    result = {"backend": _backend(), "repeats": repeats}
    with app.app_context():
        db = app.extensions["storage"].db
        started = time.perf_counter()
        demo.load(db)
        result["demo_load_s"] = round(time.perf_counter() - started, 1)
        bare, staff = app.test_client(), app.test_client()
        _page_login(staff, "county")
        months = demo.window_months(today_local())
        year = f"/county/?from={months[0]}&to={months[-1]}"

        def get(client, url: str) -> Callable[[], None]:
            def call():
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            return call

        pages = {
            "login": get(bare, "/login"),
            "dashboard": get(staff, "/county/"),
            "dashboard_year": get(staff, year),
        }
        # The first request of each page is cold (templates compiled, the report cache empty): timed apart.
        for name, call in pages.items():
            result[f"{name}_cold_ms"] = round(_timed(call), 2)
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in pages}
        for _ in range(repeats):
            for name, call in pages.items():
                timings[name].append(_cpu_timed(call))
        for name, values in timings.items():
            result[f"{name}_ms"] = round(statistics.median(wall for wall, _ in values), 2)
            result[f"{name}_cpu_ms"] = round(statistics.median(cpu for _, cpu in values), 2)
        for suffix in ("", "_cpu"):
            result[f"ratio{suffix}"] = round(result[f"dashboard{suffix}_ms"] / result[f"login{suffix}_ms"], 1)
            result[f"ratio_year{suffix}"] = round(
                result[f"dashboard_year{suffix}_ms"] / result[f"login{suffix}_ms"], 1
            )
        result["year"] = f"{months[0]}..{months[-1]}"
        _drop(app)
    return result


def bench_dashboard(args: argparse.Namespace) -> None:
    result = _in_subprocess("dashboard", 3 if args.quick else 11, args)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    header = ("page", "first (cold) ms", "median ms", "÷ /login", "median CPU ms", "CPU ÷ /login")
    print()
    print(
        _table(
            header,
            [
                ("/login", result["login_cold_ms"], result["login_ms"], 1, result["login_cpu_ms"], 1),
                (
                    "/county/ (this year so far)",
                    result["dashboard_cold_ms"],
                    result["dashboard_ms"],
                    result["ratio"],
                    result["dashboard_cpu_ms"],
                    result["ratio_cpu"],
                ),
                (
                    f"/county/ ({result['year']}, the demo's twelve months)",
                    result["dashboard_year_cold_ms"],
                    result["dashboard_year_ms"],
                    result["ratio_year"],
                    result["dashboard_year_cpu_ms"],
                    result["ratio_year_cpu"],
                ),
            ],
        )
    )


# Many clients at once against gunicorn ----------------------------------------------------------------

# (kind, weight): what county staff, cabinets and canteens do at once on a working day.
LOAD_MIX = (
    ("page /county/", 10),
    ("page /households/", 10),
    ("page /products/", 10),
    ("page /login", 5),
    ("report summary", 10),
    ("report monthly", 5),
    ("report households", 5),
    ("income explanation", 20),
    ("counter push", 15),
    ("canteen purchase", 10),
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Server:
    """gunicorn started as ./scripts/run starts it (same config, the demo county loaded into an
    empty data directory, fsync on), on a free port, in a temporary DATA_DIR removed at the end."""

    def __init__(self, code: Path) -> None:
        self.code = code
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-data-"))
        self.log = open(self.data_dir / "gunicorn.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 600) -> float:
        env = {
            **os.environ,
            "PORT": str(self.port),
            "DATA_DIR": str(self.data_dir / "data"),
            "ASSETS_DIR": str(ROOT / "node_modules"),
            "PYTHONPATH": str(self.code),
        }
        env.pop("BIND", None)
        started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
            [str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py", "service:create_app()"],
            cwd=self.code,
            env=env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        raise SystemExit(f"gunicorn not ready after {timeout} s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        self.log.flush()
        return (self.data_dir / "gunicorn.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _load_setup(base: str) -> dict:
    """Tokens, a page session, a cabinet and its secret, households, products: made before timing."""
    import requests

    def token(username: str) -> dict[str, str]:
        response = requests.post(
            f"{base}/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}, timeout=60
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['token']}"}

    staff, canteen = token("county"), token("canteen")
    pages = requests.Session()
    csrf = CSRF.search(pages.get(f"{base}/login", timeout=60).text).group(1)
    login = pages.post(
        f"{base}/login",
        data={"username": "county", "password": DEMO_PASSWORD, "csrf_token": csrf},
        allow_redirects=False,
        timeout=60,
    )
    assert login.status_code == 302, login.text[-300:]
    cabinet_no = f"LOAD-{uuid.uuid4().hex[:6]}"
    created = requests.post(
        f"{base}/api/v1/counters",
        headers=staff,
        timeout=60,
        json={"cabinet_no": cabinet_no, "name": "负载测试专柜", "kind": "counter", "county_code": COUNTY},
    )
    created.raise_for_status()
    products = requests.get(
        f"{base}/api/v1/products", params={"status": "certified", "per_page": 200}, headers=staff, timeout=60
    ).json()["items"]
    households = requests.get(
        f"{base}/api/v1/households", params={"per_page": 200}, headers=staff, timeout=60
    ).json()["items"]
    counter_skus = [
        (p, s["sku"]) for p in products for s in p.get("channel_skus") or [] if s["channel"] == "counter"
    ]
    return {
        "staff": staff,
        "canteen": canteen,
        "cookies": pages.cookies.get_dict(),
        "cabinet_no": cabinet_no,
        "secret": created.json()["secret"],
        "products": products,
        "counter_skus": counter_skus,
        "households": [h["id"] for h in households],
    }


def _load_client(base: str, setup: dict, deadline: float, seed: int, records: list) -> None:
    import requests

    from service.counters import signature

    rng = random.Random(seed)  # noqa: S311 - a request mix, not secrets
    kinds, weights = zip(*LOAD_MIX, strict=True)
    session = requests.Session()
    session.cookies.update(setup["cookies"])
    number = 0
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        number += 1
        request: dict = {"method": "GET", "headers": setup["staff"]}
        if kind.startswith("page "):
            request = {"method": "GET", "url": kind[5:], "headers": {}}
        elif kind.startswith("report "):
            request["url"] = f"/api/v1/reports/{kind[7:]}"
        elif kind == "income explanation":
            request["url"] = f"/api/v1/households/{rng.choice(setup['households'])}/income"
        elif kind == "counter push":
            product, sku = rng.choice(setup["counter_skus"])
            event = {
                "event_id": f"L{seed}-{number}-{uuid.uuid4().hex[:8]}",
                "cabinet_no": setup["cabinet_no"],
                "type": "sale",
                "sku": sku,
                "quantity": 1,
                "amount_fen": product["price_fen"],
                "occurred_at": datetime.now(UTC).isoformat(),
            }
            body = json.dumps([event]).encode()
            stamp = str(int(time.time()))
            request = {
                "method": "POST",
                "url": f"/api/v1/counters/{setup['cabinet_no']}/events",
                "data": body,
                "headers": {
                    "Content-Type": "application/json",
                    "X-Counter-Timestamp": stamp,
                    "X-Counter-Signature": signature(setup["secret"], stamp, body),
                },
            }
        elif kind == "canteen purchase":
            product = rng.choice(setup["products"])
            local_today = (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()
            request = {
                "method": "POST",
                "url": "/api/v1/canteen-purchases",
                "headers": setup["canteen"],
                "json": {
                    "date": local_today,
                    "product_id": product["id"],
                    "quantity": 1,
                    "amount_fen": product["price_fen"],
                    "invoice_no": f"L{seed}-{number}-{uuid.uuid4().hex[:8]}",
                },
            }
        url = base + request.pop("url")
        started = time.perf_counter()
        try:
            status = session.request(url=url, timeout=300, allow_redirects=False, **request).status_code
        except requests.RequestException:
            status = 0
        records.append((kind, (time.perf_counter() - started) * 1000, status))


def run_load(args: argparse.Namespace, label: str) -> dict:
    code = Path(args.code or ROOT)
    clients, seconds = (4, 10) if args.quick else (args.clients, args.seconds)
    server = _Server(code)
    result = {
        "label": label,
        "backend": _backend() if os.environ.get("MONGO_URI") else "embedded emulator, gunicorn",
        "clients": clients,
        "seconds": seconds,
    }
    try:
        result["start_s"] = round(server.start(), 1)
        setup = _load_setup(server.base)
        records: list[tuple[str, float, int]] = []
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        threads = [
            threading.Thread(target=_load_client, args=(server.base, setup, deadline, n, records))
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    latencies = [ms for _, ms, _ in records]
    result["requests"] = len(records)
    result["errors"] = sum(1 for _, _, status in records if not 200 <= status < 400)
    result["throughput_rps"] = round(len(records) / elapsed, 1)
    for percent in (50, 95, 99):
        result[f"p{percent}_ms"] = round(_percentile(latencies, percent), 1)
    result["by_kind"] = {
        kind: {
            "requests": len(ms),
            "p50_ms": round(_percentile(ms, 50), 1),
            "p95_ms": round(_percentile(ms, 95), 1),
            "errors": sum(1 for k, _, status in records if k == kind and not 200 <= status < 400),
        }
        for kind in dict(LOAD_MIX)
        if (ms := [m for k, m, _ in records if k == kind])
    }
    return result


def bench_load(args: argparse.Namespace) -> None:
    result = run_load(args, args.label)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    print()
    print(
        _table(
            ("clients", "seconds", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"),
            [
                (
                    result["clients"],
                    result["seconds"],
                    result["requests"],
                    result["errors"],
                    result["throughput_rps"],
                    result["p50_ms"],
                    result["p95_ms"],
                    result["p99_ms"],
                )
            ],
        )
    )
    print()
    print(
        _table(
            ("request", "count", "errors", "p50 ms", "p95 ms"),
            [
                (kind, k["requests"], k["errors"], k["p50_ms"], k["p95_ms"])
                for kind, k in result["by_kind"].items()
            ],
        )
    )


# Choosing one -------------------------------------------------------------------------------------------

BENCHMARKS = {
    "ledger": (bench_ledger, run_size),
    "import": (bench_import, run_import),
    "push": (bench_push, run_push),
    "dashboard": (bench_dashboard, run_dashboard),
    "load": (bench_load, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", nargs="?", default="ledger", choices=BENCHMARKS)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--sizes", type=lambda text: [int(s) for s in text.split(",")], help="e.g. 10000,100000"
    )
    parser.add_argument("--budget", type=int, default=600, help="ledger: seconds for all sizes together")
    parser.add_argument("--clients", type=int, default=16, help="load: concurrent clients")
    parser.add_argument("--seconds", type=int, default=60, help="load: how long")
    parser.add_argument("--label", default="", help="load: a name for the run in its JSON (before, after)")
    parser.add_argument(
        "--code", type=Path, help="measure the service code in this directory (default: this one)"
    )
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # one measurement, in this process
    args = parser.parse_args()
    sys.path.insert(0, str((args.code or ROOT).resolve()))
    driver, measure = BENCHMARKS[args.name]
    if args.size is not None and measure is not None:
        print(json.dumps(measure(args.size), ensure_ascii=False, default=str))
        return
    driver(args)


if __name__ == "__main__":
    main()
