"""Smart cabinets (专柜/专馆/专区): the registry, its secrets, and signed event pushes into the ledger."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import UTC, datetime

import pytest
import time_machine

from adapters.base import get_adapter
from service import ledger, storage
from service.counters import signature
from service.ingest_scope import IngestScope

COUNTY = "340722"
OTHER_COUNTY = "340102"
CABINET = "ZG-340722-001"
CERTIFIED_SKU = "ZY-TEA-250G"


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=[COUNTY])


@pytest.fixture
def cabinet(staff):
    """A registered 专柜, with the secret its create response showed."""
    response = staff.post(
        "/api/v1/counters",
        json={"cabinet_no": CABINET, "name": "县政府大厅专柜", "kind": "counter", "county_code": COUNTY},
    )
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def catalogue(factory):
    """A certified product sold in cabinets under CERTIFIED_SKU, and a draft one under DRAFT-1."""
    operator = factory.operator(COUNTY)
    certified = factory.product(
        operator["_id"],
        status="certified",
        certified_at=datetime(2023, 1, 1, tzinfo=UTC),
        channel_skus=[
            {"channel": "counter", "sku": CERTIFIED_SKU},
            {"channel": "pavilion", "sku": CERTIFIED_SKU},
        ],
    )
    draft = factory.product(operator["_id"], channel_skus=[{"channel": "counter", "sku": "DRAFT-1"}])
    return {"certified": certified, "draft": draft}


def event(event_id: str, **fields):
    return {
        "event_id": event_id,
        "cabinet_no": CABINET,
        "type": "sale",
        "sku": CERTIFIED_SKU,
        "quantity": 1,
        "amount_fen": 5800,
        "occurred_at": "2024-03-15T10:00:00+08:00",
        **fields,
    }


def push(
    client, secret: str, events, *, cabinet_no: str = CABINET, timestamp=None, body: bytes | None = None
):
    """POST events the way a cabinet does: the raw body signed with its secret."""
    raw = body if body is not None else json.dumps(events).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(
        f"/api/v1/counters/{cabinet_no}/events",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Counter-Timestamp": stamp,
            "X-Counter-Signature": signature(secret, stamp, raw),
        },
    )


def statuses(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [outcome["status"] for outcome in response.json["events"]]


# Registry --------------------------------------------------------------------------------------------


def test_registering_a_cabinet_shows_its_secret_once(staff, cabinet, db):
    assert len(cabinet["secret"]) >= 32
    assert cabinet["cabinet_no"] == CABINET and cabinet["active"] is True and cabinet["version"] == 1
    again = staff.get(f"/api/v1/counters/{CABINET}")
    assert again.status_code == 200 and "secret" not in again.json
    listed = staff.get("/api/v1/counters").json
    assert [item["cabinet_no"] for item in listed["items"]] == [CABINET]
    assert "secret" not in listed["items"][0]
    assert db[storage.COUNTERS].find_one({"_id": CABINET})["secret"] == cabinet["secret"]


def test_the_audit_log_never_holds_the_secret(cabinet, staff, db):
    staff.post(f"/api/v1/counters/{CABINET}/rotate-secret")
    entries = list(db[storage.AUDIT_LOG].find({"entity.kind": "counter"}))
    assert [entry["action"] for entry in entries] == ["counter.create", "counter.rotate_secret"]
    assert cabinet["secret"] not in repr(entries)
    assert "secret" not in (entries[0]["after"] or {})


def test_a_cabinet_number_is_registered_once(staff, cabinet):
    response = staff.post(
        "/api/v1/counters",
        json={"cabinet_no": CABINET, "name": "另一个", "kind": "zone", "county_code": COUNTY},
    )
    assert response.status_code == 409
    assert "cabinet_no" in response.json["error"]["details"]


@pytest.mark.parametrize(
    ("field", "value"), [("kind", "kiosk"), ("cabinet_no", "柜 1"), ("county_code", "3407")]
)
def test_registering_checks_each_field(staff, field, value):
    body = {"cabinet_no": "ZG-2", "name": "专柜", "kind": "counter", "county_code": COUNTY, field: value}
    response = staff.post("/api/v1/counters", json=body)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]


def test_staff_register_cabinets_only_in_their_counties(staff):
    response = staff.post(
        "/api/v1/counters",
        json={"cabinet_no": "ZG-X", "name": "外县专柜", "kind": "counter", "county_code": OTHER_COUNTY},
    )
    assert response.status_code == 403


def test_other_counties_staff_cannot_read_a_cabinet(cabinet, login):
    outsider = login("county_staff", county_codes=[OTHER_COUNTY])
    assert outsider.get(f"/api/v1/counters/{CABINET}").status_code == 403
    assert outsider.get("/api/v1/counters").json["items"] == []


def test_enterprises_cannot_see_the_registry(cabinet, login):
    assert login("enterprise").get("/api/v1/counters").status_code == 403


def test_an_unknown_cabinet_is_not_found(staff):
    assert staff.get("/api/v1/counters/NOPE-1").status_code == 404


def test_editing_a_cabinet_needs_the_current_etag(staff, cabinet):
    url = f"/api/v1/counters/{CABINET}"
    assert staff.patch(url, json={"name": "新名"}).status_code == 428
    etag = staff.get(url).headers["ETag"]
    changed = staff.patch(url, json={"name": "新名", "location": "一楼"}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert (changed.json["name"], changed.json["location"], changed.json["version"]) == ("新名", "一楼", 2)
    assert staff.patch(url, json={"active": False}, headers={"If-Match": etag}).status_code == 412


def test_the_kind_and_county_cannot_be_edited(staff, cabinet):
    url = f"/api/v1/counters/{CABINET}"
    etag = staff.get(url).headers["ETag"]
    assert staff.patch(url, json={"kind": "zone"}, headers={"If-Match": etag}).status_code == 422


def test_the_list_filters_by_kind_and_activity(staff, cabinet):
    staff.post(
        "/api/v1/counters",
        json={"cabinet_no": "ZQ-1", "name": "超市专区", "kind": "zone", "county_code": COUNTY},
    )
    assert [c["cabinet_no"] for c in staff.get("/api/v1/counters?kind=zone").json["items"]] == ["ZQ-1"]
    assert staff.get("/api/v1/counters?active=false").json["total"] == 0


# Pushes ----------------------------------------------------------------------------------------------


def test_a_signed_push_puts_its_events_in_the_cabinets_county_ledger(client, cabinet, catalogue, db):
    response = push(client, cabinet["secret"], [event("E-1", quantity=2, amount_fen=11600)])
    assert statuses(response) == ["accepted"]
    assert response.json["counts"]["accepted"] == 1
    sale = db[storage.SALES].find_one({"external_id": f"{CABINET}:E-1"})
    assert (sale["county_code"], sale["channel"]) == (COUNTY, "counter")
    assert sale["product_id"] == catalogue["certified"]["_id"] and sale["certified"] is True
    assert (sale["quantity"], sale["amount_fen"]) == (2, 11600)


def test_a_pavilions_events_are_in_the_pavilion_channel(client, staff, catalogue, db):
    created = staff.post(
        "/api/v1/counters",
        json={"cabinet_no": "ZG-P1", "name": "扶贫馆", "kind": "pavilion", "county_code": COUNTY},
    ).json
    response = push(client, created["secret"], [event("P-1", cabinet_no="ZG-P1")], cabinet_no="ZG-P1")
    assert statuses(response) == ["accepted"]
    assert db[storage.SALES].find_one({"external_id": "ZG-P1:P-1"})["channel"] == "pavilion"


def test_an_event_pushed_twice_is_accepted_once_and_then_ignored(client, cabinet, catalogue, db):
    push(client, cabinet["secret"], [event("E-1")])
    again = push(client, cabinet["secret"], [event("E-1", amount_fen=1), event("E-1")])
    assert statuses(again) == ["duplicate", "duplicate"]
    assert db[storage.SALES].count_documents({"external_id": f"{CABINET}:E-1"}) == 1
    assert db[storage.SALES].find_one({"external_id": f"{CABINET}:E-1"})["amount_fen"] == 5800


def test_an_event_repeated_within_one_push_counts_once(client, cabinet, catalogue, db):
    response = push(client, cabinet["secret"], [event("E-1"), event("E-1")])
    assert statuses(response) == ["accepted", "duplicate"]
    assert db[storage.SALES].count_documents({"external_id": f"{CABINET}:E-1"}) == 1


def test_sales_of_products_outside_the_catalogue_are_stored_and_flagged(client, cabinet, catalogue, db):
    response = push(client, cabinet["secret"], [event("E-1", sku="UNKNOWN-9"), event("E-2", sku="DRAFT-1")])
    assert statuses(response) == ["unmatched", "uncertified"]
    assert all(outcome["message"] for outcome in response.json["events"])
    stored = {s["external_id"]: s for s in db[storage.SALES].find()}
    assert stored[f"{CABINET}:E-1"]["matched"] is False
    assert stored[f"{CABINET}:E-2"]["matched"] is True and stored[f"{CABINET}:E-2"]["certified"] is False


def test_a_refund_event_reverses_its_sale(client, cabinet, catalogue, db):
    push(client, cabinet["secret"], [event("E-1", quantity=2, amount_fen=11600)])
    response = push(
        client, cabinet["secret"], [event("R-1", type="refund", refund_of="E-1", amount_fen=5800)]
    )
    assert statuses(response) == ["accepted"]
    refund = db[storage.SALES].find_one({"external_id": f"{CABINET}:R-1"})
    assert (refund["quantity"], refund["amount_fen"], refund["refund_of"]) == (-1, -5800, f"{CABINET}:E-1")


def test_bad_events_are_rejected_one_by_one_and_the_rest_are_kept(client, cabinet, catalogue, db):
    response = push(
        client,
        cabinet["secret"],
        [event("E-1", quantity=0), "not an event", event("E-2"), event("E-3", cabinet_no="ZG-OTHER")],
    )
    assert statuses(response) == ["rejected", "rejected", "accepted", "rejected"]
    outcomes = response.json["events"]
    assert outcomes[0]["event_id"] == "E-1" and "quantity" in outcomes[0]["message"]
    assert "ZG-OTHER" in outcomes[3]["message"]
    assert [s["external_id"] for s in db[storage.SALES].find()] == [f"{CABINET}:E-2"]


def test_the_ledgers_own_checks_reject_events_too(client, cabinet, catalogue):
    response = push(client, cabinet["secret"], [event("E-1", occurred_at="2999-01-01T00:00:00+08:00")])
    assert statuses(response) == ["rejected"]
    assert "future" in response.json["events"][0]["message"]


def test_the_signature_covers_the_raw_bytes_as_sent(client, cabinet, catalogue):
    body = b'[\n  {"event_id": "E-1", "cabinet_no": "ZG-340722-001", "type": "sale", "sku": "ZY-TEA-250G",'
    body += b' "quantity": 1, "amount_fen": 5800, "occurred_at": "2024-03-15T10:00:00+08:00"}\n]'
    assert statuses(push(client, cabinet["secret"], None, body=body)) == ["accepted"]


def test_a_push_updates_the_cabinets_tallies(client, staff, cabinet, catalogue):
    push(client, cabinet["secret"], [event("E-1"), event("E-2", sku="UNKNOWN-9")])
    shown = staff.get(f"/api/v1/counters/{CABINET}").json
    assert shown["stats"] == {"accepted": 1, "unmatched": 1}
    assert shown["last_push_at"] is not None


def unauthenticated(response) -> dict:
    assert response.status_code == 401, response.json
    return response.json


def test_every_authentication_failure_is_the_same_401(client, staff, cabinet, catalogue, db):
    # The clock stands still: a slow server must not move "301 s ahead" back inside the window.
    with time_machine.travel(time.time(), tick=False):
        wrong_secret = unauthenticated(push(client, "not-the-secret", [event("E-1")]))
        unknown = unauthenticated(push(client, cabinet["secret"], [event("E-1")], cabinet_no="ZG-NONE"))
        now = int(time.time())
        stale = unauthenticated(push(client, cabinet["secret"], [event("E-1")], timestamp=now - 301))
        ahead = unauthenticated(push(client, cabinet["secret"], [event("E-1")], timestamp=now + 301))
    assert wrong_secret == unknown == stale == ahead
    assert db[storage.SALES].count_documents({}) == 0


def test_an_inactive_cabinet_is_refused(client, staff, cabinet, catalogue):
    url = f"/api/v1/counters/{CABINET}"
    staff.patch(url, json={"active": False}, headers={"If-Match": staff.get(url).headers["ETag"]})
    unauthenticated(push(client, cabinet["secret"], [event("E-1")]))


def test_missing_signature_headers_are_refused(client, cabinet):
    response = client.post(f"/api/v1/counters/{CABINET}/events", json=[event("E-1")])
    unauthenticated(response)


def test_a_tampered_body_is_refused(client, cabinet):
    raw = json.dumps([event("E-1")]).encode()
    stamp = str(int(time.time()))
    response = client.post(
        f"/api/v1/counters/{CABINET}/events",
        data=raw.replace(b"5800", b"9800"),
        headers={
            "Content-Type": "application/json",
            "X-Counter-Timestamp": stamp,
            "X-Counter-Signature": signature(cabinet["secret"], stamp, raw),
        },
    )
    unauthenticated(response)


def test_a_rotated_secret_replaces_the_old_one_at_once(client, staff, cabinet, catalogue):
    rotated = staff.post(f"/api/v1/counters/{CABINET}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json["secret"] != cabinet["secret"] and rotated.json["version"] == 2
    unauthenticated(push(client, cabinet["secret"], [event("E-1")]))
    assert statuses(push(client, rotated.json["secret"], [event("E-1")])) == ["accepted"]


def test_a_push_must_be_json(client, cabinet):
    stamp = str(int(time.time()))
    response = client.post(
        f"/api/v1/counters/{CABINET}/events",
        data=b"E-1,1,5800",
        headers={
            "Content-Type": "text/csv",
            "X-Counter-Timestamp": stamp,
            "X-Counter-Signature": signature(cabinet["secret"], stamp, b"E-1,1,5800"),
        },
    )
    assert response.status_code == 415


def test_a_push_must_be_an_array_of_events(client, cabinet):
    response = push(client, cabinet["secret"], None, body=json.dumps(event("E-1")).encode())
    assert response.status_code == 400


def test_the_secret_never_reaches_the_logs(client, staff, cabinet, catalogue, caplog):
    caplog.set_level(logging.DEBUG)
    rotated = staff.post(f"/api/v1/counters/{CABINET}/rotate-secret").json["secret"]
    push(client, rotated, [event("E-1")])
    push(client, "wrong", [event("E-2")])
    assert caplog.records
    assert cabinet["secret"] not in caplog.text and rotated not in caplog.text


def test_the_daily_export_of_pushed_events_does_not_count_them_twice(client, cabinet, catalogue, db):
    events = [event("E-1"), event("R-1", type="refund", refund_of="E-1")]
    push(client, cabinet["secret"], events)
    export = io.BytesIO(b"\n".join(json.dumps(e).encode() for e in events))
    result = ledger.ingest(db, get_adapter("counter").parse(export, "daily.jsonl"), IngestScope(COUNTY))
    assert (result.inserted, result.unchanged) == (0, 2)
