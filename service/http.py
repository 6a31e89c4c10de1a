"""Request plumbing shared by every API route: request ids, body checks, and access enforcement."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from bson import ObjectId
from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import BaseConverter, ValidationError

from adapters.errors import FileRefused
from service import access, auth, storage
from service.errors import (
    BadRequest,
    Coded,
    Forbidden,
    PreconditionFailed,
    PreconditionRequired,
    ServiceError,
    Unauthorized,
    UnsupportedMediaType,
    refused_file,
    render_service_error,
)

API_PREFIX = "/api/v1"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class JSONProvider(DefaultJSONProvider):
    """ObjectIds as strings and datetimes in ISO 8601, never HTTP-date."""

    ensure_ascii = False
    sort_keys = False

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, ObjectId):
            return str(value)
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        return DefaultJSONProvider.default(value)


class ObjectIdConverter(BaseConverter):
    """URL segments that are MongoDB ids; anything else is a plain 404."""

    regex = "[0-9a-fA-F]{24}"

    def to_python(self, value: str) -> ObjectId:
        if not ObjectId.is_valid(value):
            raise ValidationError()
        return ObjectId(value)

    def to_url(self, value: ObjectId) -> str:
        return str(value)


def objectid_param_schema(converter: ObjectIdConverter) -> dict[str, str]:
    return {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}


def _assign_request_id() -> None:
    supplied = request.headers.get("X-Request-ID", "")
    # Accept a caller's id only if it is short and printable, so it is safe to log.
    g.request_id = supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else uuid.uuid4().hex


# A JSON body deeper than any form of this service, or with a number MongoDB cannot store (64-bit
# integers), or a string that is not Unicode text (a lone surrogate), is refused before any route runs.
MAX_JSON_DEPTH = 32
INT64 = 2**63


def _too_deep() -> Coded:
    return Coded(
        "body.too_deep", f"The body is nested more than {MAX_JSON_DEPTH} levels deep.", most=MAX_JSON_DEPTH
    )


def _body_problem(body: Any) -> tuple[str, dict[str, list[str]]] | None:
    """(message, details) for the first thing in a JSON body the service refuses, else None."""
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return _too_deep(), {}
        if isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("$"):
                    return Coded(
                        "body.operator_field",
                        f"Field names may not start with '$' (found {key[:40]!r}).",
                        name=key[:40],
                    ), {key[:40]: [Coded("field.not_allowed", "Not allowed.")]}
                stack.append((key, depth + 1))
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return Coded(
                    "body.not_unicode",
                    "The body holds a string that is not valid Unicode text (a lone surrogate).",
                ), {}
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
            return Coded(
                "body.beyond_64_bits", "The body holds a whole number beyond 64 bits (±9223372036854775807)."
            ), {}
    return None


def _check_body() -> None:
    if request.method not in _BODY_METHODS or (not request.content_length and not request.data):
        return
    mimetype = request.mimetype
    if mimetype == "multipart/form-data" and getattr(_view(), "accepts_files", False):
        return
    if mimetype != "application/json":
        raise UnsupportedMediaType(
            Coded(
                "body.not_json_type",
                f"Send JSON with Content-Type: application/json (got {mimetype or 'none'}).",
                mimetype=mimetype or "none",
            ),
        )
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except RecursionError as error:
        raise BadRequest(_too_deep()) from error
    except ValueError as error:
        raise BadRequest(Coded("body.not_json", f"The body is not valid JSON: {error}.")) from error
    problem = _body_problem(body)
    if problem is not None:
        raise BadRequest(problem[0], details=problem[1])


def _view() -> Any:
    return current_app.view_functions.get(request.endpoint) if request.endpoint else None


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _enforce_access() -> None:
    rule = access.access_of(_view())
    if rule is None:
        # Fail closed: a route that forgot to declare its access is refused.
        raise Forbidden(Coded("access.no_policy", "This route declares no access policy."))
    if rule.public:
        return
    token = _bearer_token()
    if token is None:
        raise Unauthorized(
            Coded("auth.login_first", "Log in first: send Authorization: Bearer <token>."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = auth.principal_for_token(storage.get_db(), token)
    if principal.role not in rule.roles:
        raise Forbidden(
            Coded("access.role_refused", f"The {principal.role} role may not call this.", role=principal.role)
        )
    g.principal = principal
    g.token = token


def before_api_request() -> None:
    if not request.path.startswith(API_PREFIX) or request.endpoint is None:
        return
    _enforce_access()
    _check_body()


def principal() -> access.Principal:
    return g.principal


# Optimistic concurrency --------------------------------------------------------
# A versioned document carries an integer ``version``; its ETag is "<id>-<version>".
# Service functions update with the expected version inside the filter, so a
# concurrent edit matches nothing and becomes 412.


def etag_for(document: dict[str, Any]) -> str:
    return f'"{document["_id"]}-{document["version"]}"'


def expected_version(document_id: ObjectId) -> int:
    """The version a PATCH's If-Match names; 428 without one, 412 if it names another document."""
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired(
            "Send If-Match with the ETag you last read, so concurrent edits are not lost."
        )
    prefix = f'"{document_id}-'
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    if not (value.startswith(prefix) and value.endswith('"') and value[len(prefix) : -1].isdigit()):
        raise PreconditionFailed("If-Match does not match the current version; read it again.")
    return int(value[len(prefix) : -1])


def with_etag(document: dict[str, Any], status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A view's return value carrying the document's ETag header."""
    return document, status, {"ETag": etag_for(document)}


def _render_service_error(error: ServiceError):
    # Pages register their own renderer (an HTML page); the API always gets the JSON envelope.
    render_page = current_app.extensions.get("page_service_error_renderer")
    if render_page is not None and not request.path.startswith("/api"):
        return render_page(error)
    return render_service_error(error)


def _render_refused_file(error: FileRefused):
    return _render_service_error(refused_file(error))


def init_app(app: Flask) -> None:
    app.json = JSONProvider(app)
    app.before_request(_assign_request_id)
    app.before_request(before_api_request)
    app.register_error_handler(ServiceError, _render_service_error)
    app.register_error_handler(FileRefused, _render_refused_file)

    @app.after_request
    def _tag_response(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith(API_PREFIX):
            # Answers of the API hold tokens and personal data: no browser or proxy keeps them.
            response.headers.setdefault("Cache-Control", "no-store")
        if response.status_code == 429 and "Retry-After" not in response.headers:
            # A page that answers a refusal itself still says when to come back.
            wait = g.get("retry_after_seconds") or current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
            response.headers["Retry-After"] = str(wait)
        return response
