"""What the platform-export adapters share: a declarative column spec, status tables, rows → sale lines.

A channel's adapter (京东, 淘宝, 拼多多, 832…) subclasses :class:`ExportAdapter` and only declares
its export: the columns it reads (header text as the platform writes it, the value it gives, how a
cell is read), its table of order statuses (订单状态) and how an order becomes an ``external_id``.
Everything else is here, once:

- Files are read with ``service.tabular`` (CSV in UTF-8, UTF-8 with BOM or GB18030, or xlsx),
  streamed row by row and never held whole; extra columns are ignored.
- A problem with the file as a whole — unreadable, empty, or missing a column the adapter reads
  (as when another channel's export is given) — raises ``ValidationFailed`` from ``parse`` itself,
  before any row is read, naming every missing column in one error.
- Each non-empty row gives exactly one value, in file order: a ``SaleLine``; a ``Skipped`` (an
  order that is not a sale, e.g. 已取消); or a ``RowError`` naming the row (header = 1) and its
  first bad column by its Chinese header. The status is read first, since it decides whether the
  rest of the row matters.
- A file that turns unreadable part-way (cut off inside a character or a quoted cell) ends with
  a ``RowError`` for the row where reading stopped; the rows before it stand.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import IO, Any, ClassVar

from adapters.base import RowError, SaleLine, Skipped
from service import tabular
from service.errors import ValidationFailed

Item = SaleLine | RowError | Skipped


class Outcome(Enum):
    """What an order status means for the ledger."""

    SALE = "sale"
    # Refunded after the sale (退款成功, 售后成功…): the line stays with amount 0, so a re-import
    # after the refund updates the line an earlier import stored.
    ZEROED = "zeroed"
    # Never a sale (已取消): counted as skipped, not stored, not an error.
    SKIPPED = "skipped"


SALE, ZEROED, SKIPPED = Outcome.SALE, Outcome.ZEROED, Outcome.SKIPPED


class CellError(ValueError):
    """A cell that cannot be read; ``column`` is the header as written in the file."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


# Cell readers: each takes a non-empty, stripped cell and returns its value or raises ValueError.


def text(value: str) -> str:
    return value


# Excel turns a long number it opened from a CSV into "3.30746E+18", losing the digits for good.
_EXCEL_SHORTENED = re.compile(r"^[0-9](?:\.[0-9]+)?E\+?[0-9]+$", re.IGNORECASE)


def identifier(value: str) -> str:
    """An order or item number, unwrapped from the ways spreadsheets force text (="123", '123, a tab)."""
    cleaned = tabular.clean_cell(tabular.clean_cell(value).lstrip("'"))
    if not cleaned:
        raise ValueError("The number is empty.")
    if _EXCEL_SHORTENED.match(cleaned):
        raise ValueError(
            f"{tabular.quoted(value)} is a number Excel shortened and whose digits are lost; "
            "export the file again and upload it without saving it in Excel."
        )
    return cleaned


def fen(value: str) -> int:
    """A non-negative amount in yuan, as exact fen (more than two non-zero decimals is an error)."""
    amount = tabular.parse_yuan_to_fen(value)
    if amount < 0:
        raise ValueError(f"{tabular.quoted(value)} is negative; an order amount cannot be.")
    return amount


def quantity(value: str) -> int:
    """A whole number of items, at least one."""
    number = tabular.parse_whole_number(value)
    if number < 1:
        raise ValueError(f"{tabular.quoted(value)} is not a quantity of at least 1.")
    return number


def local_time(value: str) -> datetime:
    """A date-time written in Asia/Shanghai local time (or an Excel date number), as aware UTC."""
    return tabular.parse_local_datetime(value)


@dataclass(frozen=True)
class Column:
    """One column of a platform's export: its header text, the value it gives, and how a cell is read."""

    header: str
    key: str
    read: Callable[[str], Any] = text
    # An empty cell gives None instead of a row error.
    optional: bool = False

    def value(self, row: tabular.Row) -> Any:
        if self.header in row.imprecise:
            raise CellError(
                self.header,
                f"{self.header}: the number has more digits than Excel keeps (15), so some are lost; "
                "format the column as text and export again.",
            )
        cell = row.get(self.header)
        if not cell:
            if self.optional:
                return None
            raise CellError(self.header, f"{self.header} is empty.")
        try:
            return self.read(cell)
        except ValueError as error:
            raise CellError(self.header, f"{self.header}: {error}") from None


def status_key(value: str) -> str:
    """A status as compared: full-width punctuation folded (，→,) and all whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", value).split())


@dataclass(frozen=True)
class StatusTable:
    """An export's order-status column (订单状态) and what each of its values means."""

    header: str
    outcomes: Mapping[str, Outcome]
    _by_key: dict[str, Outcome] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_by_key", {status_key(name): value for name, value in self.outcomes.items()}
        )

    def read(self, row: tabular.Row) -> tuple[str, Outcome]:
        """The row's status as written, and its outcome; an empty or unknown status is a CellError."""
        status = row.get(self.header)
        if not status:
            raise CellError(self.header, f"{self.header} is empty.")
        outcome = self._by_key.get(status_key(status))
        if outcome is None:
            expected = ", ".join(self.outcomes)
            raise CellError(
                self.header,
                f"{self.header}: unknown status {tabular.quoted(status)}; expected one of {expected}.",
            )
        return status, outcome


