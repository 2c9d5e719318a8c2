"""Open311 GeoReport v2: wish categories as services, micro-wishes as service requests.

Mounted under ``/open311/v2``; the format is the path's extension (``.json`` or ``.xml``)::

    GET  /services.{fmt}?jurisdiction_id=<community id>        the community's wish categories
    GET  /services/{code}.{fmt}?jurisdiction_id=...             a service definition (no attributes)
    GET  /requests.{fmt}?jurisdiction_id=...[&api_key=...]      service requests (micro-wishes)
    POST /requests.{fmt}   jurisdiction_id, service_code, api_key, location, description, ...
    GET  /requests/{id}.{fmt}?jurisdiction_id=...[&api_key=...] one service request

The routes are thin: they parse, call the same services as the JSON API
(``volunteer_hub.services.wishes``), and format the answer as JSON or XML (built with
``xml.etree.ElementTree``). Errors are GeoReport error lists, ``[{code, description}]`` or
``<errors><error>…</error></errors>``, with ``code`` the HTTP status: 400 for bad input
(including a rule of the admission list), 403 for a missing or invalid ``api_key`` and for
what the caller may not do, 404 for an unknown jurisdiction, service or request, 405 for a
wrong method, 413 for a body over 64 KiB. Bad input never gives a 500.

``api_key`` is a volunteer_hub API token (``POST /api/v1/auth/login``); an
``Authorization: Bearer`` header is accepted as well. The person it stands for is the actor.

Personal data and who sees what:

* **Without an api_key** only public information leaves: wishes in status open, claimed,
  fulfilled or confirmed, in categories that are not restricted, and of those only the
  service, the status, the community as agency and the dates. Never the description (nor
  the title, which is its first line), the status notes, a name, a phone number or an
  address: personal data never leaves without entitlement.
* **With an api_key** the caller also gets, in full, the wishes that the services let that
  person see (``wishes.list_wishes`` / ``wishes.get_wish``): description and status notes;
  the resident's address only where the services grant the contact (the resident, staff,
  the claimer after the claim). Names and phone numbers have no GeoReport field and are
  never sent.
* ``first_name``, ``last_name``, ``email``, ``phone``, ``device_id``, ``account_id`` and
  ``media_url`` of a POST are ignored: the wish is posted by the api_key's person for
  themselves (``wishes.post``), with the location appended to the description
  (volunteer_hub has no location field). ``address_id`` cannot be resolved here; send
  ``address_string`` or ``lat`` and ``long``.

Status: submitted, open, claimed and fulfilled are ``open``; confirmed, rejected, cancelled
and expired are ``closed``. GET requests answers at most the 1000 newest matches, newest
first; ``start_date`` and ``end_date`` (W3C date-times, inclusive) bound
``requested_datetime``; ``service_request_id`` (a comma list) overrides the other filters,
as the specification says.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as fixed_offset
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from volunteer_hub.errors import (
    FieldProblem,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    Throttled,
    VolunteerHubError,
)
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import DEFAULT_LOCALE, localize, negotiate, translate
from volunteer_hub.models import AuditEntry, Community, Person, Wish, WishStatus
from volunteer_hub.services import auth, people, wishes
from volunteer_hub.services.access import Actor
from volunteer_hub.validation import invalid_input
from volunteer_hub.web.api import MAX_BODY_BYTES, BodyTooLarge, bearer_token

log = logging.getLogger(__name__)

FORMATS = ("json", "xml")
MAX_REQUESTS = 1000  # the newest matches; GeoReport v2 has no pagination beyond dates
MAX_IDS = 100  # service_request_id values in one call
PAGE = 500  # rows per call of wishes.list_wishes while scanning what an actor may see
MAX_DB_ID = 2**31 - 1
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

OPEN_STATUSES = frozenset(
    {WishStatus.SUBMITTED, WishStatus.OPEN, WishStatus.CLAIMED, WishStatus.FULFILLED}
)
CLOSED_STATUSES = frozenset(
    {WishStatus.CONFIRMED, WishStatus.REJECTED, WishStatus.CANCELLED, WishStatus.EXPIRED}
)
STATUS_BY_KIND = {
    "invalid": 400,
    "rule": 400,
    "unauthenticated": 403,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "too_large": 413,
    "throttled": 429,
}
#: Field names of the wish services, as an Open311 client knows them.
OPEN311_FIELDS = {"category": "service_code", "title": "description"}
ESCALATION_NAMES = {
    "blue": {"zh-CN": "蓝", "en": "blue"},
    "yellow": {"zh-CN": "黄", "en": "yellow"},
    "red": {"zh-CN": "红", "en": "red"},
}
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
# Characters XML 1.0 cannot carry, even escaped.
XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MethodNotAllowed(VolunteerHubError):
    kind: ClassVar[str] = "method_not_allowed"
    default_code: ClassVar[str] = "method_not_allowed"


# --- the call ------------------------------------------------------------------------------


@dataclass
class Call:
    request: Request
    hub: Hub
    locale: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    """A GeoReport document: ``root`` holding one ``item`` element per entry (or one object)."""

    root: str
    item: str | None
    content: list[dict[str, Any]] | dict[str, Any]
    status: int = 200


Handler = Callable[[Call], Awaitable[Answer]]


def _endpoint(**handlers: Handler) -> Callable[[Request], Awaitable[Response]]:
    """One ASGI endpoint per path: dispatch by method, answer or fail in the path's format."""

    async def endpoint(request: Request) -> Response:
        locale = negotiate(request.headers.get("accept-language"))
        fmt = _format(request)
        try:
            if fmt is None:
                raise NotFound("Unknown format: use .json or .xml.", code="unknown_format")
            method = "GET" if request.method == "HEAD" else request.method
            handler = handlers.get(method)
            if handler is None:
                raise MethodNotAllowed("Method not allowed.")
            call = Call(request, request.app.state.hub, locale, _query(request))
            answer = await handler(call)
        except VolunteerHubError as exc:
            return _error_response(exc, fmt or "json", locale, allow=handlers)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            failure = [
                {"code": 500, "description": translate("Something went wrong on our side.", locale)}
            ]
            return _render(Answer("errors", "error", failure, 500), fmt or "json")
        return _render(answer, fmt)

    return endpoint


