"""Items in lists of a fixed size: how the ledger, the import runner and the register importers
write in batches (``itertools.batched`` arrives only with Python 3.12)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

Item = TypeVar("Item")


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """``items`` in lists of ``size``, in order; the last may be shorter, none is empty."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
