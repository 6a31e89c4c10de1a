"""County staff's view of the unit canteens: registration, yearly plans, purchases and progress."""

from __future__ import annotations

from flask import render_template

from service.access import STAFF, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("county_canteen_pages", __name__, url_prefix="/canteens")


@bp.route("/")
@allow(*STAFF)
def canteens():
    return render_template("web/county_canteens/canteens.html")
