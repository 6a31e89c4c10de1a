"""Confirming a dry run: its kept files imported for real, once, as a new run linked to the dry run."""

from __future__ import annotations

import io
import re
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from bson import ObjectId

from service import imports, pending_uploads, status_mappings, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, system_principal
from service.errors import ValidationFailed

COUNTY = "340722"
OTHER_COUNTY = "341000"
URL = "/api/v1/imports"
HEADER = "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,应付金额,订单状态,商家SKU,订单备注"
RICE = "131279470601,100012043978,有机大米,2,在线支付,2024-03-15 10:00,59.90,119.80,完成,ZY-RICE-5KG,"
TEA = "131279470602,100012043979,菊花茶,1,在线支付,2024-03-16 11:00,38.00,38.00,完成,ZY-TEA-250,"
BAD_AMOUNT = "131279470603,100012043980,土鸡蛋,3,在线支付,2024-03-17 12:00,45.00,四十五,完成,ZY-EGG-30,"
COUNT_FIELDS = ("rows", "inserted", "updated", "unchanged", "skipped", "rejected", "unmatched")


def jd_export(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode("utf-8-sig")


# A catalogued SKU, an unknown one and a bad amount: 3 rows, 2 lines stored, 1 unmatched, 1 rejected.
EXPORT = jd_export(RICE, TEA, BAD_AMOUNT)


def real_now() -> datetime:
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.datetime.datetime.now(UTC)
    return datetime.now(UTC)


@pytest.fixture(autouse=True)
def present():
    # At the real present (whatever --clock says): a server's TTL monitor, on its own clock, never
    # deletes a file still kept.
    with time_machine.travel(real_now(), tick=True) as traveller:
        yield traveller


@pytest.fixture
def operators(factory):
    """Two operators of the county: the first sells the rice (ZY-RICE-5KG), the second the tea."""
    rice_operator, tea_operator = factory.operator(COUNTY), factory.operator(COUNTY)
    for operator, sku in ((rice_operator, "ZY-RICE-5KG"), (tea_operator, "ZY-TEA-250")):
        product = factory.product(
            operator["_id"],
            status="certified",
            certified_at=datetime(2023, 1, 1, tzinfo=UTC),
            benefit_rate_bp=1500,
            channel_skus=[{"channel": "jd", "sku": sku}],
        )
        factory.certified_since(product, datetime(2023, 1, 1, tzinfo=UTC), 1500)
    return rice_operator, tea_operator


@pytest.fixture
def rice(factory):
    operator = factory.operator(COUNTY)
    product = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "ZY-RICE-5KG"}],
    )
    return factory.certified_since(product, datetime(2023, 1, 1, tzinfo=UTC), 1500)


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


