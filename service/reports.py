"""County reports (统计报表) on sales and household income.

Reports read only the derived ledger collections — ``sales_monthly``, ``operator_pools`` and
``household_income`` — plus the small catalogue collections for names, never the raw ``sales``,
so their cost grows with products, operators and households, not with the number of sales.

Aggregation pipelines are built by pure functions (:mod:`service.report_pipelines`) and run
through a :class:`service.report_context.ReportContext`, which makes each read once per scope, so
the reports of one request (the county dashboard runs seven) share them: three small groupings —
sales by month and channel, sales by operator and product, each household's total — from which
pure functions (:mod:`service.report_figures`) add up the channels, rankings, counts of sellers,
categories and townships. Who sees what: :func:`service.report_scope.resolve_scope`.

All money is integer fen. Every report also lists ``stale_partitions``: county-months in scope
marked dirty in ``ledger_partitions`` whose figures are being recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import household_categories, households, places, storage, unmatched_sales
from service import operators as operator_records
from service import product_lookups as product_records
from service.access import Principal
from service.certification import CERTIFIED, STATUSES
from service.clock import today_local, utcnow
from service.products import effective_status
from service.report_context import ReportContext
from service.report_figures import (
    DEFAULT_LIMIT,
    add_up,
    channel_totals,
    income_distribution,
    month_channel_totals,
    ranking,
    sellers_count,
    township_totals,
)
from service.report_scope import ReportScope, resolve_scope, scope_of
from service.vocabulary import CATEGORY_LABELS, CHANNEL_LABELS, STATUS_LABELS, UNMATCHED, UNMATCHED_LABEL

EXPIRY_HORIZONS_DAYS = (30, 60, 90)


def _context(db: Database, context: ReportContext | None) -> ReportContext:
    return context if context is not None else ReportContext(db)


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
    scope = scope_of(actor, args)
    return {
        **_meta(context, scope),
        **context.figure(scope, "summary", lambda: _summary_figures(context, scope)),
        "by_category": category_split(db, context, scope),
    }


def category_split(db: Database, context: ReportContext, scope: ReportScope) -> list[dict[str, Any]]:
    """Household income and households benefited by household category, each month under the category
    that held then (:func:`service.household_categories.month_split`); they add up to the totals."""
    rows = context.household_months(scope)
    # Read fresh: a category change is no change to the ledger the kept groupings are stamped by.
    register = storage.documents_by_id(
        db,
        storage.HOUSEHOLDS,
        (row["_id"]["household_id"] for row in rows),
        {"categories": 1, "status": 1, "registered_on": 1},
    )
    histories = {id_: household_categories.history_of(household) for id_, household in register.items()}
    split = household_categories.month_split(rows, histories)
    labels = household_categories.CATEGORY_LABELS
    return [
        {"category": code, "category_label": labels.get(code, "未登记"), **split[code]}
        for code in [*labels, None]
        if code in split
    ]


def _summary_figures(context: ReportContext, scope: ReportScope) -> dict[str, Any]:
    by_channel = [
        {"channel": channel, "channel_label": CHANNEL_LABELS.get(channel, channel), **sums}
        for channel, sums in channel_totals(context.month_channel_sales(scope)).items()
    ]
    pools = context.pool_totals(scope)
    benefited = context.household_totals(scope)
    product_rows = context.product_sales(scope)
    return {
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
    scope = scope_of(actor, args)

    def rows() -> list[dict[str, Any]]:
        return [
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

    return {**_meta(context, scope), "items": context.figure(scope, "monthly", rows)}


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
    scope = scope_of(actor, args)
    rows = context.figure(
        scope,
        "ranking",
        lambda: ranking(context.product_sales(scope), "product_id", limit),
        "product_id",
        limit,
    )
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
    scope = scope_of(actor, args)
    rows = context.figure(
        scope,
        "ranking",
        lambda: ranking(context.product_sales(scope), "operator_id", limit),
        "operator_id",
        limit,
    )
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
    scope = scope_of(actor, args)
    by_product = context.figure(
        scope,
        "by product",
        lambda: add_up(context.product_sales(scope), lambda row: row["_id"].get("product_id")),
    )
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
    scope = scope_of(actor, args)
    totals = context.figure(scope, "townships", lambda: township_totals(context.household_totals(scope)))
    # Names are read fresh, onto copies of the kept rows.
    items = places.with_names(db, [dict(row) for row in totals])
    return {**_meta(context, scope), "items": items}


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
    scope = scope_of(actor, args)
    totals = context.figure(
        scope,
        "households by income",
        lambda: sorted(
            context.household_totals(scope, township_code),
            key=lambda row: (-row["income_fen"], row["household_no"]),
        ),
        township_code,
    )
    distribution = context.figure(
        scope,
        "income distribution",
        lambda: income_distribution([row["income_fen"] for row in totals]),
        township_code,
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
        "distribution": distribution,
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
    scope = scope_of(actor, args)
    rows = context.unallocated_pools(scope)
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
