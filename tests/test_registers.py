"""The register import runner, over a small register declared here (a shelf of counted items)."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from adapters import tabular
from adapters.errors import Coded
from service import ingest_result, link_register, operators, payouts, registers, storage
from service.access import ADMIN, Principal
from service.errors import ValidationFailed
from service.ingest_result import IngestResult

SHELVES = "register_test_shelves"
HEADER = "编号,名称,数量\n"
ID_NUMBER = "360426199101010071"
ACTOR = Principal(user_id=None, username="importer", role=ADMIN)


class ShelfRegister(registers.Register):
    """Items keyed by code, with a name and a count; a code starting 示例 is the template's example."""

    collection = SHELVES
    entity_kind = "shelf_item"
    columns = {"code": "编号", "name": "名称", "count": "数量"}
    required = ("编号", "名称", "数量")
    key_field = "code"
    duplicate_message = "Also on row {row}."

    def __init__(
        self, batch_size: int = 500, meanwhile: Callable[[Mapping[str, Any] | None], None] | None = None
    ):
        super().__init__(ACTOR)
        self.batch_size = batch_size
        self.meanwhile = meanwhile

    def parse(self, row: tabular.Row) -> tuple[dict[str, Any], dict[str, str]]:
        data: dict[str, Any] = {"code": row.get("编号"), "name": row.get("名称")}
        try:
            data["count"] = tabular.parse_whole_number(row.get("数量"))
        except ValueError:
            return data, {"count": f"Not a count: {row.get('数量')}."}
        return data, {}

    def skip_row(self, data: Mapping[str, Any]) -> bool:
        return data["code"].startswith("示例")

    def key(self, data: Mapping[str, Any]) -> str:
        return data["code"]

    def stored_key(self, document: Mapping[str, Any]) -> str:
        return document["code"]

    def existing_filter(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"code": {"$in": [data["code"] for data in rows]}}

    def diff(self, row_number, stored, data):
        if self.meanwhile is not None:
            self.meanwhile(stored)  # another writer acts between the read and the write
        if stored is None:
            return {}, {}
        return {name: data[name] for name in ("name", "count") if stored.get(name) != data[name]}, {}

    def build(self, data, now):
        return dict(data)


def _run(db, text: str, register: ShelfRegister | None = None, **options) -> IngestResult:
    stream = io.BytesIO((HEADER + text).encode())
    return registers.run_import(db, ACTOR, register or ShelfRegister(), stream, "shelf.csv", **options)


def _stored(db) -> dict[str, dict[str, Any]]:
    return {item["code"]: item for item in db[SHELVES].find()}


def _item(db, code: str, name: str = "盐", count: int = 1) -> dict[str, Any]:
    item = {"_id": ObjectId(), "code": code, "name": name, "count": count, "version": 1}
    db[SHELVES].insert_one(item)
    return item


def test_rows_are_counted_as_new_updated_unchanged_skipped_and_rejected(db):
    _item(db, "A", count=1)
    _item(db, "B", count=2)
    result = _run(db, "A,盐,5\nB,盐,2\nC,糖,3\n示例,模板,1\nD,醋,很多\n")
    assert result.counts() == {
        "rows": 5,
        "inserted": 1,
        "updated": 1,
        "unchanged": 1,
        "skipped": 1,
        "rejected": 1,
    }
    assert result.errors == [{"row": 6, "field": "count", "column": "数量", "message": "Not a count: 很多."}]
    stored = _stored(db)
    assert (stored["A"]["count"], stored["A"]["version"]) == (5, 2)
    assert stored["B"]["version"] == 1
    assert (stored["C"]["count"], stored["C"]["version"]) == (3, 1)
    assert stored["C"]["created_at"] == stored["C"]["updated_at"]
    assert "D" not in stored


def test_importing_the_same_file_again_changes_nothing(db):
    _run(db, "A,盐,5\nB,糖,2\n")
    before = _stored(db)
    again = _run(db, "A,盐,5\nB,糖,2\n")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert _stored(db) == before


def test_a_dry_run_counts_what_it_would_write_and_writes_nothing(db):
    _item(db, "A", count=1)
    audit_entries = db[storage.AUDIT_LOG].count_documents({})
    result = _run(db, "A,盐,5\nC,糖,3\n", dry_run=True)
    assert (result.dry_run, result.inserted, result.updated) == (True, 1, 1)
    assert set(_stored(db)) == {"A"} and _stored(db)["A"]["count"] == 1
    assert db[storage.AUDIT_LOG].count_documents({}) == audit_entries


def test_a_key_seen_earlier_in_the_file_is_a_row_error_naming_that_row(db):
    result = _run(db, "A,盐,5\nB,糖,2\nA,醋,7\n")
    assert result.errors == [{"row": 4, "field": "code", "column": "编号", "message": "Also on row 2."}]
    assert _stored(db)["A"]["name"] == "盐"


