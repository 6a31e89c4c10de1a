"""Every refusal's code has a Chinese text in the pages' catalogue.

Codes are collected from the source: ``code="…"`` arguments, ``Coded("…", …)`` texts (a constant
named instead is resolved in its module or adapters/errors.py) and the ``code`` of every
``ServiceError`` subclass; marshmallow's messages come from their table in service/errors.py.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import adapters
import schemas
import service
from adapters import errors as adapter_errors
from service import errors
from service.web import messages

ROOT = Path(__file__).resolve().parent.parent


def _constants(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


ADAPTER_CODES = _constants(ast.parse(Path(adapter_errors.__file__).read_text(encoding="utf-8")))


def _code(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id.islower():
            return ""
        return constants.get(node.id) or ADAPTER_CODES.get(node.id)
    if isinstance(node, ast.Attribute):
        return "" if node.attr.islower() else ADAPTER_CODES.get(node.attr)
    return None


def raised_codes() -> dict[str, str]:
    """Each code named in the source, with where it is first named."""
    found: dict[str, str] = {}
    for package in (service, schemas, adapters):
        for path in sorted(Path(package.__path__[0]).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = _constants(tree)
            where = str(path.relative_to(ROOT))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                named = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                codes = [_code(kw.value, constants) for kw in node.keywords if kw.arg == "code"]
                if named == "Coded" and node.args:
                    codes.append(_code(node.args[0], constants))
                for code in codes:
                    if code == "":
                        continue  # a code passed on, named where it was first raised
                    assert code is not None, f"{where}:{node.lineno}: a code the test cannot read"
                    found.setdefault(code, f"{where}:{node.lineno}")
    return found


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def class_codes() -> set[str]:
    for package in (service, adapters):
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            importlib.import_module(info.name)
    return {cls.code for cls in _subclasses(errors.ServiceError)} | {errors.ServiceError.code}


def test_the_source_names_codes():
    assert len(raised_codes()) > 20


@pytest.mark.parametrize("code", sorted(class_codes() | {code for code, _ in errors._LIBRARY_TEMPLATES}))
def test_every_error_class_and_library_message_has_a_text(code):
    assert code in messages.CATALOGUE


def test_every_raised_code_has_a_text():
    missing = {code: where for code, where in raised_codes().items() if code not in messages.CATALOGUE}
    assert missing == {}


def test_the_adapters_codes_have_a_text():
    codes = {code for code in ADAPTER_CODES.values() if "." in code}
    missing = sorted(code for code in codes if code not in messages.CATALOGUE)
    assert missing == []


def test_amounts_show_in_yuan_and_lists_joined():
    messages.CATALOGUE["test.sample"] = "发票 {invoice_no} 金额 {amount_fen} 元，列 {columns}"
    try:
        params = {"invoice_no": "INV-1", "amount_fen": 78000, "columns": ["甲", "乙"]}
        shown = messages.text("test.sample", params)
    finally:
        del messages.CATALOGUE["test.sample"]
    assert shown == "发票 INV-1 金额 780.00 元，列 甲、乙"


def test_a_coded_refusal_is_translated_by_its_code_whatever_its_wording():
    refused = errors.ValidationFailed(errors.Coded("field.min", "Reworded entirely.", min=3))
    assert (refused.code, refused.kind, refused.params) == ("field.min", "validation_error", {"min": 3})
    assert messages.refusal(refused) == "不能小于 3。"
