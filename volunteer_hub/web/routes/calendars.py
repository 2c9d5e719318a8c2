"""Calendars: the secret personal feed address, the public feeds, cancelling an occurrence.

``ENDPOINTS`` are served under /api/v1; ``FEEDS`` are served at the site's root (a phone's
calendar subscribes to them), documented in OpenAPI through ``FEED_OPENAPI``.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from volunteer_hub.errors import NotFound
from volunteer_hub.services import calendars, tasks
from volunteer_hub.web.api import Call, Endpoint
from volunteer_hub.web.schemas import TaskOut, task_out

FEED_MEDIA_TYPE = "text/calendar"
MAX_AGE = 300
_MAX_DB_INT = 2**31 - 1


class CalendarLinkOut(BaseModel):
    url: str


async def my_calendar(call: Call) -> CalendarLinkOut:
    token = await calendars.my_feed_token(call.hub, call.user)
    return CalendarLinkOut(url=str(call.request.url_for(personal_feed.__name__, token=token)))


async def revoke_my_calendar(call: Call) -> None:
    await calendars.revoke_feed(call.hub, call.user)


async def cancel_occurrence(call: Call) -> TaskOut:
    task_id = call.path_int("id")
    if task_id > _MAX_DB_INT:  # beyond the id column: not a task (nor a database error)
        raise NotFound("No such task.", code="task_not_found")
    await tasks.cancel_occurrence(call.hub, call.user, task_id, call.body.start)
    task = await tasks.get_task(call.user, task_id)
    return task_out(task, await tasks.occurrences(call.hub, task))


async def personal_feed(call: Call) -> Response:
    token = call.request.path_params["token"]
    body = await calendars.personal_feed(call.hub, token, call.locale)
    return feed_response(call.request, body, private=True)


async def team_feed(call: Call) -> Response:
    body = await calendars.team_feed(call.hub, call.path_int("tid"), call.locale)
    return feed_response(call.request, body, private=False)


def feed_response(request: Request, body: bytes, *, private: bool) -> Response:
    """The feed with an ETag of its bytes; 304 when the client holds this version."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'private' if private else 'public'}, max-age={MAX_AGE}",
        "Vary": "Accept-Language",
    }
    held = request.headers.get("if-none-match", "")
    if held.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in held.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=FEED_MEDIA_TYPE, headers=headers)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/me/calendar",
        my_calendar,
        "The secret address of your calendar feed (shifts and claimed wishes)",
        response=CalendarLinkOut,
        errors=(401,),
        tag="calendars",
    ),
    Endpoint(
        "DELETE",
        "/me/calendar",
        revoke_my_calendar,
        "Revoke your calendar feed address; GET /me/calendar then gives a new one",
        status=204,
        errors=(401,),
        tag="calendars",
    ),
    Endpoint(
        "POST",
        "/tasks/{id:int}/occurrences/cancel",
        cancel_occurrence,
        "Cancel one occurrence of a task and its signups (staff, team leaders)",
        body=tasks.OccurrenceCancelIn,
        response=TaskOut,
        errors=(401, 403, 404, 409, 422),
        tag="tasks",
    ),
]

# Served at the site's root, not under /api/v1: calendar apps subscribe to these.
FEEDS = [
    Endpoint(
        "GET",
        "/calendar/{token}.ics",
        personal_feed,
        "A person's calendar feed",
        response=str,
        auth="none",
        errors=(404,),
        tag="calendars",
        media_type=FEED_MEDIA_TYPE,
    ),
    Endpoint(
        "GET",
        "/calendar/teams/{tid:int}.ics",
        team_feed,
        "A team's public calendar feed",
        response=str,
        auth="none",
        errors=(404,),
        tag="calendars",
        media_type=FEED_MEDIA_TYPE,
    ),
]


def _feed_operation(operation_id: str, summary: str, description: str, parameter: dict) -> dict:
    headers = {
        "ETag": {"description": "A hash of the feed's content", "schema": {"type": "string"}},
        "Cache-Control": {"description": "max-age=300", "schema": {"type": "string"}},
    }
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": ["calendars"],
            "parameters": [
                parameter,
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "An iCalendar (RFC 5545) feed",
                    "headers": headers,
                    "content": {FEED_MEDIA_TYPE: {"schema": {"type": "string"}}},
                },
                "304": {"description": "Not modified (the ETag matched)", "headers": headers},
                "404": {
                    "description": "Not found",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                        }
                    },
                },
            },
        }
    }


FEED_OPENAPI = {
    "/calendar/{token}.ics": _feed_operation(
        "personal_feed",
        "A person's calendar feed",
        "Confirmed shifts and claimed wishes of the person whose secret address this is "
        "(GET /api/v1/me/calendar), and those cancelled lately as STATUS:CANCELLED. A revoked "
        "or malformed address answers 404.",
        {
            "name": "token",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 100},
        },
    ),
    "/calendar/teams/{tid}.ics": _feed_operation(
        "team_feed",
        "A team's public calendar feed",
        "The team's tasks: a recurring task is one event with RRULE and an EXDATE for each "
        "cancelled occurrence. It names no person.",
        {
            "name": "tid",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
    ),
}
