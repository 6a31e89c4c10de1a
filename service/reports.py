"""County reports (统计报表) on sales and household income, and the explanation of a household's income.

Reports read only the derived ledger collections — ``sales_monthly``, ``operator_pools`` and
``household_income`` — plus the small catalogue collections for names, never the raw ``sales``,
so their cost grows with products, operators and households, not with the number of sales.

Aggregation pipelines are built by pure functions (``*_pipeline``, ``scope_match``) and run
through a :class:`ReportContext`, which makes each read once per scope, so the reports of one
request (the county dashboard runs seven) share them: three small groupings — sales by month and
channel, sales by operator and product, each household's total — from which pure functions add up
the channels, rankings, counts of sellers, categories and townships. Who sees what
(:func:`resolve_scope`):

- county staff: their counties (one of them with ``county_code``, all of them by default);
- admins: every county, or the one named;
- an enterprise: the same reports restricted to its own operator, whatever operator it names;
- canteens: none (their reports live with the canteens).

All money is integer fen; the median and 90th percentile of households' income are taken from
the integer values themselves (lower median, nearest rank), so they are integers too. Every
report also lists ``stale_partitions``: county-months in scope marked dirty in
``ledger_partitions`` whose figures are being recomputed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import households, report_cache, storage, unmatched_sales
from service import operators as operator_records
from service import products as product_records
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, Principal, require_county
from service.benefit_links import MECHANISMS
from service.certification import CERTIFIED, STATUSES
from service.clock import today_local, utcnow
from service.errors import Forbidden, NotFound, ValidationFailed
from service.products import effective_status
from service.xlsx import FEN, INTEGER, TEXT, Column, Sheet, write_xlsx, yuan_text

REPORT_ROLES = (ADMIN, COUNTY_STAFF, ENTERPRISE)
DEFAULT_LIMIT = 20
MAX_LIMIT = 200
EXPIRY_HORIZONS_DAYS = (30, 60, 90)
# Histogram edges of a household's income in the period, in yuan (the last bucket is open-ended).
INCOME_BUCKET_EDGES_YUAN = (0, 100, 500, 1_000, 2_000, 5_000, 10_000)

CHANNEL_LABELS = {
    "jd": "京东",
    "taobao": "淘宝/天猫",
    "pdd": "拼多多",
    "suning": "苏宁",
    "shanrong": "善融商务",
    "wechat": "微信小程序",
    "p832": "832平台",
    "counter": "消费帮扶专柜",
    "pavilion": "消费帮扶专馆",
    "zone": "消费帮扶专区",
    "canteen": "单位食堂",
    "unit_purchase": "单位直接采购",
}
CATEGORY_LABELS = {
    "grain_oil": "粮油",
    "meat_eggs": "畜禽肉蛋",
    "aquatic": "水产",
    "vegetables": "蔬菜",
    "fruit": "水果",
    "tea": "茶叶",
    "herbs": "中药材",
    "dried_goods": "干货",
    "processed_food": "加工食品",
    "handicraft": "手工艺品",
    "other": "其他",
}
UNMATCHED = "unmatched"
UNMATCHED_LABEL = "未匹配到产品"
STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "已申请",
    "county_approved": "县级审定通过",
    "publicizing": "公示中",
    "certified": "已认定",
    "expired": "已过期",
    "rejected": "已退回",
    "revoked": "已撤销",
}
INCOME_METHOD = (
    "认定产品的每笔销售额 × 县里审定的带贫比例 = 该笔销售的带贫收益；同一经营主体同一月份的带贫收益"
    "汇成收益池，按各带贫户“权重 × 当月有效天数”的比例分配，以分为单位按最大余额法取整，"
    "各户所得之和等于收益池。"
)
INCOME_FIELD_LABELS = {
    "pool_fen": "经营主体当月带贫收益池（分）",
    "weighted": "本户权重×有效天数",
    "total_weighted": "全部带贫户权重×有效天数合计",
    "share_fen": "本户分得（分）",
    "weight": "权重",
    "active_days": "当月有效天数",
    "sales_fen": "销售额（分）",
    "poor_income_fen": "带贫收益（分）",
}


# Scope ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: counties (None = every county), an operator, and a period of months."""

    county_codes: tuple[str, ...] | None
    operator_id: ObjectId | None
    from_month: str
    to_month: str

    @property
    def county_label(self) -> str:
        """The county part of a download's file name."""
        if self.county_codes is not None and len(self.county_codes) == 1:
            return self.county_codes[0]
        return "all"


def default_period(today: date) -> tuple[str, str]:
    """The current year so far: January to this month (Asia/Shanghai)."""
    return f"{today.year:04d}-01", f"{today.year:04d}-{today.month:02d}"


def resolve_scope(
    actor: Principal,
    *,
    county_code: str | None = None,
    operator_id: ObjectId | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    today: date,
) -> ReportScope:
    """The scope a caller's report covers (pure: no database).

    An enterprise's operator is forced to its own, whatever it asks for, and a county it names
    only narrows its own figures; staff may name only their own counties (403 otherwise).
    """
    default_from, default_to = default_period(today)
    from_month = from_month or default_from
    to_month = to_month or default_to
    if from_month > to_month:
        raise ValidationFailed(
            "The period ends before it starts.", details={"to": [f"Must be {from_month} or later."]}
        )
    if actor.role == ENTERPRISE:
        counties = (county_code,) if county_code else None
        return ReportScope(counties, actor.operator_id, from_month, to_month)
    if actor.role == CANTEEN or actor.role not in REPORT_ROLES:
        raise Forbidden("Canteen accounts have their own reports.")
    if county_code is not None:
        require_county(actor, county_code)
        counties: tuple[str, ...] | None = (county_code,)
    elif actor.is_admin:
        counties = None
    else:
        counties = tuple(actor.county_codes)
    return ReportScope(counties, operator_id, from_month, to_month)


