"""Golden files of the channel adapters: each input beside what its adapter makes of it.

tests/fixtures/<adapter>/<case>.<ext> is read by the adapter registered as <adapter> (a folder
tests/fixtures/<adapter>/<case>/ is one export of several files, given in the order of their
names), and <case>.expected.json beside it holds the outcome: the values it yields, in order (sale lines
with ``occurred_at`` in ISO 8601 UTC, skipped rows, row errors), the layout its header matched (for
adapters that recognise several) and the error it raised, if any.

    python -m tests.golden                   # compare every case; exit 1 on a difference
    python -m tests.golden --regen [name …]  # rewrite the expected files (of these adapters)

Regenerate only when a change in the output is intended, and read the diff before committing.
The input files themselves are written by tests/fixtures/make_fixtures.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import adapters  # noqa: F401 - fills the registry
from adapters.base import REGISTRY, RowError, SaleLine, Skipped
from adapters.common import parse_export
from adapters.errors import FileRefused

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED_SUFFIX = ".expected.json"


@dataclass(frozen=True)
class Case:
    adapter: str
    path: Path

    @property
    def expected_path(self) -> Path:
        return self.path.with_name(self.path.stem + EXPECTED_SUFFIX)

    def __str__(self) -> str:
        return f"{self.adapter}/{self.path.name}"


def is_input(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.is_file() and not path.name.endswith(EXPECTED_SUFFIX) and path.suffix not in (".py", ".md")


@contextmanager
def parsed(case: Case) -> Iterator[Any]:
    """The adapter's reading of the case's file, or of its folder's files in the order of their names."""
    paths = sorted(case.path.iterdir()) if case.path.is_dir() else [case.path]
    with ExitStack() as stack:
        files = [(stack.enter_context(path.open("rb")), path.name) for path in paths]
        yield parse_export(REGISTRY[case.adapter], files)


def cases(root: Path = FIXTURES, names: Iterable[str] | None = None) -> list[Case]:
    """Every input file under a folder named for a registered adapter (of the given names)."""
    wanted = set(names) if names else None
    found = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name not in REGISTRY or (wanted and folder.name not in wanted):
            continue
        found.extend(Case(folder.name, path) for path in sorted(folder.iterdir()) if is_input(path))
    return found


def line_json(line: SaleLine) -> dict[str, Any]:
    data = {field.name: getattr(line, field.name) for field in dataclasses.fields(line)}
    moment = line.occurred_at
    assert moment.utcoffset() == timedelta(0), f"row {line.row}: occurred_at is not UTC"
    data["occurred_at"] = moment.isoformat().replace("+00:00", "Z")
    return data


def item_json(item: Any) -> dict[str, Any]:
    if isinstance(item, SaleLine):
        return {"line": line_json(item)}
    if isinstance(item, Skipped):
        return {"skipped": item.as_dict()}
    if isinstance(item, RowError):
        return {"error": item.as_dict()}
    raise TypeError(f"An adapter yielded {type(item).__name__}.")


def outcome(case: Case) -> dict[str, Any]:
    """What the adapter makes of the case's input, as JSON-ready data."""
    items: list[dict[str, Any]] = []
    raised = None
    layout = None
    try:
        with parsed(case) as found:
            layout = getattr(found, "layout", None)
            for item in found:
                items.append(item_json(item))
    except FileRefused as error:
        raised = {"type": type(error).__name__, "message": error.message, "details": error.details}
    # The layout the header matched, for adapters that tell it.
    named = {"layout": layout} if layout else {}
    return {"adapter": case.adapter, **named, "items": items, "raised": raised}


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def expected(case: Case) -> dict[str, Any] | None:
    if not case.expected_path.exists():
        return None
    return json.loads(case.expected_path.read_text(encoding="utf-8"))


def regen(found: list[Case]) -> list[Case]:
    """Rewrite the expected files that differ; return the cases rewritten."""
    changed = []
    for case in found:
        text = render(outcome(case))
        if not case.expected_path.exists() or case.expected_path.read_text(encoding="utf-8") != text:
            case.expected_path.write_text(text, encoding="utf-8")
            changed.append(case)
    return changed


def main(argv: list[str] | None = None, root: Path = FIXTURES) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__.split("\n\n")[0])
    parser.add_argument("--regen", action="store_true", help="rewrite the expected files")
    parser.add_argument("adapters", nargs="*", help="only these adapters (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.adapters) - set(REGISTRY))
    if unknown:
        parser.error(f"no adapter named {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    found = cases(root, args.adapters)
    if args.regen:
        changed = regen(found)
        for case in changed:
            print(f"rewrote {case.expected_path.relative_to(root)}")
        print(f"{len(found)} cases, {len(changed)} expected files rewritten.")
        return 0
    different = [case for case in found if expected(case) != outcome(case)]
    for case in different:
        print(f"differs: {case}")
    print(f"{len(found)} cases, {len(different)} differ.")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
