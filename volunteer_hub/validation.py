"""Input validation: field types for phone and ID numbers, and pydantic error translation.

Services accept plain dicts or pydantic models; ``parse()`` turns a pydantic
ValidationError into an ``InvalidInput`` whose details name each field, with a message
id that is translated at the edge.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import SplitResult, urlsplit

import phonenumbers
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

from volunteer_hub.errors import FieldProblem, InvalidInput

M = TypeVar("M", bound=BaseModel)


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
        root = [e["type"] for e in exc.errors(include_url=False) if not e["loc"]]
        if "json_invalid" in root:
            raise InvalidInput("The body must be JSON.", code="invalid_json") from None
        if root:  # an array, a string, null...: not an object
            raise InvalidInput(
                "The body must be a JSON object.",
                code="invalid_json",
                details=[FieldProblem("body", "Must be an object.")],
            ) from None
        raise invalid_input(exc) from None


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

_COMMON_PASSWORDS = frozenset(
    {
        "12345678",
        "123456789",
        "1234567890",
        "password",
        "password1",
        "qwerty123",
        "11111111",
        "88888888",
        "abc12345",
        "a1234567",
        "iloveyou",
        "woaini1314",
        "admin123",
        "12345678a",
    }
)


def check_password(value: str) -> str:
    if len(value) < 8:
        raise custom_error("password", "The password must be at least 8 characters long.")
    if len(value) > 128:
        raise custom_error("password", "The password must be at most 128 characters long.")
    if value.lower() in _COMMON_PASSWORDS or len(set(value)) < 4:
        raise custom_error("password", "The password is too easy to guess.")
    if not (any(c.isalpha() for c in value) and any(c.isdigit() for c in value)):
        raise custom_error("password", "The password must contain letters and digits.")
    return value


Password = Annotated[str, AfterValidator(check_password)]
