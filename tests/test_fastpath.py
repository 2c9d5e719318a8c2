"""``ApiRoutes`` (web/fastpath.py) routes exactly as a plain Starlette ``Mount`` of the same
endpoints: the same match and child scope, the same endpoint, the same answer.

Two levels: every API endpoint's path (with sample parameters, every method, HEAD, a
trailing slash, ids out of range, percent-encoded segments, below a root path) matched
by both and compared scope by scope; then served by two apps, one routing with
``ApiRoutes`` and one with the plain ``Mount``, over real ASGI, with endpoints that
answer what they were given, and (further down) with the real endpoints on a real
database.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match, Mount

from tests.factories import PASSWORD, World
from volunteer_hub.services import tasks
from volunteer_hub.web.api import Call, Endpoint, http_exception, server_error
from volunteer_hub.web.app import API_PREFIX
from volunteer_hub.web.fastpath import ENDPOINT_KEY, ApiRoutes, route_path
from volunteer_hub.web.routes import ENDPOINTS

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SAMPLES = {"int": "7", "str": "sms"}  # a value for each convertor the API's paths use
PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")


def sample_path(path: str, **values: str) -> str:
    """The endpoint's path with a value for each parameter (by name, else by convertor)."""
    return PARAMETER.sub(lambda m: values.get(m[1], SAMPLES[m[2] or "str"]), path)


def paths_to_try() -> list[str]:
    """Every endpoint's own path and its near misses, then paths no endpoint has."""
    paths = []
    for endpoint in ENDPOINTS:
        path = API_PREFIX + sample_path(endpoint.path)
        ints = {name: "4294967296" for name, kind in PARAMETER.findall(endpoint.path)}
        paths += [
            path,
            path + "/",
            path[:-1] if path.endswith("7") else path + "x",
            API_PREFIX + sample_path(endpoint.path, **ints),  # beyond any id (32 bits)
            API_PREFIX + sample_path(endpoint.path, **{k: "-1" for k in ints}),
            API_PREFIX + sample_path(endpoint.path, **{k: "a b" for k in ints}),  # was a%20b
            API_PREFIX + sample_path(endpoint.path, **{k: "1/2" for k in ints}),  # was 1%2F2
            path.replace(API_PREFIX, API_PREFIX + "/"),  # a double slash
            path.replace(API_PREFIX, "/api/v2"),
        ]
    return paths + [
        "/api/v1",
        "/api/v1/",
        "/api/v1/nowhere",
        "/api/v1nowhere",
        "/api/v1/tasks",
        "/api/v1/tasks/",
        "/api/v1/me/",
        "/api",
        "/",
        "/healthz",
    ]


def scope_for(method: str, path: str, root_path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": quote(path).encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("203.0.113.7", 50000),
    }


def mount_routing(mount: Mount, scope: dict[str, Any]) -> tuple[Match, dict[str, Any]]:
    """What a Starlette router does with a Mount: the Mount's match, then the first of its
    routes that matches fully, whose child scope the inner router adds (public API only)."""
    match, child = mount.matches(scope)
    if match is not Match.FULL:
        return match, child
    inner = {**scope, **child}
    for route in mount.routes:
        found, route_child = route.matches(inner)
        if found is Match.FULL:
            return Match.FULL, {**child, **route_child}
    return match, child


@pytest.mark.parametrize("root_path", ["", "/vhub", "/elsewhere"])
def test_every_endpoint_is_matched_as_the_mount_matches_it(root_path):
    """For every path and method: ``ApiRoutes`` either hands the request to its Mount
    exactly as the Mount alone would take it, or serves it itself with the scope the
    Mount's inner router would give the endpoint (the same endpoint, path parameters,
    root path); and it serves every endpoint's own path with its own method itself."""
    routes = ApiRoutes(API_PREFIX, ENDPOINTS)
    mount = Mount(API_PREFIX, routes=[e.route() for e in ENDPOINTS])
    served = set()
    for path in paths_to_try():
        for method in METHODS:
            # "/elsewhere": a root path the path does not start with (served as is).
            full = path if root_path == "/elsewhere" else root_path + path
            scope = scope_for(method, full, root_path)
            match, child = routes.matches(scope)
            endpoint = child.pop(ENDPOINT_KEY, None)
            if endpoint is None:
                assert (match, child) == mount.matches(scope), (method, full)
                continue
            expected_match, expected = mount_routing(mount, scope)
            assert (match, child) == (expected_match, expected), (method, full)
            assert child["endpoint"].__self__ is endpoint, (method, full)
            assert endpoint.method == method
            served.add(endpoint)
    # Below a root path the path does not start with, the Mount's routes match nothing.
    assert served == (set() if root_path == "/elsewhere" else set(ENDPOINTS))


