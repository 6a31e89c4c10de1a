"""A platform export's declared shape: what each order status means, how a cell is read, the columns
and status tables of each version of the export (:class:`Layout`), and which layout a header is.

The channel adapters declare their exports with these (through ``adapters.common``, which reads
them); nothing here reads a file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from adapters import errors as codes
from adapters import tabular
from adapters.base import RowError, SaleLine, Skipped
from adapters.errors import Coded, code_of, message_of
from adapters.quoting import quoted

Item = SaleLine | RowError | Skipped


class Outcome(Enum):
    """What an order status means for the ledger."""

    SALE = "sale"
    # Refunded after the sale (退款成功, 售后成功…): the line stays with amount 0, so a re-import
    # after the refund updates the line an earlier import stored.
    ZEROED = "zeroed"
    # Never a sale (已取消): counted as skipped, not stored, not an error.
    SKIPPED = "skipped"
    # Not yet a sale (等待付款, 退款中…): skipped with its reason and counted; a later export of the
    # same order imports it once it is settled.
    PENDING = "pending"


SALE, ZEROED, SKIPPED, PENDING = Outcome.SALE, Outcome.ZEROED, Outcome.SKIPPED, Outcome.PENDING


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
        raise ValueError(Coded(codes.CELL_EMPTY, "The number is empty."))
    if _EXCEL_SHORTENED.match(cleaned):
        raise ValueError(
            Coded(
                codes.CELL_SHORTENED,
                f"{quoted(value)} is a number Excel shortened and whose digits are lost; "
                "export the file again and upload it without saving it in Excel.",
                value=value,
            )
        )
    return cleaned


def fen(value: str) -> int:
    """A non-negative amount in yuan, as exact fen (more than two non-zero decimals is an error)."""
    amount = tabular.parse_yuan_to_fen(value)
    if amount < 0:
        raise ValueError(
            Coded(
                codes.CELL_NEGATIVE_AMOUNT,
                f"{quoted(value)} is negative; an order amount cannot be.",
                value=value,
            )
        )
    return amount


def quantity(value: str) -> int:
    """A whole number of items, at least one."""
    number = tabular.parse_whole_number(value)
    if number < 1:
        raise ValueError(
            Coded(codes.CELL_BAD_QUANTITY, f"{quoted(value)} is not a quantity of at least 1.", value=value)
        )
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
    # Other spellings of the header in other versions of the export; the first found is read.
    aliases: tuple[str, ...] = ()
    # The column may be missing from the header altogether (its value is then None).
    absent_ok: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.header, *self.aliases)

    def value(self, row: tabular.Row) -> Any:
        if self.absent_ok and self.header not in row.values:
            return None
        if self.header in row.imprecise:
            raise CellError(
                self.header,
                Coded(
                    codes.CELL_DIGITS_LOST,
                    f"{self.header}: the number has more digits than Excel keeps (15), so some are lost; "
                    "format the column as text and export again.",
                    column=self.header,
                ),
            )
        cell = row.get(self.header)
        if not cell:
            if self.optional:
                return None
            raise CellError(
                self.header, Coded(codes.CELL_EMPTY, f"{self.header} is empty.", column=self.header)
            )
        try:
            return self.read(cell)
        except ValueError as error:
            code, params = code_of(message_of(error))
            message = f"{self.header}: {error}"
            raise CellError(self.header, Coded(code, message, **params) if code else message) from None


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

    def read(
        self, row: tabular.Row, extra: Mapping[str, Outcome] | None = None
    ) -> tuple[str, Outcome | None]:
        """The row's status as written, and its outcome (None when neither this table nor ``extra``
        knows it); an empty status is a CellError."""
        status = row.get(self.header)
        if not status:
            raise CellError(
                self.header, Coded(codes.CELL_EMPTY, f"{self.header} is empty.", column=self.header)
            )
        return status, self.outcome_of(status, extra)

    def outcome_of(self, status: str, extra: Mapping[str, Outcome] | None = None) -> Outcome | None:
        key = status_key(status)
        outcome = self._by_key.get(key)
        if outcome is None and extra:
            outcome = {status_key(name): value for name, value in extra.items()}.get(key)
        return outcome


def unknown_status(header: str, status: str) -> str:
    """The reason a row with a status no table knows is set aside (a run counts rows by it)."""
    return Coded(
        "skip.unknown_status", f"{header}: unknown status {quoted(status)}", column=header, status=status
    )


@dataclass(frozen=True)
class Layout:
    """One version of a platform's export: the header it is known by and how its rows are read.

    ``columns`` are the columns read (their ``key`` is the value they give); ``statuses`` is the
    order-status column and ``after_sale`` the after-sale column where the export keeps refunds
    apart (its SALE values mean "no refund", anything else overrides a sale). The sale's amount is
    the sum of the ``amount_plus`` values less the ``amount_minus`` ones; with ``per_order`` those
    figures are the order's, repeated on each item row, and are shared among the items by
    ``unit_price_fen`` × ``quantity``. ``amount`` says in words which figure that is, and ``source``
    where the header was seen.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    statuses: StatusTable
    amount_plus: tuple[str, ...] = ("amount_fen",)
    amount_minus: tuple[str, ...] = ()
    per_order: bool = False
    after_sale: StatusTable | None = None
    amount: str = ""
    source: str = ""

    def required(self) -> list[tuple[str, ...]]:
        """Each column the header must hold, as its accepted spellings."""
        wanted = [(self.statuses.header,)]
        if self.after_sale is not None:
            wanted.append((self.after_sale.header,))
        wanted += [column.names for column in self.columns if not column.absent_ok]
        return list(dict.fromkeys(wanted))

    def missing(self, header: Iterable[str]) -> list[str]:
        present = set(header)
        return [names[0] for names in self.required() if not present.intersection(names)]

    def bound(self, header: Iterable[str]) -> Layout:
        """This layout with each column's header as this file spells it."""
        present = list(header)
        columns = []
        for column in self.columns:
            found = next((name for name in column.names if name in present), column.header)
            columns.append(replace(column, header=found) if found != column.header else column)
        return replace(self, columns=tuple(columns))

    def read_amount(self, values: Mapping[str, Any]) -> int:
        """The sale's amount in fen from the row's values (a CellError when it comes out negative)."""
        plus = sum(values.get(key) or 0 for key in self.amount_plus)
        minus = sum(values.get(key) or 0 for key in self.amount_minus)
        if plus < minus:
            # Name the deductions the row has (a refund, postage), not those it leaves at 0.
            taken = [key for key in self.amount_minus if values.get(key)] or list(self.amount_minus[:1])
            headers = [self._column(key).header for key in taken]
            raise CellError(
                headers[0],
                f"{' + '.join(headers)}: more than the payment it is taken from "
                f"({', '.join(self._column(key).header for key in self.amount_plus)}).",
            )
        return plus - minus

    def _column(self, key: str) -> Column:
        return next(column for column in self.columns if column.key == key)


def choose_layout(layouts: Iterable[Layout], header: list[str]) -> tuple[Layout | None, list[str], Layout]:
    """The layout a header is (the one reading most columns), or None with the closest and what it lacks."""
    ranked = [(layout.missing(header), layout) for layout in layouts]
    complete = [layout for missing, layout in ranked if not missing]
    if complete:
        best = max(complete, key=lambda layout: len(layout.required()))
        return best.bound(header), [], best
    missing, closest = min(ranked, key=lambda pair: (len(pair[0]), -len(pair[1].required())))
    return None, missing, closest
