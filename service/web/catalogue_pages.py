"""County staff's catalogue pages: product review, products, operators, households, benefit links."""

from __future__ import annotations

from flask import render_template

from service.access import STAFF, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("catalogue_pages", __name__)


@bp.route("/products/review")
@allow(*STAFF)
def review_queue():
    return render_template("web/catalogue/review.html")