def _format(request: Request) -> str | None:
    value = str(request.path_params.get("fmt", "")).lower()
    return value if value in FORMATS else None


def _query(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items()}


async def not_found(request: Request) -> Response:
    locale = negotiate(request.headers.get("accept-language"))
    fmt = "xml" if request.url.path.lower().endswith(".xml") else "json"
    return _error_response(NotFound("Not found."), fmt, locale)


# --- rendering -----------------------------------------------------------------------------


def _render(answer: Answer, fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse(answer.content, status_code=answer.status)
    root = ET.Element(answer.root)
    if isinstance(answer.content, dict):
        _fill(root, answer.content)
    else:
        for entry in answer.content:
            _fill(ET.SubElement(root, answer.item or "item"), entry)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=answer.status, media_type="application/xml; charset=utf-8")


def _fill(element: ET.Element, entry: dict[str, Any]) -> None:
    for name, value in entry.items():
        child = ET.SubElement(element, name)
        if isinstance(value, list):
            for item in value:
                _fill(ET.SubElement(child, "attribute"), item)
        else:
            child.text = _xml_text(value)


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return XML_INVALID.sub("", str(value))


def _error_response(
    exc: VolunteerHubError, fmt: str, locale: str, allow: Iterable[str] = ()
) -> Response:
    status = STATUS_BY_KIND.get(exc.kind, 400)
    message = exc.message(locale)
    errors = []
    for detail in exc.details:
        if isinstance(detail, FieldProblem):
            name = OPEN311_FIELDS.get(detail.field, detail.field)
            text = f"{name}: {detail.render(locale)['message']}"
        else:
            text = detail.render(locale)["message"]
        errors.append({"code": status, "description": f"{message} {text}"})
    if not errors:
        errors.append({"code": status, "description": message})
    response = _render(Answer("errors", "error", errors, status), fmt)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    if status == 405:
        methods = sorted({*allow, *(("HEAD",) if "GET" in allow else ())})
        response.headers["Allow"] = ", ".join(methods)
    return response


