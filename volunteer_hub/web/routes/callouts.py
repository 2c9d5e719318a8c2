"""Emergency call-outs and emergency mode: staff switch a community's emergency mode on (with
its call-out) and off, call volunteers out and watch the headcount; volunteers acknowledge.

``ENDPOINTS`` are served under /api/v1. ``ACK`` is served at the site's root: the link
arrives by text message and must work with one tap, without logging in, so a GET records
the acknowledgement (idempotently). It answers a tiny page, or JSON when asked for it.
"""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from starlette.responses import HTMLResponse, JSONResponse, Response

from volunteer_hub.errors import NotFound
from volunteer_hub.i18n import translate
from volunteer_hub.services import callouts, emergency
from volunteer_hub.web.api import Call, Endpoint, error_response

# The link carries a secret: no caching, no referrer, no indexing.
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


class CallOutCreated(BaseModel):
    id: int
    recipients: int


class HeadcountOut(BaseModel):
    id: int
    community_id: int
    title: str
    target_kind: str
    target_value: str | None
    created_at: datetime
    recipients: int
    acknowledged: int
    delivered: int


class AckOut(BaseModel):
    recorded: bool
    title: str
    acknowledged_at: datetime
    message: str


async def create_callout(call: Call) -> CallOutCreated:
    callout = await callouts.call_out(call.hub, call.user, call.path_int("cid"), call.body)
    return CallOutCreated(id=callout.id, recipients=callout.recipients)


async def get_headcount(call: Call) -> HeadcountOut:
    count = await callouts.headcount(call.hub, call.user, call.path_int("id"))
    return HeadcountOut(
        id=count.id,
        community_id=count.community_id,
        title=count.title,
        target_kind=count.target_kind,
        target_value=count.target_value,
        created_at=count.created_at.astimezone(ZoneInfo(count.timezone)),
        recipients=count.recipients,
        acknowledged=count.acknowledged,
        delivered=count.delivered,
    )


class EmergencyOut(BaseModel):
    community_id: int
    active: bool
    reason: str | None
    started_at: datetime | None
    categories: list[str]
    callout_id: int | None  # the call-out it sent (staff only)


def _emergency_out(state: emergency.EmergencyState) -> EmergencyOut:
    zone = ZoneInfo(state.timezone)
    return EmergencyOut(
        community_id=state.community_id,
        active=state.active,
        reason=state.reason,
        started_at=state.started_at.astimezone(zone) if state.started_at else None,
        categories=list(state.categories),
        callout_id=state.callout_id,
    )


async def get_emergency(call: Call) -> EmergencyOut:
    return _emergency_out(await emergency.state(call.user, call.path_int("cid")))


async def start_emergency(call: Call) -> EmergencyOut:
    state = await emergency.start(call.hub, call.user, call.path_int("cid"), call.body)
    return _emergency_out(state)


async def end_emergency(call: Call) -> EmergencyOut:
    state = await emergency.end(call.hub, call.user, call.path_int("cid"), call.body)
    return _emergency_out(state)


def _wants_json(call: Call) -> bool:
    return "application/json" in call.request.headers.get("accept", "")


async def acknowledge(call: Call) -> Response:
    try:
        ack = await callouts.acknowledge(call.hub, call.request.path_params["token"])
    except NotFound as exc:
        if _wants_json(call):
            response = error_response(exc, call.locale)
            response.headers.update(_PRIVATE)
            return response
        return HTMLResponse(
            _page(call.locale, exc.message(call.locale), ""), status_code=404, headers=_PRIVATE
        )
    message = translate("Thank you: your acknowledgement was recorded.", call.locale)
    if _wants_json(call):
        body = AckOut(
            recorded=True,
            title=ack.title,
            acknowledged_at=ack.acknowledged_at.astimezone(ZoneInfo(ack.timezone)),
            message=message,
        )
        return JSONResponse(body.model_dump(mode="json"), headers=_PRIVATE)
    detail = f"{ack.community_name}：{ack.title}"
    return HTMLResponse(_page(call.locale, message, detail), headers=_PRIVATE)


def _page(locale: str, message: str, detail: str) -> str:
    lang = "zh-CN" if locale == "zh-CN" else "en"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(message)}</title></head>"
        '<body style="font-family: sans-serif; font-size: 20px; margin: 2em;">'
        f"<p><strong>{html.escape(message)}</strong></p>"
        f"<p>{html.escape(detail)}</p></body></html>"
    )


ENDPOINTS = [
    Endpoint(
        "GET",
        "/communities/{cid:int}/emergency",
        get_emergency,
        "Whether the community is in emergency mode, why and since when",
        response=EmergencyOut,
        errors=(401, 404),
        tag="callouts",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/emergency",
        start_emergency,
        "Switch emergency mode on: a reason, the call-out it sends and the wish categories "
        "approved without review (staff); 409 when it is on already",
        body=emergency.EmergencyIn,
        response=EmergencyOut,
        status=201,
        errors=(401, 403, 404, 409, 422),
        tag="callouts",
    ),
    Endpoint(
        "DELETE",
        "/communities/{cid:int}/emergency",
        end_emergency,
        "Switch emergency mode off, with an optional note (staff); 409 when it is not on",
        body=emergency.EmergencyEndIn,
        response=EmergencyOut,
        errors=(401, 403, 404, 409, 422),
        tag="callouts",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/callouts",
        create_callout,
        "Call volunteers out in an emergency: a team, a grid, a skill or everyone (staff)",
        body=callouts.CallOutIn,
        response=CallOutCreated,
        status=201,
        errors=(401, 403, 404, 422),
        tag="callouts",
    ),
    Endpoint(
        "GET",
        "/callouts/{id:int}",
        get_headcount,
        "A call-out's live headcount: called, acknowledged, reached (staff)",
        response=HeadcountOut,
        errors=(401, 404),
        tag="callouts",
    ),
]

# Served at the site's root, not under /api/v1: the link in the message.
ACK = [
    Endpoint(
        "GET",
        "/ack/{token}",
        acknowledge,
        "Acknowledge a call-out through the link in its message",
        response=AckOut,
        auth="none",
        errors=(404,),
        tag="callouts",
    ),
]


def _ack_operation() -> dict:
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    page = {"type": "string"}
    return {
        "get": {
            "operationId": "acknowledge",
            "summary": "Acknowledge a call-out through the link in its message",
            "description": "The link each recipient of a call-out gets (by text message or "
            "e-mail). Opening it records the acknowledgement once; opening it again changes "
            "nothing. Answers a small page, or JSON when the Accept header asks for it.",
            "tags": ["callouts"],
            "parameters": [
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                }
            ],
            "responses": {
                "200": {
                    "description": "Recorded (now or before)",
                    "content": {
                        "application/json": {"schema": AckOut.model_json_schema()},
                        "text/html": {"schema": page},
                    },
                },
                "404": {
                    "description": "No such link",
                    "content": {
                        "application/json": {"schema": error},
                        "text/html": {"schema": page},
                    },
                },
            },
        }
    }


ACK_OPENAPI = {"/ack/{token}": _ack_operation()}
