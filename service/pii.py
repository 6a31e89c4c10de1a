"""Personal information of households: ID number checks, the keyed hash, and masking.

A clear ID number (居民身份证号) exists only in the request that carries it: it
is validated, hashed with a server-side key for look-up and de-duplication, and
masked for display. Nothing here ever puts the clear number into a message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

from flask import current_app
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from service.clock import today_local

ID_NUMBER_MASK = "********"


def validate_id_number(text: str) -> str:
    """The ID number in its standard form (18 characters, upper-case X), or ValueError.

    Checks the GB 11643 check character (ISO 7064 MOD 11-2), a real birth date
    that is not in the future, and an address code in stdnum's table. Unlike
    ``stdnum.cn.ric.validate`` it accepts people born before their county's
    code was created (numbers are issued after birth, so a head born in 1950
    can carry a code from 1983); it refuses only codes abolished before the
    birth year. Messages never repeat the number.
    """
    number = unicodedata.normalize("NFKC", str(text)).strip().replace(" ", "").upper()
    if len(number) != 18:
        raise ValueError(f"An ID number has 18 characters (got {len(number)}).")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("An ID number is 17 digits followed by a digit or X.")
    if number[17] != ric.calc_check_digit(number):
        raise ValueError("The ID number's check character is wrong (a typo?).")
    try:
        birth = ric.get_birth_date(number)
    except InvalidComponent as error:
        raise ValueError("The birth date inside the ID number is not a real date.") from error
    if birth > today_local() or birth.year < 1900:
        raise ValueError("The birth date inside the ID number is not plausible.")
    if not _address_code_known(number[:6], birth.year):
        raise ValueError("The ID number's address code is unknown (or was abolished before the birth year).")
    return number


def _address_code_known(code: str, birth_year: int) -> bool:
    """A county code in stdnum's table that was not abolished before the person was born."""
    info = {key: value for _part, props in numdb.get("cn/loc").info(code) for key, value in props.items()}
    for entry in info.get("county", "").split(","):
        if not entry:
            continue
        if not entry.startswith("["):
            return True
        end = entry[1:].split("]", 1)[0].split("-")[1]
        if not end or int(end) >= birth_year:
            return True
    return False


def hash_id_number(number: str, key: str | None = None) -> str:
    """HMAC-SHA256 of a validated ID number with the app's PII_HASH_KEY (hex)."""
    secret = key if key is not None else current_app.config["PII_HASH_KEY"]
    return hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()


def mask_id_number(number: str) -> str:
    """First 6 and last 4 characters: 360426********0071."""
    return number[:6] + ID_NUMBER_MASK + number[-4:]


# An 18-character ID number standing alone in free text (not inside a longer run of digits).
_ID_NUMBER_IN_TEXT = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


def mask_id_numbers_in(text: str) -> str:
    """Free text (a cell echoed in a row error) with every ID number in it masked.

    Only runs whose check character is right are masked, so most order numbers of 18 digits
    stay readable; an ID number is never shown whole.
    """

    def masked(match: re.Match[str]) -> str:
        number = match.group(0).upper()
        return mask_id_number(number) if ric.calc_check_digit(number) == number[17] else match.group(0)

    return _ID_NUMBER_IN_TEXT.sub(masked, text)


# A row error quotes the cell it could not read; a few dozen characters identify it, and a kept
# run stays small however large the cells of a hostile file are.
QUOTED_CELL_CHARS = 40


def quoted(value: Any) -> str:
    """A cell as a message quotes it: ID numbers masked, cut to a few dozen characters."""
    text = mask_id_numbers_in(value if isinstance(value, str) else repr(value))
    if len(text) > QUOTED_CELL_CHARS:
        text = text[:QUOTED_CELL_CHARS] + "…"
    return repr(text) if isinstance(value, str) else text


def mask_name(name: str | None) -> str:
    """The first character kept, one '*' for each other character: 张三 → 张*, 欧阳修 → 欧**."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
