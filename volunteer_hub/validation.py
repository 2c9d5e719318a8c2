"""Input validation: field types for phone and ID numbers, and pydantic error translation.

Services accept plain dicts or pydantic models; ``parse()`` turns a pydantic
ValidationError into an ``InvalidInput`` whose details name each field, with a message
id that is translated at the edge.
"""

from __future__ import annotations

import functools
import ipaddress
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from typing import Annotated, Any, TypeVar
from urllib.parse import SplitResult, urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from stdnum.cn import ric
from zxcvbn import zxcvbn

from volunteer_hub.errors import FieldProblem, InvalidInput

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=StrEnum)


# Message ids for pydantic's own error types (translated in locale/*/messages.po).
_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": "This field is required.",
    "string_too_short": "Must be at least {min_length} characters long.",
    "string_too_long": "Must be at most {max_length} characters long.",
    "too_short": "Must have at least {min_length} items.",
    "too_long": "Must have at most {max_length} items.",
    "string_pattern_mismatch": "Must use lower-case letters, digits and underscores.",
    "decimal_parsing": "Must be a number.",
    "decimal_type": "Must be a number.",
    "decimal_max_places": "Must have at most {decimal_places} decimal places.",
    "decimal_max_digits": "Must have at most {max_digits} digits.",
    "float_parsing": "Must be a number.",
    "float_type": "Must be a number.",
    "finite_number": "Must be a finite number.",
    "int_parsing_size": "This number is too large.",
    "greater_than_equal": "Must be at least {ge}.",
    "greater_than": "Must be greater than {gt}.",
    "less_than_equal": "Must be at most {le}.",
    "less_than": "Must be less than {lt}.",
    "int_parsing": "Must be a whole number.",
    "int_type": "Must be a whole number.",
    "int_from_float": "Must be a whole number.",
    "string_type": "Must be text.",
    "bool_type": "Must be true or false.",
    "bool_parsing": "Must be true or false.",
    "list_type": "Must be a list.",
    "date_type": "Must be a date (YYYY-MM-DD).",
    "date_parsing": "Must be a date (YYYY-MM-DD).",
    "date_from_datetime_parsing": "Must be a date (YYYY-MM-DD).",
    "date_from_datetime_inexact": "Must be a date (YYYY-MM-DD).",
    "datetime_type": "Must be a date and time with an offset.",
    "datetime_parsing": "Must be a date and time with an offset.",
    "datetime_from_date_parsing": "Must be a date and time with an offset.",
    "timezone_aware": "Must be a date and time with an offset.",
    "enum": "Must be one of: {expected}.",
    "literal_error": "Must be one of: {expected}.",
    "extra_forbidden": "Unknown field.",
    "model_type": "Must be an object.",
    "dict_type": "Must be an object.",
}
_FALLBACK = "This value is not valid."

# Text fields are stripped; passwords are not (their spaces are part of them).
_Stripped = StringConstraints(strip_whitespace=True)