# --- parsing -------------------------------------------------------------------------------


def _text_param(params: dict[str, str], name: str, max_length: int) -> str | None:
    """A parameter stripped, None when absent or blank; too long is bad input."""
    value = params.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > max_length:
        raise InvalidInput.for_field(
            name, "Must be at most {max_length} characters long.", max_length=max_length
        )
    return value.strip()


def _positive_id(value: str) -> int | None:
    """A database id from text; None when it is not one (too big ids exist nowhere)."""
    value = value.strip()
    if not ID.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_DB_ID else None


async def _community(call: Call) -> Community:
    raw = _text_param(call.params, "jurisdiction_id", 20)
    if raw is None:
        raise InvalidInput.for_field("jurisdiction_id", "This field is required.")
    if not DIGITS.fullmatch(raw):
        raise InvalidInput.for_field("jurisdiction_id", "Must be a whole number.")
    community_id = _positive_id(raw)
    if community_id is None:
        raise NotFound("No such community.", code="community_not_found")
    return await people.get_community(community_id)


async def _actor(call: Call, *, required: bool) -> Actor | None:
    """The api_key's person; a missing key is anonymous unless required, a bad key is 403."""
    key = call.params.get("api_key") or bearer_token(call.request)
    if not key or not key.strip():
        if required:
            raise NotAuthenticated("A valid api_key is required.", code="invalid_api_key")
        return None
    if len(key) > 200:
        raise NotAuthenticated("A valid api_key is required.", code="invalid_api_key")
    try:
        return await auth.actor_for_token(call.hub, key.strip())
    except NotAuthenticated:
        raise NotAuthenticated("A valid api_key is required.", code="invalid_api_key") from None


def _parse_w3c(name: str, value: str, timezone: str, *, end: bool) -> datetime:
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


def _comma_list(params: dict[str, str], name: str, max_length: int) -> list[str]:
    raw = _text_param(params, name, max_length)
    if raw is None:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass(frozen=True)
class Filters:
    ids: frozenset[int] | None = None  # overrides the others (GeoReport v2)
    codes: frozenset[str] | None = None
    statuses: frozenset[WishStatus] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def match(self, wish: Wish) -> bool:
        if self.ids is not None:
            return wish.id in self.ids
        if self.codes is not None and wish.category not in self.codes:
            return False
        if self.statuses is not None and wish.status not in self.statuses:
            return False
        if self.start is not None and wish.created_at < self.start:
            return False
        return self.end is None or wish.created_at <= self.end


def _filters(params: dict[str, str], community: Community) -> Filters:
    ids = None
    raw_ids = _comma_list(params, "service_request_id", 12 * MAX_IDS)
    if raw_ids:
        if len(raw_ids) > MAX_IDS:
            raise InvalidInput.for_field(
                "service_request_id", "Must have at most {max_length} items.", max_length=MAX_IDS
            )
        if not all(DIGITS.fullmatch(v) for v in raw_ids):
            raise InvalidInput.for_field("service_request_id", "Must be a whole number.")
        ids = frozenset(i for i in map(_positive_id, raw_ids) if i is not None)
    codes = None
    raw_codes = _comma_list(params, "service_code", 1000)
    if raw_codes:
        if not all(CODE.fullmatch(c) for c in raw_codes):
            raise InvalidInput.for_field("service_code", "This value is not valid.")
        codes = frozenset(raw_codes)
    statuses = None
    raw_statuses = _comma_list(params, "status", 100)
    if raw_statuses:
        by_name = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES}
        if not all(s.lower() in by_name for s in raw_statuses):
            raise InvalidInput.for_field(
                "status", "Must be one of: {expected}.", expected="open, closed"
            )
        statuses = frozenset().union(*(by_name[s.lower()] for s in raw_statuses))
    dates = {}
    for name in ("start_date", "end_date"):
        raw = _text_param(params, name, 40)
        if raw is not None:
            dates[name] = _parse_w3c(name, raw, community.timezone, end=name == "end_date")
    start, end = dates.get("start_date"), dates.get("end_date")
    if start is not None and end is not None and start > end:
        raise InvalidInput.for_field("end_date", "The start date must not be after the end date.")
    return Filters(ids, codes, statuses, start, end)


