"""The canteen portal: log purchases, upload the monthly sheet, quota progress."""

from __future__ import annotations

from flask import render_template

from service.access import CANTEEN, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("canteen_pages", __name__, url_prefix="/canteen")


@bp.route("/")
@allow(CANTEEN)
def home():
    return render_template("web/canteen/home.html")
