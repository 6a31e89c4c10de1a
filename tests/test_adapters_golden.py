"""Golden files: every channel export under tests/fixtures/<adapter>/ gives what its .expected.json says.

After an intended change in what an adapter yields: ``python -m tests.golden --regen [adapter]``,
then read the diff of the expected files.
"""

from __future__ import annotations

import pytest

from service import imports, storage
from service.access import COUNTY_STAFF, Principal
from service.errors import ValidationFailed
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
    """Each X_gb18030.csv (or folder X_gb18030/) beside its X_utf8_bom one (files cut short differ
    on purpose)."""
    names = {(case.adapter, case.path.name): case for case in CASES}
    return [
        (names[(adapter, name.replace("_utf8_bom", "_gb18030"))], names[(adapter, name)])
        for adapter, name in names
        if name.endswith(("_utf8_bom.csv", "_utf8_bom"))
        and not name.startswith("truncated")
        and (adapter, name.replace("_utf8_bom", "_gb18030")) in names
    ]


@pytest.mark.parametrize(("gb18030", "utf8"), _encoding_pairs(), ids=str)
def test_an_export_reads_the_same_in_gb18030_and_in_utf8_with_bom(gb18030, utf8):
    lines = golden.expected(gb18030)
    assert lines == golden.expected(utf8)
    assert any("line" in item for item in lines["items"])


def test_every_file_adapter_has_golden_cases():
    assert {case.adapter for case in CASES} >= {"jd", "taobao", "pdd", "p832"}


# The import run records the layout and the statuses it set aside --------------------------------------

STAFF = Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=("340722",))


def _import(db, adapter: str, name: str) -> dict:
    with (golden.FIXTURES / adapter / name).open("rb") as stream:
        return imports.run_import(db, STAFF, adapter, stream, name, dry_run=True)


def test_a_run_records_the_layout_its_export_was_recognised_as(db):
    run = _import(db, "jd", "pop_orders_gb18030.csv")
    assert (run["layout"], run["status"]) == ("jd-pop-30", "succeeded")
    assert db[storage.IMPORT_RUNS].find_one({"_id": run["_id"]})["layout"] == "jd-pop-30"


def test_a_run_lists_rows_of_an_unknown_status_by_status_and_does_not_fail(db):
    run = _import(db, "pdd", "real_orders_gb18030.csv")
    reasons = {item["reason"]: item["rows"] for item in run["skipped_reasons"]}
    assert reasons["订单状态: unknown status '拼团中'"] == 1
    assert reasons["售后状态: unknown status '待商家处理'"] == 1
    assert reasons["售后状态 退款中: not yet a sale; a later export imports it."] == 1
    assert (run["status"], run["rejected"]) == ("succeeded", 0)


def test_another_platforms_export_is_refused_naming_it_and_nothing_is_written(db):
    with pytest.raises(ValidationFailed, match="looks like a 拼多多 export"):
        _import(db, "jd", "pop_pdd_export_as_jd.csv")
    assert db[storage.SALES].count_documents({}) == 0