# --- the services list ---------------------------------------------------------------------


async def list_services(call: Call) -> Answer:
    community = await _community(call)
    team_kinds = call.hub.team_kinds()
    services = []
    for category in call.hub.wish_categories(community.id).values():
        team = team_kinds.get(category.team_kind) if category.team_kind else None
        team_name = localize(team.name, call.locale) if team else ""
        if not category.served:
            description = translate(
                "Referred to the responsible department; volunteers do not serve it.",
                call.locale,
            )
        elif team_name:
            description = translate(
                "Served by volunteers of a {team} team.", call.locale, team=team_name
            )
        else:
            description = translate("Served by the community's volunteers.", call.locale)
        if category.restricted:
            description += " " + translate(
                "Only qualified volunteers see the details.", call.locale
            )
        services.append(
            {
                "service_code": category.code,
                "service_name": localize(category.name, call.locale),
                "description": description,
                "metadata": False,
                "type": "realtime",
                "keywords": category.code,
                "group": team_name,
            }
        )
    return Answer("services", "service", services)


async def service_definition(call: Call) -> Answer:
    community = await _community(call)
    code = str(call.request.path_params.get("code", ""))
    if code not in call.hub.wish_categories(community.id):
        raise NotFound("No such service in this community.", code="service_not_found")
    return Answer("service_definition", None, {"service_code": code, "attributes": []})


# --- posting a request ---------------------------------------------------------------------


class RequestIn(BaseModel):
    """The POST fields volunteer_hub uses; the rest of GeoReport's are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: Annotated[str, Field(min_length=1, max_length=40)]
    description: Annotated[str, Field(max_length=2000)] = ""
    address_string: Annotated[str, Field(max_length=200)] | None = None
    address_id: Annotated[str, Field(max_length=200)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    long: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None


async def _read_fields(request: Request) -> dict[str, Any]:
    """The POST body, form-encoded (as GeoReport v2 says) or a JSON object; at most 64 KiB."""
    declared = request.headers.get("content-length")
    too_large = BodyTooLarge("The request body is too large (at most {limit} KiB).", limit=64)
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    unsupported = InvalidInput(
        "Send the fields form-encoded (application/x-www-form-urlencoded) or as JSON.",
        code="unsupported_media_type",
    )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise unsupported from None
    if content_type == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInput("The body must be JSON.", code="invalid_json") from None
        if not isinstance(data, dict):
            raise InvalidInput("The body must be a JSON object.", code="invalid_json")
        return data
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise unsupported
    try:
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))
    except ValueError:
        raise unsupported from None


def _location(data: RequestIn) -> str:
    """The location text appended to the description (volunteer_hub has no location field)."""
    if (data.lat is None) != (data.long is None):
        missing = "long" if data.long is None else "lat"
        raise InvalidInput.for_field(missing, "This field is required.")
    coordinates = None
    if data.lat is not None and data.long is not None:
        coordinates = f"{_coordinate(data.lat)}, {_coordinate(data.long)}"
    if data.address_string and coordinates:
        return f"{data.address_string}（{coordinates}）"
    if data.address_string or coordinates:
        return data.address_string or coordinates or ""
    raise InvalidInput.for_field(
        "address_string", "A location is required: address_string, or lat and long."
    )


def _coordinate(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _title(description: str, service_name: str) -> str:
    """The first line of the description, cut to 30 characters; else the service's name."""
    first = description.split("\n", 1)[0].replace("\t", " ").strip()[:30].strip()
    return first if len(first) >= 2 else service_name