class Input(BaseModel):
    """Base for service inputs: unknown fields are refused, and so are NaN and infinities.

    The JSON API validates bodies strictly (``validation.parse_json``): there ``true`` is
    not a number nor ``"5"`` an integer. Forms send text, so services parse leniently.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def parse(model: type[M], data: M | dict[str, Any] | bytes) -> M:
    """Validate ``data`` against ``model``; raise InvalidInput naming every bad field.

    JSON text (``bytes``) is validated strictly, as ``parse_json`` does."""
    if isinstance(data, model):
        return data
    if isinstance(data, bytes):
        return parse_json(model, data)
    if isinstance(data, BaseModel):
        data = data.model_dump(exclude_unset=True)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc) from None


def parse_json(model: type[M], raw: bytes) -> M:
    """JSON text (a request body) as ``model``, decoded and validated in one pass by
    pydantic, strictly: JSON types are kept apart (``true`` is no number, ``"5"`` no
    integer), while dates and times are read from their ISO strings. Whatever cannot be
    decoded (not JSON, invalid UTF-8, a number too long to read, nesting too deep) is
    ``invalid_json``; NaN and Infinity are refused by the models (``Input`` does not allow
    them)."""
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}", strict=True)
    except ValidationError as exc:
        # Errors of the whole body, not of a model-level check that names its field.
        root = [
            e["type"]
            for e in exc.errors(include_url=False)
            if not e["loc"] and "field" not in (e.get("ctx") or {})
        ]
        if "json_invalid" in root:
            raise InvalidInput("The body must be JSON.", code="invalid_json") from None
        if root:  # an array, a string, null...: not an object
            raise InvalidInput(
                "The body must be a JSON object.",
                code="invalid_json",
                details=[FieldProblem("body", "Must be an object.")],
            ) from None
        raise invalid_input(exc) from None


def enum_value(field_name: str, enum: type[E], value: E | str) -> E:
    """``value`` as a member of ``enum`` (a query parameter such as ``status``), or 422 in
    ``field_name`` naming the values allowed."""
    try:
        return enum(value)
    except ValueError:
        raise InvalidInput.for_field(
            field_name, "Must be one of: {expected}.", expected=", ".join(e.value for e in enum)
        ) from None


def invalid_input(exc: ValidationError) -> InvalidInput:
    problems = []
    for err in exc.errors(include_url=False):
        ctx = {k: _plain(v) for k, v in (err.get("ctx") or {}).items()}
        # A model-level check names its field in ctx (see custom_error(field=...)).
        loc = [*err["loc"], ctx.pop("field")] if "field" in ctx else err["loc"]
        field_name = ".".join(str(p) for p in loc) or "__root__"
        error_type = err["type"]
        if error_type in ("too_short", "too_long") and isinstance(err.get("input"), str):
            error_type = f"string_{error_type}"  # a length on an annotated str
        if error_type == "literal_error" and "expected" in ctx:
            ctx["expected"] = ctx["expected"].replace(" or ", ", ")
        if error_type in _PYDANTIC_MESSAGES:
            msgid = _PYDANTIC_MESSAGES[error_type]
        elif "msgid" in ctx:  # our own PydanticCustomError: the message id travels in ctx
            msgid = str(ctx.pop("msgid"))
        else:
            msgid = _FALLBACK
        problems.append(FieldProblem(field_name, msgid, ctx))
    return InvalidInput("The input is not valid.", details=problems)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float) else str(value)


def custom_error(error_type: str, msgid: str, **ctx: Any) -> PydanticCustomError:
    """An error with our message id; in a model validator pass ``field=`` to name the field."""
    return PydanticCustomError(error_type, msgid, {"msgid": msgid, **ctx})


# --- network addresses that staff configure (channel gateways, providers) --------------


def is_private_host(host: str) -> bool:
    """Loopback, private, link-local and reserved addresses (and localhost)."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def http_address(value: str) -> SplitResult:
    """An http(s) address with a host and no user name or password, split."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise custom_error("url", "Must be an http or https address.")
    if parts.username or parts.password:
        raise custom_error("url", "Must not contain a user name or password.")
    return parts


def provider_url(value: str) -> str:
    """A provider's base address (no path, query or fragment), without a trailing slash:
    https, or plain http only to a private address, where nothing crosses the internet
    (a test sink, a LAN relay). Private addresses also need Settings.allow_private_network."""
    parts = http_address(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise custom_error("url", "This value is not valid.")
    if parts.scheme == "http" and not is_private_host(parts.hostname or ""):
        raise custom_error("url", "Must be an https address: http only for a private address.")
    return value.rstrip("/")


ProviderUrl = Annotated[str, Field(min_length=8, max_length=200), AfterValidator(provider_url)]


# --- phone numbers ---------------------------------------------------------------


def normalize_phone(raw: str) -> str:
    """A mainland China mobile number in its 11-digit national form."""
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise custom_error("phone", "Must be a mainland China mobile number.") from None
    mobile_types = {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
    if (
        number.country_code != 86
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in mobile_types
    ):
        raise custom_error("phone", "Must be a mainland China mobile number.")
    return str(number.national_number)


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``."""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


Phone = Annotated[str, _Stripped, AfterValidator(normalize_phone)]


# --- e-mail addresses -------------------------------------------------------------


def normalize_email(raw: str) -> str:
    """Exactly one mailbox (no list, display name, quoting or IP address), in ASCII form.

    Checked by email-validator without DNS look-ups. A message to this address can only
    have one recipient: nothing that mail software reads as a separator or a route
    (``,`` ``;`` ``<>`` spaces, ``%`` and ``!`` relays) is left in it.
    """
    try:
        checked = validate_email(
            raw,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError:
        raise custom_error("email", "Must be one e-mail address, like name@example.com.") from None
    if any(c in checked.local_part for c in "%!"):
        raise custom_error("email", "Must be one e-mail address, like name@example.com.")
    return checked.ascii_email or checked.normalized


# --- mainland resident ID numbers (居民身份证号码) ------------------------------------


def normalize_id_number(raw: str) -> str:
    try:
        return ric.validate(raw)
    except ric.InvalidChecksum:
        raise custom_error("id_number", "The ID number's check digit is wrong.") from None
    except ric.InvalidComponent:
        try:  # stdnum says InvalidComponent for a bad birth date and a bad region alike
            ric.get_birth_date(ric.compact(raw))
        except ric.InvalidComponent:
            raise custom_error(
                "id_number", "The ID number contains an impossible birth date."
            ) from None
        raise custom_error("id_number", "The ID number's region code is unknown.") from None
    except ric.ValidationError:
        raise custom_error("id_number", "Must be an 18-character resident ID number.") from None


def id_number_birth_date(id_number: str) -> date:
    return ric.get_birth_date(id_number)


IdNumber = Annotated[str, _Stripped, AfterValidator(normalize_id_number)]


# --- text -------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")  # browsers send CRLF
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise custom_error("text", "Must not contain control characters.")
    return value


def _single_line(value: str) -> str:
    if "\n" in value or "\t" in value:
        raise custom_error("text", "Must be a single line.")
    return _clean_text(value)


Line = Annotated[str, _Stripped, AfterValidator(_single_line)]
Text = Annotated[str, _Stripped, AfterValidator(_clean_text)]


# --- ids ---------------------------------------------------------------------------------

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


# --- moments in time ------------------------------------------------------------------


def _reasonable_moment(value: datetime) -> datetime:
    """A time with an offset, in a span a community's calendar can use (and UTC can hold)."""
    if not 2000 <= value.year <= 2200:
        raise custom_error("moment", "Must be a date and time between 2000 and 2200.")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_reasonable_moment)]