def open_export(stream: IO[bytes], filename: str, required: Iterable[str], label: str) -> tabular.RowReader:
    """The export's rows, its header checked: one ValidationFailed names every missing column."""
    reader = tabular.read_rows(stream, filename)
    try:
        tabular.require_columns(reader.header, required)
    except ValidationFailed as error:
        reader.close()
        raise ValidationFailed(
            f"{error.message} Is this a {label} order export?", details=error.details
        ) from None
    return reader


# Beyond this many adjacent rows of one order (none seen in practice) a group is cut, to bound memory.
MAX_GROUP_ROWS = 1000
_ROW_NUMBER = re.compile(r"\bRow (\d+)\b")


def stopped_at(error: ValidationFailed) -> RowError:
    """The row error for a file that turned unreadable part-way (the reader names the row in its message)."""
    match = _ROW_NUMBER.search(error.message)
    return RowError(
        int(match.group(1)) if match else None,
        None,
        f"{error.message} Reading stopped at this row; the rows after it, if any, were not read.",
    )


class ExportAdapter:
    """Base of the adapters reading a platform's order export: subclasses declare, this reads.

    Subclasses set ``name``, ``channel``, ``label``, ``media``, ``statuses`` and ``columns``
    (keys ``quantity``, ``amount_fen`` and ``occurred_at`` are required; ``unit_price_fen``,
    ``sku``, ``title`` and ``buyer_name`` are used when declared), and define ``external_id``.
    """

    name: ClassVar[str]
    channel: ClassVar[str]
    label: ClassVar[str]
    media: ClassVar[tuple[str, ...]]
    statuses: ClassVar[StatusTable]
    columns: ClassVar[tuple[Column, ...]]
    buyer_type: ClassVar[str] = "individual"
    # Set for an export whose ``external_id`` depends on whether an order holds several items:
    # adjacent rows with equal ``group_by`` cells are one order, and the first non-empty cell of
    # ``item_by`` names a row's item; ``external_id`` is told whether the order names several.
    group_by: ClassVar[str | None] = None
    item_by: ClassVar[tuple[str, ...]] = ()

    def required_headers(self) -> list[str]:
        headers = [self.statuses.header, *(column.header for column in self.columns)]
        return list(dict.fromkeys(headers))

    def parse(self, stream: IO[bytes], filename: str) -> Iterator[Item]:
        """The export's rows as sale lines, skipped rows and row errors, in file order.

        The header is read and checked at once (ValidationFailed for a missing column); the rows
        are read as the returned iterator is consumed.
        """
        reader = open_export(stream, filename, self.required_headers(), self.label)
        return self._items(reader)

    def _items(self, reader: tabular.RowReader) -> Iterator[Item]:
        failure: list[ValidationFailed] = []
        try:
            for group in self._groups(reader, failure):
                items = {self._item_key(row) for row in group} if self.group_by else set()
                # An order is "grouped" when its rows name more than one item; repeated rows are not.
                grouped = len(items) > 1
                for row in group:
                    yield self.read_row(row, grouped=grouped)
            if failure:
                yield stopped_at(failure[0])
        finally:
            reader.close()

    def _groups(
        self, reader: tabular.RowReader, failure: list[ValidationFailed]
    ) -> Iterator[list[tabular.Row]]:
        """Runs of adjacent rows of one order (each row alone without ``group_by``), in file order."""
        group: list[tabular.Row] = []
        key: str | None = None
        try:
            for row in reader:
                row_key = self._group_key(row)
                if group and (row_key is None or row_key != key or len(group) >= MAX_GROUP_ROWS):
                    yield group
                    group = []
                group.append(row)
                key = row_key
        except ValidationFailed as error:
            # The reader cannot go on; the rows read so far stand and the caller reports where it stopped.
            failure.append(error)
        if group:
            yield group

    def _group_key(self, row: tabular.Row) -> str | None:
        if self.group_by is None:
            return None
        try:
            return identifier(row.get(self.group_by))
        except ValueError:
            return None

    def _item_key(self, row: tabular.Row) -> str | None:
        for header in self.item_by:
            if value := row.get(header):
                return tabular.clean_cell(value.lstrip("'"))
        return None

    def read_row(self, row: tabular.Row, *, grouped: bool = False) -> Item:
        """One row as a sale line, a skipped row or a row error."""
        try:
            status, listed = self.statuses.read(row)
            outcome, reason = self.outcome(status, listed, row)
            if outcome is SKIPPED:
                return Skipped(row.number, reason)
            values = {column.key: column.value(row) for column in self.columns}
        except CellError as error:
            return RowError(row.number, error.column, error.message)
        return self.line(values, outcome, row.number, grouped=grouped)

    def outcome(self, status: str, listed: Outcome, row: tabular.Row) -> tuple[Outcome, str]:
        """What the row's status means here, and the reason given when it is skipped.

        The reason names the status, not the row, so a run can count its skipped rows by reason.
        """
        return listed, f"{self.statuses.header} {status}: not a sale."

    def line(self, values: Mapping[str, Any], outcome: Outcome, row: int, *, grouped: bool) -> SaleLine:
        return SaleLine(
            channel=self.channel,
            external_id=self.external_id(values, grouped=grouped),
            occurred_at=values["occurred_at"],
            quantity=values["quantity"],
            amount_fen=0 if outcome is ZEROED else values["amount_fen"],
            unit_price_fen=values.get("unit_price_fen"),
            sku=self.sku(values),
            title=values.get("title"),
            buyer_type=self.buyer_type,
            buyer_name=values.get("buyer_name"),
            row=row,
        )

    def external_id(self, values: Mapping[str, Any], *, grouped: bool) -> str:
        raise NotImplementedError

    def sku(self, values: Mapping[str, Any]) -> str | None:
        return values.get("sku")