def test_own_paths_go_the_fast_way_and_the_rest_to_the_mount():
    """What the fast path takes, so that the comparisons above are not all hand-offs."""
    routes = ApiRoutes(API_PREFIX, ENDPOINTS)

    def fast(method: str, path: str) -> bool:
        return ENDPOINT_KEY in routes.matches(scope_for(method, path, ""))[1]

    assert fast("GET", "/api/v1/tasks/7")
    assert fast("GET", "/api/v1/tasks/4294967296")  # an id no row has: the endpoint says 404
    assert fast("PUT", "/api/v1/me/channels/a b")
    assert not fast("HEAD", "/api/v1/tasks/7")  # Starlette's own GET-for-HEAD
    assert not fast("PUT", "/api/v1/tasks/7")  # 405 from the Mount
    assert not fast("GET", "/api/v1/tasks/7/")  # redirected by the Mount
    assert not fast("GET", "/api/v1/tasks/abc")
    assert not fast("GET", "/api/v1/nowhere")
    assert routes.matches(scope_for("GET", "/healthz", ""))[0] is Match.NONE


def test_a_path_must_start_with_a_literal_segment():
    """Grouping by the first segment keeps the Mount's order only when it is literal."""

    async def handler(call: Call) -> dict:
        return {}

    first = Endpoint("GET", "/{slug}/items", handler, "A parameter first", response=dict)
    with pytest.raises(ValueError, match="literal segment"):
        ApiRoutes(API_PREFIX, [first])


def test_route_path_is_the_path_below_the_root_path():
    cases = [
        ("/api/v1/tasks/1", "", "/api/v1/tasks/1"),
        ("/vhub/api/v1/tasks/1", "/vhub", "/api/v1/tasks/1"),
        ("/vhub", "/vhub", ""),
        ("/vhubx/api", "/vhub", "/vhubx/api"),  # not below it: the path as it is
        ("/api/v1", "/vhub", "/api/v1"),
    ]
    for path, root_path, expected in cases:
        assert route_path({"path": path, "root_path": root_path}) == expected


# --- served: status, headers and body -------------------------------------------------------


def echoing(endpoint: Endpoint) -> Endpoint:
    """The endpoint at the same path and method, answering with what it was given: which
    endpoint, its path parameters and the request's URLs. Endpoints without a body
    answer with their own Response (the fast path's other way of answering)."""

    async def echo(call: Call) -> Any:
        request = call.request
        seen = {
            "endpoint": endpoint.handler.__name__,
            "method": request.method,
            "path_params": {k: str(v) for k, v in request.path_params.items()},
            "root_path": request.scope.get("root_path"),
            "url": str(request.url),
            "base_url": str(request.base_url),
            "link": str(request.url_for(endpoint.handler.__name__, **request.path_params)),
        }
        if endpoint.response is None:
            return JSONResponse(seen, status_code=endpoint.status, headers={"X-Own": "1"})
        return seen

    echo.__name__ = endpoint.handler.__name__
    return dataclasses.replace(
        endpoint,
        handler=echo,
        auth="none",
        body=None,
        query=None,
        response=None if endpoint.response is None else dict[str, Any],
    )


def app_routing_with(route: Any) -> Starlette:
    app = Starlette(
        routes=[route],
        exception_handlers={HTTPException: http_exception, Exception: server_error},
    )
    app.state.hub = None  # the echoing endpoints ask for no actor
    return app


