"""Order-status mappings: a county says what a channel's unknown order status means, and re-imports."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from adapters.base import REGISTRY
from adapters.common import PENDING, SALE
from service import imports, status_mappings, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, Principal

COUNTY = "340722"
OTHER_COUNTY = "341000"
URL = f"/api/v1/counties/{COUNTY}/status-mappings"
OTHER_URL = f"/api/v1/counties/{OTHER_COUNTY}/status-mappings"
STAFF = Principal(user_id=None, username="staff", role=COUNTY_STAFF, county_codes=(COUNTY,))
HEADER = "订单号,商品ID,商品名称,订购数量,下单时间,京东价,应付金额,订单状态,商家SKU"
# A 京东 export: one order done, two held at customs (a status no table knows), one cancelled.
JD_EXPORT = "\n".join(
    [
        HEADER,
        "231279470601,100012043978,有机大米,2,2024-03-15 10:00,59.90,119.80,完成,ZY-RICE-5KG",
        "231279470602,100012043978,有机大米,1,2024-03-16 10:00,59.90,59.90,海关审核中,ZY-RICE-5KG",
        "231279470603,100012043978,有机大米,3,2024-03-17 10:00,59.90,179.70,海关审核中,ZY-RICE-5KG",
        "231279470604,100012043978,有机大米,1,2024-03-18 10:00,59.90,59.90,已取消,ZY-RICE-5KG",
    ]
).encode("utf-8-sig")
CUSTOMS_REASON = "订单状态: unknown status '海关审核中'"


@pytest.fixture
def rice(factory):
    operator = factory.operator(COUNTY)
    created = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        channel_skus=[{"channel": "jd", "sku": "ZY-RICE-5KG"}],
    )
    return factory.certified_since(created, datetime(2023, 1, 1, tzinfo=UTC), 1000)


@pytest.fixture
def staff(login):
    return login(COUNTY_STAFF, county_codes=[COUNTY])


def import_jd(db, data: bytes = JD_EXPORT, actor: Principal = STAFF) -> dict:
    return imports.run_import(db, actor, "jd", io.BytesIO(data), "orders.csv")


def reasons(run: dict) -> list[dict]:
    """The run's skipped reasons and their row counts (their codes aside)."""
    return [{"reason": item["reason"], "rows": item["rows"]} for item in run["skipped_reasons"]]


def counts(run: dict) -> tuple[int, int, int, int]:
    return run["rows"], run["inserted"], run["unchanged"], run["skipped"]


def rice_sales_fen(db) -> int:
    return sum(line["amount_fen"] for line in db[storage.SALES].find({"county_code": COUNTY}))


def set_customs(caller, outcome: str = "sale", url: str = URL):
    return caller.post(url, json={"channel": "jd", "status": "海关审核中", "outcome": outcome})


# The importer ---------------------------------------------------------------------------------------


def test_an_unknown_status_sets_its_rows_aside_and_the_run_names_it(db, rice):
    run = import_jd(db)
    assert counts(run) == (4, 1, 0, 3)
    assert {"reason": CUSTOMS_REASON, "rows": 2} in reasons(run)


def test_mapped_to_sale_the_same_file_imported_again_counts_those_rows_and_only_those(db, rice, staff):
    import_jd(db)
    assert set_customs(staff).status_code == 200
    again = import_jd(db)
    assert counts(again) == (4, 2, 1, 1)
    assert CUSTOMS_REASON not in {item["reason"] for item in reasons(again)}
    assert rice_sales_fen(db) == 11_980 + 5_990 + 17_970


def test_mapped_to_pending_the_rows_stay_out_as_not_yet_a_sale(db, rice, staff):
    import_jd(db)
    assert set_customs(staff, "pending").status_code == 200
    again = import_jd(db)
    assert counts(again) == (4, 0, 1, 3)
    assert {
        "reason": "订单状态 海关审核中: not yet a sale; a later export imports it.",
        "rows": 2,
    } in reasons(again)
    assert rice_sales_fen(db) == 11_980


def test_mapped_to_zeroed_the_rows_are_kept_at_nothing(db, rice, staff):
    assert set_customs(staff, "zeroed").status_code == 200
    run = import_jd(db)
    assert counts(run) == (4, 3, 0, 1)
    assert rice_sales_fen(db) == 11_980


