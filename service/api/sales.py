"""Sale lines, and ledger maintenance (rebuild, verify) for county staff."""

from __future__ import annotations

from schemas.sales import (
    LedgerScopeArgsSchema,
    RebuildResultSchema,
    SalePageSchema,
    SaleQueryArgsSchema,
    SaleVersionsSchema,
    VerifyArgsSchema,
    VerifyResultSchema,
)
from service import sales
from service.access import EVERYONE, STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint("sales", __name__, url_prefix="/api/v1", description="The sales ledger.")


@blp.route("/sales", methods=["GET"])
@blp.arguments(SaleQueryArgsSchema, location="query")
@blp.response(200, SalePageSchema)
@allow(*EVERYONE)
def list_sales(args):
    """Sale lines, newest first: staff see their counties, an enterprise its own, a canteen its purchases."""
    return sales.list_sales(get_db(), principal(), **args)


@blp.route("/sales/<objectid:sale_id>/versions", methods=["GET"])
@blp.response(200, SaleVersionsSchema)
@allow(*EVERYONE)
def sale_versions(sale_id):
    """A line as it is now and the versions later imports replaced (a refund, a correction), newest first."""
    return sales.sale_versions_of(get_db(), principal(), sale_id)


@blp.route("/ledger/rebuild", methods=["POST"])
@blp.arguments(LedgerScopeArgsSchema, location="query")
@blp.response(200, RebuildResultSchema)
@allow(*STAFF)
def rebuild(args):
    """Recompute the county-months marked dirty by catalogue or link changes, now."""
    return sales.rebuild(get_db(), principal(), args.get("county_code"))


@blp.route("/ledger/verify", methods=["GET"])
@blp.arguments(VerifyArgsSchema, location="query")
@blp.response(200, VerifyResultSchema)
@allow(*STAFF)
def verify(args):
    """Recompute every figure from the raw ledger and list the differences (none when all is well)."""
    return sales.verify(
        get_db(), principal(), args.get("county_code"), args.get("from_month"), args.get("to_month")
    )
