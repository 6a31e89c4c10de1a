"""County staff's pages of buying units (采购单位): the buyers report, the units and their pairings.

The report's headline is the sentence the assessments ask for: "帮扶单位直接购买 X 万元、帮助销售 Y 万元、
扶持脱贫人口 Z 人"; its tables and workbook are the API's (``service.buyer_workbook``).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bson import ObjectId
from flask import redirect, render_template, request, url_for

from schemas.buying_units import BuyingUnitCreateSchema, BuyingUnitPatchSchema, PairingCreateSchema
from service import buyer_reports, buyer_workbook, buying_units, pairings, xlsx
from service.access import STAFF, allow
from service.clock import today_local
from service.errors import ServiceError
from service.storage import get_db
from service.web.core import (
    PageBlueprint,
    current_principal,
    form_values,
    load_form,
    ok,
    page_number,
    service_error_fields,
    wants_xlsx,
)

bp = PageBlueprint("buyer_pages", __name__, url_prefix="/buyers")

PER_PAGE = 50
UNIT_FIELDS = ("name", "kind", "region_code", "uscc", "county_code", "parent_unit_id", "contact")
PAIRING_FIELDS = ("kind", "partner_region_code", "valid_from", "valid_to", "village_code", "note")
FEN_PER_WAN = 1_000_000  # 万元 in fen


def wan(fen: int) -> str:
    """Fen as 万元 with two decimals, rounded half up (20,850,000.00 元 → 2,085.00)."""
    value = (Decimal(fen) / FEN_PER_WAN).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value:,}"


def _county() -> str | None:
    principal = current_principal()
    asked = request.args.get("county_code", "")
    if asked:
        return asked
    return principal.county_codes[0] if principal.county_codes else None


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.route("/")
@allow(*STAFF)
def report():
    """The buyers report of a county for a period of days (format=xlsx: the workbook)."""
    county = _county()
    errors: dict[str, list[str]] = {}
    found = None
    if county is not None:
        try:
            found = buyer_reports.buyers_report(
                get_db(), current_principal(), county, _day("from"), _day("to")
            )
        except ServiceError as error:
            errors = service_error_fields(error)
    if found is not None and wants_xlsx():
        return xlsx.send_xlsx(buyer_workbook.workbook(found), buyer_workbook.filename(found))
    return render_template(
        "web/buyers/report.html",
        report=found,
        errors=errors,
        county=county,
        counties=current_principal().county_codes,
        wan=wan,
        today=today_local(),
    ), (422 if errors else 200)


# Units -------------------------------------------------------------------------------------------


def _unit_form_data(values: dict[str, Any]) -> dict[str, Any]:
    data = dict(values)
    if "county_code" not in data and len(current_principal().county_codes) == 1:
        data["county_code"] = current_principal().county_codes[0]
    return data


@bp.route("/units", methods=["GET", "POST"])
@allow(*STAFF)
def units():
    """The units of the staff member's counties by name, and the form registering one."""
    db, principal = get_db(), current_principal()
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_values(UNIT_FIELDS)
        data, errors = load_form(BuyingUnitCreateSchema(), _unit_form_data(values))
        if data is not None:
            try:
                created = buying_units.create_unit(db, principal, data)
            except ServiceError as error:
                errors = service_error_fields(error)
            else:
                ok(f"已登记采购单位：{created['name']}。")
                return redirect(url_for(".unit", unit_id=created["_id"]))
    q = request.args.get("q", "").strip() or None
    page = page_number()
    items, total = buying_units.list_units(db, principal, q=q, page=page, per_page=PER_PAGE)
    return render_template(
        "web/buyers/units.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        q=q or "",
        values=values,
        errors=errors,
        kinds=buying_units.KINDS,
        counties=principal.county_codes,
    ), (422 if errors else 200)


def _unit_page(unit_id: ObjectId, errors: dict[str, list[str]], values: dict[str, Any] | None = None):
    db, principal = get_db(), current_principal()
    unit = buying_units.visible_unit(db, principal, unit_id)
    unit_pairings, _ = pairings.list_pairings(db, principal, unit_id=unit_id, per_page=200)
    others, _ = buying_units.list_units(db, principal, county_code=unit["county_code"], per_page=200)
    return render_template(
        "web/buyers/unit.html",
        unit=unit,
        pairings=unit_pairings,
        values=values or {},
        errors=errors,
        kinds=buying_units.KINDS,
        pairing_kinds=pairings.KINDS,
        parent_choices=[(str(other["_id"]), other["name"]) for other in others if other["_id"] != unit_id],
    ), (422 if errors else 200)


@bp.route("/units/<objectid:unit_id>", methods=["GET", "POST"])
@allow(*STAFF)
def unit(unit_id):
    """A unit: edit it (action=edit) or pair it with its county (action=pair)."""
    if request.method == "GET":
        return _unit_page(unit_id, {})
    db, principal = get_db(), current_principal()
    action = request.form.get("action")
    if action == "pair":
        values = form_values(PAIRING_FIELDS)
        data, errors = load_form(PairingCreateSchema(), {**values, "unit_id": str(unit_id)})
        if data is not None:
            try:
                pairings.create_pairing(db, principal, data)
            except ServiceError as error:
                errors = service_error_fields(error)
            else:
                ok("已登记结对帮扶关系。")
                return redirect(url_for(".unit", unit_id=unit_id))
        return _unit_page(unit_id, errors, values)
    values = form_values([name for name in UNIT_FIELDS if name != "county_code"])
    changes = {**{name: None for name in ("uscc", "parent_unit_id", "contact")}, **values}
    data, errors = load_form(BuyingUnitPatchSchema(), changes)
    if data is not None:
        try:
            version = int(request.form.get("version", "0") or 0)
            buying_units.update_unit(db, principal, unit_id, version, data)
        except ServiceError as error:
            errors = service_error_fields(error)
        else:
            ok("已保存。")
            return redirect(url_for(".unit", unit_id=unit_id))
    return _unit_page(unit_id, errors, values)
