"""What counts toward a canteen's reserved share (预留份额计入规则), read from the sales ledger's lines.

One rule, :func:`qualification`, judges each ledger line a canteen bought (``buyer.unit_id``) as
the line is now — after a SKU mapping and ``ledger rematch``, after a certification — never from a
flag frozen when the purchase was logged. The purchase list shows every such line with its
verdict, and the quota cards, the county canteen report and the dashboard add up the very same
lines by the same rule, so the list's totals equal the cards to the fen.

The rule the 832 system applies:

- from 2021 (财库〔2021〕19号) only purchases through the 832 platform count: channel ``p832``,
  whether imported from the platform's order export or logged by the canteen as bought there;
- before 2021 (财库〔2019〕27号) a certified poverty-alleviation product bought by the unit counts
  through any channel, and so does anything bought on the 832 platform, whose suppliers are all
  registered in poverty counties;
- a refunded order (kept by the importers at 0 fen) counts nothing; a return counts as the purchase
  it reverses did, with a negative amount;
- a union's purchase (工会, buyer type ``union``; 财库〔2021〕20号) counts by the same rule toward the
  union's own share only, never toward the canteen's reserved share.

Which units have a share at all is decided here too, by the canteen's mode as the 832 system counts
canteens (:func:`exemption`): a unit with no canteen has none ("不作要求", never behind), a unit whose
shared canteen is reported by another has none of its own (that canteen's plan carries it), and an
outsourced canteen keeps its share (the contractor buys for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId

P832_CHANNEL = "p832"
# A union's purchases (工会): ledger lines of this buyer type, the canteen as buyer unit.
UNION_BUYER = "union"
# 财库〔2021〕19号: from this plan year only purchases through the 832 platform count.
P832_ONLY_FROM = 2021
# The canteen's own lines carry this external_id prefix (service.canteen_purchase_checks).
LOGGED_PREFIX = "canteen:"

# Canteens as the 832 system counts them (食堂情况).
OWN, SHARED, OUTSOURCED, NO_CANTEEN = "own", "shared", "outsourced", "none"
MODES = {OWN: "自有食堂", SHARED: "合用食堂", OUTSOURCED: "外包食堂", NO_CANTEEN: "无食堂"}
# Units with no share of their own: no canteen (不作要求), or reported by the shared canteen's reporter.
NOT_REQUIRED, REPORTED_BY_OTHER = "not_required", "reported_by_other"

# Why a line counts, or does not, by code (the API's) and label (the pages').
VIA_832, CERTIFIED, UNION_SHARE = "via_832", "certified", "union_share"
NOT_VIA_832, NOT_CERTIFIED, NOT_IN_CATALOGUE, REFUNDED = (
    "not_via_832",
    "not_certified",
    "not_in_catalogue",
    "refunded",
)
REASONS = {
    VIA_832: "832平台采购",
    CERTIFIED: "认定扶贫产品",
    NOT_VIA_832: "非832平台采购",
    NOT_CERTIFIED: "未认定产品",
    NOT_IN_CATALOGUE: "目录外产品",
    REFUNDED: "已退款",
    UNION_SHARE: "计入工会份额",
}
# Where a line came from.
LOGGED, IMPORTED, RECORDED = "logged", "imported", "recorded"
# RECORDED: a line of another channel naming the unit as buyer (a direct purchase staff recorded).
SOURCES = {LOGGED: "本单位登记", IMPORTED: "832平台导入", RECORDED: "其他渠道记入"}


def qualification(year: int, channel: str, certified: bool, matched: bool) -> tuple[bool, str]:
    """Whether a line of ``year`` with these flags counts toward the reserved share, and why (pure)."""
    if channel == P832_CHANNEL:
        return True, VIA_832
    if year >= P832_ONLY_FROM:
        return False, NOT_VIA_832
    if certified:
        return True, CERTIFIED
    return False, NOT_CERTIFIED if matched else NOT_IN_CATALOGUE


def exemption(mode: str | None, reported_by: Any = None) -> str | None:
    """Why a unit has no reserved share of its own (a status), or None when it has one (pure).

    No canteen: no quota at all (不作要求); a shared canteen's other units: its reporter's plan holds
    them. An outsourced canteen still reserves: the unit keeps its share, the contractor buys.
    """
    if mode == NO_CANTEEN:
        return NOT_REQUIRED
    if reported_by is not None:
        return REPORTED_BY_OTHER
    return None


def line_qualification(line: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether one stored ledger line counts toward the canteen's reserved share, and why.

    A refunded order (0 fen) adds nothing; a union's line that qualifies counts toward the union's
    share instead (``UNION_SHARE``).
    """
    if line["amount_fen"] == 0 and line.get("refund_of") is None:
        return False, REFUNDED
    counts, reason = qualification(
        int(line["month"][:4]), line["channel"], bool(line.get("certified")), bool(line.get("matched"))
    )
    if (line.get("buyer") or {}).get("type") == UNION_BUYER:
        return False, UNION_SHARE if counts else reason
    return counts, reason