def dry_run(caller, data: bytes = EXPORT, **fields) -> dict:
    response = caller.post(
        URL,
        data={"channel": "jd", "dry_run": "true", "file": (io.BytesIO(data), "orders.csv"), **fields},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    return response.json


def confirm(caller, run_id: str):
    return caller.post(f"{URL}/{run_id}/confirm")


def counts(run: dict) -> dict[str, int]:
    return {name: run[name] for name in COUNT_FIELDS}


# Through the API ---------------------------------------------------------------------------------


def test_a_confirmed_dry_run_imports_the_same_file_as_a_new_run_linked_to_it(staff, db, rice):
    tried = dry_run(staff)
    assert tried["kept_until"] is not None and tried["confirmed_run_id"] is None
    assert db[storage.SALES].count_documents({}) == 0

    response = confirm(staff, tried["id"])
    assert response.status_code == 201, response.json
    real = response.json
    assert real["id"] != tried["id"] and real["dry_run"] is False and real["status"] == "succeeded"
    assert real["dry_run_id"] == tried["id"]
    assert [file["sha256"] for file in real["files"]] == [file["sha256"] for file in tried["files"]]
    assert counts(real) == counts(tried)
    assert counts(real) == {
        **dict.fromkeys(COUNT_FIELDS, 0),
        "rows": 3,
        "inserted": 2,
        "rejected": 1,
        "unmatched": 1,
    }
    assert [error["row"] for error in real["errors"]] == [4]

    lines = list(db[storage.SALES].find({}))
    assert len(lines) == 2 and {str(line["import_run_id"]) for line in lines} == {real["id"]}
    after = staff.get(f"{URL}/{tried['id']}").json
    assert after["confirmed_run_id"] == real["id"] and after["kept_until"] is None
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0


def test_the_confirmed_counts_equal_those_of_importing_the_file_directly(staff, db, rice):
    confirmed = confirm(staff, dry_run(staff)["id"]).json
    # The same file imported directly now finds every line stored, once.
    direct = staff.post(
        URL,
        data={"channel": "jd", "file": (io.BytesIO(EXPORT), "orders.csv")},
        content_type="multipart/form-data",
    ).json
    assert (direct["rows"], direct["rejected"], direct["unchanged"]) == (3, 1, 2)
    assert direct["unchanged"] == confirmed["inserted"]
    assert db[storage.SALES].count_documents({}) == 2


def test_confirming_again_answers_with_the_first_confirmation(staff, db, rice):
    tried = dry_run(staff)
    first = confirm(staff, tried["id"])
    second = confirm(staff, tried["id"])
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["id"] == first.json["id"] and second.json["inserted"] == 2
    assert db[storage.IMPORT_RUNS].count_documents({"dry_run": False}) == 1
    assert db[storage.SALES].count_documents({}) == 2


def test_two_confirmations_at_once_import_once(staff, db, rice, monkeypatch):
    tried = dry_run(staff)
    # Both read the kept files back before either claims the dry run.
    both_read = threading.Barrier(2, timeout=30)
    kept_files = pending_uploads.kept_files

    @contextmanager
    def read_then_wait(*args, **kwargs):
        with kept_files(*args, **kwargs) as kept:
            both_read.wait()
            yield kept

    monkeypatch.setattr(pending_uploads, "kept_files", read_then_wait)
    answers: list = [None, None]

    def confirm_in_thread(index: int) -> None:
        answers[index] = confirm(staff, tried["id"])

    threads = [threading.Thread(target=confirm_in_thread, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answer.status_code for answer in answers) == [200, 201], [a.json for a in answers]
    assert answers[0].json["id"] == answers[1].json["id"]
    assert db[storage.IMPORT_RUNS].count_documents({"dry_run": False}) == 1
    real = db[storage.IMPORT_RUNS].find_one({"dry_run": False})
    assert real["status"] == "succeeded" and real["inserted"] == 2
    assert db[storage.SALES].count_documents({}) == 2


def test_another_tenants_dry_run_answers_as_a_missing_one(login, staff, operators):
    tried = dry_run(staff)["id"]
    missing = str(ObjectId())
    outsider = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    shop = login(ENTERPRISE, operator_id=operators[0]["_id"])
    for tenant in (outsider, shop):
        answers = [confirm(tenant, run_id) for run_id in (tried, missing)]
        assert [answer.status_code for answer in answers] == [403, 403]
        assert answers[0].json == answers[1].json
    assert confirm(login(CANTEEN), tried).status_code == 403
    assert confirm(login(ADMIN), missing).status_code == 404
    assert confirm(staff, tried).status_code == 201


def test_an_enterprises_dry_run_confirmed_by_staff_still_imports_its_own_products_only(
    login, staff, db, operators
):
    shop = login(ENTERPRISE, operator_id=operators[0]["_id"])
    tried = dry_run(shop, jd_export(RICE, TEA))
    assert (tried["inserted"], tried["rejected"]) == (1, 1)
    assert [run["id"] for run in staff.get(URL).json["items"]] == [tried["id"]]
    real = confirm(staff, tried["id"]).json
    assert counts(real) == counts(tried)
    assert real["operator_id"] == str(operators[0]["_id"])
    assert [line["external_id"] for line in db[storage.SALES].find({})] == ["131279470601-100012043978"]
    # The enterprise sees its run confirmed.
    assert shop.get(f"{URL}/{tried['id']}").json["confirmed_run_id"] == real["id"]


def test_a_run_that_is_not_a_dry_run_cannot_be_confirmed(staff, db, rice):
    response = staff.post(
        URL,
        data={"channel": "jd", "file": (io.BytesIO(EXPORT), "orders.csv")},
        content_type="multipart/form-data",
    )
    refused = confirm(staff, response.json["id"])
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "not_confirmable"
    assert response.json["id"] in refused.json["error"]["message"]
    assert "not a dry run" in refused.json["error"]["message"]


def test_a_failed_dry_run_cannot_be_confirmed(staff, db, rice):
    response = staff.post(
        URL,
        data={"channel": "jd", "dry_run": "true", "file": (io.BytesIO("订单号\n1\n".encode()), "orders.csv")},
        content_type="multipart/form-data",
    )
    failed = response.json["error"]["details"]["import_run_id"]
    refused = confirm(staff, failed)
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "not_confirmable")
    assert f"Dry run {failed} is failed" in refused.json["error"]["message"]
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0


def test_a_dry_run_whose_files_expired_answers_410_naming_it(login, staff, db, rice, present):
    tried = dry_run(staff)
    present.move_to(real_now() + pending_uploads.KEPT_FOR + timedelta(minutes=1))
    # A day later, with a token of the day.
    refused = confirm(login(COUNTY_STAFF, county_codes=[COUNTY]), tried["id"])
    assert refused.status_code == 410
    assert refused.json["error"]["code"] == "dry_run_files_gone"
    assert tried["id"] in refused.json["error"]["message"] and "24 hours" in refused.json["error"]["message"]
    assert refused.json["error"]["details"] == {"dry_run_id": tried["id"]}
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.IMPORT_RUNS].find_one({"_id": ObjectId(tried["id"])})["confirmed_run_id"] is None


