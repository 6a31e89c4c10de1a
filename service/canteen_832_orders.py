"""A canteen's own 832 order export (832平台采购单位订单导出) imported into its purchases.

The 832 platform's order export names the buying unit (采购单位) on every line; the county
imports its suppliers' export and matches that name to canteens (``service.imports``). A canteen
imports its own export with the same adapter (``adapters.p832``), its buyer forced to itself
(or to its union, 工会, for the union's export), so each order line is the very line the county's
import would write: channel ``p832``, external_id 订单编号-商品编码. Whichever import comes second
finds the line already there and updates it, never adding a second line for the same order.

Each line goes to the ledger of the county that sold it (its product's county; a product not in
the catalogue stays in the canteen's county until mapped). A line the ledger already holds for
another buyer is refused: a file never moves another unit's purchase to this canteen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import IO, Any

from pymongo.database import Database

from adapters.base import REGISTRY, RowError, SaleLine, Skipped
from adapters.common import parse_export
from adapters.errors import Coded, FileRefused
from service import audit, batching, ledger_rebuilds, spreadsheets, status_mappings, storage
from service.access import Principal
from service.canteen_purchase_checks import canteen_for
from service.canteen_quota import P832_CHANNEL, UNION_BUYER
from service.catalogue_match import Catalogue
from service.errors import refused_file
from service.ingest_result import IngestResult
from service.ingest_scope import IngestScope
from service.ledger import ingest

BATCH = 1000
OTHER_BUYER = Coded(
    "canteen_832.other_buyer", "This order line is already in the ledger as another unit's purchase."
)


def _foreign_orders(db: Database, lines: list[SaleLine], unit_id: Any) -> set[str]:
    """External ids of these lines the ledger already holds for another buyer unit."""
    ids = sorted({line.external_id for line in lines})
    if not ids:
        return set()
    return {
        stored["external_id"]
        for stored in db[storage.SALES].find(
            {"channel": P832_CHANNEL, "external_id": {"$in": ids}}, {"external_id": 1, "buyer": 1}
        )
        if (stored.get("buyer") or {}).get("unit_id") not in (None, unit_id)
    }


def _ingest_batch(
    db: Database,
    batch: list[SaleLine | RowError | Skipped],
    canteen: dict[str, Any],
    buyer_type: str,
    result: IngestResult,
    *,
    dry_run: bool,
    actor: str,
) -> None:
    lines = [item for item in batch if isinstance(item, SaleLine)]
    foreign = _foreign_orders(db, lines, canteen["_id"])
    catalogue = Catalogue(db)
    catalogue.load(lines)
    by_county: dict[str, list[SaleLine | RowError | Skipped]] = defaultdict(list)
    for item in batch:
        if not isinstance(item, (SaleLine, RowError, Skipped)):
            # A row the adapter skipped on purpose (a cancelled order): counted, not stored.
            item = Skipped(item.row, getattr(item, "reason", None) or "skipped")
        if not isinstance(item, SaleLine):
            by_county[canteen["county_code"]].append(item)
            continue
        if item.external_id in foreign:
            by_county[canteen["county_code"]].append(RowError(item.row, "订单编号", OTHER_BUYER))
            continue
        product = catalogue.match(item)
        county = product["county_code"] if product is not None else canteen["county_code"]
        by_county[county].append(
            replace(
                item, buyer_type=buyer_type, buyer_unit_id=str(canteen["_id"]), buyer_name=canteen["name"]
            )
        )
    for county, items in sorted(by_county.items()):
        ingest(db, items, IngestScope(county), dry_run=dry_run, actor=actor, rebuild=False, result=result)


def import_orders(
    db: Database,
    actor: Principal,
    stream: IO[bytes],
    filename: str,
    *,
    canteen_id: Any = None,
    union: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import a canteen's own 832 order export (its union's with ``union``); a canteen account's own
    canteen, or the one a staff member names. Re-importing the same file changes nothing."""
    canteen = canteen_for(db, actor, canteen_id)
    adapter = REGISTRY[P832_CHANNEL]
    result = IngestResult(dry_run=dry_run)
    items: Iterable[Any] = parse_export(
        adapter,
        [(stream, filename)],
        limits=spreadsheets.read_limits(),
        **status_mappings.parse_options(db, canteen["county_code"], adapter),
    )
    try:
        for batch in batching.batched(items, BATCH):
            _ingest_batch(
                db,
                batch,
                canteen,
                UNION_BUYER if union else "unit",
                result,
                dry_run=dry_run,
                actor=actor.username,
            )
    except FileRefused as error:
        raise refused_file(error) from error
    finally:
        if not dry_run:
            ledger_rebuilds.rebuild_partitions(db, result.partitions)
    if not dry_run and (result.inserted or result.updated):
        audit.record(
            db,
            actor,
            "canteen_832.import",
            entity_kind="canteen",
            entity_id=canteen["_id"],
            county_code=canteen["county_code"],
            note=f"{filename}{' (工会)' if union else ''}: {result.summary()}",
        )
    return {"canteen_id": canteen["_id"], "union": union, **result.as_dict()}