def test_a_key_repeated_across_batches_is_still_caught(db):
    result = _run(db, "A,盐,5\nB,糖,2\nC,醋,1\nA,醋,7\n", ShelfRegister(batch_size=2))
    assert (result.inserted, result.rejected) == (3, 1)
    assert result.errors[0]["row"] == 5


def test_one_query_a_batch_reads_the_stored_documents(db, monkeypatch):
    collection_class = type(db[SHELVES])
    original_find = collection_class.find
    calls = []

    def counting_find(self, *args, **kwargs):
        if self.name == SHELVES:
            calls.append(args)
        return original_find(self, *args, **kwargs)

    monkeypatch.setattr(collection_class, "find", counting_find)
    result = _run(db, "".join(f"K{n},盐,{n}\n" for n in range(1, 6)), ShelfRegister(batch_size=2))
    assert result.inserted == 5
    assert len(calls) == 3


def test_a_document_changed_meanwhile_is_a_row_error_and_keeps_the_other_change(db):
    first = _item(db, "A", count=1)
    _item(db, "B", count=1)

    def someone_else(stored):
        if stored is not None and stored["code"] == "A":
            db[SHELVES].update_one({"_id": first["_id"]}, {"$set": {"name": "粗盐"}, "$inc": {"version": 1}})

    result = _run(db, "A,盐,5\nB,盐,6\n", ShelfRegister(meanwhile=someone_else))
    assert (result.updated, result.rejected) == (1, 1)
    assert result.errors == [
        {
            "row": 2,
            "field": "code",
            "column": "编号",
            "message": registers.CHANGED_MEANWHILE,
            "code": "register.changed_meanwhile",
            "params": {},
        }
    ]
    stored = _stored(db)
    assert (stored["A"]["name"], stored["A"]["count"], stored["A"]["version"]) == ("粗盐", 1, 2)
    assert (stored["B"]["count"], stored["B"]["version"]) == (6, 2)


def test_a_key_created_meanwhile_is_a_row_error_not_a_second_document(db):
    db[SHELVES].create_index("code", unique=True)

    def someone_else(stored):
        if stored is None and db[SHELVES].count_documents({"code": "A"}) == 0:
            db[SHELVES].insert_one({"code": "A", "name": "粗盐", "count": 9, "version": 1})

    result = _run(db, "A,盐,5\nB,糖,2\n", ShelfRegister(meanwhile=someone_else))
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.errors[0]["row"] == 2 and result.errors[0]["message"] == registers.CHANGED_MEANWHILE
    assert db[SHELVES].count_documents({"code": "A"}) == 1 and _stored(db)["A"]["name"] == "粗盐"


def test_each_written_row_is_audited_and_the_import_once(db):
    item = _item(db, "A", count=1)
    _run(db, "A,盐,5\nC,糖,3\n")
    entries = list(db[storage.AUDIT_LOG].find({"entity.kind": "shelf_item"}))
    assert sorted((entry["action"], entry["note"]) for entry in entries) == [
        ("shelf_item.create", "import row 3"),
        ("shelf_item.update", "import row 2"),
    ]
    update = next(entry for entry in entries if entry["action"] == "shelf_item.update")
    assert update["entity"]["id"] == item["_id"]
    assert (update["before"]["count"], update["after"]["count"], update["after"]["version"]) == (1, 5, 2)
    summary = db[storage.AUDIT_LOG].find_one({"action": "shelf_item.import"})
    assert summary["entity"] == {"kind": "import", "id": "shelf.csv"}
    assert summary["note"] == "rows 2, inserted 1, updated 1, unchanged 0, skipped 0, rejected 0"


def test_an_import_that_writes_nothing_leaves_no_summary(db):
    _item(db, "A", count=5)
    _run(db, "A,盐,5\n")
    assert db[storage.AUDIT_LOG].count_documents({"action": "shelf_item.import"}) == 0


def test_row_errors_mask_id_numbers_and_are_bounded(db, monkeypatch):
    monkeypatch.setattr(ingest_result, "MAX_KEPT_ERRORS", 3)
    result = _run(db, "".join(f"K{n},盐,{ID_NUMBER}个\n" for n in range(5)))
    assert result.rejected == 5
    assert len(result.errors) == 3 and result.errors_truncated
    assert ID_NUMBER not in str(result.as_dict())
    assert result.errors[0]["message"] == "Not a count: 360426********0071个."


def test_the_result_answers_with_the_import_shape(db):
    result = _run(db, "A,盐,5\n").as_dict()
    assert result == {
        "rows": 1,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
        "dry_run": False,
        "errors": [],
        "errors_truncated": False,
    }


def test_a_datetime_read_back_without_its_zone_is_the_same_instant():
    aware = datetime(2020, 1, 1, 16, tzinfo=UTC)
    assert registers._same(aware.replace(tzinfo=None), aware)
    assert not registers._same(aware.replace(tzinfo=None), aware + timedelta(hours=8))


