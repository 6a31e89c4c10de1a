"""Schemas of the county reports (统计报表) and of a household's income explained."""

from __future__ import annotations

from marshmallow import fields, validate

from adapters.errors import Coded
from schemas.base import BaseSchema, CountyCode, Fen, ObjectIdField
from service.report_figures import DEFAULT_LIMIT, MAX_LIMIT

# Months of the years every date input lies in (schemas.base.FIRST_DAY to LAST_DAY).
MONTH = validate.Regexp(
    r"^(20\d{2}|2100)-(0[1-9]|1[0-2])$", error=Coded("period.bad_month", "A month as YYYY-MM, e.g. 2024-03.")
)


def Month(**kwargs) -> fields.String:
    """A calendar month, YYYY-MM (Asia/Shanghai)."""
    return fields.String(validate=MONTH, **kwargs)


# Query arguments ------------------------------------------------------------------------------------


class ReportQueryArgsSchema(BaseSchema):
    county_code = CountyCode(
        metadata={"description": "One of your counties (default: all of them; admins: every county)."}
    )
    operator_id = ObjectIdField(
        metadata={"description": "Only this market operator (an enterprise always sees only its own)."}
    )
    from_month = Month(data_key="from", metadata={"description": "First month, YYYY-MM (default: January)."})
    to_month = Month(data_key="to", metadata={"description": "Last month, inclusive (default: this month)."})
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "xlsx"]),
        metadata={"description": "xlsx: download a workbook with Chinese headers instead of JSON."},
    )


