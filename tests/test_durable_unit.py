"""The data directory (service/durable.py): journal, snapshot, replay, damage and refusals."""

from __future__ import annotations

import errno
import logging
import os
import struct
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

from service import durable, durable_format, emulator
from service.storage import USERS
from tests.conftest import make_test_app

ROOT = Path(__file__).resolve().parent.parent


def _journal(directory: Path) -> Path:
    (journal,) = sorted(directory.glob("journal-*.bson"))
    return journal


def _frame_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += 8 + struct.unpack_from("<I", data, offset)[0]
    return offsets


def _in_child(code: str, directory: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``directory`` open as ``db`` (database "app")."""
    prelude = (
        f"from service import durable\nd = durable.open_directory({str(directory)!r})\ndb = d.client['app']\n"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def opened(tmp_path):
    """Open directories, closed (snapshot, lock released) at the end of the test."""
    directories = []

    def open_(path: Path = tmp_path / "data", **kwargs) -> durable.DataDirectory:
        directory = durable.open_directory(path, **kwargs)
        directories.append(directory)
        return directory

    yield open_
    for directory in directories:
        directory.close()
    emulator.refuse_operations(None)


def test_a_new_directory_is_created_with_its_format_marker(opened, tmp_path):
    directory = opened(tmp_path / "new" / "data")

    assert (directory.path / "FORMAT.json").exists()
    assert directory.client["app"].list_collection_names() == []


def test_documents_and_indexes_come_back_after_a_clean_close(opened, tmp_path):
    first = opened()
    things = first.client["app"]["things"]
    things.create_index("code", unique=True, name="code_unique")
    moment = datetime(2024, 5, 1, 8, 30, 15, 123000, tzinfo=UTC)
    things.insert_one({"_id": "a", "code": "A", "fen": 2**40, "at": moment, "tags": ["x"]})
    things.update_one({"_id": "a"}, {"$inc": {"fen": 1}})
    first.close()

    second = opened()
    things = second.client["app"]["things"]
    assert things.find_one({"_id": "a"}) == {
        "_id": "a",
        "code": "A",
        "fen": 2**40 + 1,
        "at": moment,
        "tags": ["x"],
    }
    assert type(things.find_one()["fen"]) is int
    assert things.index_information()["code_unique"]["unique"] is True
    with pytest.raises(DuplicateKeyError):
        things.insert_one({"code": "A"})


def test_a_close_writes_a_snapshot_and_starts_an_empty_journal(opened):
    directory = opened()
    directory.client["app"]["things"].insert_many([{"n": n} for n in range(10)])
    directory.close()

    assert (directory.path / "snapshot.bson").exists()
    assert [path.name for path in directory.path.glob("journal-*.bson")] == ["journal-00000002.bson"]
    assert opened().client["app"]["things"].count_documents({}) == 10


def test_an_acknowledged_write_is_in_the_journal_when_the_process_is_then_killed(tmp_path):
    child = _in_child(
        """
        import os, signal
        db.things.insert_one({"_id": "kept", "n": 1})
        db.things.update_one({"_id": "kept"}, {"$set": {"n": 2}})
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        tmp_path / "data",
    )
    assert child.returncode == -9, child.stderr

    assert not (tmp_path / "data" / "snapshot.bson").exists()  # no clean shutdown ran
    directory = durable.open_directory(tmp_path / "data")
    try:
        assert directory.client["app"]["things"].find_one({"_id": "kept"}) == {"_id": "kept", "n": 2}
    finally:
        directory.close()


def test_replay_restores_the_id_an_upsert_minted_instead_of_running_it_again(tmp_path):
    child = _in_child(
        """
        import os
        result = db.things.update_one({"code": "A"}, {"$set": {"n": 1}}, upsert=True)
        print(result.upserted_id)
        os._exit(0)
        """,
        tmp_path / "data",
    )
    upserted_id = child.stdout.strip()

    directory = durable.open_directory(tmp_path / "data")
    try:
        assert str(directory.client["app"]["things"].find_one({"code": "A"})["_id"]) == upserted_id
    finally:
        directory.close()


def test_deletes_and_dropped_indexes_and_collections_are_replayed(tmp_path):
    _in_child(
        """
        import os
        db.kept.insert_many([{"_id": n} for n in range(5)])
        db.kept.delete_many({"_id": {"$gte": 3}})
        db.kept.create_index("x", name="x")
        db.kept.drop_index("x")
        db.gone.insert_one({"_id": 1})
        db.drop_collection("gone")
        os._exit(0)
        """,
        tmp_path / "data",
    )

    directory = durable.open_directory(tmp_path / "data")
    try:
        db = directory.client["app"]
        assert db.list_collection_names() == ["kept"]
        assert [doc["_id"] for doc in db.kept.find()] == [0, 1, 2]
        assert set(db.kept.index_information()) == {"_id_"}
    finally:
        directory.close()


