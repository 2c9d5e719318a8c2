"""The API's routes as one route of the application's router, with a fast path for the
requests it serves.

Starlette serves a ``Mount`` of many routes by walking them in order, each trying its
pattern, and wraps each endpoint in a ``Request``/``Response`` pair: finding the route of
``GET /api/v1/tasks/{id}`` among the API's 60 takes 30 µs, where the whole request takes 70
and this 4 (benchmarks/README.md). ``ApiRoutes``
looks up the few routes that can match (by method and first path segment), asks them
through Starlette's public ``matches`` (the ``Mount`` first, for the scope it would set),
and serves the endpoint as a plain ASGI call. Whatever it does not serve itself goes to
the ordinary ``Mount``; tests/test_fastpath.py holds the two to the same answers.
Only public Starlette interfaces and the ASGI spec's messages (docs/library-notes.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Receive, Scope, Send

from volunteer_hub.web.api import Endpoint

ENDPOINT_KEY = "volunteer_hub.endpoint"  # the scope key that carries a matched Endpoint


class ApiRoutes(BaseRoute):
    """The API's endpoints under ``prefix``: served here when a request names one with its
    method; everything else (no such path, wrong method, HEAD, a trailing slash to
    redirect) goes to an ordinary ``Mount`` of the same routes, so Starlette answers it."""

    def __init__(self, prefix: str, endpoints: Sequence[Endpoint]) -> None:
        self.mount = Mount(prefix, routes=[e.route() for e in endpoints])
        # (method, first path segment) -> the Mount's routes there, in the Mount's order.
        self._candidates: dict[tuple[str, str], list[tuple[BaseRoute, Endpoint]]] = {}
        for endpoint, route in zip(endpoints, self.mount.routes, strict=True):
            first = endpoint.path.split("/", 2)[1]
            if not first or "{" in first:
                # Grouping by a literal first segment keeps the Mount's order within each group;
                # a parameter there could match before a literal route of another group.
                raise ValueError(f"{endpoint.path}: an API path must start with a literal segment")
            self._candidates.setdefault((endpoint.method, first), []).append((route, endpoint))

    @property
    def routes(self) -> list[BaseRoute]:
        return self.mount.routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = self.mount.matches(scope)
        if match is Match.FULL and scope["type"] == "http":
            # What the Mount's inner router sees; it would try every route, in order.
            inner = {**scope, **child}
            segments = route_path(inner).split("/", 2)  # "/tasks/1": "", "tasks", "1"
            if len(segments) > 1:
                for route, endpoint in self._candidates.get((scope["method"], segments[1]), ()):
                    found, route_child = route.matches(inner)
                    if found is Match.FULL:
                        # The scope the endpoint would get: the Mount's child, then its route's.
                        return Match.FULL, {**child, **route_child, ENDPOINT_KEY: endpoint}
        return match, child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint: Endpoint | None = scope.pop(ENDPOINT_KEY, None)
        if endpoint is None:
            await self.mount.handle(scope, receive, send)
            return
        answer = await endpoint.answer(Request(scope, receive, send))
        if isinstance(answer, bytes):
            # The two ASGI messages of Response(answer, media_type="application/json"),
            # with its headers in its order, without building one (every API answer).
            headers = [
                (b"content-length", str(len(answer)).encode("latin-1")),
                (b"content-type", b"application/json"),
            ]
            await send(
                {"type": "http.response.start", "status": endpoint.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": answer})
        else:
            await answer(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.mount.url_path_for(name, **path_params)


def route_path(scope: Scope) -> str:
    """The path the app routes on: ``path`` without the ASGI ``root_path`` it is mounted at
    (the ASGI spec's keys; what Starlette's routing matches on)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path
