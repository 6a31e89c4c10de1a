"""The enterprise portal: its operator, its products, links, sales and income."""

from __future__ import annotations

from flask import render_template

from service.access import ENTERPRISE, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("enterprise_pages", __name__, url_prefix="/enterprise")


@bp.route("/")
@allow(ENTERPRISE)
def home():
    return render_template("web/enterprise/home.html")