def months_between(from_month: str, to_month: str) -> list[str]:
    """Every YYYY-MM from ``from_month`` to ``to_month`` inclusive."""
    year, month = int(from_month[:4]), int(from_month[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= to_month:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# Pure pipeline builders -----------------------------------------------------------------------------

HOUSEHOLD_TOTAL_FIELDS = (
    "_id",
    "month",
    "household_id",
    "share_fen",
    "household_no",
    "household_county_code",
    "township_code",
    "members",
)


def scope_match(scope: ReportScope, *, period: bool = True) -> dict[str, Any]:
    """The ``$match`` of a derived collection for a scope (they all carry county_code, month, operator_id)."""
    match: dict[str, Any] = {}
    if scope.county_codes is not None:
        if len(scope.county_codes) == 1:
            match["county_code"] = scope.county_codes[0]
        else:
            match["county_code"] = {"$in": list(scope.county_codes)}
    if period:
        match["month"] = {"$gte": scope.from_month, "$lte": scope.to_month}
    if scope.operator_id is not None:
        match["operator_id"] = scope.operator_id
    return match


# Grouped by these flags too, sales split by certification and matching are added up in Python
# (:func:`split_sales`) rather than by a $cond per document and sum.
SALES_FLAGS = {"certified": "$certified", "matched": "$matched"}
GROUPED_SUMS = ("sales_fen", "poor_income_fen", "quantity", "lines")


def _sales_sums() -> dict[str, Any]:
    """Sums of sales_monthly rows: sales, income, quantity, lines."""
    return {name: {"$sum": f"${name}"} for name in GROUPED_SUMS}


def pool_totals_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """operator_pools → the period's pools, allocated and unallocated, in one row."""
    return [
        {"$match": scope_match(scope)},
        {
            "$group": {
                "_id": None,
                "pool_fen": {"$sum": "$pool_fen"},
                "allocated_fen": {"$sum": "$allocated_fen"},
                "unallocated_fen": {"$sum": "$unallocated_fen"},
                "pools": {"$sum": 1},
            }
        },
    ]


def monthly_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """sales_monthly → one row per month, channel and flags (a trend chart's series, once added up)."""
    return [
        {"$match": scope_match(scope)},
        {"$group": {"_id": {"month": "$month", "channel": "$channel", **SALES_FLAGS}, **_sales_sums()}},
    ]


def product_sales_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """sales_monthly → one row per operator, product and flags (unmatched sales: a null product).

    Small (the catalogue's size), and every ranking, count of sellers and category total is
    added up from it, so one pass over sales_monthly serves them all.
    """
    return [
        {"$match": scope_match(scope)},
        {
            "$group": {
                "_id": {"operator_id": "$operator_id", "product_id": "$product_id", **SALES_FLAGS},
                **_sales_sums(),
            }
        },
    ]


def household_totals_pipeline(
    scope: ReportScope, *, township_code: str | None = None
) -> list[dict[str, Any]]:
    """household_income → one row per household with a non-zero income in the period.

    Township and members come from the latest month (a household may have moved or grown).
    """
    match = scope_match(scope)
    if township_code is not None:
        match["township_code"] = township_code
    return [
        {"$match": match},
        # Only what the totals read: the shares carry their links, which are not needed here.
        {"$project": {name: 1 for name in HOUSEHOLD_TOTAL_FIELDS}},
        # A total order, so $last is the same document on every server.
        {"$sort": {"month": 1, "_id": 1}},
        {
            "$group": {
                "_id": "$household_id",
                "income_fen": {"$sum": "$share_fen"},
                "household_no": {"$last": "$household_no"},
                "household_county_code": {"$last": "$household_county_code"},
                "township_code": {"$last": "$township_code"},
                "members": {"$last": "$members"},
            }
        },
        {"$match": {"income_fen": {"$ne": 0}}},
    ]


def unallocated_pipeline(scope: ReportScope) -> list[dict[str, Any]]:
    """operator_pools → the pools nobody was linked to share (a data problem to fix)."""
    return [
        {"$match": {**scope_match(scope), "unallocated_fen": {"$ne": 0}}},
        {"$sort": {"month": 1, "county_code": 1, "operator_id": 1}},
        {"$project": {"sources": 0}},
    ]


def household_income_pipeline(
    household_id: ObjectId, from_month: str, to_month: str, operator_id: ObjectId | None = None
) -> list[dict[str, Any]]:
    """household_income → a household's shares in a period, by month and operator."""
    match: dict[str, Any] = {"household_id": household_id, "month": {"$gte": from_month, "$lte": to_month}}
    if operator_id is not None:
        match["operator_id"] = operator_id
    return [{"$match": match}, {"$sort": {"month": 1, "operator_id": 1}}]


def stale_partitions_query(
    county_codes: Iterable[str] | None, from_month: str, to_month: str
) -> dict[str, Any]:
    """ledger_partitions → the dirty county-months of a scope."""
    query: dict[str, Any] = {"dirty": True, "month": {"$gte": from_month, "$lte": to_month}}
    if county_codes is not None:
        query["county_code"] = {"$in": sorted(set(county_codes))}
    return query


# Pure arithmetic --------------------------------------------------------------------------------------

SUMMED = (
    "sales_fen",
    "certified_sales_fen",
    "uncertified_sales_fen",
    "unmatched_sales_fen",
    "poor_income_fen",
    "quantity",
    "lines",
)


def split_sales(row: Mapping[str, Any]) -> dict[str, int]:
    """A grouped row's sums with its sales split by its flags: certified, uncertified (matched), unmatched."""
    sales, flags = row["sales_fen"], row["_id"]
    certified, matched = flags.get("certified"), flags.get("matched")
    return {
        "sales_fen": sales,
        "certified_sales_fen": sales if certified else 0,
        "uncertified_sales_fen": sales if matched and not certified else 0,
        "unmatched_sales_fen": 0 if matched else sales,
        **{name: row[name] for name in GROUPED_SUMS if name != "sales_fen"},
    }


def _add_up(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]) -> dict[Any, dict]:
    """Grouped rows' split sums (:func:`split_sales`) added up by ``key``, in the order keys first appear."""
    totals: dict[Any, dict[str, int]] = {}
    for row in rows:
        total = totals.setdefault(key(row), dict.fromkeys(SUMMED, 0))
        for name, value in split_sales(row).items():
            total[name] += value
    return totals


def month_channel_totals(month_rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """The rows of :func:`monthly_pipeline` added up by month and channel, in that order."""
    totals = _add_up(month_rows, lambda row: (row["_id"]["month"], row["_id"]["channel"]))
    return {key: totals[key] for key in sorted(totals, key=lambda key: tuple(map(_bson_order, key)))}


def _bson_order(value: Any) -> tuple[bool, Any]:
    """A sort key that puts null first, as MongoDB does, and compares the rest (one type) as they are."""
    return (value is not None, value)


def channel_totals(month_rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The month × channel rows (:func:`monthly_pipeline`) added up by channel, in channel order."""
    totals = _add_up(month_rows, lambda row: row["_id"]["channel"])
    return {channel: totals[channel] for channel in sorted(totals, key=_bson_order)}


def seller_totals(product_rows: Iterable[Mapping[str, Any]], key: str) -> dict[Any, dict[str, int]]:
    """Matched sales (:func:`product_sales_pipeline`) added up by operator (key="operator_id") or product."""
    if key not in ("operator_id", "product_id"):
        raise ValueError(key)
    matched = (row for row in product_rows if row["_id"].get("matched") is True)
    return _add_up(matched, lambda row: row["_id"].get(key))


def sellers_count(product_rows: Iterable[Mapping[str, Any]], key: str) -> int:
    """How many operators (key="operator_id") or products sold: net matched sales above zero."""
    return sum(1 for total in seller_totals(product_rows, key).values() if total["sales_fen"] > 0)


def ranking(product_rows: Iterable[Mapping[str, Any]], key: str, limit: int) -> list[dict[str, Any]]:
    """The top ``limit`` products (key="product_id") or operators by net sales, ties by id."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1–{MAX_LIMIT}")
    totals = seller_totals(product_rows, key)
    ordered = sorted(totals, key=lambda id_: (-totals[id_]["sales_fen"], _bson_order(id_)))
    return [{"_id": id_, **totals[id_]} for id_ in ordered[:limit]]


def township_totals(household_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Household totals (:func:`household_totals_pipeline`) by township: income, households, people."""
    townships: dict[Any, dict[str, int]] = {}
    for row in household_rows:
        township = townships.setdefault(
            row.get("township_code"), {"income_fen": 0, "households": 0, "people": 0}
        )
        township["income_fen"] += row["income_fen"]
        township["households"] += 1
        members = row.get("members")
        # $sum's rule: what is not a number counts nothing.
        if isinstance(members, int) and not isinstance(members, bool):
            township["people"] += members
    return [{"township_code": code, **townships[code]} for code in sorted(townships, key=_bson_order)]


def lower_median(values: list[int]) -> int | None:
    """The lower median of integers (the middle value; of two middle values, the smaller)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def nearest_rank_percentile(values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile: the smallest value with at least ``percent``% of values at or below it."""
    if not values:
        return None
    if not 0 < percent <= 100:
        raise ValueError("percent must be 1–100")
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil(percent × n / 100), in integers
    return ordered[rank - 1]


def income_buckets(edges_yuan: Iterable[int] = INCOME_BUCKET_EDGES_YUAN) -> list[dict[str, Any]]:
    """The histogram's buckets in fen: below the first edge, [edge, next edge), and the last edge and up."""
    edges = [edge * 100 for edge in edges_yuan]
    yuan = list(edges_yuan)
    buckets = [{"label": f"{yuan[0]}元以下", "min_fen": None, "max_fen": edges[0]}]
    for index, low in enumerate(edges):
        high = edges[index + 1] if index + 1 < len(edges) else None
        label = f"{yuan[index]:,}–{yuan[index + 1]:,}元" if high is not None else f"{yuan[index]:,}元及以上"
        buckets.append({"label": label, "min_fen": low, "max_fen": high})
    return buckets


def income_distribution(values: list[int]) -> dict[str, Any]:
    """Count, total, lower median, nearest-rank 90th percentile and histogram of households' income."""
    buckets = [{**bucket, "households": 0} for bucket in income_buckets()]
    for value in values:
        for bucket in buckets:
            low, high = bucket["min_fen"], bucket["max_fen"]
            if (low is None or value >= low) and (high is None or value < high):
                bucket["households"] += 1
                break
    return {
        "count": len(values),
        "total_fen": sum(values),
        "median_fen": lower_median(values),
        "p90_fen": nearest_rank_percentile(values, 90),
        "buckets": buckets,
    }


# Running them -----------------------------------------------------------------------------------------


def _scope(actor: Principal, args: Mapping[str, Any]) -> ReportScope:
    return resolve_scope(
        actor,
        county_code=args.get("county_code"),
        operator_id=args.get("operator_id"),
        from_month=args.get("from_month"),
        to_month=args.get("to_month"),
        today=today_local(),
    )


class ReportContext:
    """The reads the reports of one request share, each made once per scope.

    The county dashboard runs seven reports over one period: with a context they read
    household_income once (not three times) and sales_monthly twice (not six times). Rows it
    returns are shared between reports (and, with a ``cache``, between requests): read them,
    never change them. With a :class:`service.report_cache.ReportCache`, the groupings of the
    derived ledger come from it while their county-months are unchanged.
    """

    def __init__(self, db: Database, cache: report_cache.ReportCache | None = None) -> None:
        self.db = db
        self.cache = cache
        self._reads: dict[tuple, Any] = {}

    def _once(self, key: tuple, read: Callable[[], Any]) -> Any:
        if key not in self._reads:
            self._reads[key] = read()
        return self._reads[key]

    def _aggregate(self, collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(storage.aggregate(self.db[collection], pipeline))

    def _derived(self, key: tuple, scope: ReportScope, read: Callable[[], Any]) -> Any:
        """A grouping of the derived ledger, once per request, from the cache while it is current."""
        if self.cache is None:
            return self._once(key, read)
        # Read before any grouping of the scope is computed, so an entry is never newer than its stamp.
        before = self._once(("stamp", scope), lambda: self._stamp(scope))
        return self._once(
            key,
            lambda: self.cache.read_through((self.db.name, *key), before, read, lambda: self._stamp(scope)),
        )

    def _stamp(self, scope: ReportScope) -> report_cache.Stamp | None:
        return report_cache.read_stamp(
            self.db, _scope_counties(self.db, scope), months_between(scope.from_month, scope.to_month)
        )

    def household_totals(self, scope: ReportScope, township_code: str | None = None) -> list[dict[str, Any]]:
        """One row per household with a non-zero income in the period (:func:`household_totals_pipeline`)."""
        pipeline = household_totals_pipeline(scope, township_code=township_code)
        return self._derived(
            ("household_totals", scope, township_code),
            scope,
            lambda: self._aggregate(storage.HOUSEHOLD_INCOME, pipeline),
        )

    def month_channel_sales(self, scope: ReportScope) -> list[dict[str, Any]]:
        """Sales by month, channel and flags (:func:`monthly_pipeline`)."""
        return self._derived(
            ("monthly", scope), scope, lambda: self._aggregate(storage.SALES_MONTHLY, monthly_pipeline(scope))
        )

    def product_sales(self, scope: ReportScope) -> list[dict[str, Any]]:
        """Sales by operator, product and flags (:func:`product_sales_pipeline`)."""
        return self._derived(
            ("products", scope),
            scope,
            lambda: self._aggregate(storage.SALES_MONTHLY, product_sales_pipeline(scope)),
        )

    def pool_totals(self, scope: ReportScope) -> dict[str, Any]:
        """The period's pools, allocated and unallocated, in one row (:func:`pool_totals_pipeline`)."""
        return self._derived(
            ("pools", scope),
            scope,
            lambda: next(iter(self._aggregate(storage.OPERATOR_POOLS, pool_totals_pipeline(scope))), {}),
        )

    def stale_partitions(self, scope: ReportScope) -> list[dict[str, str]]:
        """The county-months in scope whose figures are being recomputed."""
        return self._once(("stale", scope), lambda: _stale_partitions(self.db, scope))


def _context(db: Database, context: ReportContext | None) -> ReportContext:
    return context if context is not None else ReportContext(db)


def _scope_counties(db: Database, scope: ReportScope) -> Iterable[str] | None:
    """The counties whose ledger a scope reads (None: every county)."""
    if scope.county_codes is None and scope.operator_id is not None:
        # An enterprise's figures sit in its operator's county.
        operator = operator_records.find_operator(db, scope.operator_id, {"county_code": 1})
        return [operator["county_code"]] if operator else []
    return scope.county_codes


def _stale_partitions(db: Database, scope: ReportScope) -> list[dict[str, str]]:
    query = stale_partitions_query(_scope_counties(db, scope), scope.from_month, scope.to_month)
    return [
        {"county_code": partition["county_code"], "month": partition["month"]}
        for partition in db[storage.LEDGER_PARTITIONS]
        .find(query, {"county_code": 1, "month": 1})
        .sort([("county_code", 1), ("month", 1)])
    ]


def _meta(context: ReportContext, scope: ReportScope) -> dict[str, Any]:
    return {
        "county_codes": list(scope.county_codes) if scope.county_codes is not None else None,
        "operator_id": scope.operator_id,
        "from_month": scope.from_month,
        "to_month": scope.to_month,
        "stale_partitions": context.stale_partitions(scope),
    }


def summary(db: Database, actor: Principal, *, context: ReportContext | None = None, **args: Any) -> dict:
    """The period's headline figures (汇总): sales split three ways, household income, who benefited."""
    context = _context(db, context)
    scope = _scope(actor, args)
    by_channel = [
        {"channel": channel, "channel_label": CHANNEL_LABELS.get(channel, channel), **sums}
        for channel, sums in channel_totals(context.month_channel_sales(scope)).items()
    ]
    pools = context.pool_totals(scope)
    benefited = context.household_totals(scope)
    product_rows = context.product_sales(scope)
    return {
        **_meta(context, scope),
        "sales_fen": sum(row["sales_fen"] for row in by_channel),
        "certified_sales_fen": sum(row["certified_sales_fen"] for row in by_channel),
        "uncertified_sales_fen": sum(row["uncertified_sales_fen"] for row in by_channel),
        "unmatched_sales_fen": unmatched_sales.unmatched_sales_fen(context.month_channel_sales(scope)),
        "poor_income_fen": pools.get("pool_fen", 0),
        "allocated_fen": pools.get("allocated_fen", 0),
        "unallocated_fen": pools.get("unallocated_fen", 0),
        "households_benefited": len(benefited),
        "people_benefited": sum(row.get("members") or 0 for row in benefited),
        "operators_selling": sellers_count(product_rows, "operator_id"),
        "products_selling": sellers_count(product_rows, "product_id"),
        "by_channel": by_channel,
    }


def monthly(db: Database, actor: Principal, *, context: ReportContext | None = None, **args: Any) -> dict:
    """Sales, certified sales and household income by month and channel (月度趋势)."""
    context = _context(db, context)
    scope = _scope(actor, args)
    rows = [
        {
            "month": month,
            "channel": channel,
            "channel_label": CHANNEL_LABELS.get(channel, channel),
            "sales_fen": sums["sales_fen"],
            "certified_sales_fen": sums["certified_sales_fen"],
            "poor_income_fen": sums["poor_income_fen"],
        }
        for (month, channel), sums in month_channel_totals(context.month_channel_sales(scope)).items()
    ]
    return {**_meta(context, scope), "items": rows}


def _ranking_row(rank: int, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "rank": rank,
        "sales_fen": row["sales_fen"],
        "certified_sales_fen": row["certified_sales_fen"],
        "poor_income_fen": row["poor_income_fen"],
        "quantity": row["quantity"],
        "lines": row["lines"],
    }


def product_ranking(
    db: Database,
    actor: Principal,
    *,
    limit: int = DEFAULT_LIMIT,
    context: ReportContext | None = None,
    **args: Any,
) -> dict:
    """The best-selling products (产品销售排行), with their operators' names."""
    context = _context(db, context)
    scope = _scope(actor, args)
    rows = ranking(context.product_sales(scope), "product_id", limit)
    products = product_records.documents_by_id(
        db, (row["_id"] for row in rows), {"name": 1, "operator_id": 1, "category": 1}
    )
    operators = operator_records.documents_by_id(
        db, (product["operator_id"] for product in products.values()), {"name": 1}
    )
    items = []
    for rank, row in enumerate(rows, start=1):
        product = products.get(row["_id"], {})
        operator_id = product.get("operator_id")
        items.append(
            {
                **_ranking_row(rank, row),
                "product_id": row["_id"],
                "product_name": product.get("name"),
                "category": product.get("category"),
                "category_label": CATEGORY_LABELS.get(product.get("category") or ""),
                "operator_id": operator_id,
                "operator_name": operators.get(operator_id, {}).get("name"),
            }
        )
    return {**_meta(context, scope), "limit": limit, "items": items}


def operator_ranking(
    db: Database,
    actor: Principal,
    *,
    limit: int = DEFAULT_LIMIT,
    context: ReportContext | None = None,
    **args: Any,
) -> dict:
    """The best-selling market operators (经营主体销售排行)."""
    context = _context(db, context)
    scope = _scope(actor, args)
    rows = ranking(context.product_sales(scope), "operator_id", limit)
    operators = operator_records.documents_by_id(
        db, (row["_id"] for row in rows), {"name": 1, "county_code": 1}
    )
    items = [
        {
            **_ranking_row(rank, row),
            "operator_id": row["_id"],
            "operator_name": operators.get(row["_id"], {}).get("name"),
            "county_code": operators.get(row["_id"], {}).get("county_code"),
        }
        for rank, row in enumerate(rows, start=1)
    ]
    return {**_meta(context, scope), "limit": limit, "items": items}


def category_sales(
    db: Database, actor: Principal, *, context: ReportContext | None = None, **args: Any
) -> dict:
    """Sales by product category (品类); sales matched to no product are their own row, last."""
    context = _context(db, context)
    scope = _scope(actor, args)
    by_product = _add_up(context.product_sales(scope), lambda row: row["_id"].get("product_id"))
    products = product_records.documents_by_id(db, by_product, {"category": 1})
    summed = ("sales_fen", "certified_sales_fen", "poor_income_fen", "quantity")
    totals: dict[str, dict[str, int]] = {}
    for product_id, row in by_product.items():
        if product_id is None:
            category = UNMATCHED
        else:
            category = products.get(product_id, {}).get("category") or "other"
        total = totals.setdefault(category, {**dict.fromkeys(summed, 0), "products": 0})
        for name in summed:
            total[name] += row[name]
        if product_id is not None:
            total["products"] += 1
    items = [
        {
            "category": category,
            "category_label": UNMATCHED_LABEL
            if category == UNMATCHED
            else CATEGORY_LABELS.get(category, category),
            **total,
        }
        for category, total in totals.items()
    ]
    items.sort(key=lambda item: (item["category"] == UNMATCHED, -item["sales_fen"], item["category"]))
    return {**_meta(context, scope), "items": items}


def township_income(
    db: Database, actor: Principal, *, context: ReportContext | None = None, **args: Any
) -> dict:
    """Household income by the households' township (乡镇): income, households, people."""
    context = _context(db, context)
    scope = _scope(actor, args)
    return {**_meta(context, scope), "items": township_totals(context.household_totals(scope))}


def household_list(
    db: Database,
    actor: Principal,
    *,
    page: int = 1,
    per_page: int | None = 50,
    township_code: str | None = None,
    context: ReportContext | None = None,
    **args: Any,
) -> dict[str, Any]:
    """Households with a non-zero income in the period, highest first, and the distribution.

    ``per_page=None`` returns every household (downloads). Staff see the head's name, an
    enterprise a masked one; nobody sees ID numbers here.
    """
    context = _context(db, context)
    scope = _scope(actor, args)
    totals = sorted(
        context.household_totals(scope, township_code),
        key=lambda row: (-row["income_fen"], row["household_no"]),
    )
    window = totals if per_page is None else totals[(page - 1) * per_page : page * per_page]
    register = storage.documents_by_id(
        db, storage.HOUSEHOLDS, (row["_id"] for row in window), {"head_name": 1, "household_no": 1}
    )
    items = []
    for row in window:
        household = register.get(row["_id"])
        items.append(
            {
                "household_id": row["_id"],
                "household_no": row["household_no"],
                "head_name": households.present(household, actor)["head_name"] if household else None,
                "household_county_code": row.get("household_county_code"),
                "township_code": row.get("township_code"),
                "members": row.get("members"),
                "income_fen": row["income_fen"],
            }
        )
    return {
        **_meta(context, scope),
        "township_code": township_code,
        "items": items,
        "page": page,
        "per_page": per_page if per_page is not None else len(totals),
        "total": len(totals),
        "distribution": income_distribution([row["income_fen"] for row in totals]),
    }


def certification_status(
    db: Database,
    actor: Principal,
    *,
    county_code: str | None = None,
    operator_id: ObjectId | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Products by effective certification status, and certificates expiring within 30/60/90 days.

    As of now: the period other reports take does not apply (``from_month``/``to_month`` are ignored).
    """
    now = now or utcnow()
    scope = resolve_scope(actor, county_code=county_code, operator_id=operator_id, today=today_local())
    products = product_records.of_counties(
        db,
        scope.county_codes,
        scope.operator_id,
        {"name": 1, "status": 1, "valid_until": 1, "operator_id": 1, "county_code": 1},
    )
    counts = dict.fromkeys(STATUSES, 0)
    expiring = []
    horizon = now + timedelta(days=max(EXPIRY_HORIZONS_DAYS))
    for product in products:
        status = effective_status(product, now)
        counts[status] = counts.get(status, 0) + 1
        valid_until = product.get("valid_until")
        if status == CERTIFIED and valid_until is not None and valid_until <= horizon:
            expiring.append(product)
    operators = operator_records.documents_by_id(db, (p["operator_id"] for p in expiring), {"name": 1})
    expiring.sort(key=lambda product: (product["valid_until"], product["name"]))
    expiring_items = [
        {
            "product_id": product["_id"],
            "product_name": product["name"],
            "operator_id": product["operator_id"],
            "operator_name": operators.get(product["operator_id"], {}).get("name"),
            "county_code": product["county_code"],
            "valid_until": product["valid_until"],
            # Whole days left, counting a part day as a day: 0.5 days left reads "1".
            "days_left": -(-(product["valid_until"] - now) // timedelta(days=1)),
        }
        for product in expiring
    ]
    return {
        "county_codes": list(scope.county_codes) if scope.county_codes is not None else None,
        "operator_id": scope.operator_id,
        "as_of": now,
        "total": len(products),
        "by_status": [
            {"status": status, "status_label": STATUS_LABELS.get(status, status), "products": count}
            for status, count in counts.items()
        ],
        "expiring": {
            f"within_{days}_days": sum(
                1 for product in expiring if product["valid_until"] <= now + timedelta(days=days)
            )
            for days in EXPIRY_HORIZONS_DAYS
        },
        "expiring_products": expiring_items,
    }


def unallocated_pools(
    db: Database, actor: Principal, *, context: ReportContext | None = None, **args: Any
) -> dict:
    """Pools of household income no household was linked to share (未分配收益): a data problem to fix."""
    context = _context(db, context)
    scope = _scope(actor, args)
    rows = list(storage.aggregate(db[storage.OPERATOR_POOLS], unallocated_pipeline(scope)))
    operators = operator_records.documents_by_id(db, (row["operator_id"] for row in rows), {"name": 1})
    items = [
        {
            "county_code": row["county_code"],
            "month": row["month"],
            "operator_id": row["operator_id"],
            "operator_name": operators.get(row["operator_id"], {}).get("name"),
            "pool_fen": row["pool_fen"],
            "unallocated_fen": row["unallocated_fen"],
            "certified_sales_fen": row["certified_sales_fen"],
            "lines": row["lines"],
        }
        for row in rows
    ]
    return {
        **_meta(context, scope),
        "unallocated_fen": sum(item["unallocated_fen"] for item in items),
        "items": items,
    }


# A household's income, explained -----------------------------------------------------------------------


def household_income(
    db: Database,
    actor: Principal,
    household_id: ObjectId,
    *,
    from_month: str | None = None,
    to_month: str | None = None,
) -> dict[str, Any]:
    """A household's income in a period, month by month and operator by operator, with its workings.

    Staff of the household's county (or an admin) see all of it; an enterprise only a household
    linked to its operator, and then only the income from its own operator.
    """
    household = db[storage.HOUSEHOLDS].find_one({"_id": household_id})
    if household is None:
        raise NotFound("No such household.")
    households.require_visible(db, actor, household)
    scope = resolve_scope(actor, from_month=from_month, to_month=to_month, today=today_local())
    operator_id = actor.operator_id if actor.role == ENTERPRISE else None
    shares = list(
        storage.aggregate(
            db[storage.HOUSEHOLD_INCOME],
            household_income_pipeline(household_id, scope.from_month, scope.to_month, operator_id),
        )
    )
    pools = _pools_of(db, shares)
    sources = [source for pool in pools.values() for source in pool.get("sources") or []]
    products = product_records.documents_by_id(db, (source["product_id"] for source in sources), {"name": 1})
    operators = operator_records.documents_by_id(db, (share["operator_id"] for share in shares), {"name": 1})
    items = []
    for share in shares:
        operator_name = operators.get(share["operator_id"], {}).get("name")
        pool = pools.get((share["county_code"], share["month"], share["operator_id"]), {})
        items.append(
            {
                "month": share["month"],
                "county_code": share["county_code"],
                "operator_id": share["operator_id"],
                "operator_name": operator_name,
                "pool_fen": share["pool_fen"],
                "weighted": share["weighted"],
                "total_weighted": share["total_weighted"],
                "share_fen": share["share_fen"],
                "links": [
                    {
                        **link,
                        "mechanism_label": MECHANISMS.get(link.get("mechanism") or "", link.get("mechanism")),
                    }
                    for link in share.get("links") or []
                ],
                "sources": [
                    {
                        "product_id": source["product_id"],
                        "product_name": products.get(source["product_id"], {}).get("name"),
                        "channel": source["channel"],
                        "channel_label": CHANNEL_LABELS.get(source["channel"], source["channel"]),
                        "sales_fen": source["sales_fen"],
                        "poor_income_fen": source["poor_income_fen"],
                        "lines": source["lines"],
                    }
                    for source in pool.get("sources") or []
                ],
                "explanation": _explain(share, operator_name),
            }
        )
    by_month: dict[str, int] = defaultdict(int)
    for share in shares:
        by_month[share["month"]] += share["share_fen"]
    view = households.present(household, actor)
    counties = {share["county_code"] for share in shares} | {household.get("county_code")}
    return {
        "household": {
            name: view.get(name)
            for name in ("_id", "household_no", "head_name", "county_code", "township_code", "members")
        },
        "operator_id": operator_id,
        "from_month": scope.from_month,
        "to_month": scope.to_month,
        "total_fen": sum(share["share_fen"] for share in shares),
        "by_month": [{"month": month, "share_fen": fen} for month, fen in sorted(by_month.items())],
        "items": items,
        "method": INCOME_METHOD,
        "labels": {"channels": CHANNEL_LABELS, "mechanisms": MECHANISMS, "fields": INCOME_FIELD_LABELS},
        "stale_partitions": [
            {"county_code": p["county_code"], "month": p["month"]}
            for p in db[storage.LEDGER_PARTITIONS]
            .find(stale_partitions_query(sorted(c for c in counties if c), scope.from_month, scope.to_month))
            .sort([("county_code", 1), ("month", 1)])
        ],
    }


def _pools_of(db: Database, shares: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """The pools the shares came from, keyed by (county, month, operator), in one query."""
    if not shares:
        return {}
    query = {
        "operator_id": {"$in": sorted({share["operator_id"] for share in shares})},
        "month": {"$in": sorted({share["month"] for share in shares})},
    }
    return {
        (pool["county_code"], pool["month"], pool["operator_id"]): pool
        for pool in db[storage.OPERATOR_POOLS].find(query)
    }


def _explain(share: Mapping[str, Any], operator_name: str | None) -> str:
    """One sentence a county clerk can check with a calculator."""
    year, month = share["month"][:4], int(share["month"][5:7])
    return (
        f"{operator_name or '该经营主体'}{year}年{month}月的带贫收益池为{yuan_text(share['pool_fen'])}元；"
        f"本户权重×有效天数为{share['weighted']}，全部带贫户合计{share['total_weighted']}，"
        f"按比例分得{yuan_text(share['share_fen'])}元（以分取整，各户之和等于收益池）。"
    )


# Downloads ----------------------------------------------------------------------------------------------


def _fen(header: str, key: str) -> Column:
    return Column(header, key, FEN, width=16)


def _summary_sheets(report: dict[str, Any]) -> list[Sheet]:
    money = (
        ("销售额", "sales_fen"),
        ("认定产品销售额", "certified_sales_fen"),
        ("非认定产品销售额", "uncertified_sales_fen"),
        ("未匹配产品销售额", "unmatched_sales_fen"),
        ("带贫收益", "poor_income_fen"),
        ("已分配到户", "allocated_fen"),
        ("未分配", "unallocated_fen"),
    )
    counts = (
        ("受益户数", "households_benefited"),
        ("受益人数", "people_benefited"),
        ("有销售的经营主体数", "operators_selling"),
        ("有销售的产品数", "products_selling"),
    )
    rows = [{"name": name, "yuan": report[key]} for name, key in money]
    rows += [{"name": name, "count": report[key]} for name, key in counts]
    return [
        Sheet(
            "汇总",
            [Column("指标", "name", width=22), _fen("金额（元）", "yuan"), Column("数量", "count", INTEGER)],
            rows,
        ),
        Sheet(
            "按渠道",
            [
                Column("渠道", "channel_label", width=16),
                _fen("销售额（元）", "sales_fen"),
                _fen("认定产品销售额（元）", "certified_sales_fen"),
                _fen("带贫收益（元）", "poor_income_fen"),
                Column("笔数", "lines", INTEGER),
            ],
            report["by_channel"],
        ),
    ]


def _monthly_sheets(report: dict[str, Any]) -> list[Sheet]:
    return [
        Sheet(
            "月度趋势",
            [
                Column("月份", "month", TEXT),
                Column("渠道", "channel_label", width=16),
                _fen("销售额（元）", "sales_fen"),
                _fen("认定产品销售额（元）", "certified_sales_fen"),
                _fen("带贫收益（元）", "poor_income_fen"),
            ],
            report["items"],
        )
    ]


_RANKING_MONEY = (
    _fen("销售额（元）", "sales_fen"),
    _fen("认定产品销售额（元）", "certified_sales_fen"),
    _fen("带贫收益（元）", "poor_income_fen"),
    Column("数量", "quantity", INTEGER),
)


def _product_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("排名", "rank", INTEGER),
        Column("产品", "product_name", width=24),
        Column("品类", "category_label"),
        Column("经营主体", "operator_name", width=24),
        *_RANKING_MONEY,
    ]
    return [Sheet("产品销售排行", columns, report["items"])]


def _operator_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("排名", "rank", INTEGER),
        Column("经营主体", "operator_name", width=24),
        Column("县代码", "county_code", TEXT),
        *_RANKING_MONEY,
    ]
    return [Sheet("经营主体销售排行", columns, report["items"])]


def _category_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("品类", "category_label", width=16),
        _fen("销售额（元）", "sales_fen"),
        _fen("认定产品销售额（元）", "certified_sales_fen"),
        _fen("带贫收益（元）", "poor_income_fen"),
        Column("数量", "quantity", INTEGER),
        Column("产品数", "products", INTEGER),
    ]
    return [Sheet("品类销售", columns, report["items"])]


def _township_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("乡镇代码", "township_code", TEXT, width=14),
        _fen("带贫收益（元）", "income_fen"),
        Column("受益户数", "households", INTEGER),
        Column("受益人数", "people", INTEGER),
    ]
    return [Sheet("乡镇受益", columns, report["items"])]


def _household_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("户编号", "household_no", TEXT, width=22),
        Column("户主", "head_name"),
        Column("乡镇代码", "township_code", TEXT, width=14),
        Column("家庭人口", "members", INTEGER),
        _fen("带贫收益（元）", "income_fen"),
    ]
    distribution = report["distribution"]
    stats = [
        {"name": "受益户数", "count": distribution["count"]},
        {"name": "合计", "yuan": distribution["total_fen"]},
        {"name": "中位数（下中位数）", "yuan": distribution["median_fen"]},
        {"name": "第90百分位（最近秩）", "yuan": distribution["p90_fen"]},
        *({"name": bucket["label"], "count": bucket["households"]} for bucket in distribution["buckets"]),
    ]
    return [
        Sheet("受益户", columns, report["items"]),
        Sheet(
            "收益分布",
            [Column("指标", "name", width=22), _fen("金额（元）", "yuan"), Column("户数", "count", INTEGER)],
            stats,
        ),
    ]


def _certification_sheets(report: dict[str, Any]) -> list[Sheet]:
    expiring = [
        {"name": f"{days}天内到期", "count": report["expiring"][f"within_{days}_days"]}
        for days in EXPIRY_HORIZONS_DAYS
    ]
    return [
        Sheet(
            "认定状态",
            [Column("状态", "name", width=18), Column("产品数", "count", INTEGER)],
            [{"name": row["status_label"], "count": row["products"]} for row in report["by_status"]]
            + expiring,
        ),
        Sheet(
            "即将到期",
            [
                Column("产品", "product_name", width=24),
                Column("经营主体", "operator_name", width=24),
                Column("有效期至", "valid_until", width=20),
                Column("剩余天数", "days_left", INTEGER),
            ],
            report["expiring_products"],
        ),
    ]


def _unallocated_sheets(report: dict[str, Any]) -> list[Sheet]:
    columns = [
        Column("县代码", "county_code", TEXT),
        Column("月份", "month", TEXT),
        Column("经营主体", "operator_name", width=24),
        _fen("带贫收益池（元）", "pool_fen"),
        _fen("未分配（元）", "unallocated_fen"),
        _fen("认定产品销售额（元）", "certified_sales_fen"),
    ]
    return [Sheet("未分配收益", columns, report["items"])]


@dataclass(frozen=True)
class Report:
    run: Callable[..., dict[str, Any]]
    sheets: Callable[[dict[str, Any]], list[Sheet]]
    periodic: bool = True


REPORTS: dict[str, Report] = {
    "summary": Report(summary, _summary_sheets),
    "monthly": Report(monthly, _monthly_sheets),
    "products": Report(product_ranking, _product_sheets),
    "operators": Report(operator_ranking, _operator_sheets),
    "categories": Report(category_sales, _category_sheets),
    "townships": Report(township_income, _township_sheets),
    "households": Report(household_list, _household_sheets),
    "certification": Report(certification_status, _certification_sheets, periodic=False),
    "unallocated": Report(unallocated_pools, _unallocated_sheets),
}


def download_name(name: str, scope: ReportScope, periodic: bool = True) -> str:
    """summary-340722-2024-01-2024-12.xlsx (certification, which has no period: certification-340722.xlsx)."""
    if not periodic:
        return f"{name}-{scope.county_label}.xlsx"
    return f"{name}-{scope.county_label}-{scope.from_month}-{scope.to_month}.xlsx"


def export(db: Database, actor: Principal, name: str, **args: Any) -> tuple[bytes, str]:
    """A report as an xlsx workbook with Chinese headers, and its file name (every row, no paging)."""
    report = REPORTS[name]
    if name == "households":
        args = {**args, "page": 1, "per_page": None}
    filename = download_name(name, _scope(actor, args), report.periodic)
    return write_xlsx(report.sheets(report.run(db, actor, **args))), filename


def report_sheets(name: str, report: dict[str, Any]) -> list[Sheet]:
    """The sheets of a report already run, to put several reports in one workbook (the county dashboard)."""
    return REPORTS[name].sheets(report)