def test_a_kept_file_that_changed_is_not_imported(staff, db, rice):
    tried = dry_run(staff)
    db[storage.PENDING_UPLOADS].update_many({}, {"$set": {"data": b"tampered"}})
    assert confirm(staff, tried["id"]).status_code == 410
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.IMPORT_RUNS].count_documents({"dry_run": False}) == 0


def test_a_file_larger_than_a_chunk_is_kept_in_chunks_and_imported_byte_for_byte(
    staff, db, rice, monkeypatch
):
    monkeypatch.setattr(pending_uploads, "CHUNK_BYTES", 100)
    tried = dry_run(staff)
    chunks = db[storage.PENDING_UPLOADS].count_documents({"run_id": ObjectId(tried["id"])})
    assert chunks == -(-len(EXPORT) // 100) and chunks > 2
    real = confirm(staff, tried["id"]).json
    assert real["source"]["size"] == len(EXPORT) and real["inserted"] == 2


def test_a_dry_run_of_more_than_the_kept_maximum_keeps_nothing(staff, db, rice, monkeypatch):
    monkeypatch.setattr(pending_uploads, "CHUNK_BYTES", 100)
    monkeypatch.setattr(pending_uploads, "MAX_KEPT_BYTES", 250)
    tried = dry_run(staff)
    assert tried["status"] == "succeeded" and tried["kept_until"] is None
    assert db[storage.PENDING_UPLOADS].count_documents({}) == 0
    assert confirm(staff, tried["id"]).status_code == 410


def test_a_confirmation_that_failed_can_be_made_again(staff, db, rice, monkeypatch):
    tried = dry_run(staff)
    parse_options = status_mappings.parse_options

    def refuse(*args, **kwargs):
        raise ValidationFailed("The status mappings are being edited.")

    monkeypatch.setattr(status_mappings, "parse_options", refuse)
    failed = confirm(staff, tried["id"])
    assert failed.status_code == 422
    failed_id = failed.json["error"]["details"]["import_run_id"]
    assert staff.get(f"{URL}/{failed_id}").json["dry_run_id"] == tried["id"]
    assert staff.get(f"{URL}/{tried['id']}").json["confirmed_run_id"] is None

    monkeypatch.setattr(status_mappings, "parse_options", parse_options)
    again = confirm(staff, tried["id"])
    assert again.status_code == 201 and again.json["id"] != failed_id and again.json["inserted"] == 2
    assert db[storage.SALES].count_documents({}) == 2


def test_a_confirmation_interrupted_with_its_process_can_be_made_again(staff, db, rice):
    tried = dry_run(staff)
    dead = ObjectId()
    # A claim whose process died before recording its run, longer ago than a heartbeat's timeout.
    db[storage.IMPORT_RUNS].update_one(
        {"_id": ObjectId(tried["id"])},
        {"$set": {"confirmed_run_id": dead, "confirmed_at": datetime.now(UTC) - timedelta(hours=1)}},
    )
    real = confirm(staff, tried["id"])
    assert real.status_code == 201 and real.json["id"] != str(dead) and real.json["inserted"] == 2


def test_a_taobao_export_of_two_files_is_confirmed_from_both_kept_files(staff, db):
    pair = sorted((Path(__file__).parent / "fixtures" / "taobao" / "two_files_gb18030").iterdir())
    response = staff.post(
        URL,
        data={
            "channel": "taobao",
            "dry_run": "true",
            "file": [(io.BytesIO(p.read_bytes()), p.name) for p in pair],
        },
        content_type="multipart/form-data",
    )
    tried = response.json
    real = confirm(staff, tried["id"]).json
    assert (real["layout"], real["inserted"]) == ("taobao-2files", 10)
    assert [file["sha256"] for file in real["files"]] == [file["sha256"] for file in tried["files"]]


# From the command line ---------------------------------------------------------------------------


def test_the_confirm_command_imports_a_dry_run_and_prints_the_new_run(runner, db, rice, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(jd_export(RICE, TEA))
    tried = runner.invoke(
        args=["sales", "import", "--channel", "jd", str(path), "--county", COUNTY, "--dry-run"]
    )
    assert tried.exit_code == 0, tried.output
    dry_run_id = re.search(r"flask --app service sales confirm ([0-9a-f]{24})", tried.output).group(1)
    path.unlink()  # the command imports the kept bytes, not the file on disk

    result = runner.invoke(args=["sales", "confirm", dry_run_id])
    assert result.exit_code == 0, result.output
    real = db[storage.IMPORT_RUNS].find_one({"dry_run": False})
    assert f"import run {real['_id']} (jd, county {COUNTY}) succeeded" in result.output
    assert "rows 2, inserted 2, updated 0, unchanged 0, skipped 0, rejected 0, unmatched 1" in result.output
    assert str(real["dry_run_id"]) == dry_run_id
    assert db[storage.SALES].count_documents({}) == 2

    again = runner.invoke(args=["sales", "confirm", dry_run_id])
    assert again.exit_code == 0, again.output
    assert f"Dry run {dry_run_id} was confirmed before, by import run {real['_id']}." in again.output
    assert db[storage.IMPORT_RUNS].count_documents({"dry_run": False}) == 1


def test_the_confirm_command_names_what_it_cannot_confirm(runner, db, rice):
    missing = runner.invoke(args=["sales", "confirm", str(ObjectId())])
    assert missing.exit_code == 1 and "No such import run." in missing.output
    assert runner.invoke(args=["sales", "confirm", "not-an-id"]).exit_code == 2
    real = imports.run_import(
        db, system_principal(), "jd", io.BytesIO(EXPORT), "orders.csv", county_code=COUNTY
    )
    refused = runner.invoke(args=["sales", "confirm", str(real["_id"])])
    assert refused.exit_code == 1 and "is not a dry run" in refused.output
