"""The JSON API under /api/v1: thin routes over the service functions."""

from __future__ import annotations

from service.extensions import Api


def register_blueprints(api: Api) -> None:
    from service.api import openapi

    openapi.refine(api)

    from service.api import (
        audit_log,
        auth,
        benefit_links,
        buying_units,
        canteens,
        control_totals,
        counters,
        households,
        imports,
        income,
        income_lines,
        operators,
        payouts,
        places,
        products,
        reports,
        sales,
        statements,
        status_mappings,
        unit_purchases,
        users,
    )

    for module in (
        auth,
        users,
        audit_log,
        operators,
        products,
        households,
        benefit_links,
        reports,
        income,
        sales,
        counters,
        status_mappings,
        places,
        control_totals,
    ):
        api.register_blueprint(module.blp)
    for blueprint in canteens.BLUEPRINTS:
        api.register_blueprint(blueprint)
    for blueprint in payouts.BLUEPRINTS:
        api.register_blueprint(blueprint)
    for blueprint in imports.BLUEPRINTS:
        api.register_blueprint(blueprint)
    for blueprint in (*statements.BLUEPRINTS, *income_lines.BLUEPRINTS):
        api.register_blueprint(blueprint)
    for blueprint in (*buying_units.BLUEPRINTS, *unit_purchases.BLUEPRINTS):
        api.register_blueprint(blueprint)
