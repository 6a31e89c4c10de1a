"""A canteen's yearly plan (年度预留份额): the reserved-share rules and a plan's figures, pure.

Budget units reserve at least 10% of their canteen's yearly food purchases (财库〔2021〕19号; 15% is
encouraged) and declare the yearly total and share by 20 February; a lower share needs its approval,
and years before 2021 had no floor. Setting a plan on a canteen is ``service.canteens.set_plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from service.clock import local_date, today_local
from service.errors import Coded, ValidationFailed

# 财库〔2021〕19号: at least 10% of the yearly canteen food purchases is reserved; 15% is encouraged.
FLOOR_RATIO_BP = 1000
ENCOURAGED_RATIO_BP = 1500
# Units declare their yearly total and share by 20 February of the year.
DECLARATION_DEADLINE = (2, 20)
# 财库〔2019〕27号 started the reserved share; earlier years are typos.
FIRST_PLAN_YEAR = 2019
# The 10% floor holds from 2021 (财库〔2021〕19号); "a certain share" before, with no floor.
FLOOR_FROM_YEAR = 2021
MAX_APPROVAL_LENGTH = 100


def target_fen(plan: Mapping[str, Any] | None) -> int | None:
    """The reserved amount of a plan: total × ratio, rounded up to the fen (the share is a minimum)."""
    if plan is None:
        return None
    return -(-plan["food_total_fen"] * plan["reserve_ratio_bp"] // 10000)


def union_target_fen(plan: Mapping[str, Any] | None) -> int | None:
    """The union's own share (工会): its yearly purchases × its ratio, rounded up; None unless configured."""
    if plan is None or not plan.get("union_total_fen") or not plan.get("union_ratio_bp"):
        return None
    return -(-plan["union_total_fen"] * plan["union_ratio_bp"] // 10000)


def declared_late(plan: Mapping[str, Any]) -> bool:
    """Whether the plan was declared after 20 February of its year (Asia/Shanghai)."""
    month, day = DECLARATION_DEADLINE
    return local_date(plan["declared_at"]) > date(plan["year"], month, day)


def plan_for(canteen: Mapping[str, Any], year: int) -> dict[str, Any] | None:
    return next((plan for plan in canteen.get("plans") or [] if plan["year"] == year), None)


def check_plan_year(year: int) -> None:
    last = today_local().year + 1
    if not FIRST_PLAN_YEAR <= year <= last:
        raise ValidationFailed(
            Coded(
                "canteen.plan_year",
                f"A plan year is between {FIRST_PLAN_YEAR} and {last}.",
                first=FIRST_PLAN_YEAR,
                last=last,
            ),
            details={
                "year": [
                    Coded(
                        "field.range", f"Between {FIRST_PLAN_YEAR} and {last}.", min=FIRST_PLAN_YEAR, max=last
                    )
                ]
            },
        )


def check_ratio(year: int, ratio_bp: int, approval: str | None) -> None:
    """From 2021 a share below the 10% floor needs the approval that allowed it (适当放宽预留比例)."""
    if not 1 <= ratio_bp <= 10000:
        raise ValidationFailed(
            Coded("canteen.ratio_range", "The reserved ratio is between 1 and 10000 basis points."),
            details={"reserve_ratio_bp": [Coded("canteen.ratio_range", "From 1 to 10000.")]},
        )
    if year >= FLOOR_FROM_YEAR and ratio_bp < FLOOR_RATIO_BP and not approval:
        raise ValidationFailed(
            Coded(
                "canteen.ratio_below_floor",
                f"From {FLOOR_FROM_YEAR} a reserved ratio below {FLOOR_RATIO_BP} basis points needs the "
                "reference of its approval (ratio_approval).",
                from_year=FLOOR_FROM_YEAR,
                floor_bp=FLOOR_RATIO_BP,
            ),
            details={
                "reserve_ratio_bp": [
                    Coded(
                        "canteen.ratio_floor",
                        f"At least {FLOOR_RATIO_BP}, or give ratio_approval.",
                        floor_bp=FLOOR_RATIO_BP,
                    )
                ]
            },
        )