class RankingQueryArgsSchema(ReportQueryArgsSchema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


class HouseholdsReportQueryArgsSchema(ReportQueryArgsSchema):
    township_code = fields.String(
        validate=validate.Regexp(r"^\d{9}$", error=Coded("field.township_code", "A 9-digit township code."))
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CertificationQueryArgsSchema(ReportQueryArgsSchema):
    """The common arguments; ``from`` and ``to`` are accepted but unused (the report is as of now)."""


class HouseholdIncomeQueryArgsSchema(BaseSchema):
    from_month = Month(data_key="from", metadata={"description": "First month, YYYY-MM (default: January)."})
    to_month = Month(data_key="to", metadata={"description": "Last month, inclusive (default: this month)."})


# Reports ----------------------------------------------------------------------------------------------


class PartitionSchema(BaseSchema):
    county_code = fields.String()
    month = fields.String()


class ReportSchema(BaseSchema):
    """What every report carries: its scope, and the county-months still being recomputed."""

    county_codes = fields.List(
        fields.String(), allow_none=True, metadata={"description": "null: every county."}
    )
    operator_id = ObjectIdField(allow_none=True)
    from_month = fields.String(data_key="from")
    to_month = fields.String(data_key="to")
    stale_partitions = fields.List(
        fields.Nested(PartitionSchema),
        metadata={"description": "County-months whose figures are being recomputed (usually empty)."},
    )


class ChannelSalesSchema(BaseSchema):
    channel = fields.String()
    channel_label = fields.String()
    sales_fen = Fen()
    certified_sales_fen = Fen()
    uncertified_sales_fen = Fen()
    unmatched_sales_fen = Fen()
    poor_income_fen = Fen()
    quantity = fields.Integer()
    lines = fields.Integer()


class SummaryReportSchema(ReportSchema):
    sales_fen = Fen()
    certified_sales_fen = Fen(metadata={"description": "Sales of products certified at the time of sale."})
    uncertified_sales_fen = Fen(metadata={"description": "Matched to a product, but not certified."})
    unmatched_sales_fen = Fen(metadata={"description": "Matched to no product in the catalogue."})
    poor_income_fen = Fen(metadata={"description": "带贫收益: the sum of the operators' pools."})
    allocated_fen = Fen()
    unallocated_fen = Fen()
    households_benefited = fields.Integer(metadata={"description": "Households with a non-zero income."})
    people_benefited = fields.Integer()
    operators_selling = fields.Integer(metadata={"description": "Operators with net sales above zero."})
    products_selling = fields.Integer(metadata={"description": "Products with net sales above zero."})
    by_channel = fields.List(fields.Nested(ChannelSalesSchema))
    by_category = fields.List(
        fields.Nested(lambda: CategoryIncomeSchema()),
        metadata={"description": "Income and households by household category, each month as it was then."},
    )


class CategoryIncomeSchema(BaseSchema):
    category = fields.String(
        allow_none=True, metadata={"description": "null: a household no longer on the register."}
    )
    category_label = fields.String()
    income_fen = Fen()
    households = fields.Integer(metadata={"description": "Counted under their latest month with income."})


class MonthlyRowSchema(BaseSchema):
    month = fields.String()
    channel = fields.String()
    channel_label = fields.String()
    sales_fen = Fen()
    certified_sales_fen = Fen()
    poor_income_fen = Fen()


class MonthlyReportSchema(ReportSchema):
    items = fields.List(fields.Nested(MonthlyRowSchema))


class RankingRowSchema(BaseSchema):
    rank = fields.Integer()
    sales_fen = Fen()
    certified_sales_fen = Fen()
    poor_income_fen = Fen()
    quantity = fields.Integer()
    lines = fields.Integer()


class ProductRankingRowSchema(RankingRowSchema):
    product_id = ObjectIdField()
    product_name = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    category_label = fields.String(allow_none=True)
    operator_id = ObjectIdField(allow_none=True)
    operator_name = fields.String(allow_none=True)


class ProductRankingSchema(ReportSchema):
    limit = fields.Integer()
    items = fields.List(fields.Nested(ProductRankingRowSchema))


class OperatorRankingRowSchema(RankingRowSchema):
    operator_id = ObjectIdField()
    operator_name = fields.String(allow_none=True)
    county_code = fields.String(allow_none=True)


class OperatorRankingSchema(ReportSchema):
    limit = fields.Integer()
    items = fields.List(fields.Nested(OperatorRankingRowSchema))


class CategoryRowSchema(BaseSchema):
    category = fields.String(metadata={"description": "A product category, or 'unmatched'."})
    category_label = fields.String()
    sales_fen = Fen()
    certified_sales_fen = Fen()
    poor_income_fen = Fen()
    quantity = fields.Integer()
    products = fields.Integer()


class CategoryReportSchema(ReportSchema):
    items = fields.List(fields.Nested(CategoryRowSchema))


class TownshipRowSchema(BaseSchema):
    township_code = fields.String(allow_none=True)
    township_name = fields.String(
        allow_none=True, metadata={"description": "From the place register; null: none yet."}
    )
    income_fen = Fen()
    households = fields.Integer()
    people = fields.Integer()


class TownshipReportSchema(ReportSchema):
    items = fields.List(fields.Nested(TownshipRowSchema))


class HouseholdIncomeRowSchema(BaseSchema):
    household_id = ObjectIdField()
    household_no = fields.String()
    head_name = fields.String(allow_none=True, metadata={"description": "Masked (张*) for enterprises."})
    household_county_code = fields.String(allow_none=True)
    township_code = fields.String(allow_none=True)
    members = fields.Integer(allow_none=True)
    income_fen = Fen()


class IncomeBucketSchema(BaseSchema):
    label = fields.String()
    min_fen = Fen(allow_none=True, metadata={"description": "Inclusive; null: no lower bound."})
    max_fen = Fen(allow_none=True, metadata={"description": "Exclusive; null: no upper bound."})
    households = fields.Integer()


class IncomeDistributionSchema(BaseSchema):
    count = fields.Integer()
    total_fen = Fen()
    median_fen = Fen(allow_none=True, metadata={"description": "The lower median (an actual value)."})
    p90_fen = Fen(allow_none=True, metadata={"description": "90th percentile, nearest-rank method."})
    buckets = fields.List(fields.Nested(IncomeBucketSchema))


class HouseholdsReportSchema(ReportSchema):
    township_code = fields.String(allow_none=True)
    items = fields.List(fields.Nested(HouseholdIncomeRowSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    distribution = fields.Nested(IncomeDistributionSchema)


class StatusCountSchema(BaseSchema):
    status = fields.String()
    status_label = fields.String()
    products = fields.Integer()


class ExpiringCountsSchema(BaseSchema):
    within_30_days = fields.Integer()
    within_60_days = fields.Integer()
    within_90_days = fields.Integer()


class ExpiringProductSchema(BaseSchema):
    product_id = ObjectIdField()
    product_name = fields.String()
    operator_id = ObjectIdField()
    operator_name = fields.String(allow_none=True)
    county_code = fields.String()
    valid_until = fields.DateTime()
    days_left = fields.Integer()


class CertificationReportSchema(BaseSchema):
    county_codes = fields.List(fields.String(), allow_none=True)
    operator_id = ObjectIdField(allow_none=True)
    as_of = fields.DateTime()
    total = fields.Integer()
    by_status = fields.List(fields.Nested(StatusCountSchema))
    expiring = fields.Nested(
        ExpiringCountsSchema,
        metadata={"description": "Certified products expiring within N days (cumulative)."},
    )
    expiring_products = fields.List(fields.Nested(ExpiringProductSchema))


class UnallocatedRowSchema(BaseSchema):
    county_code = fields.String()
    month = fields.String()
    operator_id = ObjectIdField()
    operator_name = fields.String(allow_none=True)
    pool_fen = Fen()
    unallocated_fen = Fen()
    certified_sales_fen = Fen()
    lines = fields.Integer()


class UnallocatedReportSchema(ReportSchema):
    unallocated_fen = Fen()
    items = fields.List(fields.Nested(UnallocatedRowSchema))


# A household's income, explained -------------------------------------------------------------------


class IncomeHouseholdSchema(BaseSchema):
    id = ObjectIdField(attribute="_id")
    household_no = fields.String()
    head_name = fields.String(allow_none=True)
    county_code = fields.String(allow_none=True)
    township_code = fields.String(allow_none=True)
    members = fields.Integer(allow_none=True)


class IncomeLinkSchema(BaseSchema):
    link_id = ObjectIdField()
    mechanism = fields.String(allow_none=True)
    mechanism_label = fields.String(allow_none=True)
    weight = fields.Integer()
    active_days = fields.Integer()


class IncomeSourceSchema(BaseSchema):
    product_id = ObjectIdField()
    product_name = fields.String(allow_none=True)
    channel = fields.String()
    channel_label = fields.String()
    sales_fen = Fen()
    poor_income_fen = Fen()
    lines = fields.Integer()


class IncomeShareSchema(BaseSchema):
    month = fields.String()
    county_code = fields.String(metadata={"description": "The operator's county (where the sales were)."})
    operator_id = ObjectIdField()
    operator_name = fields.String(allow_none=True)
    pool_fen = Fen()
    weighted = fields.Integer(metadata={"description": "This household's Σ weight × active days."})
    total_weighted = fields.Integer(
        metadata={"description": "All linked households' Σ weight × active days."}
    )
    share_fen = Fen()
    links = fields.List(fields.Nested(IncomeLinkSchema))
    sources = fields.List(fields.Nested(IncomeSourceSchema))
    explanation = fields.String()


class MonthShareSchema(BaseSchema):
    month = fields.String()
    share_fen = Fen()


class HouseholdIncomeSchema(BaseSchema):
    household = fields.Nested(IncomeHouseholdSchema)
    operator_id = ObjectIdField(
        allow_none=True, metadata={"description": "Set for an enterprise: only its own operator's share."}
    )
    from_month = fields.String(data_key="from")
    to_month = fields.String(data_key="to")
    total_fen = Fen()
    paid_fen = Fen(metadata={"description": "Paid to the household for periods overlapping these months."})
    by_month = fields.List(fields.Nested(MonthShareSchema))
    items = fields.List(fields.Nested(IncomeShareSchema))
    method = fields.String()
    labels = fields.Dict(keys=fields.String(), values=fields.Dict())
    stale_partitions = fields.List(fields.Nested(PartitionSchema))
