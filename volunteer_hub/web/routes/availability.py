"""A volunteer's weekly availability, and a resident's "do not send this volunteer again"."""

from __future__ import annotations

from pydantic import BaseModel

from volunteer_hub.services import availability
from volunteer_hub.web.api import Call, Endpoint


class SlotOut(BaseModel):
    weekday: int
    start: str
    end: str


class AvailabilityOut(BaseModel):
    slots: list[SlotOut]


class DoNotSendOut(BaseModel):
    wish_id: int
    created: bool


def _out(slots: list[availability.Slot]) -> AvailabilityOut:
    return AvailabilityOut(
        slots=[SlotOut(weekday=s.weekday, start=s.start, end=s.end) for s in slots]
    )


async def get_availability(call: Call) -> AvailabilityOut:
    return _out(await availability.get_availability(call.user))


async def put_availability(call: Call) -> AvailabilityOut:
    return _out(await availability.set_availability(call.hub, call.user, call.body))


async def do_not_send(call: Call) -> DoNotSendOut:
    view = await availability.do_not_send(call.hub, call.user, call.path_int("id"))
    return DoNotSendOut(wish_id=view.wish_id, created=view.created)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/me/availability",
        get_availability,
        "When the caller is free each week (weekday 1 is Monday; the community's time zone)",
        response=AvailabilityOut,
        errors=(401,),
        tag="accounts",
    ),
    Endpoint(
        "PUT",
        "/me/availability",
        put_availability,
        "Replace the caller's weekly free times (an empty list: free at any time)",
        body=availability.AvailabilityIn,
        response=AvailabilityOut,
        errors=(401, 422),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/do-not-send",
        do_not_send,
        "Do not send the wish's claimer to its resident again (the resident, staff);"
        " the volunteer is not told",
        response=DoNotSendOut,
        errors=(401, 403, 404, 409),
        tag="wishes",
    ),
]
