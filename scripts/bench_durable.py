"""The cost of keeping the emulator's data in DATA_DIR: per write, at start-up, per snapshot.

    .venv/bin/python scripts/bench_durable.py [--dir /path/on/the/disk/to/measure]

Per write: insert_one, update_one and insert_many of 5,000 sales-like documents, in memory (no
DATA_DIR), in a data directory without DATA_FSYNC, and with it (the default). Then the demo county
is loaded into a data directory (in a child process that exits without a clean stop, so only the
journal holds it), and the start-up from that journal, the snapshot, and the start-up from the
snapshot are timed.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SINGLE_WRITES = 500
BULK = 5_000


def _sale(number: int) -> dict:
    return {
        "county_code": "340722",
        "channel": "jd",
        "external_id": f"B{number:09d}",
        "month": "2024-05",
        "occurred_at": datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        "quantity": 2,
        "amount_fen": 5980,
        "unit_price_fen": 2990,
        "matched": True,
        "raw": {"sku": f"JD-{number % 97}", "title": "枞阳县白云春毫绿茶 250克", "shop": "枞阳馆"},
        "imported_at": datetime(2024, 5, 2, tzinfo=UTC),
    }


def _per_write(client) -> dict:
    from pymongo import ASCENDING

    sales = client["bench"]["sales"]
    sales.create_index(
        [("county_code", ASCENDING), ("channel", ASCENDING), ("external_id", ASCENDING)], unique=True
    )
    inserts, updates = [], []
    for number in range(SINGLE_WRITES):
        started = time.perf_counter()
        document_id = sales.insert_one(_sale(number)).inserted_id
        inserts.append(time.perf_counter() - started)
        started = time.perf_counter()
        sales.update_one({"_id": document_id}, {"$set": {"matched": False}, "$inc": {"quantity": 1}})
        updates.append(time.perf_counter() - started)
    bulk = []
    for round_ in range(3):
        documents = [_sale(10_000_000 + round_ * BULK + number) for number in range(BULK)]
        started = time.perf_counter()
        sales.insert_many(documents)
        bulk.append(time.perf_counter() - started)
    return {
        "insert_one_ms": round(statistics.median(inserts) * 1000, 3),
        "update_one_ms": round(statistics.median(updates) * 1000, 3),
        "insert_many_5000_ms": round(statistics.median(bulk) * 1000, 1),
    }


def _writes(base: Path) -> dict:
    from service import durable, emulator

    results = {"memory": _per_write(emulator.new_client())}
    for name, fsync in (("data_dir_no_fsync", False), ("data_dir_fsync", True)):
        directory = durable.open_directory(base / name, fsync=fsync)
        results[name] = _per_write(directory.client)
        directory.close()
    return results


_LOAD_DEMO = """
import os, sys, time
from service import create_app
started = time.perf_counter()
config = {"DEMO_ON_START": "true", "LOG_LEVEL": "WARNING", "MONGO_URI": None}
create_app({**config, "DATA_DIR": sys.argv[1] or None, "DATA_FSYNC": sys.argv[2] == "fsync"})
print(time.perf_counter() - started, flush=True)
os._exit(0)  # no clean stop: the journal alone holds the demo county
"""


def _demo_load(data_dir: Path | None, fsync: bool = True) -> float:
    env = {key: value for key, value in os.environ.items() if key not in {"MONGO_URI", "DATA_DIR"}}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _LOAD_DEMO, str(data_dir or ""), "fsync" if fsync else "no-fsync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _demo_directory(base: Path) -> dict:
    from service import durable

    data_dir = base / "demo"
    result = {
        "demo_load_memory_s": round(_demo_load(None), 1),
        "demo_load_data_dir_no_fsync_s": round(_demo_load(base / "demo-no-fsync", fsync=False), 1),
        "demo_load_data_dir_fsync_s": round(_demo_load(data_dir), 1),
    }
    journal = next(data_dir.glob("journal-*.bson"))
    result["journal_bytes"] = journal.stat().st_size
    directory = durable.open_directory(data_dir)
    result["documents"] = directory.loaded_documents
    result["start_from_journal_s"] = round(directory.load_seconds, 2)
    started = time.perf_counter()
    directory.snapshot()
    result["snapshot_s"] = round(time.perf_counter() - started, 2)
    result["snapshot_bytes"] = (data_dir / durable.SNAPSHOT).stat().st_size
    directory.close()
    directory = durable.open_directory(data_dir)
    result["start_from_snapshot_s"] = round(directory.load_seconds, 2)
    directory.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to make the data directories")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-durable-", dir=args.dir))
    try:
        print(json.dumps({"per_write": _writes(base), "demo": _demo_directory(base)}, indent=2))
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
