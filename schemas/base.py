"""The base schema and the field types every resource shares."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import marshmallow as ma
from bson import ObjectId
from bson.errors import InvalidId
from marshmallow import fields, validate

from adapters.errors import Coded
from adapters.tabular import MAX_AMOUNT_FEN

# Every date and time a request may carry lies in these bounds; beyond them is a typo, and the extremes
# (year 1, year 9999) overflow the Asia/Shanghai ↔ UTC conversion or BSON's date range.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
# Real time zones lie between UTC−12:00 and UTC+14:00.
MIN_OFFSET, MAX_OFFSET = timedelta(hours=-12), timedelta(hours=14)


class DateRange(validate.Validator):
    """A date, or a date and time with its wall-clock day, between FIRST_DAY and LAST_DAY."""

    def __call__(self, value: Any) -> Any:
        day = value.date() if isinstance(value, datetime) else value
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ma.ValidationError(
                Coded(
                    "date.range",
                    f"A date between {FIRST_DAY} and {LAST_DAY}.",
                    first=str(FIRST_DAY),
                    last=str(LAST_DAY),
                )
            )
        offset = value.utcoffset() if isinstance(value, datetime) else None
        if offset is not None and not MIN_OFFSET <= offset <= MAX_OFFSET:
            raise ma.ValidationError(
                Coded("date.bad_offset", "A time zone offset between -12:00 and +14:00.")
            )
        return value


def _dated_fields(field_obj: fields.Field) -> list[fields.Field]:
    """The date and datetime fields in a field, including the items of a list, tuple or mapping."""
    if isinstance(field_obj, (fields.Date, fields.DateTime)):
        return [field_obj]
    inner: list[fields.Field] = []
    if isinstance(field_obj, fields.List):
        inner = [field_obj.inner]
    elif isinstance(field_obj, fields.Tuple):
        inner = list(field_obj.tuple_fields)
    elif isinstance(field_obj, fields.Mapping) and field_obj.value_field is not None:
        inner = [field_obj.value_field]
    return [found for item in inner for found in _dated_fields(item)]


class BaseSchema(ma.Schema):
    """Unknown fields are an error, so a typo never silently drops data; every date input is range-checked."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        for dated in _dated_fields(field_obj):
            if not any(isinstance(check, DateRange) for check in dated.validators):
                dated.validators.append(DateRange())


class ObjectIdField(fields.Field):
    """A MongoDB ObjectId, written as its 24-character hex string."""

    default_error_messages = {"invalid": Coded("field.not_an_id", "Not a valid id.")}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> ObjectId:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return ObjectId(value)
        except (InvalidId, TypeError) as error:
            raise self.make_error("invalid") from error


def Fen(**kwargs: Any) -> fields.Integer:
    """An amount of money in integer fen (分), at most 1万亿元 either way; floats and strings are refused."""
    bound = validate.Range(min=-MAX_AMOUNT_FEN, max=MAX_AMOUNT_FEN)
    extra = kwargs.pop("validate", None)
    validators = [bound, *([extra] if callable(extra) else extra or [])]
    return fields.Integer(strict=True, validate=validators, **kwargs)


def BasisPoints(**kwargs: Any) -> fields.Integer:
    """A rate in integer basis points (1500 = 15.00%)."""
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=10000), **kwargs)


COUNTY_CODE = re.compile(r"^\d{6}$")


def CountyCode(**kwargs: Any) -> fields.String:
    """A 6-digit county code (GB/T 2260), e.g. 340722 枞阳县."""
    return fields.String(
        validate=validate.Regexp(
            COUNTY_CODE, error=Coded("field.county_code", "Must be a 6-digit county code.")
        ),
        **kwargs,
    )


class PageArgsSchema(BaseSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_of(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A list response: one page of items plus where it sits in the whole."""
    return type(
        name,
        (ma.Schema,),
        {
            "items": fields.List(fields.Nested(item_schema)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "total": fields.Integer(allow_none=True),
        },
    )


class ErrorSchema(ma.Schema):
    class ErrorBodySchema(ma.Schema):
        code = fields.String(metadata={"description": "The rule refused: a stable code."})
        kind = fields.String(metadata={"description": "The status's generic code (validation_error)."})
        message = fields.String(metadata={"description": "The refusal in English."})
        params = fields.Dict(metadata={"description": "The values in the message, by name (amounts in fen)."})
        details = fields.Dict(metadata={"description": "Messages by field."})
        detail_codes = fields.Dict(
            metadata={"description": "details, each message as {code, params} (null where it has none)."}
        )

    error = fields.Nested(ErrorBodySchema)
