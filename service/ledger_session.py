"""One ingest's tickets and differences, from its first batch to their hand-over.

Before a batch of sale lines is written, the ingest opens (or renews) its ticket on each county-month
the batch writes, listing the operator-months of every line written and of every version replaced
(``service.partitions``). Once a batch is written, exactly over the versions it read, the
differences go into the session's book (``service.ledger_deltas``); at the end they are kept in
``ledger_deltas`` and the tickets handed over, for the partition's rebuild to apply. A batch whose
writes did not all land at the first attempt, a ticket taken off meanwhile, or a difference too big
to keep: those operator-months are marked dirty and recomputed from the lines instead. A process
that dies leaves its tickets open; past ``TICKET_SECONDS`` without a sign of life they are treated
as dirty operator-months.

A bulk load or a sales import runs many ingests in one session (:func:`session`); a single ingest
opens its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from service import ledger_deltas, partitions
from service.clock import utcnow

Groups = Mapping[tuple[str, str], Iterable[ObjectId | None]]

# An open ticket says it is alive at most this often (one marker write per county-month).
HEARTBEAT_SECONDS = 30


class Session:
    """The tickets and the book of differences of one ingest (or of a whole import)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ticket = uuid.uuid4().hex
        self.book = ledger_deltas.Book()
        self.groups: dict[tuple[str, str], set[ObjectId | None]] = defaultdict(set)
        self.lost: set[tuple[str, str]] = set()
        self.alive_at: datetime | None = None

    def before_write(self, groups: Groups) -> None:
        """Open or renew the tickets of the county-months a batch is about to write."""
        now = utcnow()
        beat = self.alive_at is None or now - self.alive_at >= timedelta(seconds=HEARTBEAT_SECONDS)
        opening = {partition: set(ids) for partition, ids in groups.items() if partition not in self.groups}
        renewing = {
            partition: set(groups.get(partition, ()))
            for partition in self.groups
            if partition not in self.lost and (beat or partition in groups)
        }
        for partition, operator_ids in opening.items():
            self.groups[partition] |= operator_ids
        partitions.open_tickets(self.db, self.ticket, opening)
        for (county_code, month), operator_ids in renewing.items():
            self.groups[(county_code, month)] |= operator_ids
            if not partitions.touch_ticket(self.db, self.ticket, county_code, month, operator_ids):
                self._lose((county_code, month))
        # A county-month whose ticket was taken off: this batch's lines there are recomputed too.
        lost_here = {p: ids for p, ids in groups.items() if p in self.lost}
        if lost_here:
            partitions.mark_groups_dirty(self.db, lost_here)
        if beat:
            self.alive_at = now

    def written(self, replaced: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]]) -> None:
        """A batch landed exactly over the versions it read: its differences go into the book."""
        for old, new in replaced:
            self.book.replace(old, new)

    def not_exact(self, groups: Groups) -> None:
        """A batch's writes did not all land over what it read: recompute its operator-months."""
        partitions.mark_groups_dirty(self.db, groups)

    def after_write(self, groups: Groups) -> None:
        """Dirty again where the ticket is lost, so a rebuild that read the lines before cannot clean."""
        lost_here = {p: ids for p, ids in groups.items() if p in self.lost}
        if lost_here:
            partitions.mark_groups_dirty(self.db, lost_here)

    def hand_over(self) -> set[tuple[str, str]]:
        """Keep each county-month's differences and hand its ticket over; the county-months."""
        for partition in sorted(self.groups):
            if partition in self.lost:
                continue
            county_code, month = partition
            rows = self.book.rows(partition)
            if len(rows) > ledger_deltas.MAX_ROWS:
                partitions.drop_ticket(self.db, self.ticket, county_code, month, self.groups[partition])
                continue
            if rows:
                ledger_deltas.keep(self.db, self.ticket, county_code, month, rows)
            if not partitions.ticket_ready(self.db, self.ticket, county_code, month):
                ledger_deltas.discard(self.db, county_code, month, [self.ticket])
                self._lose(partition)
        return set(self.groups)

    def _lose(self, partition: tuple[str, str]) -> None:
        # Taken off by a rebuild that recomputed some of these lines: recompute them all once more.
        self.lost.add(partition)
        partitions.mark_groups_dirty(self.db, {partition: self.groups[partition]})


_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar("ledger_session", default=None)


@contextlib.contextmanager
def session(db: Database) -> Iterator[Session]:
    """One session for every ingest inside (a bulk load, a whole import): handed over at the end,
    also when it ends by an error (what was written by then is exact)."""
    current = _current.get()
    if current is not None:
        yield current
        return
    opened = Session(db)
    token = _current.set(opened)
    try:
        yield opened
    except BaseException:
        _current.reset(token)
        with contextlib.suppress(Exception):  # never hide the error that ended the session
            opened.hand_over()
        raise
    _current.reset(token)
    opened.hand_over()
