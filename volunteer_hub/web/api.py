"""Endpoint machinery for the JSON API: parse, authenticate, call a service, answer.

Each endpoint is declared once as an ``Endpoint`` (method, path, body and response
models, who may call it); the same declarations build the Starlette routes and the
OpenAPI 3.1 document, so the document cannot drift from what is served.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from volunteer_hub.errors import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    Throttled,
    VolunteerHubError,
)
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import negotiate, translate
from volunteer_hub.services import auth
from volunteer_hub.services.access import Actor
from volunteer_hub.validation import MAX_ID, Input, invalid_input, parse_json
from volunteer_hub.web.errors import http_status

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


# --- shared request and response shapes --------------------------------------------------


class ListPage(BaseModel, Generic[T]):
    """A page of a list (built by ``page``); ``web.pages`` has the class named Page. The
    OpenAPI document keeps calling it ``Page[X]``: here its title, in ``openapi``
    (``DocumentSchema``) its definition's key."""

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        return "Page" + super().model_parametrized_name(params).removeprefix(cls.__name__)


class ListQuery(Input):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: str | None = None

    def after_id(self) -> int | None:
        """The cursor is the last id of the previous page, opaque to clients."""
        if not self.cursor:
            return None
        try:
            value = int(base64.urlsafe_b64decode(self.cursor.encode() + b"==").decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput.for_field("cursor", "This value is not valid.") from None
        if not 0 <= value <= MAX_ID:
            raise InvalidInput.for_field("cursor", "This value is not valid.")
        return value


def page(items: Sequence[Any], limit: int, last_id: Callable[[Any], int]) -> dict:
    """A page of ``items``; the service was asked for ``limit + 1`` to know if more follow."""
    more = len(items) > limit
    items = list(items[:limit])
    cursor = None
    if more and items:
        cursor = base64.urlsafe_b64encode(str(last_id(items[-1])).encode()).decode().rstrip("=")
    return {"items": items, "next_cursor": cursor}


class ErrorDetail(BaseModel):
    field: str | None = None
    rule: str | None = None
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- the call an endpoint receives ----------------------------------------------------------


@dataclass
class Call:
    request: Request
    hub: Hub
    locale: str
    actor: Actor | None
    token: str | None
    body: Any = None
    query: Any = None

    @property
    def user(self) -> Actor:
        """The logged-in actor (endpoints with auth='required' always have one)."""
        assert self.actor is not None
        return self.actor

    def path_int(self, name: str) -> int:
        """An id from the path; one no row can have (beyond 32 bits) is simply not found."""
        value = int(self.request.path_params[name])
        if value > MAX_ID:
            raise NotFound("Not found.", code="not_found")
        return value


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a type for TypeAdapter; None answers 204 with no body
    status: int = 200
    auth: Literal["none", "optional", "required"] = "required"
    errors: tuple[int, ...] = ()
    tag: str = "api"
    media_type: str = "application/json"
    # False: the handler gets the JSON text as sent (``body`` still documents it) and its
    # service validates it (validation.parse), e.g. after counting the attempt, so bad input
    # counts too.
    validate_body: bool = True
    adapter: TypeAdapter | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        if self.response is not None and self.media_type == "application/json":
            # ApiRoutes sends a JSON body with its Content-Length, which such a status lacks.
            if self.status < 200 or self.status in (204, 304):
                raise ValueError(f"{self.path}: a {self.status} answer has no body to describe")
            object.__setattr__(self, "adapter", TypeAdapter(self.response))

    def route(self, prefix: str = "") -> Route:
        return Route(
            prefix + self.path, self.asgi, methods=[self.method], name=self.handler.__name__
        )

    async def asgi(self, request: Request) -> Response:
        answer = await self.answer(request)
        if isinstance(answer, bytes):
            return Response(answer, status_code=self.status, media_type="application/json")
        return answer

    async def answer(self, request: Request) -> Response | bytes:
        """The endpoint's JSON body, or a ``Response`` (no body, an error, the handler's own)."""
        authorization, language = _first_headers(request.scope["headers"])
        locale = negotiate(language)
        try:
            call = await self._prepare(request, locale, authorization)
            result = await self.handler(call)
        except VolunteerHubError as exc:
            return error_response(exc, locale)
        if isinstance(result, Response):
            return result
        if self.response is None:
            return Response(status_code=self.status)
        adapter: TypeAdapter = self.adapter  # type: ignore[assignment]
        if isinstance(result, dict):  # pages and lists are built as dicts: check them
            result = adapter.validate_python(result)
        return adapter.dump_json(result)

    async def _prepare(self, request: Request, locale: str, authorization: str) -> Call:
        hub: Hub = request.app.state.hub
        token = _bearer(authorization)
        actor = None
        if token is not None and self.auth != "none":
            actor = await auth.actor_for_token(hub, token)
        if actor is None and self.auth == "required":
            raise NotAuthenticated("You need to log in.")
        call = Call(request=request, hub=hub, locale=locale, actor=actor, token=token)
        if self.query is not None:
            call.query = _validate(self.query, dict(request.query_params))
        if self.body is not None:
            raw = await read_body(request)
            # Without validate_body the service validates the JSON text itself, after what
            # must come first (registration counts every attempt, refused ones too).
            call.body = parse_json(self.body, raw) if self.validate_body else raw
        return call


def _validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc) from None


def _first_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """Authorization ("" without one) and Accept-Language, each the first given, as
    ``request.headers`` would read them, in one pass over the raw headers."""
    authorization = language = None
    for name, value in raw:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"accept-language" and language is None:
            language = value.decode("latin-1")
    return authorization or "", language


def client_address(request: Request) -> str:
    """Who connected: what login and registration throttling count on. Behind a proxy
    it is the proxy, unless the server trusts it (settings.trusted_proxies, given to
    uvicorn): nothing here reads a forwarded header itself."""
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    return _bearer(request.headers.get("authorization", ""))


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def read_body(request: Request) -> bytes:
    """The request body, refused clearly when larger than ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length", "")
    if len(declared) > 18 or (declared.isdecimal() and int(declared) > MAX_BODY_BYTES):
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTooLarge(VolunteerHubError):
    kind = "too_large"
    default_code = "body_too_large"


def _too_large() -> BodyTooLarge:
    return BodyTooLarge("The request body is too large (at most {limit} KiB).", limit=64)


# --- errors ---------------------------------------------------------------------------------


def error_response(exc: VolunteerHubError, locale: str) -> JSONResponse:
    status = http_status(exc)
    headers = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": exc.as_dict(locale)}, status_code=status, headers=headers)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route, wrong method) in the contract's error body."""
    assert isinstance(exc, HTTPException)
    locale = negotiate(request.headers.get("accept-language"))
    if exc.status_code == 404:
        code, message = "not_found", translate("Not found.", locale)
    elif exc.status_code == 405:
        code, message = "method_not_allowed", translate("Method not allowed.", locale)
    else:
        code, message = "http_error", translate("The request failed.", locale)
    body = {"error": {"code": code, "message": message, "details": []}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    locale = negotiate(request.headers.get("accept-language"))
    body = {
        "error": {
            "code": "internal_error",
            "message": translate("Something went wrong on our side.", locale),
            "details": [],
        }
    }
    return JSONResponse(body, status_code=500)
