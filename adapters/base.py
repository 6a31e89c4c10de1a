"""What every adapter produces: canonical sale lines, row errors and skipped rows.

Adapters are pure: a file or an API page goes in, ``SaleLine``, ``RowError`` and
``Skipped`` values come out. Matching, validation against the catalogue, de-duplication and
storage are the ledger's job (service/ledger.py), the same for every source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol

from adapters.errors import code_of

# Every channel a sale line may come from.
CHANNELS = (
    "jd",  # 京东
    "taobao",  # 淘宝/天猫
    "pdd",  # 拼多多
    "suning",  # 苏宁
    "shanrong",  # 善融商务
    "wechat",  # 微信小程序
    "p832",  # 832平台
    "counter",  # 专柜
    "pavilion",  # 专馆
    "zone",  # 线下专区
    "canteen",  # 单位食堂
    "unit_purchase",  # 机关/帮扶单位直接采购
)

# "union": a unit's trade union (工会) buying apart from its canteen, the unit as buyer unit.
BUYER_TYPES = ("individual", "unit", "union")


@dataclass(frozen=True, slots=True)
class SaleLine:
    """One line of a sale (or of a refund, with a negative amount naming the line it reverses)."""

    channel: str
    external_id: str
    occurred_at: datetime
    quantity: int
    amount_fen: int
    unit_price_fen: int | None = None
    sku: str | None = None
    barcode: str | None = None
    title: str | None = None
    # Set when the source names the product itself (a canteen's form), not a channel SKU.
    product_id: str | None = None
    refund_of: str | None = None
    buyer_type: str = "individual"
    buyer_unit_id: str | None = None
    # A buyer unit named in the source (the 832 platform's 采购单位); the importer resolves it to a canteen.
    buyer_name: str | None = None
    # Where the line came from, for error messages: the file's row number or the event's index.
    row: int | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that cannot be read; a ``Coded`` message keeps its code and params when stored."""

    row: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict:
        code, params = code_of(self.message)
        found = {"row": self.row, "field": self.field, "message": str(self.message)}
        return {**found, "code": code, "params": params} if code else found


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source row that is on purpose not a sale (a cancelled order): counted, not stored, not an error."""

    row: int | None
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "reason": self.reason}


class Adapter(Protocol):
    """A channel's importer: declares what it reads, and turns it into canonical lines.

    ``parse`` never touches a database: rows it cannot read become ``RowError`` values,
    rows that are not sales (cancelled orders) become ``Skipped`` values, in file order,
    interleaved with the lines it could read.
    """

    name: str  # the registry name (``jd``, ``taobao``, ``counter``, ...)
    channel: str  # the ledger channel of its lines
    label: str  # for people, in Chinese
    media: tuple[str, ...]  # file kinds it reads: "csv", "xlsx", "jsonl"

    def parse(self, stream: IO[bytes], filename: str) -> Iterator[SaleLine | RowError | Skipped]: ...


REGISTRY: dict[str, Adapter] = {}


def register(adapter_factory: Callable[[], Adapter]) -> Callable[[], Adapter]:
    """Class decorator: make one instance and file it under its name."""
    adapter = adapter_factory()
    REGISTRY[adapter.name] = adapter
    return adapter_factory


def get_adapter(name: str) -> Adapter:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"No adapter for channel {name!r}; known: {known}.") from None
