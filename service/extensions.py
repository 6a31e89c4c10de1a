"""Thin subclasses of flask-smorest's Api and Blueprint, so behaviour is customised once."""

from __future__ import annotations

import flask_smorest
import marshmallow as ma
from flask import current_app, request
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from schemas.base import ErrorSchema
from service.errors import (
    envelope,
    flatten_validation_messages,
    http_error_code,
    validation_summary,
)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        render_page = current_app.extensions.get("page_error_renderer")
        if render_page is not None and not request.path.startswith("/api"):
            return render_page(error)
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        if "messages" in data:
            details = flatten_validation_messages(data["messages"])
            if error.code == 400:
                return envelope(400, "bad_request", _first_message(details), details, headers)
            summary, params = validation_summary(details), {"fields": sorted(str(key) for key in details)}
            return envelope(422, "validation_error", summary, details, headers, params=params)
        message = data.get("message") or error.description or error.name
        return envelope(error.code or 500, http_error_code(error), message, None, headers)


def _first_message(details: dict) -> str:
    for value in details.values():
        if isinstance(value, list) and value:
            return str(value[0])
        if isinstance(value, dict):
            return _first_message(value)
        if isinstance(value, str):
            return value
    return "The request could not be read."


class ArgumentsParser(FlaskParser):
    # Unknown query parameters are an error too, not silently dropped.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ArgumentsParser()