async def post_request(call: Call) -> Answer:
    fields = {**call.params, **await _read_fields(call.request)}
    for name, value in fields.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = str(value)
        elif value is not None and not isinstance(value, str):
            raise InvalidInput.for_field(name, "Must be text.")
    call.params = {k: v for k, v in fields.items() if v is not None}
    community = await _community(call)
    actor = await _actor(call, required=True)
    assert actor is not None
    present = {k: v for k, v in call.params.items() if v.strip()}  # a blank field is absent
    try:
        data = RequestIn.model_validate(present)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    suffix = f"地点：{_location(data)}"
    room = 2000 - len(suffix) - 2
    if len(data.description) > room:
        raise InvalidInput.for_field(
            "description", "Must be at most {max_length} characters long.", max_length=room
        )
    description = f"{data.description}\n\n{suffix}" if data.description else suffix
    category = call.hub.wish_categories(community.id).get(data.service_code)
    service_name = localize(category.name, DEFAULT_LOCALE) if category else data.service_code
    wish_in = {
        "title": _title(data.description, service_name),
        "description": description,
        "category": data.service_code,
    }
    try:
        wish = await wishes.post(call.hub, actor, community.id, wish_in)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.msgid,
            code=exc.code,
            details=[
                FieldProblem(OPEN311_FIELDS.get(d.field, d.field), d.msgid, d.params)
                if isinstance(d, FieldProblem)
                else d
                for d in exc.details
            ],
            **exc.params,
        ) from None
    created = {
        "service_request_id": wish.id,
        "service_notice": translate(
            "Received. Community staff will review your wish.", call.locale
        ),
        "account_id": actor.id,
    }
    return Answer("service_requests", "request", [created], status=201)


# --- reading requests ----------------------------------------------------------------------


async def _public_wishes(hub: Hub, community: Community, filters: Filters) -> list[Wish]:
    """What anyone may know exists (the rule is the wish service's), filtered."""
    if filters.ids is not None:
        return await wishes.public_wishes(hub, community.id, ids=filters.ids, limit=MAX_REQUESTS)
    return await wishes.public_wishes(
        hub,
        community.id,
        categories=filters.codes,
        statuses=filters.statuses,
        created_from=filters.start,
        created_until=filters.end,
        limit=MAX_REQUESTS,
    )


async def _visible_wishes(
    hub: Hub, actor: Actor, community: Community, filters: Filters
) -> list[Wish]:
    """The newest matches among what the services let the actor see, newest first."""
    if filters.ids is not None:
        found = []
        for wish_id in sorted(filters.ids, reverse=True):
            try:
                wish = await wishes.get_wish(hub, actor, wish_id)
            except NotFound:
                continue
            if wish.community_id == community.id:
                found.append(wish)
        return found
    # Bounds on ids from the dates (a superset of what matches) spare scanning everything.
    after_id = upper_id = None
    if filters.start is not None:
        first = await _bound_id(community, "id", created_at__gte=filters.start)
        if first is None:
            return []
        after_id = first - 1
    if filters.end is not None:
        upper_id = await _bound_id(community, "-id", created_at__lte=filters.end)
        if upper_id is None:
            return []
    newest: deque[Wish] = deque(maxlen=MAX_REQUESTS)
    while True:
        rows = await wishes.list_wishes(hub, actor, community.id, after_id=after_id, limit=PAGE)
        for wish in rows:
            if upper_id is not None and wish.id > upper_id:
                return list(reversed(newest))
            if filters.match(wish):
                newest.append(wish)
        if len(rows) < PAGE:
            return list(reversed(newest))
        after_id = rows[-1].id


async def _bound_id(community: Community, order: str, **condition: Any) -> int | None:
    ids = (
        await Wish.filter(community_id=community.id, **condition)
        .order_by(order)
        .limit(1)
        .values_list("id", flat=True)
    )
    return ids[0] if ids else None


async def list_requests(call: Call) -> Answer:
    community = await _community(call)
    actor = await _actor(call, required=False)
    filters = _filters(call.params, community)
    entries: dict[int, tuple[Wish, bool]] = {
        w.id: (w, False) for w in await _public_wishes(call.hub, community, filters)
    }
    if actor is not None:
        for wish in await _visible_wishes(call.hub, actor, community, filters):
            entries[wish.id] = (wish, True)
    newest = sorted(entries.values(), key=lambda e: e[0].id, reverse=True)[:MAX_REQUESTS]
    items = await _requests_out(call, actor, community, newest)
    return Answer("service_requests", "request", items)


