"""Sales imports: upload a channel's export (dry run, then import), runs and row errors, unmatched SKUs."""

from __future__ import annotations

from flask import render_template

from service.access import STAFF, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("import_pages", __name__, url_prefix="/imports")


@bp.route("/")
@allow(*STAFF)
def imports():
    return render_template("web/imports/imports.html")
