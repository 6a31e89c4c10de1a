"""Reading uploaded workbooks: time and peak memory of each reader on the same files.

    .venv/bin/python scripts/bench_xlsx.py [--sizes 20000,200000] [--dir /tmp/bench-xlsx]

Files (written once into --dir): legitimate exports of each size (fifteen columns, as openpyxl
writes them), the shared-string bomb (about 300 KB that unzips to 300 MB), 100,000 rows of twenty
empty cells after 50 rows of data, and a 2 KB workbook with one value in the sheet's last cell.

Readers, each in a fresh process (so its peak memory is its own), reading every row:
- ``service``: ``adapters.tabular.read_rows`` as the importers call it (adapters/xlsx_reader.py,
  streamed);
- ``openpyxl``: openpyxl 3.1's read-only mode as the service read workbooks before (``load_workbook``
  with ``read_only=True``, ``reset_dimensions()``, ``iter_rows(values_only=True)``, each value
  turned to text the same way);
- ``calamine``: python-calamine (``CalamineWorkbook.from_filelike(...).get_sheet_by_index(0)``,
  ``iter_rows()``), when installed (``.venv/bin/pip install python-calamine==0.9.1``).

A reader gets 120 s per file. Peak memory is the child's peak RSS while reading less its RSS after
its imports (the peak is reset first, through /proc/self/clear_refs). Prints one JSON object per
measurement, then a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

READERS = ("service", "openpyxl", "calamine")
TIMEOUT = 120

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
reader, path = {reader!r}, {path!r}
from adapters import tabular
from adapters.errors import FileRefused
if reader == "calamine":
    import python_calamine
if reader == "openpyxl":
    import openpyxl
def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the current RSS
base = status("VmRSS")
started = time.perf_counter()
rows, outcome = 0, "read"
try:
    with open(path, "rb") as stream:
        if reader == "service":
            for _ in tabular.read_rows(stream, path):
                rows += 1
        elif reader == "openpyxl":
            workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()
            for values in sheet.iter_rows(values_only=True):
                [tabular.excel_cell_text(value) for value in values]
                rows += 1
        else:
            sheet = python_calamine.CalamineWorkbook.from_filelike(stream).get_sheet_by_index(0)
            for values in sheet.iter_rows():
                [tabular.excel_cell_text(value) for value in values]
                rows += 1
except FileRefused as error:
    outcome = "refused: " + error.message
seconds = time.perf_counter() - started
grown = status("VmHWM") - base
result = {{"rows": rows, "seconds": round(seconds, 2), "peak_mb": round(grown / 1024, 1)}}
print(json.dumps({{**result, "outcome": outcome}}))
"""


def make_files(folder: Path, sizes: list[int]) -> dict[str, Path]:
    from tests.test_hostile_files import (
        bomb_xlsx,
        empty_rows_xlsx,
        export_xlsx,
        inline_row,
        package,
        sheet_xml,
    )

    files: dict[str, Path] = {}
    for size in sizes:
        files[f"export {size:,} rows"] = folder / f"export_{size}.xlsx"
    files["shared-string bomb"] = folder / "bomb.xlsx"
    files["100,000 rows of empty cells"] = folder / "empty_rows.xlsx"
    files["a value in cell XFD1048576"] = folder / "far_cell.xlsx"
    for name, path in files.items():
        if path.exists():
            continue
        print(f"writing {path} ({name})", file=sys.stderr)
        if name.startswith("export"):
            export_xlsx(path, int(path.stem.split("_")[1]))
        elif name.startswith("shared"):
            bomb_xlsx(path)
        elif name.startswith("100,000"):
            empty_rows_xlsx(path)
        else:
            far = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
            path.write_bytes(package(sheet_xml(inline_row(1, "订单号") + far, dimension="A1:XFD1048576")))
    return files


def measure(reader: str, path: Path) -> dict[str, object]:
    code = _CHILD.format(root=str(ROOT), reader=reader, path=str(path))
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"still reading after {TIMEOUT} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[0]
        if "No module named 'python_calamine'" in done.stderr:
            return {"outcome": "not installed"}
        return {"outcome": f"process died (exit {done.returncode}): {last[:100]}"}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-xlsx")
    parser.add_argument("--readers", default=",".join(READERS))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    files = make_files(args.dir, [int(size) for size in args.sizes.split(",")])
    results = []
    for name, path in files.items():
        for reader in args.readers.split(","):
            result = {"file": name, "bytes": path.stat().st_size, "reader": reader, **measure(reader, path)}
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.append(result)
    print("\n| file | size | reader | rows | s | peak RSS growth MB | outcome |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        print(
            f"| {result['file']} | {result['bytes'] / 1024:,.0f} KB | {result['reader']} "
            f"| {result.get('rows', '')} | {result.get('seconds', '')} | {result.get('peak_mb', '')} "
            f"| {str(result['outcome'])[:90]} |"
        )


if __name__ == "__main__":
    main()