def test_a_mapping_removed_sets_the_rows_aside_again_from_the_next_import(db, rice, staff):
    mapping = set_customs(staff).json
    assert staff.delete(f"{URL}/{mapping['id']}").status_code == 204
    run = import_jd(db)
    assert {"reason": CUSTOMS_REASON, "rows": 2} in reasons(run)


def test_a_mapping_counts_only_in_its_own_county(db, factory, rice, login):
    admin = login(ADMIN)
    assert set_customs(admin, url=OTHER_URL).status_code == 200
    run = import_jd(db)
    assert {"reason": CUSTOMS_REASON, "rows": 2} in reasons(run)


def test_a_status_is_compared_as_the_tables_compare_it(db, rice, staff):
    response = staff.post(URL, json={"channel": "jd", "status": " 海关 审核中 ", "outcome": "sale"})
    assert response.status_code == 200 and response.json["status"] == "海关审核中"
    assert status_mappings.outcomes_for(db, COUNTY, "jd") == {"海关审核中": SALE}


PDD_HEADER = (
    "订单号,商品id,商家编码-规格维度,商品,商品数量(件),订单成交时间,"
    "用户实付金额(元),邮费(元),商家实收金额(元),订单状态,售后状态"
)


def test_mapped_after_sale_statuses_are_read_too(db, factory, staff):
    row = "PDD-1,9001,PDD-SKU,大米,1,2024-03-15 10:00,50.00,0,50.00,已收货,平台介入中"
    data = f"{PDD_HEADER}\n{row}\n".encode()
    first = imports.run_import(db, STAFF, "pdd", io.BytesIO(data), "pdd.csv")
    assert {"reason": "售后状态: unknown status '平台介入中'", "rows": 1} in reasons(first)
    mapped = staff.post(URL, json={"channel": "pdd", "status": "平台介入中", "outcome": "pending"})
    assert mapped.status_code == 200
    again = imports.run_import(db, STAFF, "pdd", io.BytesIO(data), "pdd.csv")
    pending = "售后状态 平台介入中: not yet a sale; a later export imports it."
    assert {"reason": pending, "rows": 1} in reasons(again)


def test_adapters_without_an_order_status_column_are_given_no_statuses(db):
    assert status_mappings.parse_options(db, COUNTY, REGISTRY["counter"]) == {}
    assert status_mappings.parse_options(db, COUNTY, REGISTRY["jd"]) == {"extra_statuses": {}}


# Listing what to map --------------------------------------------------------------------------------


def test_the_list_shows_each_unknown_status_seen_until_it_is_mapped(db, rice, staff):
    import_jd(db)
    import_jd(db)
    listing = staff.get(URL).json
    assert listing["items"] == []
    [unmapped] = listing["unmapped"]
    assert (unmapped["channel"], unmapped["status"], unmapped["headers"]) == (
        "jd",
        "海关审核中",
        ["订单状态"],
    )
    assert (unmapped["rows"], unmapped["runs"]) == (4, 2)
    set_customs(staff)
    listing = staff.get(URL).json
    assert listing["unmapped"] == []
    assert [(item["channel"], item["status"], item["outcome"]) for item in listing["items"]] == [
        ("jd", "海关审核中", "sale")
    ]
    assert listing["items"][0]["created_by"]["username"] == staff.user["username"]


def test_statuses_seen_in_other_counties_are_not_listed(db, rice, login):
    admin = Principal(user_id=None, username="admin", role=ADMIN)
    imports.run_import(db, admin, "jd", io.BytesIO(JD_EXPORT), "orders.csv", county_code=OTHER_COUNTY)
    other_staff = login(COUNTY_STAFF, county_codes=[COUNTY])
    assert other_staff.get(URL).json["unmapped"] == []


def test_a_run_reason_reads_back_as_its_column_and_status():
    assert status_mappings.read_unknown_status(CUSTOMS_REASON) == ("订单状态", "海关审核中")
    assert status_mappings.read_unknown_status("订单状态 已取消: not a sale.") is None
    cut = "订单状态: unknown status '" + "长" * 40 + "…'"
    assert status_mappings.read_unknown_status(cut) is None