class LedgeredShelf(ShelfRegister):
    """Items that go on to a next step after their write (as purchases go on to the ledger): it refuses
    a count of 13 and undoes that write; a half-done item (``done`` False) is finished by its row."""

    versioned = False
    counts = (*ShelfRegister.counts, "large")

    def __init__(self):
        super().__init__()
        self.handed: list[tuple[int, bool]] = []

    def check_header(self, header):
        if "单位" not in header:
            raise ValidationFailed(Coded("shelf.unit_column", "The file needs a 单位 column."))

    def diff(self, row_number, stored, data):
        if stored is not None and not self.resumes(stored, data):
            return {}, {"code": "Already on the shelf."}
        return {}, {}

    def resumes(self, stored, data):
        return stored.get("done") is False and stored["count"] == data["count"]

    def build(self, data, now):
        return {**data, "done": False}

    def after_write(self, db, written, result):
        self.handed += [(write.row, write.resumed) for write in written]
        refused = {write.row for write in written if write.document["count"] == 13}
        if not result.dry_run:
            db[SHELVES].delete_many(
                {"_id": {"$in": [w.document["_id"] for w in written if w.row in refused]}}
            )
            done = [write.document["_id"] for write in written if write.row not in refused]
            db[SHELVES].update_many({"_id": {"$in": done}}, {"$set": {"done": True}})
        result.tallies["large"] += sum(w.document["count"] > 10 for w in written if w.row not in refused)
        return {row: {"count": "Unlucky."} for row in refused}


def _run_ledgered(db, text: str, register: LedgeredShelf, **options) -> IngestResult:
    stream = io.BytesIO(("编号,名称,数量,单位\n" + text).encode())
    return registers.run_import(db, ACTOR, register, stream, "shelf.csv", **options)


def test_a_header_the_register_cannot_read_refuses_the_file(db):
    with pytest.raises(ValidationFailed):
        _run(db, "A,盐,5\n", LedgeredShelf())
    assert _stored(db) == {}


def test_a_row_the_next_step_refuses_is_rejected_and_its_write_undone(db):
    register = LedgeredShelf()
    result = _run_ledgered(db, "A,盐,5,袋\nB,糖,13,袋\nC,醋,20,瓶\n", register)
    assert result.as_dict() == {
        "rows": 3,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 1,
        "large": 1,
        "dry_run": False,
        "errors": [{"row": 3, "field": "count", "column": "数量", "message": "Unlucky."}],
        "errors_truncated": False,
    }
    stored = _stored(db)
    assert set(stored) == {"A", "C"} and all(item["done"] for item in stored.values())
    # A register whose documents are only inserted stores them as built: no version, no times.
    assert "version" not in stored["A"] and "created_at" not in stored["A"]
    actions = sorted(entry["note"] for entry in db[storage.AUDIT_LOG].find({"action": "shelf_item.create"}))
    assert actions == ["import row 2", "import row 4"]


def test_a_dry_run_asks_the_next_step_too_and_writes_nothing(db):
    register = LedgeredShelf()
    result = _run_ledgered(db, "A,盐,5,袋\nB,糖,13,袋\n", register, dry_run=True)
    assert (result.inserted, result.rejected, register.handed) == (1, 1, [(2, False), (3, False)])
    assert _stored(db) == {}


def test_a_row_finishes_the_half_done_write_of_an_interrupted_import(db):
    half_done = {"_id": ObjectId(), "code": "A", "name": "盐", "count": 5, "done": False}
    db[SHELVES].insert_one(half_done)
    register = LedgeredShelf()
    result = _run_ledgered(db, "A,盐,5,袋\n", register)
    assert (result.inserted, result.rejected, register.handed) == (1, 0, [(2, True)])
    assert db[SHELVES].count_documents({}) == 1 and _stored(db)["A"]["done"] is True
    again = _run_ledgered(db, "A,盐,5,袋\n", LedgeredShelf())
    assert (again.inserted, again.rejected) == (0, 1)


def test_links_and_payouts_resolve_operators_by_uscc_once_and_households_by_batch(db, factory, monkeypatch):
    assert issubclass(link_register.LinkRegister, registers.PartyRegister)
    assert issubclass(payouts.PayoutRegister, registers.PartyRegister)
    operator = factory.operator(uscc="91340722MA2TEST01X")
    first, second = factory.household(), factory.household()
    asked: list[list[str]] = []
    matching = operators.matching
    monkeypatch.setattr(
        operators,
        "matching",
        lambda db, **named: asked.append(sorted(named["usccs"])) or matching(db, **named),
    )
    register = registers.PartyRegister(ACTOR)
    register.resolve(db, [{"uscc": operator["uscc"], "household_no": first["household_no"]}])
    register.resolve(
        db,
        [
            {"uscc": operator["uscc"], "household_no": second["household_no"]},
            {"uscc": "91340722MA2NONE01X", "household_no": "3407229999999999"},
        ],
    )
    assert asked == [[operator["uscc"]], ["91340722MA2NONE01X"]]
    assert register.operators == {operator["uscc"]: operator, "91340722MA2NONE01X": None}
    assert list(register.households) == [second["household_no"]]
    assert register.households[second["household_no"]]["_id"] == second["_id"]
