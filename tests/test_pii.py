"""ID number validation, the keyed hash and masking (service/pii.py)."""

from __future__ import annotations

import pytest
from stdnum.cn import ric

from service import pii


def _with_check_character(first_17: str) -> str:
    return first_17 + ric.calc_check_digit(first_17 + "0")


@pytest.mark.parametrize("number", ["360426199101010071", "120103198806018241", "36042619840520003X"])
def test_valid_id_numbers_are_accepted(number):
    assert pii.validate_id_number(number) == number


def test_lower_case_x_spaces_and_full_width_digits_are_normalised():
    assert pii.validate_id_number(" 36042619840520003x ") == "36042619840520003X"
    assert pii.validate_id_number("３６０４２６１９９１０１０１００７１") == "360426199101010071"


def test_a_wrong_check_character_is_refused():
    with pytest.raises(ValueError, match="check character"):
        pii.validate_id_number("360426199101010072")


def test_an_impossible_birth_date_is_refused_even_with_a_right_check_character():
    number = _with_check_character("36042619910231002")  # 31 February
    with pytest.raises(ValueError, match="not a real date"):
        pii.validate_id_number(number)


def test_a_birth_date_in_the_future_is_refused():
    with pytest.raises(ValueError, match="not plausible"):
        pii.validate_id_number(_with_check_character("36042630000101007"))


def test_a_head_born_before_the_county_code_existed_is_accepted():
    # 360426 dates from 1983; stdnum's own validate() would refuse this person born in 1950.
    number = _with_check_character("36042619500101001")
    assert not ric.is_valid(number)
    assert pii.validate_id_number(number) == number


def test_an_unknown_address_code_is_refused():
    with pytest.raises(ValueError, match="address code"):
        pii.validate_id_number(_with_check_character("99999919900101001"))


@pytest.mark.parametrize(
    "text", ["", "36042619910101007", "3604261991010100711", "36042619910101007Y", "A60426199101010071"]
)
def test_malformed_numbers_are_refused(text):
    with pytest.raises(ValueError):
        pii.validate_id_number(text)


def test_error_messages_never_repeat_the_number():
    for text in ["360426199101010072", _with_check_character("36042619910231002"), "36042619910101007Y"]:
        with pytest.raises(ValueError) as caught:
            pii.validate_id_number(text)
        assert text[:-1] not in str(caught.value)


def test_the_hash_is_keyed_and_stable():
    number = "360426199101010071"
    first = pii.hash_id_number(number, key="key-a")
    assert first == pii.hash_id_number(number, key="key-a")
    assert first != pii.hash_id_number(number, key="key-b")
    assert len(first) == 64 and number not in first


def test_the_hash_uses_the_app_key_by_default(app):
    with app.app_context():
        assert pii.hash_id_number("360426199101010071") == pii.hash_id_number(
            "360426199101010071", key=app.config["PII_HASH_KEY"]
        )


def test_masked_id_number_keeps_first_six_and_last_four():
    assert pii.mask_id_number("360426199101010071") == "360426********0071"
    assert pii.mask_id_number("36042619840520003X") == "360426********003X"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳修文", "欧***"), ("王", "王"), (" 李四 ", "李*"), ("", ""), (None, "")],
)
def test_names_keep_their_first_character(name, masked):
    assert pii.mask_name(name) == masked
