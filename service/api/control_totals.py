"""Control totals (账实相符): a channel's figure for a county and month from outside the ledger."""

from __future__ import annotations

from adapters.base import CHANNELS
from schemas.payouts import (
    ControlTotalListSchema,
    ControlTotalQueryArgsSchema,
    ControlTotalSchema,
    ControlTotalSetSchema,
)
from service import control_totals
from service.access import STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "control_totals",
    __name__,
    url_prefix="/api/v1/control-totals",
    description="Outside figures (settlement statements, daily totals) the ledger's sales must equal.",
)


@blp.route("", methods=["GET"])
@blp.arguments(ControlTotalQueryArgsSchema, location="query")
@blp.response(200, ControlTotalListSchema)
@allow(*STAFF)
def list_control_totals(args):
    """The figures of your counties, newest month first, each beside the ledger's sales."""
    return {"items": control_totals.list_control_totals(get_db(), principal(), **args)}


@blp.route(f"/<county_code>/<any({','.join(CHANNELS)}):channel>/<month>", methods=["PUT"])
@blp.arguments(ControlTotalSetSchema)
@blp.response(200, ControlTotalSchema)
@allow(*STAFF)
def set_control_total(data, county_code, channel, month):
    """Enter or replace the figure of a month that has begun (YYYY-MM, Asia/Shanghai); audited."""
    return control_totals.set_control_total(get_db(), principal(), county_code, channel, month, **data)
