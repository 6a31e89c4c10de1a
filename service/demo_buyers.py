"""The demo county's buying units (采购单位): partner units of several kinds, their pairings, a supervised
office under the first one, and a year of direct purchases and helped sales sized like the seed (tens of
millions of fen bought directly, a fraction of that helped), imported as a unit clerk's sheet would be.
"""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from typing import Any

from pymongo.database import Database

from service import accounts, buying_units, pairings, unit_purchase_upload
from service.access import UNIT, Principal
from service.unit_purchase_inputs import COLUMNS, MODES

# (name, kind, region, pairing kind, purchases a month, yuan per purchase): the first is the unit account's.
UNITS = (
    ("深圳市福田区机关事务管理局", "aid_unit", "440304", "east_west", 3, (3_000, 15_000)),
    ("某银行安徽省分行", "aid_unit", "340104", "designated", 2, (2_500, 10_000)),
    ("安徽某大学", "university", "340111", "university", 2, (1_500, 5_000)),
    ("安庆市立医院", "hospital", "340803", "counterpart", 1, (1_000, 4_000)),
    ("深圳市安徽商会", "chamber", "440300", "enterprise_village", 1, (1_000, 3_500)),
)
# Supervised by the first unit: its clerk sees and logs this office's purchases too.
OFFICE = ("福田区机关食堂管理所", "aid_unit", "440304")
DIRECT_MODES = ("direct", "canteen", "union", "p832")
HELPED_SHARE = 5  # about one purchase in five is a helped sale
PRODUCTS = ("大米 10kg", "茶叶 250g", "菜籽油 5L", "土鸡蛋 30枚", "山核桃 500g", "黑猪肉 2kg")


def load(
    db: Database,
    actor: Principal,
    county_code: str,
    suppliers: list[str],
    window: tuple[date, date],
    *,
    password: str,
    with_purchases: bool = True,
) -> None:
    """Register the units, their pairings and the unit account ``unit``, and import their year of
    purchases (``with_purchases``)."""
    rng = random.Random(county_code)  # noqa: S311 - made-up demo figures, nothing secret
    first_day, end = window
    created = []
    for name, kind, region, pairing_kind, per_month, price in UNITS:
        unit = buying_units.create_unit(
            db, actor, {"name": name, "kind": kind, "region_code": region, "county_code": county_code}
        )
        pairings.create_pairing(
            db,
            actor,
            {"unit_id": unit["_id"], "kind": pairing_kind, "valid_from": date(first_day.year, 1, 1)},
        )
        created.append((unit, per_month, price))
    office = buying_units.create_unit(
        db,
        actor,
        {
            "name": OFFICE[0],
            "kind": OFFICE[1],
            "region_code": OFFICE[2],
            "county_code": county_code,
            "parent_unit_id": created[0][0]["_id"],
        },
    )
    pairings.create_pairing(
        db, actor, {"unit_id": office["_id"], "kind": "east_west", "valid_from": date(first_day.year, 1, 1)}
    )
    created.append((office, 1, (500, 2_000)))
    accounts.create_user(
        db, actor, {"username": "unit", "role": UNIT, "password": password, "unit_id": created[0][0]["_id"]}
    )
    if not with_purchases:
        return
    rows = _purchases(rng, created, suppliers, first_day, end)
    sheet = "\n".join([",".join(COLUMNS.values()), *rows]) + "\n"
    unit_purchase_upload.import_purchases(
        db, actor, io.BytesIO(sheet.encode("utf-8")), "单位采购.csv", county_code=county_code
    )


def _purchases(
    rng: random.Random,
    units: list[tuple[dict[str, Any], int, tuple[int, int]]],
    suppliers: list[str],
    first_day: date,
    end: date,
) -> list[str]:
    rows = []
    days = (end - first_day).days
    months = max(1, days // 30)
    for unit, per_month, (low, high) in units:
        for number in range(per_month * months):
            day = first_day + timedelta(days=rng.randrange(days))
            mode = "helped" if rng.randrange(HELPED_SHARE) == 0 else rng.choice(DIRECT_MODES)
            yuan = rng.randrange(low, high) if mode != "helped" else rng.randrange(low // 4, high // 4)
            cells = {
                "unit_name": unit["name"],
                "mode": MODES[mode],
                "date": day.isoformat(),
                "product_code": "",
                "supplier_uscc": rng.choice(suppliers),
                "description": rng.choice(PRODUCTS),
                "quantity": str(rng.randrange(10, 500)),
                "quantity_unit": "件",
                "kg": "",
                "amount_fen": f"{yuan}.00",
                "pairing": "",
                "evidence_no": f"FP{day:%Y%m%d}{number:03d}",
                "order_id": f"DEMO-{day:%Y%m}-{number:04d}",
            }
            rows.append(",".join(cells[name] for name in COLUMNS))
    return rows
