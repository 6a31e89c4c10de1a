"""What the OpenAPI document says beyond the schemas: id and date patterns, If-Match, xlsx answers.

A client generating requests from the document (or a fuzzer) then sends what the routes accept.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from schemas.base import DateRange, ObjectIdField
from service.extensions import Api
from service.xlsx import XLSX_MIMETYPE

OBJECT_ID_PATTERN = "^[0-9a-fA-F]{24}$"
# The years of schemas.base.FIRST_DAY to LAST_DAY, for dates (their format says the rest); not for
# date-times, which answers give in UTC (2000-01-01 in Shanghai is 1999-12-31T16:00Z).
YEAR_2000_TO_2100 = "^(20[0-9]{2}|2100)-"
ETAG_PATTERN = '^(W/)?"[0-9a-fA-F]{24}-[0-9]+"$'

_IF_MATCH_SCHEMA = {"type": "string", "pattern": ETAG_PATTERN}

# Edits that refuse to run blind: 428 without If-Match, 412 when it names another version.
IF_MATCH_REQUIRED = {
    "parameters": [
        {
            "in": "header",
            "name": "If-Match",
            "required": True,
            "schema": _IF_MATCH_SCHEMA,
            "description": "The ETag of the version you read (428 without it, 412 if it changed since).",
        }
    ]
}
# Steps that check the version only when asked to.
IF_MATCH_OPTIONAL = {
    "parameters": [
        {
            "in": "header",
            "name": "If-Match",
            "required": False,
            "schema": _IF_MATCH_SCHEMA,
            "description": "The ETag of the version you read; when sent, a concurrent change is a 412.",
        }
    ]
}
# An upload's template: a workbook of its columns, an example row and notes.
XLSX_TEMPLATE = {
    "responses": {
        "200": {
            "description": "The xlsx upload template.",
            "content": {XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}
# Reports answer ?format=xlsx with a workbook instead of JSON.
XLSX_ALTERNATIVE = {
    "responses": {
        200: {"content": {XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}}},
    }
}


def _field_properties(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(field, ObjectIdField):
        return {"type": "string", "pattern": OBJECT_ID_PATTERN}
    if isinstance(field, fields.Date) and any(isinstance(check, DateRange) for check in field.validators):
        return {"pattern": YEAR_2000_TO_2100}
    return {}


def refine(api: Api) -> None:
    """Teach the document's converter the service's own field types; before any blueprint registers."""
    api.ma_plugin.converter.add_attribute_function(_field_properties)
