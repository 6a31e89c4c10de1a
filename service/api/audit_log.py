"""The audit log, readable by admins and by county staff for their counties."""

from __future__ import annotations

from schemas.auth import AuditEntrySchema, AuditQueryArgsSchema
from schemas.base import page_of
from service import audit
from service.access import STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Who changed what, and when.")
AuditPageSchema = page_of(AuditEntrySchema, "AuditPageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(AuditQueryArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
@allow(*STAFF)
def list_entries(args):
    """Newest first; county staff see entries of their counties only.

    Filter by who made the change (username), which record (entity_kind, entity_id), the action, and
    the days (since through until, Asia/Shanghai, both included).
    """
    items, total = audit.list_entries(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}
