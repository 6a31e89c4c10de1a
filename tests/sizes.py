"""How much data the big-data tests make: full size by default, smaller with TEST_DATA_SIZE=small.

The wire tier of ./scripts/test sets TEST_DATA_SIZE=small: its server (mongoeco) checks a compound
unique index by scanning the collection, so every insert into `sales` or `benefit_links` costs time
in proportion to what is already there. Each small size still crosses the threshold its test is
about (the 1,000 kept row errors, a progress report every 500 rows, a file larger than a read).
"""

from __future__ import annotations

import os

SMALL = os.environ.get("TEST_DATA_SIZE", "full").strip().lower() == "small"


def sized(full: int, small: int) -> int:
    """The number of records a test makes: `full` normally, `small` with TEST_DATA_SIZE=small."""
    return small if SMALL else full
