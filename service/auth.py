"""Accounts' secrets: argon2 passwords, opaque bearer tokens, and login throttling."""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from pymongo import ReturnDocument
from pymongo.database import Database

from service import storage
from service.access import Principal
from service.clock import utcnow
from service.errors import TooManyRequests, Unauthorized


@functools.cache
def _hasher(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(getattr(profiles, profile))


@functools.cache
def _dummy_hash(profile: str) -> str:
    """Verified against when the username is unknown, so timing does not reveal which names exist."""
    return _hasher(profile).hash("not-a-real-password")


def _profile() -> str:
    return current_app.config["ARGON2_PROFILE"]


def hash_password(password: str) -> str:
    return _hasher(_profile()).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        # Verification reads the parameters from the hash itself, whatever the profile.
        return _hasher(_profile()).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(user: dict[str, Any]) -> Principal:
    return Principal(
        user_id=user["_id"],
        username=user["username"],
        role=user["role"],
        county_codes=tuple(user.get("county_codes") or ()),
        operator_id=user.get("operator_id"),
        canteen_id=user.get("canteen_id"),
    )


# Login throttling -----------------------------------------------------------


def _throttle_keys(username: str, address: str) -> list[str]:
    return [f"user:{username.strip().lower()}", f"addr:{address}"]


def _check_throttle(db: Database, keys: list[str]) -> None:
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    now = utcnow()
    for entry in db[storage.LOGIN_FAILURES].find({"_id": {"$in": keys}}):
        if entry["count"] >= limit and entry["expires_at"] > now:
            wait = math.ceil((entry["expires_at"] - now).total_seconds())
            raise TooManyRequests(
                "Too many failed logins; try again later.",
                details={"retry_after_seconds": wait},
                headers={"Retry-After": str(max(wait, 1))},
            )


def _record_failure(db: Database, keys: list[str]) -> None:
    window = timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    now = utcnow()
    for key in keys:
        # A window that has run out starts again from one failure.
        db[storage.LOGIN_FAILURES].delete_one({"_id": key, "expires_at": {"$lte": now}})
        db[storage.LOGIN_FAILURES].find_one_and_update(
            {"_id": key},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": now + window}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )


def login(db: Database, username: str, password: str, address: str) -> tuple[str, dict[str, Any]]:
    """Check a password and issue a bearer token; throttled per username and per address."""
    keys = _throttle_keys(username, address)
    _check_throttle(db, keys)
    user = db[storage.USERS].find_one({"username": username})
    stored_hash = user["password_hash"] if user else _dummy_hash(_profile())
    if not verify_password(stored_hash, password) or user is None or not user.get("active", True):
        _record_failure(db, keys)
        raise Unauthorized("Wrong username or password.")
    db[storage.LOGIN_FAILURES].delete_many({"_id": keys[0]})
    return issue_token(db, user), user


def issue_token(db: Database, user: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ttl = timedelta(seconds=current_app.config["TOKEN_TTL_SECONDS"])
    db[storage.AUTH_TOKENS].insert_one(
        {
            "token_hash": _token_hash(token),
            "user_id": user["_id"],
            "created_at": now,
            "expires_at": now + ttl,
        }
    )
    return token


def principal_for_token(db: Database, token: str) -> Principal:
    record = db[storage.AUTH_TOKENS].find_one({"token_hash": _token_hash(token)})
    if record is None or record["expires_at"] <= utcnow():
        raise Unauthorized("The token is unknown, expired or revoked; log in again.")
    user = db[storage.USERS].find_one({"_id": record["user_id"]})
    if user is None or not user.get("active", True):
        raise Unauthorized("The account is disabled.")
    return principal_of(user)


def revoke_token(db: Database, token: str) -> None:
    db[storage.AUTH_TOKENS].delete_one({"token_hash": _token_hash(token)})


def revoke_all_tokens(db: Database, user_id: Any) -> None:
    db[storage.AUTH_TOKENS].delete_many({"user_id": user_id})
