"""The service's modules import one another one way: no cycles, and the adapters stay pure.

The graph is read from the ``import`` and ``from`` statements of every module (top-level and
inside functions alike), so a cycle hidden behind a function-level import is found as well.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import adapters
import service


def _modules(package) -> dict[str, Path]:
    """Every module of a package and its subpackages, imported, by dotted name."""
    found = {package.__name__: Path(package.__file__)}
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        module = importlib.import_module(info.name)
        found[info.name] = Path(module.__file__)
    return found


MODULES = {**_modules(service), **_modules(adapters)}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` statement names (relative imports made absolute)."""
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        package = package.rsplit(".", 1)[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str) -> set[str]:
    """The modules one module imports anywhere in its body (``from p import m`` counts as p.m if m is one)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                named.add(submodule if submodule in MODULES else base)
    return named


def import_graph(names: set[str]) -> dict[str, set[str]]:
    """The edges among these modules only."""
    return {
        name: {target for target in imports_of(name) if target in names and target != name} for name in names
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _domain_modules() -> set[str]:
    """service/*.py: the package's own modules, not the api/ and web/ layers over them."""
    return {name for name in MODULES if name.startswith("service.") and name.count(".") == 1}


def test_the_graph_sees_top_level_and_function_level_imports():
    edges = imports_of("service.cli")
    assert "service.accounts" in edges  # at the top of the module
    assert "service.ledger_rebuilds" in edges  # inside a command's function


def test_cycles_are_found_through_several_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_among_the_service_modules():
    assert cycles(import_graph(_domain_modules())) == []


def test_adapters_import_nothing_of_the_service():
    leaks = {
        name: sorted(target for target in imports_of(name) if target.split(".")[0] == "service")
        for name in MODULES
        if name.split(".")[0] == "adapters"
    }
    assert {name: targets for name, targets in leaks.items() if targets} == {}


def test_only_the_app_factory_imports_the_pages():
    """The pages sit over the service: the API, the CLI and the domain modules never import them."""
    page_layer = [name for name in MODULES if name == "service.web" or name.startswith("service.web.")]
    leaks = {
        name: sorted(target for target in imports_of(name) if target in page_layer)
        for name in MODULES
        if name not in page_layer and name != "service"
    }
    assert {name: targets for name, targets in leaks.items() if targets} == {}


def test_no_module_re_exports_a_name_it_does_not_use():
    """A name is imported from its home: no module keeps an unused import for others to borrow."""
    silenced = [name for name, path in MODULES.items() if "noqa: F401" in path.read_text(encoding="utf-8")]
    assert silenced == []
