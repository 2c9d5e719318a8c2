"""The application factory: one Starlette app with its own Hub, plugins and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise

from volunteer_hub import db
from volunteer_hub.bootstrap import build_hub
from volunteer_hub.config import Settings
from volunteer_hub.hub import Hub
from volunteer_hub.web.api import http_exception, server_error
from volunteer_hub.web.fastpath import ApiRoutes
from volunteer_hub.web.middleware import SecurityHeaders
from volunteer_hub.web.open311 import ROUTES as OPEN311_ROUTES
from volunteer_hub.web.openapi import openapi_document
from volunteer_hub.web.pages import ROUTES as PAGE_ROUTES
from volunteer_hub.web.pages.base import build_templates, error_page, wants_page
from volunteer_hub.web.routes import ENDPOINTS
from volunteer_hub.web.routes import calendars as calendar_routes
from volunteer_hub.web.routes import callouts as callout_routes

API_PREFIX = "/api/v1"


async def http_error(request: Request, exc: Exception) -> Response:
    """A page for a browser that asked for one; the contract's JSON body for everyone else."""
    if wants_page(request):
        assert isinstance(exc, HTTPException)
        return await error_page(request, exc.status_code)
    return await http_exception(request, exc)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    response = await server_error(request, exc)  # logs it
    if wants_page(request):
        return await error_page(request, 500)
    return response


async def healthz(request: Request) -> Response:
    """200 when the database answers."""
    try:
        await db.ping(request.app.state.settings.database_url)
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_app(
    settings: Settings | None = None, *, hub: Hub | None = None, manage_database: bool = True
) -> Starlette:
    """Build the web application with its own Hub (plugins) and database context.

    ``manage_database=False`` leaves the Tortoise context to the caller (tests that
    already hold one); otherwise the app's lifespan opens and closes it.
    """
    settings = settings or Settings.from_env()
    hub = hub or build_hub(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=db.tortoise_config(settings.database_url)):
            yield

    document = openapi_document(
        ENDPOINTS,
        API_PREFIX,
        extra={
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Health check",
                    "tags": ["meta"],
                    "responses": {
                        "200": {
                            "description": "The database answers",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"type": "string"}},
                                        "required": ["status"],
                                    }
                                }
                            },
                        }
                    },
                }
            },
            # The calendar feeds live at the site's root, where phones subscribe to them.
            **calendar_routes.FEED_OPENAPI,
            # The acknowledgement link of a call-out, tapped in a text message.
            **callout_routes.ACK_OPENAPI,
        },
    )

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes = [
        ApiRoutes(API_PREFIX, ENDPOINTS),  # first: most requests are for the API
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *[e.route() for e in calendar_routes.FEEDS],
        *[e.route() for e in callout_routes.ACK],
        Mount("/open311/v2", routes=OPEN311_ROUTES),
        Mount(
            "/static", app=StaticFiles(packages=[("volunteer_hub.web", "static")]), name="static"
        ),
        *PAGE_ROUTES,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan if manage_database else None,
    )
    app.state.hub = hub
    app.state.settings = settings
    app.state.templates = build_templates()  # the pages' Jinja environment, built once
    return app
