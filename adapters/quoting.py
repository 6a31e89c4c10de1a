"""What a message may echo from a file: ID numbers of household heads masked, and kept short.

An exported cell can hold anything, an ID number (居民身份证号) too: every message that quotes a cell
goes through here, so an ID number is never shown whole and a hostile file's huge cells never make
a large message.
"""

from __future__ import annotations

import re
from typing import Any

from stdnum.cn import ric

ID_NUMBER_MASK = "********"
# A row error quotes the cell it could not read; a few dozen characters identify it, and a kept
# run stays small however large the cells of a hostile file are.
QUOTED_CELL_CHARS = 40
# A kept run stays small however large the messages about a hostile file's rows are.
ROW_MESSAGE_CHARS = 300

# An 18-character ID number standing alone in free text (not inside a longer run of digits).
_ID_NUMBER_IN_TEXT = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


def mask_id_number(number: str) -> str:
    """First 6 and last 4 characters: 360426********0071."""
    return number[:6] + ID_NUMBER_MASK + number[-4:]


def mask_id_numbers_in(text: str) -> str:
    """Free text (a cell echoed in a row error) with every ID number in it masked.

    Only runs whose check character is right are masked, so most order numbers of 18 digits
    stay readable; an ID number is never shown whole.
    """

    def masked(match: re.Match[str]) -> str:
        number = match.group(0).upper()
        return mask_id_number(number) if ric.calc_check_digit(number) == number[17] else match.group(0)

    return _ID_NUMBER_IN_TEXT.sub(masked, text)


def quoted(value: Any) -> str:
    """A cell as a message quotes it: ID numbers masked, cut to a few dozen characters."""
    text = mask_id_numbers_in(value if isinstance(value, str) else repr(value))
    if len(text) > QUOTED_CELL_CHARS:
        text = text[:QUOTED_CELL_CHARS] + "…"
    return repr(text) if isinstance(value, str) else text


def row_message(message: str) -> str:
    """A row error's message as it is kept and shown: ID numbers masked, length bounded."""
    text = mask_id_numbers_in(str(message))
    return text if len(text) <= ROW_MESSAGE_CHARS else text[:ROW_MESSAGE_CHARS] + "…"
