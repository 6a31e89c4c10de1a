"""Sales import runs: one runner from a channel's export to the ledger, recorded run by run."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bson
import pytest
from bson import ObjectId

from adapters import quoting, tabular
from adapters.base import REGISTRY, RowError, SaleLine
from service import canteen_progress, import_runs, import_sources, imports, partitions, pii, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, Principal
from service.clock import utcnow
from service.errors import Forbidden, ValidationFailed
from tests.factories import valid_id_number
from tests.sizes import sized

COUNTY = "340722"
OTHER_COUNTY = "341000"
CHANNEL = "test_orders"
HEADER = "订单号,下单时间,商品编码,商品名称,数量,金额,订单状态,采购单位"
URL = "/api/v1/imports"


# A small adapter of our own, so the runner is tested apart from any real channel's format -------


@dataclass(frozen=True)
class SkippedRow:
    """Not adapters.base.Skipped: the runner must count anything with a row that is not a line."""

    row: int
    reason: str


class OrdersAdapter:
    name = CHANNEL
    channel = "jd"
    label = "测试订单"
    media = ("csv",)

    def parse(self, stream, filename):
        reader = tabular.read_rows(stream, filename, required=("订单号", "下单时间", "数量", "金额"))
        try:
            for row in reader:
                if row.get("订单号") == "BOOM":
                    raise RuntimeError("the adapter broke")
                status = row.get("订单状态")
                if status == "已取消":
                    yield SkippedRow(row.number, "已取消")
                    continue
                try:
                    amount = tabular.parse_yuan_to_fen(row.get("金额"))
                except ValueError as error:
                    yield RowError(row.number, "amount_fen", str(error))
                    continue
                refunded = status == "已退款"
                yield SaleLine(
                    channel=self.channel,
                    external_id=row.get("订单号"),
                    occurred_at=tabular.parse_local_datetime(row.get("下单时间")),
                    quantity=0 if refunded else tabular.parse_whole_number(row.get("数量")),
                    amount_fen=0 if refunded else amount,
                    sku=row.get("商品编码") or None,
                    title=row.get("商品名称") or None,
                    buyer_name=row.get("采购单位") or None,
                    row=row.number,
                )
        finally:
            reader.close()


@pytest.fixture(autouse=True)
def orders_adapter():
    REGISTRY[CHANNEL] = OrdersAdapter()
    yield
    REGISTRY.pop(CHANNEL, None)


def order(external_id, sku="SKU-1", amount="100.00", status="已付款", buyer="", when="2024-03-15 10:00:00"):
    return f"{external_id},{when},{sku},安徽茶叶,1,{amount},{status},{buyer}"


def export(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


STAFF = Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=(COUNTY,))


def run(db, data: bytes, actor=STAFF, **options):
    return imports.run_import(db, actor, CHANNEL, io.BytesIO(data), "orders.csv", **options)


@pytest.fixture
def catalogue(factory):
    """Two operators' products in the county: SKU-1 (certified, 15.00%) and SKU-2."""
    operator = factory.operator(COUNTY)
    other = factory.operator(COUNTY)
    product = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        benefit_rate_bp=1500,
        channel_skus=[{"channel": "jd", "sku": "SKU-1"}],
    )
    product = factory.certified_since(product, datetime(2023, 1, 1, tzinfo=UTC), 1500)
    others = factory.product(other["_id"], channel_skus=[{"channel": "jd", "sku": "SKU-2"}])
    return {"operator": operator, "product": product, "other_product": others}


def daily_sales_fen(db) -> int:
    return sum(row["sales_fen"] for row in db[storage.SALES_DAILY].find({"county_code": COUNTY}))


# The run --------------------------------------------------------------------------------------------


def test_a_run_counts_every_row_and_stores_the_lines(db, catalogue):
    data = export(
        order("A-1"), order("A-2", sku="UNKNOWN"), order("A-3", amount="1.234"), order("A-4", status="已取消")
    )
    result = run(db, data)
    counts = {name: result[name] for name in import_runs.COUNT_FIELDS}
    assert counts == {
        "rows": 4,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
        "rejected": 1,
        "unmatched": 1,
    }
    assert result["status"] == "succeeded" and result["error"] is None
    assert [(error["row"], error["field"]) for error in result["errors"]] == [(4, "amount_fen")]
    assert result["skipped_reasons"] == [{"reason": "已取消", "rows": 1}]
    assert db[storage.SALES].count_documents({"import_run_id": result["_id"]}) == 2
    assert db[storage.IMPORT_RUNS].find_one({"_id": result["_id"]}) == result


