"""Who may do what: roles, the principal of a request, and object-level scope.

Every API route declares its access with ``@allow(...)`` or ``@public``; one
``before_request`` hook enforces it, and a route that declares nothing is
refused (fail closed). Service functions take the acting ``Principal`` and
call the scope helpers here, so the API, the CLI and the pages share one set
of rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bson import ObjectId

from service.errors import Coded, Forbidden, NotFound

ADMIN = "admin"
COUNTY_STAFF = "county_staff"
ENTERPRISE = "enterprise"
CANTEEN = "canteen"
UNIT = "unit"  # the clerk of a buying unit (采购单位经办人)
ROLES = (ADMIN, COUNTY_STAFF, ENTERPRISE, CANTEEN, UNIT)
STAFF = (ADMIN, COUNTY_STAFF)
EVERYONE = ROLES


@dataclass(frozen=True)
class Principal:
    """The authenticated actor of a call, from a token, a page session or the CLI."""

    user_id: ObjectId | None
    username: str
    role: str
    county_codes: tuple[str, ...] = field(default_factory=tuple)
    operator_id: ObjectId | None = None
    canteen_id: ObjectId | None = None
    # A unit clerk's buying unit; kept when the clerk acts through ``for_unit_county``.
    unit_id: ObjectId | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def sees_county(self, county_code: str | None) -> bool:
        if self.is_admin:
            return True
        return self.role == COUNTY_STAFF and county_code in self.county_codes

    def as_actor(self) -> dict[str, Any]:
        if self.unit_id is not None:
            return {"user_id": self.user_id, "username": self.username, "role": UNIT, "unit_id": self.unit_id}
        return {"user_id": self.user_id, "username": self.username, "role": self.role}


def for_unit_county(clerk: Principal, county_code: str) -> Principal:
    """A unit clerk acting on units already checked to be its own, through the county's purchase
    functions: staff of that one county, still bound to its unit (``buying_units.visible_unit`` keeps it
    to its units) and recorded as the clerk."""
    if clerk.role != UNIT or clerk.unit_id is None:
        raise Forbidden(Coded("access.unit_only", "Only a unit clerk acts for its unit."))
    return Principal(
        user_id=clerk.user_id,
        username=clerk.username,
        role=COUNTY_STAFF,
        county_codes=(county_code,),
        unit_id=clerk.unit_id,
    )


def system_principal(name: str = "cli") -> Principal:
    """The actor of command-line maintenance: an admin without a user record."""
    return Principal(user_id=None, username=name, role=ADMIN)


@dataclass(frozen=True)
class Access:
    public: bool = False
    roles: tuple[str, ...] = ()


F = TypeVar("F", bound=Callable[..., Any])


def allow(*roles: str) -> Callable[[F], F]:
    """Declare the roles that may call a route (checked before the view runs)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def mark(view: F) -> F:
        view.access = Access(roles=tuple(roles))  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Declare a route that needs no login (login itself, health checks)."""
    view.access = Access(public=True)  # type: ignore[attr-defined]
    return view


def access_of(view: Callable[..., Any] | None) -> Access | None:
    return getattr(view, "access", None)


# Object-level scope ---------------------------------------------------------


def require_county(principal: Principal, county_code: str | None) -> None:
    """Staff may act only in their own counties."""
    if not principal.sees_county(county_code):
        raise Forbidden(
            Coded(
                "access.county_outside",
                f"County {county_code} is outside your counties.",
                county_code=county_code,
            )
        )


def require_operator(principal: Principal, operator_id: ObjectId, county_code: str | None) -> None:
    """An enterprise acts only for its own operator; staff for their counties."""
    if principal.role == ENTERPRISE:
        if principal.operator_id != operator_id:
            raise Forbidden(Coded("access.other_operator", "This record belongs to another market operator."))
        return
    if principal.role == CANTEEN:
        raise Forbidden(
            Coded("access.canteen_on_operator", "Canteen accounts cannot act on market operators.")
        )
    require_county(principal, county_code)


def require_canteen(principal: Principal, canteen_id: ObjectId, county_code: str | None) -> None:
    if principal.role == CANTEEN:
        if principal.canteen_id != canteen_id:
            raise Forbidden(Coded("access.other_canteen", "This record belongs to another canteen."))
        return
    if principal.role == ENTERPRISE:
        raise Forbidden(Coded("canteen.enterprise_refused", "Enterprise accounts cannot act on canteens."))
    require_county(principal, county_code)


def county_filter(principal: Principal, field_name: str = "county_code") -> dict[str, Any]:
    """The query restriction that keeps staff inside their counties."""
    if principal.is_admin:
        return {}
    if principal.role == COUNTY_STAFF:
        return {field_name: {"$in": list(principal.county_codes)}}
    raise Forbidden(Coded("access.staff_only", "Only county staff and admins may list this."))


def county_record(collection: Any, principal: Principal, record_id: Any, refusal: Coded) -> dict[str, Any]:
    """A record of the staff member's counties by ``_id``; a missing one and another county's answer alike.

    Admins, who see every county, are told 404 for a missing record.
    """
    county_filter(principal)
    record = collection.find_one({"_id": record_id})
    if record is None and principal.is_admin:
        raise NotFound(refusal)
    if record is None or not principal.sees_county(record["county_code"]):
        raise Forbidden(refusal)
    return record


def staff_conditions(principal: Principal, county_code: str | None = None) -> list[dict[str, Any]]:
    """A list query's conditions keeping staff inside their counties; a named county must be theirs."""
    scope = county_filter(principal)
    if county_code is not None:
        require_county(principal, county_code)
    return [scope] if scope else []


def restrict_counties(principal: Principal, requested: Iterable[str] | None) -> list[str] | None:
    """Counties a staff query may cover: the requested ones, within the principal's own."""
    requested = list(requested or [])
    if principal.is_admin:
        return requested or None
    for code in requested:
        require_county(principal, code)
    return requested or list(principal.county_codes)
