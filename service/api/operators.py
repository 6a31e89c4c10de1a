"""Market operators (市场经营主体)."""

from __future__ import annotations

from flask import request

from schemas.base import page_of
from schemas.operators import (
    OperatorCreateSchema,
    OperatorPatchSchema,
    OperatorQueryArgsSchema,
    OperatorReactivateSchema,
    OperatorSchema,
    OperatorSuspendSchema,
)
from service import operators
from service.access import ENTERPRISE, STAFF, allow
from service.api.openapi import IF_MATCH_OPTIONAL, IF_MATCH_REQUIRED
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "operators",
    __name__,
    url_prefix="/api/v1/operators",
    description="Market operators: enterprises, cooperatives, family farms, village collectives.",
)
OperatorPageSchema = page_of(OperatorSchema, "OperatorPageSchema")


def _optional_if_match(operator_id) -> int | None:
    return expected_version(operator_id) if request.headers.get("If-Match") else None


@blp.route("", methods=["GET"])
@blp.arguments(OperatorQueryArgsSchema, location="query")
@blp.response(200, OperatorPageSchema)
@allow(*STAFF, ENTERPRISE)
def list_operators(args):
    """Operators of the caller's counties; an enterprise sees only its own."""
    items, total = operators.list_operators(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(OperatorCreateSchema)
@blp.response(201, OperatorSchema)
@allow(*STAFF)
def create_operator(data):
    """Register an operator; staff may save a real USCC that fails its check with uscc_checksum_override."""
    return with_etag(operators.create_operator(get_db(), principal(), data), 201)


@blp.route("/<objectid:operator_id>", methods=["GET"])
@blp.response(200, OperatorSchema)
@allow(*STAFF, ENTERPRISE)
def get_operator(operator_id):
    return with_etag(operators.get_operator(get_db(), principal(), operator_id))


@blp.route("/<objectid:operator_id>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(OperatorPatchSchema)
@blp.response(200, OperatorSchema)
@allow(*STAFF, ENTERPRISE)
def update_operator(changes, operator_id):
    """Edit an operator (If-Match required); an enterprise cannot change its county or designation."""
    version = expected_version(operator_id)
    return with_etag(operators.update_operator(get_db(), principal(), operator_id, version, changes))


@blp.route("/<objectid:operator_id>/suspend", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(OperatorSuspendSchema)
@blp.response(200, OperatorSchema)
@allow(*STAFF)
def suspend_operator(data, operator_id):
    """Suspend an operator (reason required); its products can no longer advance to certification."""
    return with_etag(
        operators.suspend_operator(
            get_db(), principal(), operator_id, data["reason"], _optional_if_match(operator_id)
        )
    )


@blp.route("/<objectid:operator_id>/reactivate", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(OperatorReactivateSchema, required=False)
@blp.response(200, OperatorSchema)
@allow(*STAFF)
def reactivate_operator(data, operator_id):
    return with_etag(
        operators.reactivate_operator(
            get_db(), principal(), operator_id, data.get("reason"), _optional_if_match(operator_id)
        )
    )
