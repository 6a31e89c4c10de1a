"""The pages (Simplified Chinese, server-rendered) for county staff, enterprises and canteens.

Same app, same service functions and the same object-level rules as the API; the session
cookie carries the same opaque token a bearer would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask, abort, g, send_from_directory

from service.access import public
from service.web import core, formatting, messages

# Vendor files the pages load, from node_modules (installed at set-up from the npm registry).
VENDOR_FILES = {
    "echarts.min.js": "echarts/dist/echarts.min.js",
}


def init_app(app: Flask) -> None:
    from service.web import (
        account_pages,
        auth_pages,
        buyer_pages,
        canteen_pages,
        certification_pages,
        county_canteen_pages,
        county_pages,
        enterprise_pages,
        household_pages,
        import_pages,
        link_pages,
        operator_pages,
        payout_pages,
        place_pages,
        product_pages,
        statement_pages,
        status_mapping_pages,
        unit_pages,
    )

    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=app.config["TOKEN_TTL_SECONDS"])
    core.init_app(app)
    for module in (
        auth_pages,
        county_pages,
        certification_pages,
        product_pages,
        operator_pages,
        household_pages,
        link_pages,
        import_pages,
        status_mapping_pages,
        place_pages,
        county_canteen_pages,
        payout_pages,
        statement_pages,
        account_pages,
        enterprise_pages,
        canteen_pages,
        buyer_pages,
        unit_pages,
    ):
        app.register_blueprint(module.bp)
    app.jinja_env.filters.update(formatting.FILTERS)
    app.jinja_env.globals.update(
        url_with=core.url_with,
        nav_items=core.nav_items,
        zh=messages.say,
        xlsx_url=core.xlsx_url,
        role_label=formatting.ROLE_LABELS.get,
        current_user=lambda: g.get("principal"),
    )
    _register_vendor(app)
    app.after_request(_page_headers)


# Pages run only their own script files: no inline script, nothing from another origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _page_headers(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if g.get("principal") is not None:
            # Pages with personal data are not kept by browsers or proxies.
            response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def _register_vendor(app: Flask) -> None:
    folder = Path(app.config["ASSETS_DIR"])

    @public
    def vendor_asset(filename: str):
        if filename not in VENDOR_FILES:
            abort(404)
        path = folder / VENDOR_FILES[filename]
        return send_from_directory(path.parent, path.name, max_age=86400)

    app.add_url_rule("/vendor/<path:filename>", "vendor_asset", vendor_asset)