def source_of(line: Mapping[str, Any], canteen_id: ObjectId) -> str:
    """Logged by the canteen itself, imported from the 832 platform's orders, or another channel's."""
    if line["external_id"].startswith(f"{LOGGED_PREFIX}{canteen_id}:"):
        return LOGGED
    return IMPORTED if line["channel"] == P832_CHANNEL else RECORDED


def lines_query(canteen_ids: Iterable[ObjectId], year: int, month: int | None = None) -> dict[str, Any]:
    """The ledger lines these canteens bought in a year (or one month of it)."""
    ids = sorted(set(canteen_ids))
    query: dict[str, Any] = {"buyer.unit_id": ids[0] if len(ids) == 1 else {"$in": ids}}
    if month is not None:
        query["month"] = f"{year:04d}-{month:02d}"
    else:
        query["month"] = {"$gte": f"{year:04d}-01", "$lte": f"{year:04d}-12"}
    return query


def sums_pipeline(
    canteen_ids: Iterable[ObjectId], year: int, month: int | None = None
) -> list[dict[str, Any]]:
    """The canteens' lines of a year (or one month of it) grouped by the flags the rule reads, summed
    (pure)."""
    return [
        {"$match": lines_query(canteen_ids, year, month)},
        {
            "$group": {
                "_id": {
                    "unit": "$buyer.unit_id",
                    "channel": "$channel",
                    "certified": "$certified",
                    "matched": "$matched",
                    "buyer": "$buyer.type",
                },
                "sales_fen": {"$sum": "$amount_fen"},
                "lines": {"$sum": 1},
            }
        },
    ]


def empty_sums() -> dict[str, int]:
    return {
        "purchases_fen": 0,
        "qualifying_fen": 0,
        "via_832_fen": 0,
        "certified_other_fen": 0,
        "not_counted_fen": 0,
        "union_fen": 0,
        "union_qualifying_fen": 0,
        "lines": 0,
    }


def merged_sums(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Several units' sums as one (a shared canteen's reporter carries the units it reports for)."""
    total = empty_sums()
    for part in parts:
        for name in total:
            total[name] += part.get(name, 0)
    return total


def purchase_sums(groups: Iterable[Mapping[str, Any]], year: int) -> dict[Any, dict[str, int]]:
    """Per canteen: all its lines, what counts (via 832, certified elsewhere), what does not, and the
    union's lines apart (pure): purchases = qualifying + not counted + union.

    Each group's lines share the flags the rule reads, so the group's verdict is each line's.
    """
    sums: dict[Any, dict[str, int]] = {}
    for group in groups:
        key = group["_id"]
        entry = sums.setdefault(key["unit"], empty_sums())
        amount = group["sales_fen"]
        entry["purchases_fen"] += amount
        entry["lines"] += group["lines"]
        counts, reason = qualification(
            year, key["channel"], bool(key.get("certified")), bool(key.get("matched"))
        )
        if key.get("buyer") == UNION_BUYER:
            entry["union_fen"] += amount
            entry["union_qualifying_fen"] += amount if counts else 0
            continue
        if not counts:
            entry["not_counted_fen"] += amount
            continue
        entry["qualifying_fen"] += amount
        entry["via_832_fen" if reason == VIA_832 else "certified_other_fen"] += amount
    return sums
