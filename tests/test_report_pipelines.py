"""The reports' pure parts: scope resolution, pipeline builders, the sums added up from their rows,
and the income statistics."""

from __future__ import annotations

from datetime import date

import mongomock_ng
import pytest
from bson import ObjectId

from adapters import base
from service import (
    certification,
    products,
    report_downloads,
    report_figures,
    report_pipelines,
    report_scope,
    vocabulary,
)
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, Principal
from service.errors import Forbidden, ValidationFailed
from service.report_scope import ReportScope

TODAY = date(2024, 5, 20)
OPERATOR = ObjectId("65a000000000000000000001")
OTHER_OPERATOR = ObjectId("65a000000000000000000002")
STAFF = Principal(None, "staff", COUNTY_STAFF, county_codes=("340722", "341822"))
ADMIN_USER = Principal(None, "admin", ADMIN)
ENTERPRISE_USER = Principal(None, "ent", ENTERPRISE, operator_id=OPERATOR)
SCOPE = ReportScope(("340722",), None, "2024-01", "2024-03")


def resolve(actor, **args):
    return report_scope.resolve_scope(actor, today=TODAY, **args)


# Scope ----------------------------------------------------------------------------------------------


def test_staff_cover_all_their_counties_by_default():
    assert resolve(STAFF).county_codes == ("340722", "341822")


def test_staff_may_narrow_to_one_of_their_counties():
    assert resolve(STAFF, county_code="341822").county_codes == ("341822",)


def test_staff_may_not_name_another_county():
    with pytest.raises(Forbidden):
        resolve(STAFF, county_code="110101")


def test_an_admin_covers_every_county_unless_one_is_named():
    assert resolve(ADMIN_USER).county_codes is None
    assert resolve(ADMIN_USER, county_code="110101").county_codes == ("110101",)


def test_an_enterprise_is_held_to_its_own_operator():
    scope = resolve(ENTERPRISE_USER, operator_id=OTHER_OPERATOR)
    assert (scope.operator_id, scope.county_codes) == (OPERATOR, None)


def test_a_county_named_by_an_enterprise_only_narrows_its_own_figures():
    scope = resolve(ENTERPRISE_USER, county_code="341822", operator_id=OTHER_OPERATOR)
    assert (scope.operator_id, scope.county_codes) == (OPERATOR, ("341822",))


def test_a_canteen_has_no_scope_here():
    with pytest.raises(Forbidden):
        resolve(Principal(None, "canteen", CANTEEN, canteen_id=ObjectId()))


def test_the_period_defaults_to_january_to_this_month():
    scope = resolve(STAFF)
    assert (scope.from_month, scope.to_month) == ("2024-01", "2024-05")
    assert report_scope.default_period(date(2025, 12, 31)) == ("2025-01", "2025-12")


def test_a_period_ending_before_it_starts_is_refused_on_the_to_field():
    with pytest.raises(ValidationFailed) as raised:
        resolve(STAFF, from_month="2024-04", to_month="2024-03")
    assert "to" in raised.value.details


