"""Every refusal carries a code, and every code has a Chinese text in the pages' catalogue.

Codes are collected from the source: ``code="…"`` arguments, ``Coded("…", …)`` texts (a constant
named instead is resolved in its module or adapters/errors.py) and the ``code`` of every
``ServiceError`` subclass; marshmallow's messages come from their table in service/errors.py.
Every refusal the service builds names its rule: its message is a ``Coded`` text (or it passes
``code=``), so no page ever translates by English wording.
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
    if isinstance(node, ast.IfExp):
        return _code(node.body, constants) and _code(node.orelse, constants) and ""
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


def _if_codes(tree: ast.Module) -> set[str]:
    """Codes chosen between two (``"a.b" if … else "a.c"``) inside ``Coded(…)``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Coded" and node.args:
            first = node.args[0]
            if isinstance(first, ast.IfExp):
                found |= {
                    branch.value
                    for branch in (first.body, first.orelse)
                    if isinstance(branch, ast.Constant) and isinstance(branch.value, str)
                }
    return found


def test_codes_chosen_by_a_condition_have_a_text():
    found = set()
    for package in (service, schemas, adapters):
        for path in Path(package.__path__[0]).rglob("*.py"):
            found |= _if_codes(ast.parse(path.read_text(encoding="utf-8")))
    assert found and sorted(code for code in found if code not in messages.CATALOGUE) == []


# A stale version is said by its kind's own text, whatever the record.
_GENERIC = {"PreconditionFailed", "PreconditionRequired"}


def _coded_names(tree: ast.Module) -> set[str]:
    """Module constants bound to a ``Coded`` text, and functions that return one."""
    names = set()
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "Coded"
        ):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        if (
            isinstance(node, ast.FunctionDef)
            and isinstance(node.returns, ast.Name)
            and node.returns.id == "Coded"
        ):
            names.add(node.name)
    return names


def _is_coded(node: ast.expr, coded: set[str]) -> bool:
    if isinstance(node, ast.Call):
        called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        return called in ("Coded", "next") or called in coded  # next(): one of the rows' coded messages
    if isinstance(node, ast.Name):
        return node.id in coded or node.id.islower()  # a lowercase name passes on a coded text
    # A coded message passed on: problem[0], error.message.
    return isinstance(node, ast.Subscript) or (isinstance(node, ast.Attribute) and node.attr.islower())


def uncoded_refusals() -> list[str]:
    """Refusals built with a plain text: ``Forbidden("…")`` instead of ``Forbidden(Coded("…", "…"))``."""
    class_codes()
    generic = {cls.__name__ for cls in _subclasses(errors.ServiceError) if cls.__module__ == errors.__name__}
    found = []
    for package in (service, schemas):
        for path in sorted(Path(package.__path__[0]).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            coded = _coded_names(tree) | {"validation_summary", "conflict_message", "_id_number_taken"}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                named = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if named not in generic or named in _GENERIC or any(kw.arg == "code" for kw in node.keywords):
                    continue
                if not node.args or not _is_coded(node.args[0], coded):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {named}")
    return found


def test_every_refusal_names_its_rule():
    assert uncoded_refusals() == []


def test_the_pages_have_no_english_fallback():
    refused = errors.Forbidden("Some rule with no code.")
    assert messages.refusal(refused) == messages.CATALOGUE["forbidden"]
    assert not [name for name in vars(messages) if name.startswith(("_EXACT", "_PATTERNS", "_legacy"))]


def test_a_stored_row_error_is_said_by_its_code():
    stored = {
        "row": 3,
        "field": "sku",
        "message": "This product belongs to county 1, not 2.",
        "code": "line.other_county",
        "params": {"product_county": "340722", "county_code": "340823"},
    }
    assert messages.say(stored) == "该产品属于县 340722，不属于县 340823。"
