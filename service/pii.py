"""Personal information of households: ID number checks, the keyed hash, and masking.

A clear ID number (居民身份证号) exists only in the request that carries it: it
is validated, hashed with a server-side key for look-up and de-duplication, and
masked for display (adapters/quoting.py masks, as the file readers quote cells through it too).
Nothing here ever puts the clear number into a message.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from flask import current_app
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from adapters.errors import Coded
from adapters.quoting import mask_id_number as mask_id_number  # households mask through this module
from service.clock import today_local


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
        raise ValueError(
            Coded(
                "id_number.length", f"An ID number has 18 characters (got {len(number)}).", length=len(number)
            )
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError(Coded("id_number.pattern", "An ID number is 17 digits followed by a digit or X."))
    if number[17] != ric.calc_check_digit(number):
        raise ValueError(Coded("id_number.check", "The ID number's check character is wrong (a typo?)."))
    try:
        birth = ric.get_birth_date(number)
    except InvalidComponent as error:
        raise ValueError(
            Coded("id_number.birth_date", "The birth date inside the ID number is not a real date.")
        ) from error
    if birth > today_local() or birth.year < 1900:
        raise ValueError(
            Coded("id_number.birth_date", "The birth date inside the ID number is not plausible.")
        )
    if not _address_code_known(number[:6], birth.year):
        raise ValueError(
            Coded(
                "id_number.address_code",
                "The ID number's address code is unknown (or was abolished before the birth year).",
            )
        )
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


def mask_name(name: str | None) -> str:
    """The first character kept, one '*' for each other character: 张三 → 张*, 欧阳修 → 欧**."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
