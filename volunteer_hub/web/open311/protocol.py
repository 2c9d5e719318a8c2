"""Open311 GeoReport v2: wish categories as services, micro-wishes as service requests.

Mounted under ``/open311/v2``; the format is the path's extension (``.json`` or ``.xml``)::

    GET  /services.{fmt}?jurisdiction_id=<community id>        the community's wish categories
    GET  /services/{code}.{fmt}?jurisdiction_id=...             a service definition (no attributes)
    GET  /requests.{fmt}?jurisdiction_id=...[&api_key=...]      service requests (micro-wishes)
    POST /requests.{fmt}   jurisdiction_id, service_code, api_key, location, description, ...
    GET  /requests/{id}.{fmt}?jurisdiction_id=...[&api_key=...] one service request

The routes are thin: they read the parameters (``params``), call the Open311 service
(``volunteer_hub.services.open311``, which finds and decides), map its views to entries
(``views``), and format the answer as JSON or XML (built with ``xml.etree.ElementTree``).
Errors are GeoReport error lists, ``[{code, description}]`` or
``<errors><error>…</error></errors>``, with ``code`` the HTTP status from the web layer's one
table (``web.errors``, with GeoReport's overrides): 400 for bad input (including a rule of
the admission list), 403 for a missing or invalid ``api_key`` and for what the caller may
not do, 404 for an unknown jurisdiction, service or request, 405 for a wrong method, 413 for
a body over 64 KiB. Bad input never gives a 500.

``api_key`` is an integrator's Open311 key (``o311_…``), made by staff of the community
(``POST /api/v1/communities/{cid}/open311-keys`` or ``vhub open311-key create``); it is
stored hashed, belongs to one community and holds scopes (``services.open311_keys``). A
login token is not an api_key: an integrator never holds a person's 30-day token. The key
may come as ``Authorization: Bearer <key>`` instead (better: headers stay out of access
logs, though ``api_key`` in a query is redacted from ours). A missing, unknown or revoked
key, a login token, or a key of another jurisdiction is 403 ``invalid_api_key``; a key
without the scope a call needs is 403 ``scope_missing``.

Personal data and who sees what:

* **Without an api_key** only public information leaves: wishes in status open, claimed,
  fulfilled or confirmed, in categories that are not restricted, and of those only the
  service, the status, the community as agency and the dates. Never the description (nor
  the title, which is its first line), the status notes, a name, a phone number or an
  address: personal data never leaves without entitlement.
* **With an api_key** the integrator also gets the description and status notes of what
  its scopes allow: ``requests:read``, the open and claimed wishes outside restricted
  categories (what every volunteer of the community sees); ``requests:post``, the
  requests posted with this key, in every status. Never an address, a name or a phone
  number: an integrator is not among those who may see a resident's contact.
* A POST needs ``requests:post``. The wish is posted by the staff member who made the
  key, for the integrator, and remembers the key (as does its audit entry); ``account_id``
  in the answer is that staff member's id. ``first_name``, ``last_name``, ``email``,
  ``phone``, ``device_id``, ``account_id`` and ``media_url`` are ignored; the location is
  appended to the description (volunteer_hub has no location field). ``address_id`` cannot
  be resolved here; send ``address_string`` or ``lat`` and ``long``.

Status: submitted, open, claimed and fulfilled are ``open``; confirmed, rejected, cancelled
and expired are ``closed``. GET requests answers at most the 1000 newest matches, newest
first; ``start_date`` and ``end_date`` (W3C date-times, inclusive) bound
``requested_datetime``; ``service_request_id`` (a comma list) overrides the other filters,
as the specification says.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from volunteer_hub.errors import FieldProblem, NotFound, Throttled, VolunteerHubError
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import negotiate, translate
from volunteer_hub.services import open311
from volunteer_hub.web.errors import OPEN311_OVERRIDES, http_status
from volunteer_hub.web.open311 import params
from volunteer_hub.web.open311.views import definition_out, posted_out, request_out, service_out

log = logging.getLogger(__name__)

FORMATS = ("json", "xml")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Field names of the wish services, as an Open311 client knows them.
OPEN311_FIELDS = {"category": "service_code", "title": "description"}
# Characters XML 1.0 cannot carry, even escaped.
XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MethodNotAllowed(VolunteerHubError):
    kind: ClassVar[str] = "method_not_allowed"
    default_code: ClassVar[str] = "method_not_allowed"


# --- the call ------------------------------------------------------------------------------


@dataclass
class Open311Call:
    """One GeoReport request: the query's parameters (a POST's body fields over them)."""

    request: Request
    hub: Hub
    locale: str
    params: dict[str, str]

    async def jurisdiction(self) -> open311.Jurisdiction:
        return await open311.jurisdiction(params.jurisdiction_id(self.params))

    async def integrator(
        self, where: open311.Jurisdiction, *, required: bool
    ) -> open311.Integrator | None:
        key = params.api_key(self.params, self.request)
        return await open311.integrator(self.hub, where, key, required=required)


@dataclass
class Answer:
    """A GeoReport document: ``root`` holding one ``item`` element per entry (or one object)."""

    root: str
    item: str | None
    content: list[dict[str, Any]] | dict[str, Any]
    status: int = 200


Handler = Callable[[Open311Call], Awaitable[Answer]]


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
            call = Open311Call(request, request.app.state.hub, locale, params.query_params(request))
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
    """A GeoReport error list, one entry per detail; fields named as Open311 names them."""
    status = http_status(exc, OPEN311_OVERRIDES)
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


# --- the handlers --------------------------------------------------------------------------


async def list_services(call: Open311Call) -> Answer:
    where = await call.jurisdiction()
    services = [service_out(s, call.locale) for s in open311.services(call.hub, where)]
    return Answer("services", "service", services)


async def service_definition(call: Open311Call) -> Answer:
    where = await call.jurisdiction()
    service = open311.service(call.hub, where, str(call.request.path_params.get("code", "")))
    return Answer("service_definition", None, definition_out(service))


async def post_request(call: Open311Call) -> Answer:
    call.params = await params.post_fields(call.request)
    where = await call.jurisdiction()
    holder = await call.integrator(where, required=True)
    assert holder is not None
    posted = await open311.post_request(call.hub, holder, params.present(call.params))
    return Answer("service_requests", "request", [posted_out(posted, call.locale)], status=201)


async def list_requests(call: Open311Call) -> Answer:
    where = await call.jurisdiction()
    holder = await call.integrator(where, required=False)
    filters = params.request_filters(call.params, where.timezone)
    found = await open311.list_requests(call.hub, where, holder, filters)
    return Answer("service_requests", "request", [request_out(v, call.locale) for v in found])


async def get_request(call: Open311Call) -> Answer:
    where = await call.jurisdiction()
    holder = await call.integrator(where, required=False)
    request_id = params.positive_id(str(call.request.path_params.get("rid", "")))
    found = await open311.get_request(call.hub, where, holder, request_id)
    return Answer("service_requests", "request", [request_out(found, call.locale)])


# --- the routes ----------------------------------------------------------------------------

ROUTES = [
    Route("/services.{fmt}", _endpoint(GET=list_services), methods=ALL_METHODS),
    Route("/services/{code}.{fmt}", _endpoint(GET=service_definition), methods=ALL_METHODS),
    Route("/requests.{fmt}", _endpoint(GET=list_requests, POST=post_request), methods=ALL_METHODS),
    Route("/requests/{rid}.{fmt}", _endpoint(GET=get_request), methods=ALL_METHODS),
    Route("/{path:path}", not_found, methods=ALL_METHODS),
]