def test_a_journal_cut_mid_record_drops_only_that_record_and_says_so(tmp_path, caplog):
    _in_child(
        """
        import os
        db.things.insert_one({"_id": "before"})
        db.things.insert_one({"_id": "cut", "text": "x" * 200})
        os._exit(0)
        """,
        tmp_path / "data",
    )
    journal = _journal(tmp_path / "data")
    last = _frame_offsets(journal)[-1]
    size = journal.stat().st_size
    os.truncate(journal, last + 20)

    with caplog.at_level(logging.WARNING, logger="service.durable"):
        directory = durable.open_directory(tmp_path / "data")
    try:
        assert [doc["_id"] for doc in directory.client["app"]["things"].find()] == ["before"]
        assert f"dropped 20 bytes at offset {last}" in caplog.text
        assert size > last + 20
        assert journal.stat().st_size == last  # the torn tail is gone; the next record follows a whole one
        directory.client["app"]["things"].insert_one({"_id": "after"})
    finally:
        directory.close()
    reopened = durable.open_directory(tmp_path / "data")
    try:
        assert [doc["_id"] for doc in reopened.client["app"]["things"].find()] == ["before", "after"]
    finally:
        reopened.close()


def test_a_journal_damaged_before_its_end_is_refused(tmp_path):
    _in_child(
        """
        import os
        db.things.insert_one({"_id": 1})
        db.things.insert_one({"_id": 2})
        os._exit(0)
        """,
        tmp_path / "data",
    )
    journal = _journal(tmp_path / "data")
    middle = _frame_offsets(journal)[1] + 12
    data = bytearray(journal.read_bytes())
    data[middle] ^= 0xFF
    journal.write_bytes(bytes(data))

    with pytest.raises(durable.DataDirError, match=r"damaged at byte \d+ \(a checksum mismatch\)"):
        durable.open_directory(tmp_path / "data")
    assert journal.read_bytes() == bytes(data)  # left as it was


def test_a_foreign_directory_is_refused_and_left_untouched(tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")

    with pytest.raises(durable.DataDirError, match=r"not this service's data directory.*holiday\.jpg"):
        durable.open_directory(foreign)
    assert sorted(path.name for path in foreign.iterdir()) == ["holiday.jpg"]


def test_a_directory_of_another_format_version_is_refused(opened, tmp_path):
    opened().close()
    marker = tmp_path / "data" / "FORMAT.json"
    marker.write_text(marker.read_text().replace('"version": 1', '"version": 2'))

    with pytest.raises(durable.DataDirError, match="format version 2; this version of the service reads"):
        durable.open_directory(tmp_path / "data")


def test_a_journal_of_another_format_version_is_refused(tmp_path):
    _in_child("import os\ndb.things.insert_one({})\nos._exit(0)\n", tmp_path / "data")
    journal = _journal(tmp_path / "data")
    data = journal.read_bytes()
    header_length = struct.unpack_from("<I", data)[0]
    header = durable_format.bson.decode(data[8 : 8 + header_length])
    journal.write_bytes(durable_format.frame({**header, "version": 9}) + data[8 + header_length :])

    with pytest.raises(durable.DataDirError, match="journal in format version 9"):
        durable.open_directory(tmp_path / "data")


def test_a_second_process_is_refused_with_the_directory_and_the_pid_holding_it(opened):
    directory = opened()

    child = _in_child("", directory.path)

    assert child.returncode != 0
    assert f"DATA_DIR {directory.path} is in use by another process (pid {os.getpid()})" in child.stderr


def test_a_failed_journal_write_fails_the_call_and_refuses_every_later_one(opened, monkeypatch):
    directory = opened()
    things = directory.client["app"]["things"]
    things.insert_one({"_id": "saved"})
    journal = _journal(directory.path)
    size = journal.stat().st_size
    failures = []
    monkeypatch.setattr(durable, "_failure_handlers", [lambda: failures.append(True)])

    def full_disk(fd, data):
        os.write(fd, data[:10])  # part of the record reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(durable_format, "write_all", full_disk)
    with pytest.raises(durable.StorageWriteFailed):
        things.insert_one({"_id": "lost"})

    assert failures == [True]
    assert journal.stat().st_size == size  # cut back to its last whole record
    with pytest.raises(durable.StorageWriteFailed):
        things.find_one({"_id": "saved"})  # memory holds a change the disk does not: nothing is served


def test_the_journal_turns_into_a_snapshot_once_it_is_large(opened, monkeypatch):
    monkeypatch.setattr(durable, "SNAPSHOT_AFTER_BYTES", 10_000)
    directory = opened()
    things = directory.client["app"]["things"]
    for n in range(100):
        things.insert_one({"_id": n, "text": "x" * 200})

    assert (directory.path / "snapshot.bson").exists()
    assert _journal(directory.path).stat().st_size < 10_000 + 1_000
    directory.close()
    assert opened().client["app"]["things"].count_documents({}) == 100


def test_the_demo_county_is_not_loaded_over_data_kept_in_the_directory(tmp_path):
    first = make_test_app(MONGO_URI=None, DATA_DIR=str(tmp_path / "data"), MONGO_DB_NAME="kept")
    with first.app_context():
        from service.storage import get_db, get_storage

        get_db()[USERS].insert_one({"username": "someone"})
        get_storage().close()

    second = make_test_app(
        MONGO_URI=None, DATA_DIR=str(tmp_path / "data"), MONGO_DB_NAME="kept", DEMO_ON_START="true"
    )
    with second.app_context():
        assert [user["username"] for user in get_db()[USERS].find()] == ["someone"]
        get_storage().close()