def _reasonable_day(value: date) -> date:
    """A calendar day in the same span (a day later or earlier must still be a date)."""
    if not 2000 <= value.year <= 2200:
        raise custom_error("day", "Must be a date between 2000 and 2200.")
    return value


Day = Annotated[date, AfterValidator(_reasonable_day)]


# --- passwords --------------------------------------------------------------------

PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 8, 128
# zxcvbn's score 3: about 10^8 guesses or more ("safely unguessable" online, and slow
# to find offline behind argon2).
PASSWORD_MIN_SCORE = 3
ESTIMATED = 64  # characters of a password that zxcvbn judges


@functools.cache
def common_passwords() -> tuple[str, ...]:
    """The shipped list of passwords and parts of passwords common in China (lower case)."""
    text = resources.files("volunteer_hub").joinpath("data/common_passwords_zh.txt")
    lines = (line.strip() for line in text.read_text(encoding="utf-8").splitlines())
    return tuple(line.lower() for line in lines if line and not line.startswith("#"))


def personal_words(
    *,
    name: str | None = None,
    phone: str | None = None,
    birth_date: date | None = None,
    id_number: str | None = None,
) -> list[str]:
    """What a person's own details put into a password: the estimator's context."""
    words = []
    if name:
        words += [name, "".join(name.split())]
    if phone:
        words += [phone, phone[-8:], phone[-6:], phone[-4:]]
    if birth_date:
        words += [birth_date.strftime(f) for f in ("%Y%m%d", "%y%m%d", "%m%d%Y", "%Y-%m-%d")]
    if id_number:
        words += [id_number, id_number[-6:], id_number[6:14]]
    return [w.lower() for w in words if len(w) >= 4]


def password_error(
    password: str, personal: Sequence[str] = (), **ctx: Any
) -> PydanticCustomError | None:
    """Why ``password`` is too weak, or None; ``ctx`` goes into the error (``field=``).

    zxcvbn estimates the guesses an attacker needs, with the person's own details and the
    shipped Chinese list as extra dictionaries (zxcvbn's own lists are English).
    """
    if len(password) < PASSWORD_MIN_LENGTH:
        return custom_error("password", "The password must be at least 8 characters long.", **ctx)
    if len(password) > PASSWORD_MAX_LENGTH:
        return custom_error("password", "The password must be at most 128 characters long.", **ctx)
    common = common_passwords()
    too_common = custom_error(
        "password",
        "The password is too common: many people use it or something very like it.",
        **ctx,
    )
    if password.lower() in common:
        return too_common
    # zxcvbn keeps its user_inputs in a module-level dict during the call: call it from
    # one thread at a time (validation runs on the event loop, or in the CLI). Its time
    # grows with the square of the length (30 ms for 128 characters here, 8 ms for 64):
    # the first ESTIMATED characters are judged, and more characters only add guesses.
    result = zxcvbn(password[:ESTIMATED], user_inputs=[*personal, *common], max_length=ESTIMATED)
    if result["score"] >= PASSWORD_MIN_SCORE:
        return None
    sequence = result["sequence"]
    if {m.get("matched_word") for m in sequence if m["pattern"] == "dictionary"} & set(personal):
        return custom_error(
            "password",
            "The password is too like your phone number, name, birth date or ID number.",
            **ctx,
        )
    if any(
        m["pattern"] == "spatial" or m.get("dictionary_name") in ("passwords", "user_inputs")
        for m in sequence
    ):
        return too_common
    return custom_error(
        "password",
        "The password is too easy to guess. Make it longer: a few words with digits or signs "
        "between them.",
        **ctx,
    )


def check_password(value: str) -> str:
    error = password_error(value)
    if error is not None:
        raise error
    return value


def check_personal_password(password: str, personal: Sequence[str]) -> None:
    """In a model validator: refuse a password made of its owner's own details."""
    error = password_error(password, personal, field="password")
    if error is not None:
        raise error


def refuse_weak_password(field_name: str, password: str, personal: Sequence[str]) -> None:
    """Outside a model (the person is known only from the database): InvalidInput."""
    error = password_error(password, personal)
    if error is not None:
        raise InvalidInput.for_field(field_name, error.context["msgid"])


Password = Annotated[str, AfterValidator(check_password)]
"""A password strong enough without knowing its owner: models that know the person also
call ``check_personal_password`` with ``personal_words`` (PersonIn, AdminIn)."""
