"""Golden files: every channel export under tests/fixtures/<adapter>/ gives what its .expected.json says.

After an intended change in what an adapter yields: ``python -m tests.golden --regen [adapter]``,
then read the diff of the expected files.
"""

from __future__ import annotations

import pytest

from tests import golden

CASES = golden.cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_adapter_output_matches_its_golden_file(case):
    expected = golden.expected(case)
    assert expected is not None, (
        f"No {case.expected_path.name}: run python -m tests.golden --regen {case.adapter}"
    )
    assert golden.outcome(case) == expected


def _encoding_pairs() -> list[tuple[golden.Case, golden.Case]]:
    names = {(case.adapter, case.path.name): case for case in CASES}
    return [
        (names[(adapter, "orders_gb18030.csv")], names[(adapter, "orders_utf8_bom.csv")])
        for adapter, name in names
        if name == "orders_utf8_bom.csv" and (adapter, "orders_gb18030.csv") in names
    ]


@pytest.mark.parametrize(("gb18030", "utf8"), _encoding_pairs(), ids=lambda case: case.adapter)
def test_an_export_reads_the_same_in_gb18030_and_in_utf8_with_bom(gb18030, utf8):
    lines = golden.expected(gb18030)
    assert lines == golden.expected(utf8)
    assert any("line" in item for item in lines["items"])


def test_every_file_adapter_has_golden_cases():
    assert {case.adapter for case in CASES} >= {"jd", "taobao", "pdd", "p832"}
