"""The adapters stand alone: they import nothing of the service, and the service answers their refusals."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.errors import FileRefused
from service import spreadsheets
from service.errors import ValidationFailed
from tests.conftest import make_test_app

ROOT = Path(__file__).resolve().parent.parent
ADAPTER_FILES = sorted((ROOT / "adapters").glob("*.py"))


def _imported(source: str) -> set[str]:
    """Every module a module's source names in an import statement, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_the_check_sees_imports_inside_functions():
    source = "import csv\n\ndef read():\n    from service.errors import ValidationFailed\n"
    assert _imported(source) == {"csv", "service.errors"}


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=lambda path: path.name)
def test_no_adapter_module_imports_the_service(path):
    imported = _imported(path.read_text(encoding="utf-8"))
    assert sorted(name for name in imported if name.split(".")[0] == "service") == []


_FRESH = """
import sys
import json
import adapters, adapters.jd, adapters.tabular
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("flask", "pymongo", "service"))
print(json.dumps(loaded))
"""


def test_importing_the_adapters_loads_neither_flask_nor_pymongo():
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _FRESH], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_refused_file_reaching_the_api_is_the_validation_error_envelope():
    app = make_test_app()
    refused = FileRefused("The file is empty: it has no header row.", details={"file": ["Empty."]})
    with app.test_request_context("/api/v1/imports", method="POST"):
        response = app.make_response(app.handle_user_exception(refused))
    assert response.status_code == 422
    error = response.json["error"]
    assert (error["code"], error["kind"]) == ("validation_error", "validation_error")
    assert (error["message"], error["details"]) == (
        "The file is empty: it has no header row.",
        {"file": ["Empty."]},
    )


def test_the_service_reader_refuses_at_once_and_part_way_as_a_validation_error():
    with pytest.raises(ValidationFailed, match="Missing required column: 金额") as raised:
        spreadsheets.read_rows(io.BytesIO("订单号\nA-1\n".encode()), "x.csv", required=("金额",))
    assert raised.value.details == {"file": ["Missing column 金额."]}
    cut = "订单号,金额\nA-1,1\nA-2".encode()
    reader = spreadsheets.read_rows(io.BytesIO(cut), "x.csv")
    assert next(reader).values == {"订单号": "A-1", "金额": "1"}
    with pytest.raises(ValidationFailed, match=r"^Row 3 is cut short"):
        next(reader)
    reader.close()
