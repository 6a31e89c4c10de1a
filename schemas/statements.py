"""Schemas of income statements (收益明白卡), their verification codes, and income lines (收入监测线)."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import BaseSchema, Fen, ObjectIdField
from service import income_lines, statements


def Year(**kwargs) -> fields.Integer:
    return fields.Integer(
        validate=validate.Range(min=statements.FIRST_YEAR, max=statements.LAST_YEAR),
        metadata={"description": "A calendar year, e.g. 2020."},
        **kwargs,
    )


class StatementQueryArgsSchema(BaseSchema):
    year = Year(required=True)


class StatementHouseholdSchema(BaseSchema):
    id = ObjectIdField(attribute="_id")
    household_no = fields.String()
    head_name_masked = fields.String(metadata={"description": "The head's name masked (张*)."})
    id_number_masked = fields.String(allow_none=True, metadata={"description": "Never the full number."})
    members = fields.Integer(allow_none=True)
    county_code = fields.String()
    township_code = fields.String(allow_none=True)
    township_name = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    village_name = fields.String(allow_none=True)


class StatementFiguresSchema(BaseSchema):
    total_fen = Fen(metadata={"description": "Estimated income of the year (带贫收益)."})
    paid_fen = Fen(metadata={"description": "Paid to the household for periods in the year."})
    shares = fields.Integer(metadata={"description": "How many month-and-operator shares the figures hold."})


class CurrentFiguresSchema(StatementFiguresSchema):
    code = fields.String(metadata={"description": "The code a statement printed now would carry."})
    code_grouped = fields.String()


class StatementCheckSchema(BaseSchema):
    code = fields.String()
    code_grouped = fields.String(metadata={"description": "As printed: ABCDE-FGH23."})
    household = fields.Nested(StatementHouseholdSchema)
    year = fields.Integer()
    printed_at = fields.DateTime()
    superseded = fields.Boolean(
        metadata={"description": "The figures changed since the statement was printed."}
    )
    printed = fields.Nested(StatementFiguresSchema)
    current = fields.Nested(CurrentFiguresSchema)


class IncomeLineSchema(BaseSchema):
    province_code = fields.String()
    year = fields.Integer()
    amount_fen = Fen(metadata={"description": "Per-capita yearly income line, in fen."})
    note = fields.String(allow_none=True)
    updated_at = fields.DateTime()
    updated_by = fields.Dict()


class IncomeLineListSchema(BaseSchema):
    items = fields.List(fields.Nested(IncomeLineSchema))


class IncomeLineQueryArgsSchema(BaseSchema):
    year = Year()


class IncomeLineSetSchema(BaseSchema):
    amount_fen = Fen(
        required=True,
        validate=validate.Range(min=1, max=income_lines.MAX_LINE_FEN),
        metadata={"description": "Per-capita yearly income line in fen (4,000 yuan = 400000)."},
    )
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "Where the line comes from."},
    )


class ProgressRowSchema(BaseSchema):
    household_id = ObjectIdField()
    household_no = fields.String()
    head_name = fields.String(allow_none=True)
    members = fields.Integer()
    category = fields.String(metadata={"description": "exited (脱贫户) or monitored (监测对象)."})
    category_label = fields.String()
    estimated_fen = Fen()
    paid_fen = Fen()
    per_capita_estimated_fen = Fen(metadata={"description": "Rounded down to the fen."})
    per_capita_paid_fen = Fen()
    estimated_reaches_line = fields.Boolean(allow_none=True, metadata={"description": "Null with no line."})
    paid_reaches_line = fields.Boolean(allow_none=True)


class ProgressVillageSchema(BaseSchema):
    village_code = fields.String()
    village_name = fields.String(allow_none=True)
    township_name = fields.String(allow_none=True)
    households = fields.Integer()
    members = fields.Integer()
    estimated_fen = Fen()
    paid_fen = Fen()
    estimated_reaching = fields.Integer()
    paid_reaching = fields.Integer()
    items = fields.List(fields.Nested(ProgressRowSchema))


class IncomeLineProgressSchema(BaseSchema):
    county_code = fields.String()
    province_code = fields.String()
    year = fields.Integer()
    line = fields.Nested(IncomeLineSchema, allow_none=True)
    notice = fields.String(metadata={"description": "Always: this is not an exit or monitoring decision."})
    category_labels = fields.Dict(keys=fields.String(), values=fields.String())
    villages = fields.List(fields.Nested(ProgressVillageSchema))
