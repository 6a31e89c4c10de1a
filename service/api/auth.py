"""Login and logout."""

from __future__ import annotations

from flask import current_app, g, request

from schemas.auth import LoginSchema, PasswordChangeSchema, TokenSchema, UserSchema
from service import accounts, auth
from service.access import EVERYONE, allow, public
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Log in and out.")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Wrong username or password.")
@blp.alt_response(429, description="Too many failed logins; see Retry-After.")
@public
def login(credentials):
    """Exchange a username and password for a bearer token."""
    token, user = auth.login(
        get_db(), credentials["username"], credentials["password"], request.remote_addr or "unknown"
    )
    return {"token": token, "expires_in": current_app.config["TOKEN_TTL_SECONDS"], "user": user}


@blp.route("/logout", methods=["POST"])
@blp.response(204)
@allow(*EVERYONE)
def logout():
    """Revoke the token this call was made with."""
    auth.revoke_token(get_db(), g.token)


@blp.route("/me", methods=["GET"])
@blp.response(200, UserSchema)
@allow(*EVERYONE)
def me():
    """The account the token belongs to."""
    return accounts.get_user(get_db(), principal(), principal().user_id)


@blp.route("/password", methods=["POST"])
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.alt_response(422, description="The current password is wrong, or the new one breaks the rules.")
@blp.alt_response(429, description="Too many wrong passwords; see Retry-After.")
@allow(*EVERYONE)
def change_password(data):
    """Change one's own password. Every token of the account is revoked, this one too: log in again."""
    accounts.change_own_password(
        get_db(),
        principal(),
        data["current_password"],
        data["new_password"],
        address=request.remote_addr or "unknown",
    )