# What may be mapped ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "status"),
    [
        ("jd", "完成"),
        ("jd", "（删除）完成"),
        ("pdd", "退款中"),
        ("pdd", "已发货, 待收货"),
        ("taobao", "交易关闭"),
    ],
)
def test_a_status_the_importer_already_reads_is_refused(db, staff, channel, status):
    response = staff.post(URL, json={"channel": channel, "status": status, "outcome": "skipped"})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "status_already_known"
    assert "already reads the status" in response.json["error"]["message"]
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "jd", "status": "   ", "outcome": "sale"}, "status"),
        ({"channel": "jd", "status": "审" * 41, "outcome": "sale"}, "status"),
        ({"channel": "jd", "status": "海关审核中", "outcome": "refund"}, "outcome"),
        ({"channel": "counter", "status": "海关审核中", "outcome": "sale"}, "channel"),
        ({"channel": "jd", "status": ["海关审核中"], "outcome": "sale"}, "status"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_field(db, staff, body, field):
    response = staff.post(URL, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 0


def test_setting_a_mapping_again_replaces_its_outcome(db, staff):
    first = set_customs(staff).json
    second = set_customs(staff, "pending").json
    assert first["id"] == second["id"] and second["outcome"] == "pending"
    assert status_mappings.outcomes_for(db, COUNTY, "jd") == {"海关审核中": PENDING}


# The audit log -----------------------------------------------------------------------------------


def test_every_change_is_audited_with_before_and_after(db, staff):
    mapping = set_customs(staff).json
    set_customs(staff, "pending")
    set_customs(staff, "pending")  # no change: no entry
    staff.delete(f"{URL}/{mapping['id']}")
    entries = list(
        db[storage.AUDIT_LOG].find({"entity.kind": "status_mapping"}).sort([("at", 1), ("_id", 1)])
    )
    assert [entry["action"] for entry in entries] == [
        "status_mapping.set",
        "status_mapping.set",
        "status_mapping.delete",
    ]
    assert all(entry["county_code"] == COUNTY for entry in entries)
    assert all(entry["actor"]["username"] == staff.user["username"] for entry in entries)
    assert entries[0]["before"] is None and entries[0]["after"]["outcome"] == "sale"
    assert (entries[1]["before"]["outcome"], entries[1]["after"]["outcome"]) == ("sale", "pending")
    assert entries[2]["before"]["outcome"] == "pending" and entries[2]["after"] is None
    listed = staff.get(f"/api/v1/audit?entity_kind=status_mapping&county_code={COUNTY}").json
    assert listed["total"] == 3


# Who may read and change ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [ENTERPRISE, CANTEEN])
def test_enterprises_and_canteens_can_neither_read_nor_change_nor_tell_whether_any_exist(
    db, login, staff, role
):
    caller = login(role)
    empty_county = f"/api/v1/counties/{OTHER_COUNTY}/status-mappings"
    before = [caller.get(URL), caller.get(empty_county)]
    mapping = set_customs(staff).json
    answers = [
        *before,
        caller.get(URL),
        caller.get(empty_county),
        set_customs(caller),
        caller.delete(f"{URL}/{mapping['id']}"),
        caller.delete(f"{URL}/{'0' * 24}"),
    ]
    assert {response.status_code for response in answers} == {403}
    assert len({response.json["error"]["message"] for response in answers}) == 1
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 1


def test_staff_of_another_county_can_neither_read_nor_change_nor_tell_whether_any_exist(db, login, staff):
    other = login(COUNTY_STAFF, county_codes=[OTHER_COUNTY])
    before = other.get(URL)
    mapping = set_customs(staff).json
    answers = [
        before,
        other.get(URL),
        set_customs(other),
        other.delete(f"{URL}/{mapping['id']}"),
        other.delete(f"{URL}/{'0' * 24}"),
    ]
    assert {response.status_code for response in answers} == {403}
    assert {response.json["error"]["kind"] for response in answers} == {"forbidden"}
    assert len({response.json["error"]["code"] for response in answers}) == 1
    assert before.json == answers[1].json
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 1


def test_another_countys_mapping_is_not_found_through_ones_own_county(db, login):
    admin = login(ADMIN)
    theirs = set_customs(admin, url=OTHER_URL).json
    mine = login(COUNTY_STAFF, county_codes=[COUNTY])
    missing = mine.delete(f"{URL}/{'0' * 24}")
    not_mine = mine.delete(f"{URL}/{theirs['id']}")
    assert missing.status_code == not_mine.status_code == 404
    assert missing.json == not_mine.json
    assert missing.json["error"]["code"] == "status_mapping_not_found"
    assert db[storage.STATUS_MAPPINGS].count_documents({}) == 1


def test_an_admin_names_a_real_county_code(login):
    admin = login(ADMIN)
    response = set_customs(admin, url="/api/v1/counties/abc/status-mappings")
    assert response.status_code == 422 and "county_code" in response.json["error"]["details"]
