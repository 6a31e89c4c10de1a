"""The ledger benchmark: ingest throughput, report latency, rebuild time, peak memory, service cost.

Run through ``scripts/bench``. Each size runs in a fresh process (so its peak memory is its own)
against ``MONGO_URI`` when set, otherwise on the embedded emulator, and the sizes go up only as
far as fits in the time budget. Prints one JSON object per size and a table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (10_000, 100_000, 1_000_000)
COUNTY = "340722"
REPEATS = 5


def _lines(products: list[dict], count: int, seed: int = 7):
    """``count`` sale lines over the last twelve months, about 2% unmatched, 2% refunds."""
    from adapters.base import SaleLine

    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    end = datetime.now(UTC) - timedelta(days=1)
    start = end - timedelta(days=360)
    span = int((end - start).total_seconds())
    channels = ("jd", "taobao", "pdd", "counter", "wechat", "p832")
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
            external_id=f"B{number:09d}",
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
    from service import ledger
    from service.clock import utcnow

    catalogue = ledger.Catalogue(db)
    lines = list(_lines(products, count, seed=11))
    catalogue.load(lines)  # the one query, outside the timing
    scope = ledger.IngestScope(COUNTY)
    now = utcnow()
    started = time.perf_counter()
    for line in lines:
        if ledger.validate_line(line, now) is None:
            ledger.line_document(line, scope, catalogue.match(line))
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

    from service import create_app, demo, ledger, ledger_rollups, reports, storage
    from service.access import system_principal

    app = create_app(
        {"TESTING": True, "DEMO_ON_START": "false", "LOG_LEVEL": "WARNING",
         "MONGO_DB_NAME": f"bench_{uuid.uuid4().hex[:8]}"}
    )  # fmt: skip
    backend = "mongodb" if os.environ.get("MONGO_URI") else "embedded emulator (mongomock-ng, patched)"
    result = {"size": size, "backend": backend}
    with app.app_context():
        handle = app.extensions["storage"]
        db = handle.db
        demo.load(db, with_sales=False)
        products = list(db[storage.PRODUCTS].find({"status": "certified"}))
        actor = system_principal("bench")

        # The backend's raw insert rate: the same documents, the same indexes, no service code.
        scratch = db[f"raw_{uuid.uuid4().hex[:6]}"]
        scratch.create_indexes(storage.INDEXES[storage.SALES])
        scope = ledger.IngestScope(COUNTY)
        raw_count = min(size, 100_000)
        documents = [ledger.line_document(line, scope, None) for line in _lines(products, raw_count, seed=3)]
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
        with ledger.deferred_rebuilds(db):
            ingest = ledger.ingest(db, _lines(products, size), scope)
            ingest_seconds = time.perf_counter() - started
        total_seconds = time.perf_counter() - started
        result["ingest_lines_per_s"] = round(size / ingest_seconds)
        result["ingest_with_rebuild_lines_per_s"] = round(size / total_seconds)
        result["ingest_counts"] = {k: v for k, v in ingest.counts().items() if v}

        partitions = ledger_rollups.all_partitions(db, [COUNTY])
        county, month = partitions[len(partitions) // 2]
        started = time.perf_counter()
        ledger.mark_dirty(db, [(county, month)])
        ledger.rebuild_partition(db, county, month)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, help="run one size in this process (used by the driver)")
    parser.add_argument("--budget", type=int, default=600, help="seconds for all sizes together")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    if args.size:
        print(json.dumps(run_size(args.size)))
        return
    deadline = time.monotonic() + args.budget
    results, previous = [], None
    for size in (int(s) for s in args.sizes.split(",")):
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
        completed = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [sys.executable, __file__, "--size", str(size)],
            capture_output=True,
            text=True,
            timeout=max(remaining, 1),
        )
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"size {size} failed")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        result["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
        previous = result
    print()
    header = ("lines", "ingest/s", "raw insert/s", "ingest+rebuild/s", "rebuild 1 month s", "summary ms",
              "monthly ms", "households ms", "dashboard page ms", "dashboard xlsx ms", "households page ms",
              "service cost/s", "peak RSS MB")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    names = ("ingest_lines_per_s", "raw_insert_lines_per_s", "ingest_with_rebuild_lines_per_s",
             "rebuild_one_month_s", "summary_ms", "monthly_ms", "households_ms", "dashboard_page_ms",
             "dashboard_xlsx_ms", "households_page_ms", "service_cost_lines_per_s",
             "peak_rss_mb")  # fmt: skip
    for r in results:
        cells = (f"{r['size']:,}", *(r[name] for name in names))
        print("| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
