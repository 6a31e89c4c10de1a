"""County staff's place register (乡镇村名录): townships and villages with their households and income,
the upload of the statistical division-code file, and the codes still without a name."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from schemas.places import PlaceNameFormSchema, PlacePageImportFormSchema
from service import places, reports
from service.access import STAFF, allow
from service.errors import ServiceError
from service.storage import get_db
from service.web.core import (
    PageBlueprint,
    county_options,
    current_principal,
    fail,
    form_values,
    import_page,
    joined,
    ok,
    period_report,
    read_form,
    refusal_line,
)

bp = PageBlueprint("place_pages", __name__)


def _county() -> str | None:
    """The county the page is about: the one asked for, else the staff member's first."""
    asked = request.args.get("county_code", "").strip()
    if asked:
        return asked
    counties = current_principal().county_codes
    return counties[0] if counties else None


def _with_income(overview: dict[str, Any], township_rows: list[dict[str, Any]]) -> dict[str, Any]:
    income = {row["township_code"]: row for row in township_rows}
    for township in overview["townships"]:
        row = income.get(township["code"], {})
        township["income_fen"] = row.get("income_fen", 0)
        township["households_with_income"] = row.get("households", 0)
    return overview


@bp.route("/places/")
@allow(*STAFF)
def places_page():
    """The county's townships and villages: names, households, people, income in the period."""
    county = _county()
    if county is None:
        return render_template("web/places/places.html", county=None, counties=county_options())
    db, principal = get_db(), current_principal()
    overview = places.overview(db, principal, county)
    townships, period_errors = period_report(reports.township_income, county_code=county)
    return render_template(
        "web/places/places.html",
        county=county,
        counties=county_options(),
        overview=_with_income(overview, townships["items"]),
        report=townships,
        period_errors=period_errors,
        unnamed=places.unnamed_codes(db, principal, county),
        urban_rural=places.URBAN_RURAL_CLASSES,
    )


def _import(db, actor, stream, filename, county_code: str, dry_run: bool = False) -> dict[str, Any]:
    return places.import_places(db, actor, county_code, stream, filename, dry_run=dry_run)


@bp.route("/places/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_places():
    """Upload the county's part of the national division-code file (xlsx or CSV)."""
    return import_page(
        _import,
        PlacePageImportFormSchema(),
        "web/places/import.html",
        counties=county_options(),
        columns=list(places.COLUMNS.values()),
    )


@bp.route("/places/name", methods=["POST"])
@allow(*STAFF)
def name_place():
    """Name one code the households use (from the list of codes without a name)."""
    values = form_values(("county_code", "code", "name", "urban_rural_code"))
    values["urban_rural_code"] = values.get("urban_rural_code") or None
    data, errors = read_form(PlaceNameFormSchema(), values)
    back = redirect(url_for(".places_page", county_code=values.get("county_code") or None))
    if errors:
        fail(joined(errors))
        return back
    county = data.pop("county_code")
    try:
        place = places.save_place(get_db(), current_principal(), county, **data)
    except ServiceError as error:
        if error.status == 403:
            raise
        fail(refusal_line(error))
        return back
    ok(f"已保存：{place['code']} {place['name']}。")
    return back
