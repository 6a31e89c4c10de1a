"""Accounts: staff manage the accounts of their county; everyone changes their own password."""

from __future__ import annotations

from flask import render_template

from service.access import STAFF, allow
from service.web.core import PageBlueprint

bp = PageBlueprint("account_pages", __name__)


@bp.route("/users/")
@allow(*STAFF)
def users():
    return render_template("web/accounts/users.html")
