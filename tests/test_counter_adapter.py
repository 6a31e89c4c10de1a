"""The counter (专柜) event reader: one event object as a sale line, and the daily JSON Lines export."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from adapters.base import RowError, SaleLine, get_adapter
from adapters.counter import parse_event
from tests import golden

COUNTER_CASES = golden.cases(names=["counter"])


def event(**fields):
    return {
        "event_id": "E-1",
        "cabinet_no": "ZG-340722-001",
        "type": "sale",
        "sku": "ZY-TEA-250G",
        "quantity": 2,
        "amount_fen": 11600,
        "occurred_at": "2024-03-15T10:00:00+08:00",
        **fields,
    }


def export(*lines: bytes) -> list:
    return list(get_adapter("counter").parse(io.BytesIO(b"\n".join(lines)), "export.jsonl"))


@pytest.mark.parametrize("case", COUNTER_CASES, ids=str)
def test_export_matches_its_golden_file(case):
    assert golden.outcome(case) == golden.expected(case)


def test_golden_cases_cover_good_bad_and_blank_exports():
    assert {case.path.name for case in COUNTER_CASES} >= {
        "events.jsonl",
        "bad_lines.jsonl",
        "blank_lines_only.jsonl",
    }


def test_the_counter_adapter_reads_json_lines_into_the_counter_channel():
    adapter = get_adapter("counter")
    assert (adapter.channel, adapter.media) == ("counter", ("jsonl",))


def test_a_sale_event_becomes_a_line_with_the_cabinet_and_event_id_as_external_id():
    line = parse_event(event(), 0)
    assert isinstance(line, SaleLine)
    assert (line.channel, line.external_id, line.quantity, line.amount_fen) == (
        "counter",
        "ZG-340722-001:E-1",
        2,
        11600,
    )
    assert line.unit_price_fen == 5800
    assert line.occurred_at == datetime(2024, 3, 15, 2, 0, tzinfo=UTC)
    assert line.row == 0


def test_a_refund_event_becomes_a_negative_line_naming_the_sale():
    line = parse_event(event(event_id="E-2", type="refund", refund_of="E-1"), 1)
    assert (line.quantity, line.amount_fen, line.refund_of) == (-2, -11600, "ZG-340722-001:E-1")


def test_the_channel_is_the_cabinet_kind_given_by_the_caller():
    assert parse_event(event(), 0, channel="pavilion").channel == "pavilion"


def test_a_refund_cannot_reverse_itself():
    error = parse_event(event(type="refund", refund_of="E-1"), 0)
    assert isinstance(error, RowError) and error.field == "refund_of"


def test_a_negative_quantity_is_refused_even_for_a_refund():
    error = parse_event(event(type="refund", refund_of="E-0", quantity=-2), 0)
    assert isinstance(error, RowError) and error.field == "quantity"


def test_a_string_amount_is_refused():
    error = parse_event(event(amount_fen="11600"), 3)
    assert error == RowError(3, "amount_fen", "amount_fen must be a whole number (fen).")


def test_bad_json_lines_are_errors_with_their_line_numbers_and_the_rest_is_read():
    good = b'{"event_id": "E-1", "cabinet_no": "ZG-1", "type": "sale", "sku": "S", "quantity": 1, '
    good += b'"amount_fen": 100, "occurred_at": "2024-03-15T10:00:00+08:00"}'
    items = export(good, b"", b"{oops", good.replace(b"E-1", b"E-2"))
    assert [type(item).__name__ for item in items] == ["SaleLine", "RowError", "SaleLine"]
    assert items[1].row == 3 and "not valid JSON" in items[1].message
    assert [items[0].row, items[2].row] == [1, 4]
