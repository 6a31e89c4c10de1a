"""Domain errors and the one error envelope every 4xx/5xx response uses.

Service functions raise ``ServiceError`` subclasses; the API, the CLI and the
pages each render them their own way, so rules never depend on HTTP. Every refusal
names its rule with a stable ``code`` and the ``params`` of its message, which is how
the pages translate it (service/web/messages.py); ``kind`` keeps the class's generic code.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import Response, jsonify
from marshmallow import fields as ma_fields
from marshmallow import validate as ma_validate
from werkzeug.exceptions import HTTPException

from adapters.errors import Coded, FileRefused, code_of

__all__ = ["Coded", "code_of"]


class ServiceError(Exception):
    status = 400
    code = "bad_request"
    kind = "bad_request"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The generic classes below name a kind; a rule's own subclass keeps its parent's.
        if cls.__module__ == __name__:
            cls.kind = cls.code

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        params: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        own_code, own_params = code_of(message)
        self.message = str(message)
        if code or own_code:
            self.code = code or own_code
        self.params = {**own_params, **(params or {})}
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
    """A file an adapter refused, as the service's validation error: the same message, code and details."""
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
    *,
    kind: str | None = None,
    params: dict[str, Any] | None = None,
) -> Response:
    body = {
        "code": code,
        "kind": kind or code,
        "message": str(message),
        "params": params or {},
        "details": details or {},
        "detail_codes": detail_codes(details or {}),
    }
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_service_error(error: ServiceError) -> Response:
    return envelope(
        error.status,
        error.code,
        error.message,
        error.details,
        error.headers,
        kind=error.kind,
        params=error.params,
    )


# marshmallow's own messages, recognised by the library's message templates (never by our wording).
def _template(text: str) -> re.Pattern[str]:
    pattern = re.escape(text.replace("{{", "{").replace("}}", "}"))
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>.+?)", pattern) + "$")


def _range_templates() -> list[tuple[str, str]]:
    found = []
    for inclusive in (True, False):
        rule = ma_validate.Range(min=0, max=0, min_inclusive=inclusive, max_inclusive=inclusive)
        suffix = "" if inclusive else "_exclusive"
        found += [
            ("field.range" + suffix, rule.message_all),
            ("field.min" + suffix, rule.message_min),
            ("field.max" + suffix, rule.message_max),
        ]
    return found


_DATETIME_INVALID = ma_fields.DateTime.default_error_messages["invalid"].format(obj_type="datetime")
_LIBRARY_TEMPLATES = [
    (code, _template(text))
    for code, text in [
        ("field.required", ma_fields.Field.default_error_messages["required"]),
        ("field.null", ma_fields.Field.default_error_messages["null"]),
        ("field.invalid", ma_fields.Field.default_error_messages["validator_failed"]),
        ("field.not_integer", ma_fields.Integer.default_error_messages["invalid"]),
        ("field.not_number", ma_fields.Number.default_error_messages["invalid"]),
        ("field.number_too_large", ma_fields.Number.default_error_messages["too_large"]),
        ("field.not_string", ma_fields.String.default_error_messages["invalid"]),
        ("field.not_date", ma_fields.Date.default_error_messages["invalid"]),
        ("field.not_datetime", _DATETIME_INVALID),
        ("field.not_boolean", ma_fields.Boolean.default_error_messages["invalid"]),
        ("field.not_list", ma_fields.List.default_error_messages["invalid"]),
        ("field.not_dict", ma_fields.Dict.default_error_messages["invalid"]),
        ("field.not_email", ma_fields.Email.default_error_messages["invalid"]),
        ("field.not_url", ma_fields.URL.default_error_messages["invalid"]),
        ("field.unknown", ma.Schema._default_error_messages["unknown"]),
        ("field.one_of", ma_validate.OneOf.default_message),
        ("field.length_range", ma_validate.Length.message_all),
        ("field.length_min", ma_validate.Length.message_min),
        ("field.length_max", ma_validate.Length.message_max),
        ("field.length_equal", ma_validate.Length.message_equal),
        ("field.pattern", ma_validate.Regexp.default_message),
        *_range_templates(),
    ]
]


def detail_code(message: Any) -> tuple[str, dict[str, Any]] | None:
    """A field message's code and params: its own, or those of one of marshmallow's messages."""
    code, params = code_of(message)
    if code:
        return code, params
    for code, pattern in _LIBRARY_TEMPLATES:
        match = pattern.match(str(message))
        if match:
            return code, match.groupdict()
    return None


def detail_codes(details: Any) -> dict[str, Any]:
    """``details`` with each message as its {code, params} (None where it has none), for translating."""
    if not isinstance(details, dict):
        return {}
    coded: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dict):
            coded[str(key)] = detail_codes(value)
        elif isinstance(value, (list, tuple)):
            coded[str(key)] = [_coded(item) for item in value]
        elif isinstance(value, str):
            coded[str(key)] = [_coded(value)]
    return coded


def _coded(message: Any) -> dict[str, Any] | None:
    if not isinstance(message, str):
        return None  # a record (a refused row) names its own code
    found = detail_code(message)
    return {"code": found[0], "params": found[1]} if found else None


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


def validation_summary(details: dict[str, Any]) -> Coded:
    if not details:
        return Coded("validation_error", "The request is not valid.")
    fields = sorted(str(key) for key in details)
    return Coded("validation_error", "Invalid input: " + ", ".join(fields) + ".", fields=fields)


def invalid_fields(problems: dict[str, Any]) -> ValidationFailed:
    """The 422 of one write checked as an import row is: one problem a field."""
    details = {name: [problem] for name, problem in problems.items()}
    return ValidationFailed(validation_summary(details), details=details)
