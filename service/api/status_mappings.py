"""A county's order-status mappings: what a channel's status unknown to its importer means there."""

from __future__ import annotations

from schemas.status_mappings import StatusMappingListSchema, StatusMappingSchema, StatusMappingSetSchema
from service import status_mappings
from service.access import STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "status_mappings",
    __name__,
    url_prefix="/api/v1/counties/<county_code>/status-mappings",
    description="Order statuses (订单状态) a channel's importer does not know, mapped by county staff.",
)


@blp.route("", methods=["GET"])
@blp.response(200, StatusMappingListSchema)
@allow(*STAFF)
def list_mappings(county_code):
    """The county's mappings, and the unknown statuses its recent import runs set aside unmapped."""
    return status_mappings.list_mappings(get_db(), principal(), county_code)


@blp.route("", methods=["POST"])
@blp.arguments(StatusMappingSetSchema)
@blp.response(200, StatusMappingSchema)
@allow(*STAFF)
def set_mapping(data, county_code):
    """Map a status to an outcome (replacing the county's earlier one); rows of that status count so
    from the next import. 422 ``status_already_known`` for a status the importer already reads."""
    return status_mappings.set_mapping(get_db(), principal(), county_code, **data)


@blp.route("/<objectid:mapping_id>", methods=["DELETE"])
@blp.response(204)
@allow(*STAFF)
def delete_mapping(county_code, mapping_id):
    """Remove a mapping; 404 ``status_mapping_not_found`` when the county has none by that id."""
    status_mappings.delete_mapping(get_db(), principal(), county_code, mapping_id)
