"""User accounts."""

from __future__ import annotations

from schemas.auth import UserCreateSchema, UserPatchSchema, UserQueryArgsSchema, UserSchema
from schemas.base import page_of
from service import accounts
from service.access import STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="User accounts and their roles.")
UserPageSchema = page_of(UserSchema, "UserPageSchema")


@blp.route("", methods=["GET"])
@blp.arguments(UserQueryArgsSchema, location="query")
@blp.response(200, UserPageSchema)
@allow(*STAFF)
def list_users(args):
    """Accounts the caller may manage (county staff: enterprise and canteen accounts of their counties)."""
    items, total = accounts.list_users(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
@allow(*STAFF)
def create_user(data):
    """Create an account bound to its role's counties, operator or canteen."""
    return accounts.create_user(get_db(), principal(), data)


@blp.route("/<objectid:user_id>", methods=["GET"])
@blp.response(200, UserSchema)
@allow(*STAFF)
def get_user(user_id):
    return accounts.get_user(get_db(), principal(), user_id)


@blp.route("/<objectid:user_id>", methods=["PATCH"])
@blp.arguments(UserPatchSchema)
@blp.response(200, UserSchema)
@allow(*STAFF)
def update_user(changes, user_id):
    """Disable an account or set a new password (either revokes its tokens)."""
    return accounts.update_user(get_db(), principal(), user_id, changes)
