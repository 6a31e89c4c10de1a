"""Who and what a county report covers (统计报表的范围): counties, an operator, a period of months.

- county staff: their counties (one of them with ``county_code``, all of them by default);
- admins: every county, or the one named;
- an enterprise: the same reports restricted to its own operator, whatever operator it names;
- canteens: none (their reports live with the canteens).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import operators as operator_records
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, Principal, require_county
from service.clock import today_local
from service.errors import Coded, Forbidden, ValidationFailed

REPORT_ROLES = (ADMIN, COUNTY_STAFF, ENTERPRISE)


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: counties (None = every county), an operator, and a period of months."""

    county_codes: tuple[str, ...] | None
    operator_id: ObjectId | None
    from_month: str
    to_month: str

    @property
    def county_label(self) -> str:
        """The county part of a download's file name."""
        if self.county_codes is not None and len(self.county_codes) == 1:
            return self.county_codes[0]
        return "all"


def default_period(today: date) -> tuple[str, str]:
    """The current year so far: January to this month (Asia/Shanghai)."""
    return f"{today.year:04d}-01", f"{today.year:04d}-{today.month:02d}"


def resolve_scope(
    actor: Principal,
    *,
    county_code: str | None = None,
    operator_id: ObjectId | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    today: date,
) -> ReportScope:
    """The scope a caller's report covers (pure: no database).

    An enterprise's operator is forced to its own, whatever it asks for, and a county it names
    only narrows its own figures; staff may name only their own counties (403 otherwise).
    """
    default_from, default_to = default_period(today)
    from_month = from_month or default_from
    to_month = to_month or default_to
    if from_month > to_month:
        raise ValidationFailed(
            Coded("period.ends_before_start", "The period ends before it starts."),
            details={"to": [Coded("period.not_before", f"Must be {from_month} or later.", month=from_month)]},
        )
    if actor.role == ENTERPRISE:
        counties = (county_code,) if county_code else None
        return ReportScope(counties, actor.operator_id, from_month, to_month)
    if actor.role == CANTEEN or actor.role not in REPORT_ROLES:
        raise Forbidden(Coded("report.canteen_own", "Canteen accounts have their own reports."))
    if county_code is not None:
        require_county(actor, county_code)
        counties: tuple[str, ...] | None = (county_code,)
    elif actor.is_admin:
        counties = None
    else:
        counties = tuple(actor.county_codes)
    return ReportScope(counties, operator_id, from_month, to_month)


def months_between(from_month: str, to_month: str) -> list[str]:
    """Every YYYY-MM from ``from_month`` to ``to_month`` inclusive."""
    year, month = int(from_month[:4]), int(from_month[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= to_month:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def scope_of(actor: Principal, args: Mapping[str, Any]) -> ReportScope:
    """The scope of a report's arguments, today (Asia/Shanghai) closing the default period."""
    return resolve_scope(
        actor,
        county_code=args.get("county_code"),
        operator_id=args.get("operator_id"),
        from_month=args.get("from_month"),
        to_month=args.get("to_month"),
        today=today_local(),
    )


def scope_counties(db: Database, scope: ReportScope) -> Iterable[str] | None:
    """The counties whose ledger a scope reads (None: every county)."""
    if scope.county_codes is None and scope.operator_id is not None:
        # An enterprise's figures sit in its operator's county.
        operator = operator_records.find_operator(db, scope.operator_id, {"county_code": 1})
        return [operator["county_code"]] if operator else []
    return scope.county_codes