def test_months_between_crosses_the_year_end():
    assert report_scope.months_between("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]


def test_download_names_carry_the_county_and_the_period():
    assert report_downloads.download_name("summary", SCOPE) == "summary-340722-2024-01-2024-03.xlsx"
    two = ReportScope(("340722", "341822"), None, "2024-01", "2024-12")
    assert report_downloads.download_name("summary", two) == "summary-all-2024-01-2024-12.xlsx"
    assert (
        report_downloads.download_name("certification", SCOPE, periodic=False) == "certification-340722.xlsx"
    )


# The match --------------------------------------------------------------------------------------------


def test_one_county_is_matched_by_equality_and_the_period_by_month_range():
    assert report_pipelines.scope_match(SCOPE) == {
        "county_code": "340722",
        "month": {"$gte": "2024-01", "$lte": "2024-03"},
    }


def test_several_counties_and_an_operator_are_matched_together():
    scope = ReportScope(("340722", "341822"), OPERATOR, "2024-01", "2024-01")
    assert report_pipelines.scope_match(scope) == {
        "county_code": {"$in": ["340722", "341822"]},
        "month": "2024-01",
        "operator_id": OPERATOR,
    }
    several = ReportScope(("340722",), None, "2024-01", "2024-02")
    assert report_pipelines.scope_match(several)["month"] == {"$gte": "2024-01", "$lte": "2024-02"}


def test_staff_without_counties_match_nothing():
    assert report_pipelines.scope_match(ReportScope((), None, "2024-01", "2024-01"))["county_code"] == {
        "$in": []
    }


def test_every_county_means_no_county_condition():
    assert "county_code" not in report_pipelines.scope_match(ReportScope(None, None, "2024-01", "2024-01"))


def test_the_match_can_leave_out_the_period():
    assert report_pipelines.scope_match(SCOPE, period=False) == {"county_code": "340722"}


# The pipelines ----------------------------------------------------------------------------------------

BUILDERS = {
    "pool_totals": lambda scope: report_pipelines.pool_totals_pipeline(scope),
    "monthly": lambda scope: report_pipelines.monthly_pipeline(scope),
    "product_sales": lambda scope: report_pipelines.product_sales_pipeline(scope),
    "household_totals": lambda scope: report_pipelines.household_totals_pipeline(scope),
    "unallocated": lambda scope: report_pipelines.unallocated_pipeline(scope),
}


def _operators(value):
    """Every $-key anywhere in a pipeline."""
    if isinstance(value, dict):
        found = {key for key in value if key.startswith("$")}
        for item in value.values():
            found |= _operators(item)
        return found
    if isinstance(value, list):
        return set().union(set(), *(_operators(item) for item in value))
    return set()


@pytest.mark.parametrize("name", BUILDERS)
def test_every_pipeline_starts_with_the_scope_match_so_an_index_serves_it(name):
    pipeline = BUILDERS[name](SCOPE)
    first = pipeline[0]["$match"]
    assert first["county_code"] == "340722" and first["month"] == {"$gte": "2024-01", "$lte": "2024-03"}


@pytest.mark.parametrize("name", BUILDERS)
def test_no_pipeline_uses_stages_the_emulator_or_a_locked_down_server_lacks(name):
    assert not _operators(BUILDERS[name](SCOPE)) & {"$bucketAuto", "$where", "$function", "$accumulator"}


def _product_row(operator_id, product_id, sales_fen, matched=True):
    return {
        "_id": {
            "operator_id": operator_id,
            "product_id": product_id,
            "certified": matched,
            "matched": matched,
        },
        **dict.fromkeys(report_pipelines.GROUPED_SUMS, 0),
        "sales_fen": sales_fen,
    }


def test_the_product_sales_group_by_operator_product_and_flags_right_after_the_match():
    pipeline = report_pipelines.product_sales_pipeline(SCOPE)
    assert pipeline[1]["$group"]["_id"] == {
        "operator_id": "$operator_id",
        "product_id": "$product_id",
        "certified": "$certified",
        "matched": "$matched",
    }


def test_grouped_sums_are_plain_so_no_expression_runs_per_document():
    for pipeline in (
        report_pipelines.product_sales_pipeline(SCOPE),
        report_pipelines.monthly_pipeline(SCOPE),
    ):
        assert "$cond" not in _operators(pipeline)


@pytest.mark.parametrize(
    ("certified", "matched", "split"),
    [(True, True, (100, 100, 0, 0)), (False, True, (100, 0, 100, 0)), (False, False, (100, 0, 0, 100))],
)
def test_sales_split_by_their_flags(certified, matched, split):
    row = {"_id": {"certified": certified, "matched": matched}, "sales_fen": 100, "poor_income_fen": 15,
           "quantity": 2, "lines": 1}  # fmt: skip
    sums = report_figures.split_sales(row)
    names = ("sales_fen", "certified_sales_fen", "uncertified_sales_fen", "unmatched_sales_fen")
    assert tuple(sums[name] for name in names) == split
    assert (sums["poor_income_fen"], sums["quantity"], sums["lines"]) == (15, 2, 1)


def test_monthly_rows_add_up_by_month_then_channel():
    def row(month, channel, certified, sales_fen):
        flags = {"month": month, "channel": channel, "certified": certified, "matched": True}
        return {"_id": flags, "sales_fen": sales_fen, "poor_income_fen": 0, "quantity": 1, "lines": 1}

    rows = [row("2024-02", "jd", True, 5), row("2024-01", "p832", True, 7), row("2024-01", "jd", False, 3),
            row("2024-01", "jd", True, 4)]  # fmt: skip
    totals = report_figures.month_channel_totals(rows)
    assert list(totals) == [("2024-01", "jd"), ("2024-01", "p832"), ("2024-02", "jd")]
    assert (totals[("2024-01", "jd")]["sales_fen"], totals[("2024-01", "jd")]["certified_sales_fen"]) == (
        7,
        4,
    )


def test_a_ranking_sorts_by_sales_with_the_id_breaking_ties_and_stops_at_the_limit():
    first, second, third = (ObjectId(f"65b00000000000000000000{n}") for n in (1, 2, 3))
    rows = [
        _product_row(OPERATOR, third, 500),
        _product_row(OPERATOR, second, 500),
        _product_row(OPERATOR, first, 100),
        _product_row(OPERATOR, first, 450),  # the same product under a second row adds up
        _product_row(None, None, 9_999, matched=False),  # unmatched sales rank nowhere
    ]
    ranked = report_figures.ranking(rows, "product_id", 2)
    assert [(row["_id"], row["sales_fen"]) for row in ranked] == [(first, 550), (second, 500)]
    assert [row["_id"] for row in report_figures.ranking(rows, "operator_id", 5)] == [OPERATOR]


@pytest.mark.parametrize("limit", [0, 201])
def test_a_ranking_limit_outside_1_to_200_is_a_programming_error(limit):
    with pytest.raises(ValueError):
        report_figures.ranking([], "product_id", limit)


def test_a_ranking_key_other_than_product_or_operator_is_refused():
    with pytest.raises(ValueError):
        report_figures.ranking([], "$where", 5)


def test_sellers_count_those_whose_net_matched_sales_are_above_zero():
    refunded = ObjectId()
    rows = [
        _product_row(OPERATOR, ObjectId(), 300),
        _product_row(OTHER_OPERATOR, refunded, 200),
        _product_row(OTHER_OPERATOR, refunded, -200),
        _product_row(None, None, 70, matched=False),
    ]
    assert report_figures.sellers_count(rows, "product_id") == 1
    assert report_figures.sellers_count(rows, "operator_id") == 1


def test_household_totals_read_only_their_fields_and_sort_by_month_before_taking_the_latest_township():
    pipeline = report_pipelines.household_totals_pipeline(SCOPE, township_code="340722101")
    assert pipeline[0]["$match"]["township_code"] == "340722101"
    assert set(pipeline[1]["$project"]) == set(report_pipelines.HOUSEHOLD_TOTAL_FIELDS)
    assert "links" not in pipeline[1]["$project"]
    assert pipeline[2] == {"$sort": {"month": 1, "_id": 1}}  # a total order: $last is one document
    assert pipeline[3]["$group"]["township_code"] == {"$last": "$township_code"}
    assert pipeline[-1] == {"$match": {"income_fen": {"$ne": 0}}}


def test_townships_add_up_income_households_and_people_with_an_unknown_township_first():
    rows = [
        {"income_fen": 100, "township_code": "340722102", "members": 3},
        {"income_fen": 50, "township_code": "340722101", "members": 2},
        {"income_fen": 25, "township_code": "340722101"},  # members unknown: no people counted
        {"income_fen": 5, "township_code": None, "members": 1},
    ]
    assert report_figures.township_totals(rows) == [
        {"township_code": None, "income_fen": 5, "households": 1, "people": 1},
        {"township_code": "340722101", "income_fen": 75, "households": 2, "people": 2},
        {"township_code": "340722102", "income_fen": 100, "households": 1, "people": 3},
    ]


def test_the_household_income_pipeline_can_be_held_to_one_operator():
    household = ObjectId()
    match = report_pipelines.household_income_pipeline(household, "2024-01", "2024-02", OPERATOR)[0]["$match"]
    assert match == {
        "household_id": household,
        "month": {"$gte": "2024-01", "$lte": "2024-02"},
        "operator_id": OPERATOR,
    }


def test_stale_partitions_are_the_dirty_county_months_of_the_period():
    assert report_pipelines.stale_partitions_query(["341822", "340722", "340722"], "2024-01", "2024-02") == {
        "dirty": True,
        "month": {"$gte": "2024-01", "$lte": "2024-02"},
        "county_code": {"$in": ["340722", "341822"]},
    }


# The pipelines' meaning, on an in-memory collection (no app, no HTTP) ---------------------------------


def _daily(**fields):
    row = {
        "county_code": "340722",
        "month": "2024-01",
        "channel": "jd",
        "operator_id": OPERATOR,
        "product_id": ObjectId(),
        "certified": True,
        "matched": True,
        "sales_fen": 0,
        "quantity": 1,
        "poor_income_fen": 0,
        "lines": 1,
    }
    return {**row, **fields}


@pytest.fixture
def daily():
    collection = mongomock_ng.MongoClient(tz_aware=True).db.sales_daily
    product = ObjectId()
    collection.insert_many(
        [
            _daily(product_id=product, sales_fen=1_000, poor_income_fen=150),
            _daily(product_id=product, sales_fen=-200, quantity=-1, poor_income_fen=-30),
            _daily(certified=False, sales_fen=500),
            _daily(operator_id=None, product_id=None, certified=False, matched=False, sales_fen=70),
            _daily(channel="p832", sales_fen=300, poor_income_fen=30),
            _daily(month="2024-04", sales_fen=9_999),  # outside the period
            _daily(county_code="341822", sales_fen=8_888),  # outside the county
        ]
    )
    return collection


def test_sales_split_three_ways_by_channel(daily):
    rows = report_figures.channel_totals(daily.aggregate(report_pipelines.monthly_pipeline(SCOPE)))
    assert list(rows) == ["jd", "p832"]
    jd = rows["jd"]
    assert (
        jd["sales_fen"],
        jd["certified_sales_fen"],
        jd["uncertified_sales_fen"],
        jd["unmatched_sales_fen"],
    ) == (
        1_370,
        800,
        500,
        70,
    )
    assert (jd["poor_income_fen"], jd["lines"]) == (120, 4)
    assert rows["p832"]["certified_sales_fen"] == 300


def test_products_selling_count_only_net_positive_matched_products(daily):
    daily.insert_one(_daily(product_id=ObjectId(), sales_fen=0))
    rows = list(daily.aggregate(report_pipelines.product_sales_pipeline(SCOPE)))
    assert report_figures.sellers_count(rows, "product_id") == 3


def test_the_ranking_orders_products_by_net_sales(daily):
    rows = report_figures.ranking(
        list(daily.aggregate(report_pipelines.product_sales_pipeline(SCOPE))), "product_id", 2
    )
    assert [row["sales_fen"] for row in rows] == [800, 500]


# Income statistics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "median"),
    [([], None), ([7], 7), ([1, 2], 1), ([3, 1, 2], 2), ([4, 1, 3, 2], 2)],
)
def test_the_median_is_the_lower_median_so_it_stays_an_integer_amount(values, median):
    assert report_figures.lower_median(values) == median