def test_a_run_records_who_started_it_on_which_file_and_when(db, catalogue):
    result = run(db, export(order("A-1")))
    assert result["started_by"]["username"] == "staff"
    assert (result["channel"], result["adapter"], result["county_code"]) == ("jd", CHANNEL, COUNTY)
    assert result["source"]["filename"] == "orders.csv"
    assert result["started_at"] <= result["finished_at"]
    assert result["duration_ms"] >= 0 and result["dry_run"] is False


def test_rows_skipped_by_status_and_duplicates_in_the_file_are_both_skipped(db, catalogue):
    result = run(
        db, export(order("A-1", amount="1"), order("A-1", amount="2"), order("A-2", status="已取消"))
    )
    assert (result["rows"], result["inserted"], result["skipped"]) == (3, 1, 2)


def test_a_dry_run_stores_no_sales_but_records_the_run(db, catalogue):
    result = run(db, export(order("A-1"), order("A-2")), dry_run=True)
    assert result["inserted"] == 2
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.SALES_DAILY].count_documents({}) == 0
    assert db[storage.LEDGER_PARTITIONS].count_documents({}) == 0
    stored = db[storage.IMPORT_RUNS].find_one({"_id": result["_id"]})
    assert stored["dry_run"] is True and stored["status"] == "succeeded"


def test_importing_the_same_file_again_changes_nothing(db, catalogue):
    data = export(order("A-1"), order("A-2", amount="50"))
    run(db, data)
    again = run(db, data)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert db[storage.SALES].count_documents({}) == 2
    assert daily_sales_fen(db) == 15_000


def test_an_overlapping_export_updates_an_order_refunded_since(db, catalogue):
    run(db, export(order("A-1"), order("A-2")))
    later = run(db, export(order("A-2"), order("A-1", status="已退款"), order("A-3")))
    assert (later["inserted"], later["updated"], later["unchanged"]) == (1, 1, 1)
    assert db[storage.SALES].count_documents({}) == 3
    assert db[storage.SALES].find_one({"external_id": "A-1"})["amount_fen"] == 0
    assert daily_sales_fen(db) == 20_000


def test_every_row_error_is_counted_but_only_the_first_thousand_kept(db, catalogue):
    bad = [order(f"B-{n}", amount="x") for n in range(1005)]
    result = run(db, export(*bad, order("A-1")))
    assert (result["rejected"], result["error_count"], result["inserted"]) == (1005, 1005, 1)
    assert len(result["errors"]) == 1000 and result["errors_truncated"] is True
    assert result["errors"][0]["row"] == 2
    assert len(db[storage.IMPORT_RUNS].find_one({"_id": result["_id"]})["errors"]) == 1000


def test_a_run_stays_small_however_large_the_bad_cells_are(db, catalogue):
    # 1,000 bad cells of 20 KB each once made a 20 MB run document, past MongoDB's 16 MiB limit.
    huge = "9" * 20_000 + "x"
    bad = [order(f"B-{n}", amount=huge) for n in range(1_200)]
    result = run(db, export(*bad, order("A-1")))
    assert (result["status"], result["error_count"], result["inserted"]) == ("succeeded", 1_200, 1)
    stored = db[storage.IMPORT_RUNS].find_one({"_id": result["_id"]})
    assert len(bson.encode(stored)) < 1_000_000
    assert max(len(error["message"]) for error in stored["errors"]) <= quoting.ROW_MESSAGE_CHARS + 1
    assert "9" * 40 in stored["errors"][0]["message"]  # the cell is still recognisable


def test_a_row_error_never_shows_an_id_number_typed_into_a_cell(db, catalogue):
    id_number = valid_id_number(7)
    result = run(db, export(order("A-1", amount=id_number)))
    stored = db[storage.IMPORT_RUNS].find_one({"_id": result["_id"]})
    assert result["rejected"] == 1
    assert id_number not in repr(stored) and id_number not in repr(result)
    assert pii.mask_id_number(id_number) in stored["errors"][0]["message"]


