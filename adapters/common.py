"""What the platform-export adapters share: rows → sale lines, over the spec in adapters/export_spec.py.

A channel's adapter (京东, 淘宝, 拼多多, 832…) subclasses :class:`ExportAdapter` and only declares
its export: one :class:`Layout` per version of the file the platform produces (the columns it reads,
with the header text as the platform writes it and its other spellings, the value each gives and how
a cell is read; its table of order statuses, 订单状态, and of after-sale states where the platform
keeps them apart; which figures make the sale) and how an order becomes an ``external_id``.
Everything else is here, once:

- Files are read with ``adapters.tabular`` (CSV in UTF-8, UTF-8 with BOM or GB18030, or xlsx),
  streamed row by row and never held whole; extra columns are ignored.
- The header decides the layout: of the layouts whose columns are all there, the one reading the
  most columns. The parsed export names it (``Parsed.layout``) and the import run records it.
- A problem with the file as a whole — unreadable, empty, or matching no layout — raises
  ``FileRefused`` from ``parse`` itself, before any row is read: it names the closest layout
  and every column it lacks, or, for another platform's export, the platform and layout it is.
- Each non-empty row gives exactly one value, in file order: a ``SaleLine``; a ``Skipped`` (an
  order that is not a sale, e.g. 已取消; one not yet a sale, e.g. 等待付款; or one whose status
  no table knows, set aside with the status named); or a ``RowError`` naming the row (header = 1)
  and its first bad column by its Chinese header. The status is read first, since it decides
  whether the rest of the row matters.
- Where the export repeats a per-order amount on each item row, the order's amount is shared among
  its items by price × quantity (:func:`adapters.apportion.apportion`), to the fen.
- A file that turns unreadable part-way (cut off inside a character or a quoted cell) ends with
  a ``RowError`` for the row where reading stopped; the rows before it stand.
- An export is one file, except where the platform splits it (淘宝's order report and item
  report): ``parse_export`` takes the files given, in any order, and refuses more than the
  adapter's ``max_files`` before anything is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import IO, Any, ClassVar

from adapters import errors as codes
from adapters import tabular
from adapters.apportion import apportion
from adapters.base import RowError, SaleLine, Skipped
from adapters.errors import Coded, FileRefused, code_of
from adapters.export_spec import (
    PENDING,
    SALE,
    SKIPPED,
    ZEROED,
    CellError,
    Column,
    Item,
    Layout,
    Outcome,
    StatusTable,
    choose_layout,
    fen,
    identifier,
    local_time,
    quantity,
    status_key,
    text,
    unknown_status,
)
from adapters.xlsx_reader import DEFAULT_LIMITS, ReadLimits

# The channel adapters declare their exports with these, read from here with the adapter they subclass.
__all__ = [
    "MAX_GROUP_ROWS",
    "PENDING",
    "SALE",
    "SKIPPED",
    "ZEROED",
    "CellError",
    "Column",
    "ExportAdapter",
    "Item",
    "Layout",
    "Outcome",
    "Parsed",
    "StatusTable",
    "choose_layout",
    "fen",
    "identifier",
    "local_time",
    "parse_export",
    "quantity",
    "refuse_header",
    "require_file_count",
    "status_key",
    "stopped_at",
    "text",
    "unknown_status",
]


def refuse_header(
    adapter: ExportAdapter, header: list[str], missing: list[str], closest: Layout
) -> FileRefused:
    """The error for a header no layout of the adapter matches: another platform's export, or the
    closest layout and the columns it lacks."""
    from adapters.base import REGISTRY  # the registry is filled once every adapter module is imported

    for other in REGISTRY.values():
        if other is adapter or not isinstance(other, ExportAdapter):
            continue
        layout, _, _ = choose_layout(other.declared_layouts(), header)
        if layout is not None:
            message = Coded(
                codes.FILE_OTHER_CHANNEL,
                f"This looks like a {other.label} export (layout {layout.name}), not a {adapter.label} one: "
                f"import it under the channel {other.name}.",
                channel=other.name,
                channel_label=other.label,
                layout=layout.name,
            )
            return FileRefused(message, details={"file": [message]})
    plural = "s" if len(missing) > 1 else ""
    return FileRefused(
        Coded(
            codes.FILE_WRONG_LAYOUT,
            f"Missing required column{plural}: {', '.join(missing)}. Is this a {adapter.label} order export? "
            f"The closest layout is {closest.name} ({closest.title}).",
            columns=missing,
            channel_label=adapter.label,
            layout=closest.name,
            layout_title=closest.title,
        ),
        details={
            "file": [
                Coded(codes.FILE_MISSING_COLUMNS, f"Missing column {name}.", columns=[name])
                for name in missing
            ]
        },
    )


class Parsed(Iterator[Item]):
    """An export's items as they are read, with the name of the layout its header matched."""

    def __init__(self, items: Iterator[Item], layout: Layout):
        self._items = items
        self.layout = layout.name
        self.layout_title = layout.title

    def __iter__(self) -> Parsed:
        return self

    def __next__(self) -> Item:
        return next(self._items)

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