@pytest.mark.parametrize(
    ("values", "p90"),
    [
        ([], None),
        ([5], 5),
        ([1, 2], 2),
        (list(range(1, 11)), 9),
        (list(range(1, 21)), 18),
        (list(range(1, 12)), 10),
    ],
)
def test_the_90th_percentile_is_the_nearest_rank(values, p90):
    assert report_figures.nearest_rank_percentile(values, 90) == p90


def test_the_histogram_edges_are_fixed_yuan_amounts_counted_in_fen():
    buckets = report_figures.income_buckets()
    assert [(b["min_fen"], b["max_fen"]) for b in buckets] == [
        (None, 0),
        (0, 10_000),
        (10_000, 50_000),
        (50_000, 100_000),
        (100_000, 200_000),
        (200_000, 500_000),
        (500_000, 1_000_000),
        (1_000_000, None),
    ]
    assert buckets[1]["label"] == "0–100元" and buckets[-1]["label"] == "10,000元及以上"


def test_each_household_falls_in_exactly_one_bucket_lower_edge_included():
    distribution = report_figures.income_distribution([-50, 0, 9_999, 10_000, 1_000_000, 123_456_789])
    counts = [bucket["households"] for bucket in distribution["buckets"]]
    assert counts == [1, 2, 1, 0, 0, 0, 0, 2]
    assert distribution["count"] == 6 and distribution["total_fen"] == sum(
        [-50, 0, 9_999, 10_000, 1_000_000, 123_456_789]
    )


def test_an_empty_distribution_has_no_median():
    distribution = report_figures.income_distribution([])
    assert (distribution["count"], distribution["median_fen"], distribution["p90_fen"]) == (0, None, None)


# Labels -----------------------------------------------------------------------------------------------


def test_every_channel_category_and_status_has_a_chinese_label():
    assert set(base.CHANNELS) <= set(vocabulary.CHANNEL_LABELS)
    assert set(products.CHANNELS) <= set(vocabulary.CHANNEL_LABELS)
    assert set(products.CATEGORIES) <= set(vocabulary.CATEGORY_LABELS)
    assert set(certification.STATUSES) <= set(vocabulary.STATUS_LABELS)
