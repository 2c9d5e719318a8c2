"""Input validation and security helpers: pure functions, no database."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from tests.factories import id_number
from volunteer_hub.errors import InvalidInput
from volunteer_hub.security import IdNumberKey, Passwords
from volunteer_hub.services.people import GridIn, PersonIn
from volunteer_hub.validation import (
    IdNumber,
    Input,
    Line,
    Password,
    Phone,
    Text,
    common_passwords,
    mask_phone,
    parse,
)

BIRTH = date(1960, 5, 17)
# 110105 19600517 019 X: a valid number whose check digit is X.
ID_WITH_X = "11010519600517019X"
ID_PLAIN = id_number(date(1990, 1, 2))  # 110105199001020016


class PhoneIn(Input):
    phone: Phone


class IdIn(Input):
    id_number: IdNumber


class PasswordIn(Input):
    password: Password


class LineIn(Input):
    value: Line


class TextIn(Input):
    value: Text


def refused(model: type[Input], data: dict) -> InvalidInput:
    """Parse data that must be refused; return the error after checking its kind."""
    with pytest.raises(InvalidInput) as caught:
        parse(model, data)
    err = caught.value
    assert err.code == "validation_error"
    assert err.kind == "invalid"
    return err


def only_problem(err: InvalidInput, field: str) -> str:
    """The single field named by the error; returns its English message."""
    assert err.fields == [field]
    (problem,) = err.details
    return problem.render("en")["message"]


def with_check_digit(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def person_data(**overrides) -> dict:
    data = {
        "name": "张三",
        "phone": "13812345678",
        "password": "s3cret-words",
        "community_id": 1,
    }
    return data | overrides


# --- phone numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "008613812345678",
        "138-1234-5678",
        " 138 1234 5678 ",
        "(+86) 138-1234-5678",
    ],
)
def test_phone_is_normalised_to_the_national_mobile_form(raw):
    assert parse(PhoneIn, {"phone": raw}).phone == "13812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "010-12345678",  # Beijing landline
        "+86 10 1234 5678",  # the same landline in international form
        "021 6123 4567",  # Shanghai landline
        "1381234",  # too short
        "138123456789",  # too long
        "+1 202 555 0123",  # United States
        "+852 9123 4567",  # Hong Kong mobile: not mainland
        "not a number",
        "",
    ],
)
def test_phone_refuses_landlines_short_and_foreign_numbers(raw):
    err = refused(PhoneIn, {"phone": raw})
    assert only_problem(err, "phone") == "Must be a mainland China mobile number."


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("13800000000") == "138****0000"
    # Never reveals a short value.
    assert mask_phone("12345") == "*****"


# --- resident ID numbers -------------------------------------------------------------


def test_id_number_with_x_check_digit_is_valid_and_upper_cased():
    assert ric.calc_check_digit(ID_WITH_X) == "X"
    assert parse(IdIn, {"id_number": ID_WITH_X}).id_number == ID_WITH_X
    assert parse(IdIn, {"id_number": " " + ID_WITH_X.lower() + " "}).id_number == ID_WITH_X


def test_id_number_with_a_wrong_check_digit():
    wrong = ID_WITH_X[:-1] + "1"
    err = refused(IdIn, {"id_number": wrong})
    assert only_problem(err, "id_number") == "The ID number's check digit is wrong."


def test_id_number_with_an_impossible_birth_date():
    for body in ("11010519990230001", "11010519901302001"):  # 30 February, month 13
        err = refused(IdIn, {"id_number": with_check_digit(body)})
        assert only_problem(err, "id_number") == (
            "The ID number contains an impossible birth date."
        )


def test_id_number_with_an_unknown_region_does_not_blame_the_birth_date():
    # Region 000000 does not exist; the birth date 1990-01-02 is fine.
    err = refused(IdIn, {"id_number": with_check_digit("00000019900102001")})
    message = only_problem(err, "id_number")
    assert "birth date" not in message


@pytest.mark.parametrize("raw", [ID_PLAIN[:-1], ID_PLAIN + "1", "110105", "1101051990010200AB"])
def test_id_number_with_a_wrong_length_or_format(raw):
    err = refused(IdIn, {"id_number": raw})
    assert only_problem(err, "id_number") == "Must be an 18-character resident ID number."


def test_person_birth_date_must_match_the_id_number():
    err = refused(PersonIn, person_data(id_number=ID_WITH_X, birth_date="1960-05-18"))
    assert only_problem(err, "birth_date") == "The birth date does not match the ID number."


def test_person_birth_date_matching_the_id_number_is_accepted():
    person = parse(PersonIn, person_data(id_number=ID_WITH_X, birth_date=BIRTH.isoformat()))
    assert person.birth_date == BIRTH
    assert person.id_number == ID_WITH_X


def test_person_reports_every_bad_field_at_once():
    err = refused(
        PersonIn, person_data(phone="010-12345678", password="short", name="", id_number="1")
    )
    assert sorted(err.fields) == ["id_number", "name", "password", "phone"]


# --- passwords ------------------------------------------------------------------------


COMMON = "The password is too common: many people use it or something very like it."
PERSONAL = "The password is too like your phone number, name, birth date or ID number."
GUESSABLE = (
    "The password is too easy to guess. Make it longer: a few words with digits or signs "
    "between them."
)
# What the outside probe got accepted, and their kin: pinyin, love and lucky numbers,
# letters glued to digits, keyboard walks, English favourites.
WEAK = [
    "Aa123456",
    "woaini520",
    "1qaz2wsx",
    "52013145",
    "a1234567",
    "qq123456",
    "qq5201314",
    "woaini1314",
    "Woaini@1314",
    "WOAINI5201314",
    "iloveyou520",
    "1qaz@WSX",
    "zaq12wsx",
    "1q2w3e4r",
    "qweasdzxc",
    "Zhangwei1990!",
    "wangfang123",
    "Beijing2008",
    "shequ2024",
    "mima1234",
    "P@ssw0rd2024",
    "password1",
    "PASSWORD1",
    "aaaa1111",
    "88888888",
    "147258369",
    "abcdefghij",
]
STRONG = [
    "Hongqi-Lu-88-test",
    "xingfuli-2024",
    "Tiantian-xiangshang-42",
    "laowang-de-xiaomao",
    "Qiuyue Anping 23",
    "  my pass 2024  ",
    "correct horse battery staple",
    "Tp3-qz9-Lm8",
]


@pytest.mark.parametrize("password", WEAK)
def test_weak_passwords_are_refused(password):
    err = refused(PasswordIn, {"password": password})
    assert only_problem(err, "password") in (COMMON, GUESSABLE)


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_are_accepted(password):
    assert parse(PasswordIn, {"password": password}).password == password


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("ab12cd3", "The password must be at least 8 characters long."),
        ("5201314", "The password must be at least 8 characters long."),
        ("woaini520", COMMON),  # the shipped Chinese list, as it is
        ("Woaini@520!", COMMON),  # and as a part that zxcvbn finds
        ("1qaz2wsx", COMMON),
        ("abcdefghij", GUESSABLE),
        ("Xq9!" * 32, GUESSABLE),  # long, but one short part repeated
        ("a1" + "x" * 127, "The password must be at most 128 characters long."),
    ],
)
def test_password_rules(password, message):
    err = refused(PasswordIn, {"password": password})
    assert only_problem(err, "password") == message


@pytest.mark.parametrize(
    ("overrides", "password"),
    [
        ({"phone": "13912345678"}, "13912345678abc"),
        ({"phone": "13955501234"}, "Zoo-55501234"),
        ({"name": "Anna Lee"}, "annalee!kite"),
        ({"birth_date": "1990-05-17"}, "Mao-19900517"),
        ({"id_number": ID_WITH_X}, f"kite-{ID_WITH_X[-6:]}"),
    ],
)
def test_passwords_made_of_the_persons_own_details_are_refused(overrides, password):
    err = refused(PersonIn, person_data(password=password, **overrides))
    assert only_problem(err, "password") == PERSONAL
    # The same password is fine for someone else.
    assert parse(PasswordIn, {"password": password}).password == password


def test_the_shipped_list_is_in_the_package():
    words = common_passwords()
    assert {"woaini520", "5201314", "a123456", "qq123456", "1qaz2wsx"} <= set(words)
    assert all(w == w.lower().strip() and not w.startswith("#") for w in words)


def test_password_of_128_characters_is_accepted():
    value = ("Hongqi-Lu-88-" + "".join(chr(97 + (i * 7) % 26) for i in range(128)))[:128]
    assert len(value) == 128
    assert parse(PasswordIn, {"password": value}).password == value


def test_password_spaces_are_kept():
    value = "  my pass 2024  "
    assert parse(PasswordIn, {"password": value}).password == value


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f", "n\x85el"])
def test_control_characters_are_refused(bad):
    for model in (LineIn, TextIn):
        err = refused(model, {"value": bad})
        assert only_problem(err, "value") == "Must not contain control characters."


def test_line_is_single_line_and_stripped():
    assert parse(LineIn, {"value": "  幸福里社区  "}).value == "幸福里社区"
    for bad in ("one\ntwo", "tab\there"):
        err = refused(LineIn, {"value": bad})
        assert only_problem(err, "value") == "Must be a single line."


def test_text_keeps_newlines_and_tabs():
    assert parse(TextIn, {"value": "第一行\n\t第二行"}).value == "第一行\n\t第二行"


def test_text_accepts_crlf_line_breaks():
    # An HTML <textarea> is submitted with CRLF line breaks (HTML's form encoding
    # normalises them so); a multi-line description from a page must be accepted.
    value = parse(TextIn, {"value": "第一行\r\n第二行"}).value
    assert value.replace("\r\n", "\n") == "第一行\n第二行"


def test_unknown_fields_are_refused():
    err = refused(GridIn, {"name": "第一网格", "colour": "red"})
    assert err.fields == ["colour"]
    assert err.details[0].msgid == "Unknown field."  # pydantic's extra_forbidden


def test_missing_field_is_named():
    err = refused(GridIn, {})
    assert err.fields == ["name"]
    assert err.details[0].msgid == "This field is required."


# --- password hashing ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords("CHEAPEST")


def test_argon2_hash_and_verify(passwords):
    hashed = passwords.hash("s3cret-words")
    assert hashed.startswith("$argon2id$")
    assert "s3cret-words" not in hashed
    assert passwords.hash("s3cret-words") != hashed  # salted
    assert passwords.verify(hashed, "s3cret-words") is True
    assert passwords.verify(hashed, "s3cret-wordz") is False
    assert passwords.verify(hashed, "") is False


def test_argon2_default_profile_is_not_the_test_profile(passwords):
    production = Passwords()
    hashed = production.hash("s3cret-words")
    assert production.verify(hashed, "s3cret-words") is True
    assert production.verify(hashed, "s3cret-wordz") is False
    # A hash made with the cheap profile is weaker than the default: it must be redone.
    assert production.needs_rehash(passwords.hash("s3cret-words"))
    assert not production.needs_rehash(hashed)
    with pytest.raises(ValueError):
        Passwords("NO_SUCH_PROFILE")


@pytest.mark.parametrize("bad_hash", ["not-a-hash", "$argon2id$v=19$broken", "", None])
def test_malformed_or_missing_hash_never_matches(passwords, bad_hash):
    assert passwords.verify(bad_hash, "s3cret-words") is False
    # Not even with the password that the dummy hash was made from.
    assert passwords.verify(bad_hash, "a password that nobody has") is False


# --- keyed ID-number hash ------------------------------------------------------------------


def test_id_number_key_is_keyed_and_ignores_the_case_of_x():
    one = IdNumberKey("secret-one")
    two = IdNumberKey("secret-two")
    digest = one.digest(ID_WITH_X)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert ID_WITH_X not in digest
    assert one.digest(ID_WITH_X) == digest  # stable
    assert two.digest(ID_WITH_X) != digest  # keyed
    assert one.digest(ID_WITH_X.lower()) == digest  # x and X are the same number
    assert one.digest(ID_PLAIN) != digest
    assert "secret-one" not in repr(one)
