"""Domain errors and the one error envelope every 4xx/5xx response uses.

Service functions raise ``ServiceError`` subclasses; the API, the CLI and the
pages each render them their own way, so rules never depend on HTTP.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from adapters.errors import FileRefused


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class PreconditionFailed(ServiceError):
    status, code = 412, "precondition_failed"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ServiceError):
    """Input that parses but breaks a rule; details are keyed by field."""

    status, code = 422, "validation_error"


def refused_file(error: FileRefused) -> ValidationFailed:
    """A file an adapter refused, as the service's validation error: the same message and details."""
    return ValidationFailed(error.message, details=error.details)


class PreconditionRequired(ServiceError):
    status, code = 428, "precondition_required"


class TooManyRequests(ServiceError):
    status, code = 429, "too_many_requests"


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_service_error(error: ServiceError) -> Response:
    return envelope(error.status, error.code, error.message, error.details, error.headers)


# Werkzeug names its exceptions "Not Found"; the envelope wants snake_case codes.
def http_error_code(error: HTTPException) -> str:
    name = error.name if error.name else "error"
    return name.lower().replace(" ", "_").replace("-", "_")


def flatten_validation_messages(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}}); the envelope keys them by field."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    details: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            details.update(fields)
        else:
            details[location] = fields
    return details


def validation_summary(details: dict[str, Any]) -> str:
    if not details:
        return "The request is not valid."
    return "Invalid input: " + ", ".join(sorted(str(key) for key in details)) + "."