@pytest.mark.parametrize("root_path", ["", "/vhub"])
async def test_served_answers_are_those_of_the_mount(root_path):
    """Every endpoint's paths and near misses, with every method, served through
    ``ApiRoutes`` and through a plain ``Mount``: the same status, headers and body,
    percent-encoded paths included."""
    endpoints = [echoing(e) for e in ENDPOINTS]
    apps = {
        "fast": app_routing_with(ApiRoutes(API_PREFIX, endpoints)),
        "mount": app_routing_with(Mount(API_PREFIX, routes=[e.route() for e in endpoints])),
    }
    requests = [(method, quote(path)) for path in paths_to_try() for method in METHODS]
    requests += [
        ("GET", "/api/v1/tasks/%37"),
        ("GET", "/api/v1/%74asks/7"),
        ("PUT", "/api/v1/me/channels/a%2Fb"),
        ("GET", "/api/v1/tasks/7?x=1"),
    ]
    answers: dict[str, list[tuple]] = {}
    for name, app in apps.items():
        transport = httpx.ASGITransport(app=app, root_path=root_path)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://testserver{root_path}"
        ) as client:
            answers[name] = [
                (r.status_code, r.headers.multi_items(), r.content)
                for r in [
                    await client.request(method, path, follow_redirects=False)
                    for method, path in requests
                ]
            ]
    statuses = {status for status, _, _ in answers["fast"]}
    assert {200, 201, 204, 307, 404, 405} <= statuses
    for request, fast, mount in zip(requests, answers["fast"], answers["mount"], strict=True):
        assert fast == mount, request


# --- served by the real endpoints on a real database -------------------------------------


async def login(api, phone: str) -> dict:
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.mark.parametrize("root_path", ["", "/vhub"])
async def test_the_app_answers_as_with_a_starlette_mount(hub, settings, clock, root_path):
    """The app's own routing answers every request, served or refused, exactly as the
    same app with a Starlette ``Mount`` of the same routes, also when the app is served
    below a root path (behind a proxy at /vhub)."""
    from datetime import timedelta

    from volunteer_hub.web import create_app

    w = await World(hub).build()
    fast = create_app(settings, hub=hub, manage_database=False)
    reference = create_app(settings, hub=hub, manage_database=False)
    routes = reference.router.routes
    [index] = [i for i, r in enumerate(routes) if isinstance(r, ApiRoutes)]
    routes[index] = routes[index].mount  # type: ignore[attr-defined]
    start = clock.now + timedelta(days=2)
    fields = {"title": "巡逻", "starts_at": start, "ends_at": start + timedelta(hours=2)}
    task = await tasks.create_task(hub, w.staff, w.community.id, {**fields, "capacity": 2})
    volunteer = await w.person("甲")
    answers: list[list[tuple]] = []
    for app in (fast, reference):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000), root_path=root_path)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://testserver{root_path}"
        ) as api:
            token = await login(api, volunteer.person.phone)
            cases = [
                ("GET", f"/api/v1/tasks/{task.id}", token),
                ("GET", f"/api/v1/tasks/{task.id}", {}),
                ("GET", f"/api/v1/tasks/{task.id}", {"Authorization": "Bearer nonsense"}),
                ("HEAD", f"/api/v1/tasks/{task.id}", token),
                ("GET", f"/api/v1/tasks/{task.id}/", token),
                ("PUT", f"/api/v1/tasks/{task.id}", token),
                ("GET", "/api/v1/tasks/abc", token),
                ("GET", "/api/v1/tasks/4294967296", token),
                ("GET", "/api/v1/tasks/99999999999999999999", token),
                ("GET", "/api/v1/nowhere", token),
                ("GET", "/api/v1", token),
                ("GET", "/api/v1/", token),
                ("GET", "/api/v1/me", token),
                ("GET", "/api/v1/me/calendar", token),  # a link made with url_for
                ("GET", f"/api/v1/communities/{w.community.id}/wishes?limit=1", token),
                ("GET", f"/api/v1/communities/{w.community.id}/wishes?limit=0", token),
                ("DELETE", "/api/v1/signups/4294967295", token),
                ("POST", "/api/v1/me/password", {**token, "Content-Type": "application/json"}),
            ]
            answers.append(
                [
                    (r.status_code, r.headers.multi_items(), r.content)
                    for r in [
                        await api.request(method, path, headers=headers, follow_redirects=False)
                        for method, path, headers in cases
                    ]
                ]
            )
    got, expected = answers
    statuses = [status for status, _, _ in got]
    assert statuses == [200, 401, 401, 200, 307, 405, 404, 404, 404, 404, 307, 404, 200, 200, 200,
                        422, 404, 422]  # fmt: skip
    for case, one, other in zip(cases, got, expected, strict=True):
        assert one == other, case
