"""The demo county's supervising budget unit (主管预算单位) and its subordinate canteens of each mode.

枞阳县教育局 has no canteen of its own (无食堂, 不作要求); below it a school with its own canteen and a
union share (工会), a shared canteen (合用食堂) reporting for the kindergarten next door, and an
outsourced canteen (外包食堂) whose contractor buys for it. Each buys a little through the 832 platform,
so the roll-up has figures; the account ``bureau`` is the supervising unit's.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pymongo.database import Database

from adapters.base import SaleLine
from service import accounts, canteen_purchases, canteens, ledger
from service.access import CANTEEN, Principal
from service.canteen_quota import UNION_BUYER
from service.clock import end_of_local_day, utcnow
from service.ingest_scope import IngestScope

BUREAU = "枞阳县教育局"
# name, unit type, mode, contractor, yearly food total (fen), ratio (bp), union total (fen) and ratio (bp)
SUBORDINATES = (
    ("枞阳县第三中学食堂", "school", "own", None, 3_000_000_00, 1500, 40_000_00, 3000),
    ("枞阳县实验小学食堂", "school", "shared", None, 2_400_000_00, 1000, None, None),
    (
        "枞阳县职业技术学校食堂",
        "school",
        "outsourced",
        "安徽味美膳食管理有限公司",
        2_000_000_00,
        1000,
        None,
        None,
    ),
)
KINDERGARTEN = "枞阳县实验幼儿园"
# (days before today, amount in fen) of each subordinate's 832 purchases this year.
PURCHASES = ((40, 1_800_000), (20, 2_600_000), (5, 1_400_000))


def _day(today: date, days_back: int) -> date | None:
    """A past day of this year, ``days_back`` before today or its first day; None on 1 January,
    when the year has no past day yet (the demo's sales all lie before today)."""
    first = date(today.year, 1, 1)
    return None if today == first else max(today - timedelta(days=days_back), first)


def load(
    db: Database,
    actor: Principal,
    county_code: str,
    suppliers: list[str],
    today: date,
    *,
    password: str,
    with_purchases: bool = True,
) -> dict[str, Any]:
    """Create the supervising unit, its subordinates and their plans (and purchases); the bureau."""

    def unit(name: str, unit_type: str, **fields: Any) -> dict[str, Any]:
        return canteens.create_canteen(
            db, actor, {"name": name, "unit_type": unit_type, "county_code": county_code, **fields}
        )

    bureau = unit(BUREAU, "agency", mode="none")
    kindergarten = unit(KINDERGARTEN, "school", mode="shared", parent_id=bureau["_id"])
    for number, (name, unit_type, mode, contractor, total, ratio, union_total, union_ratio) in enumerate(
        SUBORDINATES
    ):
        extra = {"shared_unit_ids": [kindergarten["_id"]]} if mode == "shared" else {}
        canteen = unit(name, unit_type, mode=mode, contractor=contractor, parent_id=bureau["_id"], **extra)
        plan = {"food_total_fen": total, "reserve_ratio_bp": ratio}
        if union_total:
            plan |= {"union_total_fen": union_total, "union_ratio_bp": union_ratio}
        canteens.set_plan(db, actor, canteen["_id"], today.year, plan)
        if not with_purchases or _day(today, 0) is None:
            continue
        for index, (days_back, amount) in enumerate(PURCHASES):
            canteen_purchases.log_purchase(
                db,
                actor,
                {
                    "canteen_id": canteen["_id"],
                    "date": _day(today, days_back + number),
                    "product_name": "832平台大米",
                    "operator_uscc": suppliers[(number + index) % len(suppliers)],
                    "quantity": amount // 500,
                    "amount_fen": amount * (number + 1),
                    "invoice_no": f"BUREAU-{number}-{index}",
                    "via_832": True,
                },
            )
        if union_total:
            _union_order(db, canteen, county_code, _day(today, 10))
    accounts.create_user(
        db, actor, {"username": "bureau", "role": CANTEEN, "password": password, "canteen_id": bureau["_id"]}
    )
    return bureau


def _union_order(db: Database, canteen: dict[str, Any], county_code: str, day: date) -> None:
    """The union's own 832 order (工会慰问品), as its export imports it."""
    line = SaleLine(
        channel="p832",
        external_id=f"DEMO-UNION-{canteen['_id']}",
        occurred_at=min(end_of_local_day(day) - timedelta(hours=6), utcnow()),
        quantity=60,
        amount_fen=9_000_00,
        sku="DEMO-UNION-TEA",
        title="岳西翠兰 礼盒",
        buyer_type=UNION_BUYER,
        buyer_unit_id=str(canteen["_id"]),
        buyer_name=canteen["name"],
    )
    ledger.ingest(db, [line], IngestScope(county_code))
