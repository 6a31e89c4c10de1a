"""Accounts' secrets: argon2 passwords, opaque bearer tokens, and login throttling."""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from service import storage
from service.access import Principal
from service.clock import utcnow
from service.errors import Coded, TooManyRequests, Unauthorized


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
        unit_id=user.get("unit_id"),
    )


# Login throttling -----------------------------------------------------------
# Counters live in MongoDB, so every worker process of the service shares them: one document per
# account or address, counting attempts from the first one for a window, raised with an atomic $inc;
# a window that has passed starts again at one. The TTL index on expires_at removes old windows.


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int


def _counters(username: str, address: str) -> list[_Counter]:
    """The account's counter and, with a higher limit, the address's (one clerk's typos never lock
    out colleagues behind the same NAT). Keys are hashed: their size never depends on the input."""
    config = current_app.config
    return [
        _Counter(_digest(f"account:{username.strip().lower()}"), config["LOGIN_MAX_FAILURES"]),
        _Counter(_digest(f"address:{address}"), config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
    ]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _refuse(now: datetime, until: datetime) -> TooManyRequests:
    wait = max(1, math.ceil((_aware(until) - now).total_seconds()))
    # Pages answer a refusal with their own page; the response hook takes Retry-After from here.
    g.retry_after_seconds = wait
    return TooManyRequests(
        Coded("auth.too_many_failures", "Too many failed logins; try again later."),
        details={"retry_after_seconds": wait},
        headers={"Retry-After": str(wait)},
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _reserve(db: Database, counters: list[_Counter]) -> None:
    """Count an attempt against every counter before the password is checked, so parallel guesses
    cannot all slip under the limit; 429 when a counter is already full, or fills up meanwhile."""
    now = utcnow()
    collection = db[storage.LOGIN_FAILURES]
    stored = {entry["_id"]: entry for entry in collection.find({"_id": {"$in": [c.key for c in counters]}})}
    for counter in counters:
        entry = stored.get(counter.key)
        if entry and entry["count"] >= counter.limit and _aware(entry["expires_at"]) > now:
            raise _refuse(now, entry["expires_at"])
    over = []
    for counter in counters:
        entry = _count(collection, counter.key, now)
        if entry["count"] > counter.limit:
            over.append(entry)
    if over:
        raise _refuse(now, max(_aware(entry["expires_at"]) for entry in over))


def _count(collection: Any, key: str, now: datetime) -> dict[str, Any]:
    """One more attempt on a counter: within its window, or in a new one; returns the counter."""
    window = timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    while True:
        entry = collection.find_one_and_update(
            {"_id": key, "expires_at": {"$gt": now}},
            {"$inc": {"count": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if entry is not None:
            return entry
        fresh = {"count": 1, "expires_at": now + window}
        if collection.update_one({"_id": key, "expires_at": {"$lte": now}}, {"$set": fresh}).matched_count:
            return fresh
        try:
            collection.insert_one({"_id": key, **fresh})
            return fresh
        except DuplicateKeyError:
            continue  # another worker opened the window first: count within it


def _succeeded(db: Database, counters: list[_Counter]) -> None:
    """A right password: the account starts afresh, and the address's attempt is given back."""
    collection = db[storage.LOGIN_FAILURES]
    account, address = counters
    collection.delete_one({"_id": account.key})
    collection.update_one({"_id": address.key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})


def login(db: Database, username: str, password: str, address: str) -> tuple[str, dict[str, Any]]:
    """Check a password and issue a bearer token; throttled per account and per address."""
    counters = _counters(username, address)
    _reserve(db, counters)
    user = db[storage.USERS].find_one({"username": username})
    stored_hash = user["password_hash"] if user else _dummy_hash(_profile())
    if not verify_password(stored_hash, password) or user is None or not user.get("active", True):
        raise Unauthorized(Coded("auth.wrong_credentials", "Wrong username or password."))
    _succeeded(db, counters)
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
        raise Unauthorized(
            Coded("auth.token_invalid", "The token is unknown, expired or revoked; log in again.")
        )
    user = db[storage.USERS].find_one({"_id": record["user_id"]})
    if user is None or not user.get("active", True):
        raise Unauthorized(Coded("auth.account_disabled", "The account is disabled."))
    return principal_of(user)


def revoke_token(db: Database, token: str) -> None:
    db[storage.AUTH_TOKENS].delete_one({"token_hash": _token_hash(token)})


def revoke_all_tokens(db: Database, user_id: Any) -> None:
    db[storage.AUTH_TOKENS].delete_many({"user_id": user_id})
