"""Open311's query and form parameters: read, checked, turned into what the service takes.

Everything here is bad input (400) or, for ids no row can have, not found (404); nothing
reads the database.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from pydantic_core import from_json
from starlette.requests import Request

from volunteer_hub.errors import InvalidInput, NotFound
from volunteer_hub.services.open311 import STATUSES_BY_NAME, GeoReportStatus, RequestFilters
from volunteer_hub.web.api import bearer_token, read_body

MAX_IDS = 100  # service_request_id values in one call
MAX_DB_ID = 2**31 - 1
# W3C-DTF (https://www.w3.org/TR/NOTE-datetime): YYYY, YYYY-MM, YYYY-MM-DD, or a date with
# hh:mm[:ss[.s]] and a zone designator.
W3C_DATETIME = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2}))?)?)?"
)
ID = re.compile(r"[0-9]{1,10}")
DIGITS = re.compile(r"[0-9]+")
CODE = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def query_params(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items()}


def text_param(params: dict[str, str], name: str, max_length: int) -> str | None:
    """A parameter stripped, None when absent or blank; too long is bad input."""
    value = params.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > max_length:
        raise InvalidInput.for_field(
            name, "Must be at most {max_length} characters long.", max_length=max_length
        )
    return value.strip()


def positive_id(value: str) -> int | None:
    """A database id from text; None when it is not one (too big ids exist nowhere)."""
    value = value.strip()
    if not ID.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_DB_ID else None


def jurisdiction_id(params: dict[str, str]) -> int:
    """The community's id; required, a whole number, and one a community can have."""
    raw = text_param(params, "jurisdiction_id", 20)
    if raw is None:
        raise InvalidInput.for_field("jurisdiction_id", "This field is required.")
    if not DIGITS.fullmatch(raw):
        raise InvalidInput.for_field("jurisdiction_id", "Must be a whole number.")
    community_id = positive_id(raw)
    if community_id is None:
        raise NotFound("No such community.", code="community_not_found")
    return community_id


def api_key(params: dict[str, str], request: Request) -> str | None:
    """The key as ``api_key`` or, better (headers stay out of access logs), as a bearer token."""
    return params.get("api_key") or bearer_token(request)


def request_filters(params: dict[str, str], timezone: str) -> RequestFilters:
    """GET requests' filters; dates without a zone are the jurisdiction's (``timezone``)."""
    ids = None
    raw_ids = _comma_list(params, "service_request_id", 12 * MAX_IDS)
    if raw_ids:
        if len(raw_ids) > MAX_IDS:
            raise InvalidInput.for_field(
                "service_request_id", "Must have at most {max_length} items.", max_length=MAX_IDS
            )
        if not all(DIGITS.fullmatch(v) for v in raw_ids):
            raise InvalidInput.for_field("service_request_id", "Must be a whole number.")
        ids = frozenset(i for i in map(positive_id, raw_ids) if i is not None)
    codes = None
    raw_codes = _comma_list(params, "service_code", 1000)
    if raw_codes:
        if not all(CODE.fullmatch(c) for c in raw_codes):
            raise InvalidInput.for_field("service_code", "This value is not valid.")
        codes = frozenset(raw_codes)
    statuses: frozenset[GeoReportStatus] | None = None
    raw_statuses = [s.lower() for s in _comma_list(params, "status", 100)]
    if raw_statuses:
        known = [s for s in STATUSES_BY_NAME if s in raw_statuses]
        if len(known) < len(set(raw_statuses)):
            raise InvalidInput.for_field(
                "status", "Must be one of: {expected}.", expected=", ".join(STATUSES_BY_NAME)
            )
        statuses = frozenset(known)
    dates = {}
    for name in ("start_date", "end_date"):
        raw = text_param(params, name, 40)
        if raw is not None:
            dates[name] = parse_w3c(name, raw, timezone, end=name == "end_date")
    start, end = dates.get("start_date"), dates.get("end_date")
    if start is not None and end is not None and start > end:
        raise InvalidInput.for_field("end_date", "The start date must not be after the end date.")
    return RequestFilters(ids, codes, statuses, start, end)


def _comma_list(params: dict[str, str], name: str, max_length: int) -> list[str]:
    raw = text_param(params, name, max_length)
    if raw is None:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


def parse_w3c(name: str, value: str, timezone: str, *, end: bool) -> datetime:
    """A W3C date-time as UTC. A partial date means its whole period: its start for
    ``start_date``, its last moment for ``end_date`` (both bounds are inclusive)."""
    # An unescaped "+" in a query string arrives as a space: "…T19:00:00 08:00".
    value = re.sub(r" (\d{2}:\d{2})$", r"+\1", value)
    match = W3C_DATETIME.fullmatch(value)
    problem = InvalidInput.for_field(
        name, "Must be a W3C date and time, such as 2026-12-03T19:00:00+08:00."
    )
    if match is None:
        raise problem
    parts = match.groupdict()
    try:
        year = int(parts["year"])
        month, day = int(parts["month"] or 1), int(parts["day"] or 1)
        if parts["zone"] is None:  # a date: the community's day (or month, or year)
            start = datetime(year, month, day, tzinfo=ZoneInfo(timezone))
            if not end:
                return start.astimezone(UTC)
            if parts["day"]:
                after = start + timedelta(days=1)
            elif parts["month"]:
                after = start.replace(year=year + month // 12, month=month % 12 + 1)
            else:
                after = start.replace(year=year + 1)
            return (after - timedelta(microseconds=1)).astimezone(UTC)
        zone = UTC if parts["zone"] == "Z" else _offset(parts["zone"])
        second = int(parts["second"] or 0)
        micro = int((parts["fraction"] or ".0")[1:].ljust(6, "0"))
        moment = datetime(
            year, month, day, int(parts["hour"]), int(parts["minute"]), second, micro, zone
        )
        if end and parts["second"] is None:
            moment += timedelta(minutes=1, microseconds=-1)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise problem from None


def _offset(zone: str) -> fixed_offset:
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes >= 60:
        raise ValueError(zone)
    return fixed_offset(sign * timedelta(hours=hours, minutes=minutes))


async def post_fields(request: Request) -> dict[str, str]:
    """A POST's parameters: the query's, then the body's over them; each one text, a
    number as its text; a blank one is absent."""
    fields: dict[str, Any] = {**query_params(request), **await _body_fields(request)}
    for name, value in fields.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = str(value)
        elif value is not None and not isinstance(value, str):
            raise InvalidInput.for_field(name, "Must be text.")
    return {k: v for k, v in fields.items() if v is not None}


def present(fields: dict[str, str]) -> dict[str, str]:
    """The fields that are not blank: GeoReport clients send empty ones for 'none'."""
    return {k: v for k, v in fields.items() if v.strip()}


async def _body_fields(request: Request) -> dict[str, Any]:
    """The POST body, form-encoded (as GeoReport v2 says) or a JSON object; at most 64 KiB."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    unsupported = InvalidInput(
        "Send the fields form-encoded (application/x-www-form-urlencoded) or as JSON.",
        code="unsupported_media_type",
    )
    if content_type == "application/json":
        try:  # pydantic's decoder: a number too long to read or too deep a nesting is an error
            data = from_json(raw, allow_inf_nan=False)
        except ValueError:
            raise InvalidInput("The body must be JSON.", code="invalid_json") from None
        if not isinstance(data, dict):
            raise InvalidInput("The body must be a JSON object.", code="invalid_json")
        return data
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise unsupported
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200))
    except ValueError:  # UnicodeDecodeError too
        raise unsupported from None