async def get_request(call: Call) -> Answer:
    community = await _community(call)
    actor = await _actor(call, required=False)
    wish_id = _positive_id(str(call.request.path_params.get("rid", "")))
    entry = None
    if wish_id is not None:
        filters = Filters(ids=frozenset({wish_id}))
        if actor is not None:
            visible = await _visible_wishes(call.hub, actor, community, filters)
            entry = (visible[0], True) if visible else None
        if entry is None:
            public = await _public_wishes(call.hub, community, filters)
            entry = (public[0], False) if public else None
    if entry is None:
        raise NotFound("No such wish.", code="wish_not_found")
    items = await _requests_out(call, actor, community, [entry])
    return Answer("service_requests", "request", items)


async def _requests_out(
    call: Call, actor: Actor | None, community: Community, entries: list[tuple[Wish, bool]]
) -> list[dict[str, Any]]:
    residents = {}
    if actor is not None:
        ids = sorted({w.resident_id for w, full in entries if full})
        rows = await Person.filter(id__in=ids).only("id", "grid_id", "address")
        residents = {p.id: p for p in rows}
    categories = call.hub.wish_categories(community.id)
    changed = await _last_changes([w.id for w, _ in entries])
    out = []
    for wish, full in entries:
        category = categories.get(wish.category)
        shown_address = None
        resident = residents.get(wish.resident_id) if full else None
        if resident is not None and wishes.can_see_contact(actor, wish, resident):
            shown_address = resident.address
        out.append(
            {
                "service_request_id": wish.id,
                "status": "closed" if wish.status in CLOSED_STATUSES else "open",
                "status_notes": _status_notes(wish, call.locale) if full else None,
                "service_name": localize(category.name, call.locale) if category else wish.category,
                "service_code": wish.category,
                "description": wish.description if full else None,
                "agency_responsible": community.name,
                "service_notice": None,
                "requested_datetime": _w3c(wish.created_at, community.timezone),
                "updated_datetime": _w3c(
                    max(wish.created_at, changed.get(wish.id, wish.created_at)),
                    community.timezone,
                ),
                "expected_datetime": wish.needed_by.isoformat() if wish.needed_by else None,
                "address": shown_address,
                "address_id": None,
                "zipcode": None,
                "lat": None,
                "long": None,
                "media_url": None,
            }
        )
    return out


def _status_notes(wish: Wish, locale: str) -> str | None:
    notes = []
    if wish.review_reason:
        notes.append(translate("Review: {reason}", locale, reason=wish.review_reason))
    if wish.referral:
        notes.append(translate("Referred to: {referral}", locale, referral=wish.referral))
    if wish.escalation:
        level = localize(ESCALATION_NAMES.get(wish.escalation.value, wish.escalation.value), locale)
        notes.append(translate("Escalated: {level} card.", locale, level=level))
    return " ".join(notes) or None


async def _last_changes(wish_ids: list[int]) -> dict[int, datetime]:
    """When each wish last changed, from its trace (the services' conditional UPDATEs leave
    ``Wish.updated_at`` untouched, and it follows the wall clock, not the hub's)."""
    last: dict[int, datetime] = {}
    if wish_ids:
        rows = await AuditEntry.filter(entity_type="wish", entity_id__in=wish_ids).values_list(
            "entity_id", "created_at"
        )
        for wish_id, moment in rows:
            if wish_id not in last or moment > last[wish_id]:
                last[wish_id] = moment
    return last


def _w3c(moment: datetime | date | None, timezone: str) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
    return moment.isoformat()


# --- the routes ----------------------------------------------------------------------------

ROUTES = [
    Route("/services.{fmt}", _endpoint(GET=list_services), methods=ALL_METHODS),
    Route("/services/{code}.{fmt}", _endpoint(GET=service_definition), methods=ALL_METHODS),
    Route("/requests.{fmt}", _endpoint(GET=list_requests, POST=post_request), methods=ALL_METHODS),
    Route("/requests/{rid}.{fmt}", _endpoint(GET=get_request), methods=ALL_METHODS),
    Route("/{path:path}", not_found, methods=ALL_METHODS),
]
