"""County staff's dashboard (首页)."""

from __future__ import annotations

from flask import render_template

from service.access import STAFF, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("county_pages", __name__, url_prefix="/county")


@bp.route("/")
@allow(*STAFF)
def dashboard():
    return render_template("web/county/dashboard.html")
