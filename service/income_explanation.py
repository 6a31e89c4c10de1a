"""A household's income explained (收益明细): month by month, operator by operator, with its workings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import households, payouts, storage
from service import operators as operator_records
from service import product_lookups as product_records
from service.access import ENTERPRISE, Principal
from service.clock import today_local
from service.errors import Coded, NotFound
from service.report_pipelines import household_income_pipeline, stale_partitions_query
from service.report_scope import resolve_scope
from service.vocabulary import CHANNEL_LABELS, MECHANISMS
from service.xlsx import yuan_text

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
        raise NotFound(Coded("household.not_in_scope", "No such household."))
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
        # What was actually paid for periods in the same months (service/payouts.py), beside the estimate.
        "paid_fen": payouts.paid_total(db, household_id, scope.from_month, scope.to_month, operator_id),
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