def require_file_count(adapter: Any, count: int) -> None:
    """A FileRefused unless ``count`` files are as many as one export of the adapter may be."""
    accepted = getattr(adapter, "max_files", 1)
    if 1 <= count <= accepted:
        return
    if count == 0:
        message = Coded(codes.FILE_NONE, "No file was given.")
    elif accepted == 1:
        message = Coded(
            codes.FILE_COUNT,
            f"A {adapter.label} export is one file; {count} files were given.",
            channel_label=adapter.label,
            most=accepted,
            count=count,
        )
    else:
        message = Coded(
            codes.FILE_COUNT,
            f"A {adapter.label} export is at most {accepted} files; {count} files were given.",
            channel_label=adapter.label,
            most=accepted,
            count=count,
        )
    raise FileRefused(message, details={"file": [message]})


def parse_export(
    adapter: Any,
    files: Sequence[tuple[IO[bytes], str]],
    *,
    extra_statuses: Mapping[str, Outcome] | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[Item]:
    """Any adapter's reading of an export given as its files; ``extra_statuses`` and the workbook
    ``limits`` reach the adapters that read spreadsheets."""
    if isinstance(adapter, ExportAdapter):
        return adapter.parse_files(files, extra_statuses=extra_statuses, limits=limits)
    require_file_count(adapter, len(files))
    stream, filename = files[0]
    return adapter.parse(stream, filename)


# Beyond this many adjacent rows of one order (none seen in practice) a group is cut, to bound memory.
MAX_GROUP_ROWS = 1000
_ROW_NUMBER = re.compile(r"\bRow (\d+)\b")


def stopped_at(error: FileRefused) -> RowError:
    """The row error for a file that turned unreadable part-way (the reader names the row in its message)."""
    match = _ROW_NUMBER.search(error.message)
    code, params = code_of(error.message)
    return RowError(
        int(match.group(1)) if match else None,
        None,
        Coded(
            codes.FILE_STOPPED,
            f"{error.message} Reading stopped at this row; the rows after it, if any, were not read.",
            cause=code,
            **params,
        ),
    )


class ExportAdapter:
    """Base of the adapters reading a platform's order export: subclasses declare, this reads.

    Subclasses set ``name``, ``channel``, ``label``, ``media`` and ``layouts`` (or, for a single
    layout, ``statuses`` and ``columns``), and define ``external_id``. Column keys ``quantity`` and
    ``occurred_at`` (or ``ordered_at``, read when ``occurred_at`` is empty) and the layout's amount
    keys are required; ``unit_price_fen``, ``sku``, ``title`` and ``buyer_name`` are used when
    declared.
    """

    name: ClassVar[str]
    channel: ClassVar[str]
    label: ClassVar[str]
    media: ClassVar[tuple[str, ...]]
    layouts: ClassVar[tuple[Layout, ...]] = ()
    statuses: ClassVar[StatusTable]
    columns: ClassVar[tuple[Column, ...]]
    buyer_type: ClassVar[str] = "individual"
    # Set for an export whose ``external_id`` depends on whether an order holds several items, or
    # whose amounts are per order: adjacent rows with equal ``group_by`` cells are one order, and
    # the first non-empty cell of ``item_by`` names a row's item; ``external_id`` is told whether
    # the order names several.
    group_by: ClassVar[str | None] = None
    item_by: ClassVar[tuple[str, ...]] = ()
    # How many files one export is; an adapter taking more overrides ``parse_files``.
    max_files: ClassVar[int] = 1

    def parse_files(
        self,
        files: Sequence[tuple[IO[bytes], str]],
        *,
        extra_statuses: Mapping[str, Outcome] | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> Parsed:
        """The export given as its files (stream, file name), in any order."""
        require_file_count(self, len(files))
        stream, filename = files[0]
        return self.parse(stream, filename, extra_statuses=extra_statuses, limits=limits)

    def declared_layouts(self) -> tuple[Layout, ...]:
        if self.layouts:
            return self.layouts
        return (Layout(self.name, self.label, self.columns, self.statuses),)

    def required_headers(self) -> list[str]:
        return [names[0] for names in self.declared_layouts()[0].required()]

    def parse(
        self,
        stream: IO[bytes],
        filename: str,
        *,
        extra_statuses: Mapping[str, Outcome] | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> Parsed:
        """The export's rows as sale lines, skipped rows and row errors, in file order.

        The header is read and its layout chosen at once (FileRefused when none fits); the
        rows are read as the returned iterator is consumed. ``extra_statuses`` maps statuses the
        layout does not know to an outcome (a county's own decision); without it their rows are
        set aside, named by their status. An xlsx file is read within ``limits``.
        """
        reader = tabular.read_rows(stream, filename, limits=limits)
        layout, missing, closest = choose_layout(self.declared_layouts(), reader.header)
        if layout is None:
            reader.close()
            raise refuse_header(self, reader.header, missing, closest)
        return Parsed(self._items(reader, layout, extra_statuses or {}), layout)

    def _items(
        self, reader: tabular.RowReader, layout: Layout, extra: Mapping[str, Outcome]
    ) -> Iterator[Item]:
        failure: list[FileRefused] = []
        try:
            for group in self._groups(reader, failure):
                items = {self._item_key(row) for row in group} if self.group_by else set()
                # An order is "grouped" when its rows name more than one item; repeated rows are not.
                grouped = len(items) > 1
                read = [self._read(row, layout, extra, grouped=grouped) for row in group]
                yield from self._lines(read, layout, grouped=grouped)
            if failure:
                yield stopped_at(failure[0])
        finally:
            reader.close()

    def _groups(self, reader: tabular.RowReader, failure: list[FileRefused]) -> Iterator[list[tabular.Row]]:
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
        except FileRefused as error:
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

    def read_row(
        self, row: tabular.Row, *, grouped: bool = False, extra: Mapping[str, Outcome] | None = None
    ) -> Item:
        """One row read alone (its amount not shared with other rows) in the first layout."""
        layout = self.declared_layouts()[0]
        read = self._read(row, layout, extra or {}, grouped=grouped)
        return next(iter(self._lines([read], replace(layout, per_order=False), grouped=grouped)))

    def _read(
        self, row: tabular.Row, layout: Layout, extra: Mapping[str, Outcome], *, grouped: bool
    ) -> Item | tuple[dict[str, Any], Outcome, int]:
        """A row's values and outcome, or the Skipped or RowError it comes to."""
        try:
            outcome, reason = self.row_outcome(row, layout, extra)
            if outcome in (SKIPPED, PENDING):
                return Skipped(row.number, reason)
            values = {column.key: column.value(row) for column in layout.columns}
            if not layout.per_order:
                values["amount_fen"] = layout.read_amount(values)
        except CellError as error:
            return RowError(row.number, error.column, error.message)
        return values, outcome, row.number

    def row_outcome(
        self, row: tabular.Row, layout: Layout, extra: Mapping[str, Outcome]
    ) -> tuple[Outcome, str]:
        """What the row's statuses mean, and the reason given when it is skipped or pending.

        The reason names the status, not the row, so a run can count its skipped rows by reason.
        """
        status, listed = layout.statuses.read(row, extra)
        outcome, reason = self.outcome(status, listed, row)
        if outcome in (SKIPPED, PENDING) or layout.after_sale is None:
            return outcome, reason
        after = row.get(layout.after_sale.header)
        if not after:
            return outcome, reason
        after_outcome = layout.after_sale.outcome_of(after, extra)
        if after_outcome is None:
            return SKIPPED, unknown_status(layout.after_sale.header, after)
        if after_outcome is SALE:
            return outcome, reason
        return after_outcome, self.reason(layout.after_sale.header, after, after_outcome)

    def outcome(self, status: str, listed: Outcome | None, row: tabular.Row) -> tuple[Outcome, str]:
        """What the row's order status means here (``listed`` is its table's outcome, None when no
        table knows it), and the reason given when it is skipped."""
        if listed is None:
            return SKIPPED, unknown_status(self.status_header(row), status)
        return listed, self.reason(self.status_header(row), status, listed)

    def status_header(self, row: tabular.Row) -> str:
        return self.declared_layouts()[0].statuses.header

    @staticmethod
    def reason(header: str, status: str, outcome: Outcome) -> str:
        if outcome is PENDING:
            return Coded(
                "skip.pending",
                f"{header} {status}: not yet a sale; a later export imports it.",
                column=header,
                status=status,
            )
        return Coded("skip.not_a_sale", f"{header} {status}: not a sale.", column=header, status=status)

    def _lines(
        self, read: list[Item | tuple[dict[str, Any], Outcome, int]], layout: Layout, *, grouped: bool
    ) -> Iterator[Item]:
        """The group's items in row order; with per-order amounts, the order's amount shared among them."""
        if layout.per_order:
            read = self._share(read, layout, grouped=grouped)
        for entry in read:
            if isinstance(entry, tuple):
                values, outcome, row = entry
                yield self.line(values, outcome, row, grouped=grouped)
            else:
                yield entry

    def _share(
        self, read: list[Item | tuple[dict[str, Any], Outcome, int]], layout: Layout, *, grouped: bool
    ) -> list[Item | tuple[dict[str, Any], Outcome, int]]:
        """The order's amount (from its first line) shared among its distinct items by price × quantity."""
        lines = [entry for entry in read if isinstance(entry, tuple)]
        if not lines:
            return read
        broken = next((entry for entry in read if isinstance(entry, RowError)), None)
        if broken is not None:
            message = (
                f"Row {broken.row} of the same order could not be read, so the order's amount "
                "cannot be shared among its items."
            )
            return [
                RowError(entry[2], None, message) if isinstance(entry, tuple) else entry for entry in read
            ]
        first_values = lines[0][0]
        try:
            total = layout.read_amount(first_values)
        except CellError as error:
            return [
                RowError(entry[2], error.column, error.message) if isinstance(entry, tuple) else entry
                for entry in read
            ]
        # A repeated row of an item shares its item's part rather than taking a part of its own.
        weights: dict[str, int] = {}
        for values, _, _ in lines:
            key = self.external_id(values, grouped=grouped)
            if key not in weights:
                weights[key] = (values.get("unit_price_fen") or 0) * values["quantity"]
        parts = dict(zip(weights, apportion(total, list(weights.values())), strict=True))
        shared: list[Item | tuple[dict[str, Any], Outcome, int]] = []
        for entry in read:
            if isinstance(entry, tuple):
                values, outcome, row = entry
                entry = (
                    {**values, "amount_fen": parts[self.external_id(values, grouped=grouped)]},
                    outcome,
                    row,
                )
            shared.append(entry)
        return shared

    def line(self, values: Mapping[str, Any], outcome: Outcome, row: int, *, grouped: bool) -> SaleLine:
        return SaleLine(
            channel=self.channel,
            external_id=self.external_id(values, grouped=grouped),
            occurred_at=values.get("occurred_at") or values["ordered_at"],
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
