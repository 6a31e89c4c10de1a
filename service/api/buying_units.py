"""Buying units (采购单位) beside canteens, and their pairings (结对帮扶关系) with a county."""

from __future__ import annotations

from schemas.base import page_of
from schemas.buying_units import (
    BuyingUnitCreateSchema,
    BuyingUnitPatchSchema,
    BuyingUnitQueryArgsSchema,
    BuyingUnitSchema,
    PairingCreateSchema,
    PairingPatchSchema,
    PairingQueryArgsSchema,
    PairingSchema,
)
from service import buying_units, pairings
from service.access import STAFF, allow
from service.api.openapi import IF_MATCH_REQUIRED
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "buying_units",
    __name__,
    url_prefix="/api/v1/buying-units",
    description="Units that buy a county's products or help sell them: aid units, universities, hospitals...",
)
pairings_blp = Blueprint(
    "pairings",
    __name__,
    url_prefix="/api/v1/pairings",
    description="Pairings of buying units with a county (东西部协作, 对口帮扶...), each for a period.",
)
BLUEPRINTS = (blp, pairings_blp)
BuyingUnitPageSchema = page_of(BuyingUnitSchema, "BuyingUnitPageSchema")
PairingPageSchema = page_of(PairingSchema, "PairingPageSchema")


# Units ------------------------------------------------------------------------------------------------


@blp.route("", methods=["GET"])
@blp.arguments(BuyingUnitQueryArgsSchema, location="query")
@blp.response(200, BuyingUnitPageSchema)
@allow(*STAFF)
def list_units(args):
    """Buying units of the caller's counties, by name."""
    items, total = buying_units.list_units(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(BuyingUnitCreateSchema)
@blp.response(201, BuyingUnitSchema)
@allow(*STAFF)
def create_unit(data):
    """Register a buying unit of a county; its name is unique within the county (409)."""
    return with_etag(buying_units.create_unit(get_db(), principal(), data), 201)


@blp.route("/<objectid:unit_id>", methods=["GET"])
@blp.response(200, BuyingUnitSchema)
@allow(*STAFF)
def get_unit(unit_id):
    return with_etag(buying_units.visible_unit(get_db(), principal(), unit_id))


@blp.route("/<objectid:unit_id>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(BuyingUnitPatchSchema)
@blp.response(200, BuyingUnitSchema)
@allow(*STAFF)
def update_unit(changes, unit_id):
    """Edit a unit (If-Match required); its county stays."""
    version = expected_version(unit_id)
    return with_etag(buying_units.update_unit(get_db(), principal(), unit_id, version, changes))


@blp.route("/<objectid:unit_id>", methods=["DELETE"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.response(204)
@allow(*STAFF)
def delete_unit(unit_id):
    """Remove a unit registered by mistake (If-Match required); 409 once it has pairings or purchases."""
    buying_units.delete_unit(get_db(), principal(), unit_id, expected_version(unit_id))


# Pairings ---------------------------------------------------------------------------------------------


@pairings_blp.route("", methods=["GET"])
@pairings_blp.arguments(PairingQueryArgsSchema, location="query")
@pairings_blp.response(200, PairingPageSchema)
@allow(*STAFF)
def list_pairings(args):
    """Pairings of the caller's counties, earliest first; ``on``: those in force that day."""
    items, total = pairings.list_pairings(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@pairings_blp.route("", methods=["POST"])
@pairings_blp.arguments(PairingCreateSchema)
@pairings_blp.response(201, PairingSchema)
@allow(*STAFF)
def create_pairing(data):
    """Pair a unit with its county for a period (valid_to null: open-ended)."""
    return with_etag(pairings.create_pairing(get_db(), principal(), data), 201)


@pairings_blp.route("/<objectid:pairing_id>", methods=["GET"])
@pairings_blp.response(200, PairingSchema)
@allow(*STAFF)
def get_pairing(pairing_id):
    return with_etag(pairings.visible_pairing(get_db(), principal(), pairing_id))


@pairings_blp.route("/<objectid:pairing_id>", methods=["PATCH"])
@pairings_blp.doc(**IF_MATCH_REQUIRED)
@pairings_blp.arguments(PairingPatchSchema)
@pairings_blp.response(200, PairingSchema)
@allow(*STAFF)
def update_pairing(changes, pairing_id):
    """Edit a pairing (If-Match required); 409 if a purchase under it would fall outside its period."""
    version = expected_version(pairing_id)
    return with_etag(pairings.update_pairing(get_db(), principal(), pairing_id, version, changes))


@pairings_blp.route("/<objectid:pairing_id>", methods=["DELETE"])
@pairings_blp.doc(**IF_MATCH_REQUIRED)
@pairings_blp.response(204)
@allow(*STAFF)
def delete_pairing(pairing_id):
    """Remove a pairing entered by mistake (If-Match required); 409 once purchases count under it."""
    pairings.delete_pairing(get_db(), principal(), pairing_id, expected_version(pairing_id))