def test_a_file_missing_columns_fails_the_run_with_the_message(db, catalogue):
    with pytest.raises(ValidationFailed) as raised:
        run(db, "订单号,下单时间\nA-1,2024-03-15\n".encode())
    assert "数量" in raised.value.message and "金额" in raised.value.message
    stored = db[storage.IMPORT_RUNS].find_one({"_id": ObjectId(raised.value.details["import_run_id"])})
    assert stored["status"] == "failed" and stored["error"] == raised.value.message
    assert stored["finished_at"] is not None
    assert db[storage.SALES].count_documents({}) == 0


def test_an_adapter_that_breaks_fails_the_run_and_keeps_what_it_counted(db, catalogue):
    with pytest.raises(RuntimeError):
        run(db, export(order("A-1"), order("BOOM")))
    stored = db[storage.IMPORT_RUNS].find_one()
    assert stored["status"] == "failed" and "the adapter broke" in stored["error"]


class OneWayStream(io.RawIOBase):
    """An upload as it arrives: read forward in pieces only; reading it whole is a failure."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.largest_read = 0

    def readable(self):
        return True

    def read(self, size=-1):
        assert size is not None and size >= 0, "the upload was read whole"
        self.largest_read = max(self.largest_read, size)
        return self._data.read(size)

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def test_the_files_size_and_sha256_are_taken_while_streaming(db, catalogue):
    # Long order numbers keep even the small size several reads long.
    data = export(*[order(f"A-{n:05d}-{'0' * 150}") for n in range(sized(3000, 400))])
    assert len(data) > import_sources.READ_CHUNK
    stream = OneWayStream(data)
    result = imports.run_import(db, STAFF, CHANNEL, stream, "orders.csv")
    assert result["source"]["size"] == len(data)
    assert result["source"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert stream.largest_read < len(data)


def test_progress_is_reported_in_rows_and_bytes(db, catalogue, monkeypatch):
    every = sized(imports.PROGRESS_EVERY, 100)
    monkeypatch.setattr(imports, "PROGRESS_EVERY", every)
    rows = every * 2 + every * 2 // 5
    data = export(*[order(f"A-{n}") for n in range(rows)])
    seen = []
    run(db, data, progress=lambda rows, size: seen.append((rows, size)))
    assert len(seen) >= 3
    assert seen[-1] == (rows, len(data))


# Who may import -------------------------------------------------------------------------------------


def test_an_enterprise_imports_its_own_products_and_other_lines_are_rejected_row_by_row(db, catalogue):
    shop = Principal(user_id=None, username="shop", role=ENTERPRISE, operator_id=catalogue["operator"]["_id"])
    result = run(db, export(order("A-1"), order("A-2", sku="SKU-2"), order("A-3", sku="UNKNOWN")), actor=shop)
    assert (result["inserted"], result["rejected"]) == (1, 2)
    assert {error["row"] for error in result["errors"]} == {3, 4}
    assert (result["county_code"], result["operator_id"]) == (COUNTY, catalogue["operator"]["_id"])


def test_an_enterprise_cannot_import_into_another_county(db, catalogue):
    shop = Principal(user_id=None, username="shop", role=ENTERPRISE, operator_id=catalogue["operator"]["_id"])
    with pytest.raises(Forbidden):
        run(db, export(order("A-1")), actor=shop, county_code=OTHER_COUNTY)


def test_staff_cannot_import_into_another_county(db, catalogue):
    with pytest.raises(Forbidden):
        run(db, export(order("A-1")), county_code=OTHER_COUNTY)
    assert db[storage.IMPORT_RUNS].count_documents({}) == 0


def test_canteens_cannot_import(db, factory):
    cook = Principal(user_id=None, username="cook", role=CANTEEN, canteen_id=factory.canteen(COUNTY)["_id"])
    with pytest.raises(Forbidden):
        run(db, export(order("A-1")), actor=cook)


@pytest.mark.parametrize(
    "actor",
    [
        Principal(user_id=None, username="two", role=COUNTY_STAFF, county_codes=(COUNTY, OTHER_COUNTY)),
        Principal(user_id=None, username="admin", role=ADMIN),
    ],
)
def test_staff_of_several_counties_and_admins_name_the_county(db, catalogue, actor):
    with pytest.raises(ValidationFailed) as raised:
        run(db, export(order("A-1")), actor=actor)
    assert "county_code" in raised.value.details
    assert run(db, export(order("A-1")), actor=actor, county_code=COUNTY)["inserted"] == 1


def test_an_unknown_channel_is_refused_before_a_run_is_recorded(db):
    with pytest.raises(ValidationFailed) as raised:
        imports.run_import(db, STAFF, "no_such_channel", io.BytesIO(b""), "x.csv")
    assert "channel" in raised.value.details
    assert db[storage.IMPORT_RUNS].count_documents({}) == 0


# Buyer units ----------------------------------------------------------------------------------------


def test_a_named_buyer_unit_is_resolved_to_its_canteen_and_its_purchases(db, factory, catalogue):
    canteen = factory.canteen(
        COUNTY, name="枞阳县第一中学食堂", plans=[{"year": 2024, "food_total_fen": 1_000_000}]
    )
    result = run(db, export(order("A-1", buyer="枞阳县第一中学食堂"), order("A-2", buyer="没有登记的单位")))
    known = db[storage.SALES].find_one({"external_id": "A-1"})
    assert known["buyer"] == {"type": "unit", "unit_id": canteen["_id"], "name": "枞阳县第一中学食堂"}
    unknown = db[storage.SALES].find_one({"external_id": "A-2"})
    assert unknown["buyer"]["unit_id"] is None and unknown["buyer"]["name"] == "没有登记的单位"
    assert (result["unknown_buyers"], result["unknown_buyer_names"]) == (1, ["没有登记的单位"])
    quota = canteen_progress.canteen_quota(db, STAFF, canteen["_id"], 2024)
    # Bought outside the 832 platform: the unit's purchase, not its reserved share (from 2021).
    assert (quota["purchases_fen"], quota["qualifying_fen"]) == (10_000, 0)


def test_a_buyer_unit_of_another_county_is_found_by_its_unique_name(db, factory, catalogue):
    canteen = factory.canteen(OTHER_COUNTY, name="六安市某高校食堂")
    run(db, export(order("A-1", buyer="六安市某高校食堂")))
    assert db[storage.SALES].find_one()["buyer"]["unit_id"] == canteen["_id"]


def test_a_buyer_name_held_in_two_other_counties_stays_unresolved(db, factory, catalogue):
    factory.canteen(OTHER_COUNTY, name="人民医院食堂")
    factory.canteen("340800", name="人民医院食堂")
    result = run(db, export(order("A-1", buyer="人民医院食堂")))
    assert db[storage.SALES].find_one()["buyer"]["unit_id"] is None
    assert result["unknown_buyers"] == 1


# Over HTTP ------------------------------------------------------------------------------------------


def upload(caller, data: bytes, **form):
    return caller.post(
        URL,
        data={
            "file": (io.BytesIO(data), "orders.csv"),
            "channel": CHANNEL,
            **{k: str(v) for k, v in form.items()},
        },
        content_type="multipart/form-data",
    )


def test_an_upload_creates_a_run_listed_newest_first_and_read_with_its_errors(login, db, catalogue):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    first = upload(staff, export(order("A-1")))
    response = upload(staff, export(order("A-2"), order("A-3", amount="bad")))
    assert (first.status_code, response.status_code) == (201, 201), response.json
    run_id = response.json["id"]
    assert (response.json["inserted"], response.json["rejected"]) == (1, 1)
    listed = staff.get(URL).json
    assert [item["id"] for item in listed["items"]] == [run_id, first.json["id"]]
    assert "errors" not in listed["items"][0]
    detail = staff.get(f"{URL}/{run_id}").json
    assert [error["row"] for error in detail["errors"]] == [3]
    assert (
        detail["source"]["sha256"]
        == hashlib.sha256(export(order("A-2"), order("A-3", amount="bad"))).hexdigest()
    )


def test_a_dry_run_upload_is_201_and_stores_no_sales(login, db, catalogue):
    response = upload(login(COUNTY_STAFF, county_codes=[COUNTY]), export(order("A-1")), dry_run="true")
    assert response.status_code == 201
    assert response.json["dry_run"] is True and response.json["inserted"] == 1
    assert db[storage.SALES].count_documents({}) == 0


def test_an_upload_missing_columns_is_422_and_names_the_failed_run(login, catalogue):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    response = upload(staff, "订单号\nA-1\n".encode())
    assert response.status_code == 422
    run_id = response.json["error"]["details"]["import_run_id"]
    failed = staff.get(f"{URL}/{run_id}").json
    assert failed["status"] == "failed" and "金额" in failed["error"]


def test_an_enterprise_sees_only_its_own_runs(login, db, catalogue):
    shop = login(ENTERPRISE, operator_id=catalogue["operator"]["_id"])
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    own = upload(shop, export(order("A-1"))).json["id"]
    county_run = upload(staff, export(order("A-2"))).json["id"]
    assert [item["id"] for item in shop.get(URL).json["items"]] == [own]
    assert shop.get(f"{URL}/{county_run}").status_code == 403
    assert {item["id"] for item in staff.get(URL).json["items"]} == {own, county_run}


def test_staff_of_another_county_neither_upload_nor_read_the_runs(login, catalogue):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    outsider = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    run_id = upload(staff, export(order("A-1"))).json["id"]
    assert upload(outsider, export(order("A-2")), county_code=COUNTY).status_code == 403
    assert outsider.get(f"{URL}/{run_id}").status_code == 403
    assert outsider.get(URL).json["items"] == []


def test_canteen_accounts_cannot_upload(login):
    assert upload(login(CANTEEN), export(order("A-1"))).status_code == 403


def test_an_upload_without_a_channel_is_422(login):
    response = login(COUNTY_STAFF).post(
        URL, data={"file": (io.BytesIO(export()), "orders.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "channel" in response.json["error"]["details"]


# From the command line ------------------------------------------------------------------------------


def test_the_import_command_prints_the_summary(runner, db, catalogue, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(export(order("A-1"), order("A-2", status="已取消")))
    result = runner.invoke(args=["sales", "import", "--channel", CHANNEL, str(path), "--county", COUNTY])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert "rows 2, inserted 1, updated 0, unchanged 0, skipped 1, rejected 0, unmatched 0" in result.output
    assert db[storage.SALES].count_documents({}) == 1


def test_the_import_command_exits_1_when_a_row_is_rejected(runner, db, catalogue, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(export(order("A-1"), order("A-2", amount="bad")))
    result = runner.invoke(args=["sales", "import", "--channel", CHANNEL, str(path), "--county", COUNTY])
    assert result.exit_code == 1
    assert "rejected 1" in result.output and "row 3, amount_fen:" in result.output


def test_the_import_command_exits_1_naming_the_run_when_it_fails(runner, db, catalogue, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes("订单号\nA-1\n".encode())
    result = runner.invoke(args=["sales", "import", "--channel", CHANNEL, str(path), "--county", COUNTY])
    assert result.exit_code == 1
    run_id = str(db[storage.IMPORT_RUNS].find_one()["_id"])
    assert "金额" in result.output and run_id in result.output


def test_the_import_command_dry_run_stores_nothing(runner, db, catalogue, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(export(order("A-1")))
    result = runner.invoke(
        args=["sales", "import", "--channel", CHANNEL, str(path), "--county", COUNTY, "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Dry run:")
    assert db[storage.SALES].count_documents({}) == 0


# Through the real channel adapters ------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def needs_adapter(name: str):
    return pytest.mark.skipif(name not in REGISTRY, reason=f"the {name} adapter is not registered")


@needs_adapter("jd")
def test_a_jd_export_and_a_later_refund_export_end_to_end(login, db, factory):
    operator = factory.operator(COUNTY)
    rice = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2020, 1, 1, tzinfo=UTC),
        channel_skus=[{"channel": "jd", "sku": "ZY-RICE-5KG"}],
    )
    factory.certified_since(rice, datetime(2020, 1, 1, tzinfo=UTC), 1000)
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    data = (FIXTURES / "jd" / "orders_utf8_bom.csv").read_bytes()
    response = staff.post(
        URL,
        data={"file": (io.BytesIO(data), "orders.csv"), "channel": "jd"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    first = response.json
    assert (first["rows"], first["inserted"], first["skipped"], first["rejected"]) == (8, 7, 1, 0)
    assert first["unmatched"] == 4
    assert first["source"]["sha256"] == hashlib.sha256(data).hexdigest()
    with (FIXTURES / "jd" / "refund_after_sale.csv").open("rb") as stream:
        refund = imports.run_import(db, STAFF, "jd", stream, "refund.csv")
    assert (refund["updated"], refund["inserted"]) == (1, 0)
    assert db[storage.SALES].count_documents({}) == 7
    rice_sales = db[storage.SALES_DAILY].find({"product_id": rice["_id"]})
    assert sum(row["sales_fen"] for row in rice_sales) == 11_980
    # The reports show the imported figures, and they reconcile with the raw ledger.
    total = sum(line["amount_fen"] for line in db[storage.SALES].find())
    report = staff.get(f"/api/v1/reports/summary?county_code={COUNTY}&from=2020-01&to=2020-12").json
    assert report["sales_fen"] == total
    assert report["certified_sales_fen"] == 11_980
    assert report["poor_income_fen"] == 1_198
    verified = staff.get(f"/api/v1/ledger/verify?county_code={COUNTY}").json
    assert verified["partitions_checked"] >= 1 and verified["differences"] == []


# A run that fails part-way ---------------------------------------------------------------------------

JD_HEADER = "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,应付金额,订单状态,商家SKU,订单备注"


class BrokenUpload(io.RawIOBase):
    """An upload whose connection drops after ``break_at`` bytes: the next read raises."""

    def __init__(self, data: bytes, break_at: int):
        self._data = io.BytesIO(data[:break_at])

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._data.read(len(buffer))
        if not data:
            raise ConnectionResetError("the upload broke off")
        buffer[: len(data)] = data
        return len(data)


@needs_adapter("jd")
def test_a_run_that_fails_part_way_counts_exactly_what_it_wrote_and_the_reports_show_it(
    db, catalogue, monkeypatch
):
    monkeypatch.setattr(imports, "INGEST_BATCH", 50)
    monkeypatch.setattr(imports, "BUYER_BATCH", 50)
    note = "备注" * 60  # long rows: the break falls well past the 64 KiB read to detect the encoding
    rows = [
        f"3{n:08d},100012,安徽茶叶,1,在线支付,2024-03-15 10:00:00,10.00,10.00,完成,SKU-1,{note}"
        for n in range(900)
    ]
    data = ("\n".join([JD_HEADER, *rows]) + "\n").encode()
    with pytest.raises(ConnectionResetError):
        imports.run_import(db, STAFF, "jd", BrokenUpload(data, len(data) // 2), "orders.csv")
    failed = db[storage.IMPORT_RUNS].find_one()
    written = db[storage.SALES].count_documents({})
    assert failed["status"] == "failed" and "the upload broke off" in failed["error"]
    assert 0 < written < len(rows) and written % 50 == 0
    assert (failed["rows"], failed["inserted"], failed["skipped"], failed["rejected"]) == (
        written,
        written,
        0,
        0,
    )
    # The reports already hold what was written: nothing left for a later rebuild.
    assert daily_sales_fen(db) == written * 1000
    assert partitions.dirty_partitions(db, [COUNTY]) == []
    again = imports.run_import(db, STAFF, "jd", io.BytesIO(data), "orders.csv")
    assert (again["unchanged"], again["inserted"]) == (written, len(rows) - written)
    assert db[storage.SALES].count_documents({}) == len(rows)
    assert daily_sales_fen(db) == len(rows) * 1000


# 淘宝's export of two files -----------------------------------------------------------------------

TAOBAO_PAIR = FIXTURES / "taobao" / "two_files_gb18030"


def taobao_pair(reverse: bool = False) -> list[tuple[str, bytes]]:
    files = [(path.name, path.read_bytes()) for path in sorted(TAOBAO_PAIR.iterdir())]
    return files[::-1] if reverse else files


@needs_adapter("taobao")
def test_a_taobao_export_of_two_files_is_one_run_recording_both(db):
    files = taobao_pair(reverse=True)
    run = imports.run_import(db, STAFF, "taobao", [(io.BytesIO(data), name) for name, data in files])
    assert (run["status"], run["layout"]) == ("succeeded", "taobao-2files")
    assert (run["rows"], run["inserted"], run["skipped"], run["rejected"]) == (12, 10, 2, 0)
    assert [(file["filename"], file["size"], file["sha256"]) for file in run["files"]] == [
        (name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files
    ]
    assert run["source"] == run["files"][0]
    assert (
        sum(line["amount_fen"] for line in db[storage.SALES].find())
        == 11_980 + 3_500 + 10_000 + 9_990 + 5_990
    )


@needs_adapter("taobao")
def test_a_taobao_report_without_its_other_half_fails_naming_the_missing_half(db):
    (_, orders), _ = taobao_pair()
    with pytest.raises(ValidationFailed, match=r"needs its item report \(宝贝报表\)"):
        imports.run_import(db, STAFF, "taobao", io.BytesIO(orders), "orders.csv")
    assert db[storage.SALES].count_documents({}) == 0
    assert db[storage.IMPORT_RUNS].find_one()["status"] == "failed"


@needs_adapter("jd")
def test_more_files_than_the_channels_export_has_are_refused_before_a_run_is_recorded(db):
    files = [(io.BytesIO(export(order("A-1"))), "a.csv"), (io.BytesIO(export(order("A-2"))), "b.csv")]
    with pytest.raises(ValidationFailed, match="one file; 2 files were given"):
        imports.run_import(db, STAFF, "jd", files)
    with pytest.raises(ValidationFailed, match="at most 2 files; 3 files were given"):
        imports.run_import(db, STAFF, "taobao", [*files, (io.BytesIO(b""), "c.csv")])
    assert db[storage.IMPORT_RUNS].count_documents({}) == 0


@needs_adapter("taobao")
@pytest.mark.parametrize("reverse", [False, True], ids=["orders-first", "items-first"])
def test_the_api_takes_taobaos_two_files_as_two_file_parts_in_either_order(login, db, reverse):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    parts = [(io.BytesIO(data), name) for name, data in taobao_pair(reverse)]
    response = staff.post(URL, data={"file": parts, "channel": "taobao"}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert (response.json["layout"], response.json["inserted"]) == ("taobao-2files", 10)
    assert [file["filename"] for file in response.json["files"]] == [name for _, name in parts]


@needs_adapter("taobao")
def test_the_api_refuses_one_half_of_a_taobao_export_naming_the_other_and_writes_nothing(login, db):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    _, (name, items) = taobao_pair()
    response = staff.post(
        URL, data={"file": (io.BytesIO(items), name), "channel": "taobao"}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "needs its order report (订单报表)" in response.json["error"]["message"]
    assert db[storage.SALES].count_documents({}) == 0


@needs_adapter("taobao")
def test_the_api_refuses_more_file_parts_than_an_export_has(login, db):
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    parts = [(io.BytesIO(data), name) for name, data in [*taobao_pair(), ("c.csv", b"x")]]
    response = staff.post(URL, data={"file": parts, "channel": "taobao"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "at most 2" in str(response.json["error"])
    assert db[storage.IMPORT_RUNS].count_documents({}) == 0


@needs_adapter("taobao")
def test_the_import_command_takes_taobaos_two_files(runner, db, tmp_path):
    paths = []
    for name, data in taobao_pair():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    result = runner.invoke(args=["sales", "import", "--channel", "taobao", *paths[::-1], "--county", COUNTY])
    assert result.exit_code == 0, result.output
    run = db[storage.IMPORT_RUNS].find_one()
    assert (run["layout"], run["inserted"]) == ("taobao-2files", 10)
    assert [file["filename"] for file in run["files"]] == ["b-items.csv", "a-orders.csv"]


@needs_adapter("p832")
def test_a_p832_export_credits_the_buying_canteens_quota(db, factory):
    hospital = factory.canteen(COUNTY, name="枞阳县人民医院食堂")
    with (FIXTURES / "p832" / "orders.xlsx").open("rb") as stream:
        result = imports.run_import(db, STAFF, "p832", stream, "orders.xlsx")
    assert (result["inserted"], result["skipped"]) == (5, 1)
    assert (result["unknown_buyers"], result["unknown_buyer_names"]) == (1, ["安徽大学第一食堂"])
    assert db[storage.SALES].count_documents({"buyer.unit_id": hospital["_id"]}) == 4
    quota = canteen_progress.canteen_quota(db, STAFF, hospital["_id"], 2020)
    assert (quota["via_832_fen"], quota["qualifying_fen"]) == (172_700, 172_700)


def test_an_enterprise_account_without_an_operator_sees_no_runs(db):
    db[storage.IMPORT_RUNS].insert_one(
        {"operator_id": None, "county_code": "340722", "started_at": datetime.now(UTC)}
    )
    unbound = Principal(user_id=ObjectId(), username="x", role=ENTERPRISE)
    with pytest.raises(Forbidden):
        import_runs.list_runs(db, unbound)


# Runs whose process died ----------------------------------------------------------------------------


def _as_if_its_process_died(db, run_id, silent_for: timedelta) -> None:
    db[storage.IMPORT_RUNS].update_one(
        {"_id": run_id},
        {"$set": {"status": import_runs.RUNNING, "heartbeat_at": utcnow() - silent_for, "finished_at": None}},
    )


def test_a_run_silent_past_the_heartbeat_timeout_reads_as_interrupted(db, catalogue):
    dead = run(db, export(order("A-1")))["_id"]
    alive = run(db, export(order("A-2")))["_id"]
    _as_if_its_process_died(db, dead, timedelta(seconds=import_runs.HEARTBEAT_TIMEOUT_SECONDS + 1))
    _as_if_its_process_died(db, alive, timedelta(seconds=import_runs.HEARTBEAT_SECONDS))
    listed = {r["_id"]: r for r in import_runs.list_runs(db, STAFF)[0]}
    assert listed[dead]["status"] == import_runs.INTERRUPTED
    assert listed[alive]["status"] == import_runs.RUNNING
    assert import_runs.get_run(db, STAFF, dead)["error"] == import_runs.INTERRUPTED_MESSAGE


def test_a_process_alone_on_its_database_marks_every_running_run_at_start(db, catalogue):
    recent = run(db, export(order("A-1")))["_id"]
    _as_if_its_process_died(db, recent, timedelta(seconds=1))
    assert import_runs.mark_interrupted(db) == 0
    assert import_runs.mark_interrupted(db, all_running=True) == 1
    assert db[storage.IMPORT_RUNS].find_one({"_id": recent})["status"] == import_runs.INTERRUPTED


def test_an_interrupted_import_run_again_counts_nothing_twice(db, catalogue):
    data = export(order("A-1"), order("A-2"), order("A-3"))
    first = run(db, data)
    _as_if_its_process_died(db, first["_id"], timedelta(hours=1))
    import_runs.mark_interrupted(db)
    again = run(db, data)
    assert (again["status"], again["inserted"], again["unchanged"]) == (import_runs.SUCCEEDED, 0, 3)
    assert db[storage.SALES].count_documents({"county_code": COUNTY}) == 3
    assert daily_sales_fen(db) == 3 * 100_00


def test_a_long_run_beats_its_heartbeat(db, catalogue, monkeypatch):
    monkeypatch.setattr(import_runs, "HEARTBEAT_SECONDS", 0)
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 1)
    ticks = iter(range(1, 10_000))
    start = utcnow()
    monkeypatch.setattr(import_runs, "utcnow", lambda: start + timedelta(seconds=next(ticks)))
    beats = []
    original = import_runs.Heartbeat.__call__

    def spy(self, items, size):
        before = db[storage.IMPORT_RUNS].find_one({"_id": self.run_id})["heartbeat_at"]
        original(self, items, size)
        beats.append((before, db[storage.IMPORT_RUNS].find_one({"_id": self.run_id})["heartbeat_at"]))

    monkeypatch.setattr(import_runs.Heartbeat, "__call__", spy)
    run(db, export(*(order(f"A-{n}") for n in range(3))))
    assert len(beats) >= 3
    assert all(after > before for before, after in beats)


def test_the_run_page_says_an_interrupted_import_can_be_imported_again(page_login, db, catalogue):
    first = run(db, export(order("A-1")))
    _as_if_its_process_died(db, first["_id"], timedelta(hours=1))
    browser = page_login(COUNTY_STAFF, county_codes=[COUNTY])
    page = browser.get(f"/imports/{first['_id']}").get_data(as_text=True)
    assert "已中断" in page and "请重新导入同一文件" in page


def test_a_run_of_another_tenant_answers_as_a_missing_one(login, catalogue):
    """Whether a run id exists is not something an enterprise or another county's staff can learn."""
    staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    county_run = upload(staff, export(order("A-1"))).json["id"]
    missing = str(ObjectId())
    shop = login(ENTERPRISE, operator_id=catalogue["operator"]["_id"])
    outsider = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    for tenant in (shop, outsider):
        answers = [tenant.get(f"{URL}/{run_id}") for run_id in (county_run, missing)]
        assert [answer.status_code for answer in answers] == [403, 403]
        assert answers[0].json == answers[1].json
    assert login(ADMIN).get(f"{URL}/{missing}").status_code == 404


def test_a_re_import_that_changes_a_line_keeps_the_old_version_with_the_runs_and_who(db, catalogue):
    first = run(db, export(order("A-1", amount="100.00")))
    second = run(db, export(order("A-1", amount="80.00")))
    assert second["updated"] == 1
    sale = db[storage.SALES].find_one({"external_id": "A-1"})
    [version] = db[storage.SALE_LINE_VERSIONS].find({"sale_id": sale["_id"]})
    assert version["previous"]["amount_fen"] == 10_000
    assert version["previous"]["import_run_id"] == first["_id"]
    assert version["replaced_by"]["import_run_id"] == second["_id"]
    assert version["replaced_by"]["actor"] == STAFF.username
