"""What ranking is told by people: when a volunteer is free each week, and which volunteer a
resident does not want sent again.

- ``set_availability`` replaces a person's weekly slots (``PUT /me/availability``), in
  their community's time zone; nobody-declared means free at any time.
- ``do_not_send`` records that the resident of a wish asks not to be sent its claimer
  again (``POST /wishes/{id}/do-not-send``). The volunteer is never told: the event
  ``person.do_not_send`` has no notification, and its audit entry is the do-not-send
  row's, not on the wish's timeline (which the claimer sees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from tortoise.expressions import F

from volunteer_hub.errors import Conflict, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import AvailabilitySlot, DoNotSend, Person, WishStatus
from volunteer_hub.services.access import Actor
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.services.wishes import get_wish
from volunteer_hub.validation import Input, custom_error, parse

MAX_SLOTS = 50
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def minutes(value: str, *, end: bool = False) -> int:
    """ "HH:MM" as minutes since midnight; "24:00" only as an end."""
    if end and value == "24:00":
        return 1440
    match = _HHMM.match(value)
    if match is None:
        raise custom_error("time", "Must be a time HH:MM (00:00 to 23:59, or 24:00 as an end).")
    return int(match[1]) * 60 + int(match[2])


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class SlotIn(Input):
    weekday: Annotated[int, Field(ge=1, le=7)]
    start: Annotated[str, Field(max_length=5)]
    end: Annotated[str, Field(max_length=5)]

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        minutes(value)
        return value

    @field_validator("end")
    @classmethod
    def _end(cls, value: str) -> str:
        minutes(value, end=True)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SlotIn:
        if minutes(self.start) >= minutes(self.end, end=True):
            raise custom_error("order", "Must be before the end.", field="start")
        return self


class AvailabilityIn(Input):
    slots: Annotated[list[SlotIn], Field(max_length=MAX_SLOTS)]

    @model_validator(mode="after")
    def _no_overlap(self) -> AvailabilityIn:
        seen: list[tuple[int, int, int, int]] = []
        for i, slot in enumerate(self.slots):
            start, end = minutes(slot.start), minutes(slot.end, end=True)
            for weekday, s, e, _j in seen:
                if weekday == slot.weekday and start < e and s < end:
                    raise custom_error(
                        "overlap",
                        "Overlaps another time on the same day.",
                        field=f"slots.{i}.start",
                    )
            seen.append((slot.weekday, start, end, i))
        return self


@dataclass(frozen=True)
class Slot:
    weekday: int
    start: str
    end: str


async def get_availability(actor: Actor) -> list[Slot]:
    """The actor's weekly slots, by weekday and start."""
    rows = await AvailabilitySlot.filter(person_id=actor.id).order_by("weekday", "start_minute")
    return [Slot(r.weekday, hhmm(r.start_minute), hhmm(r.end_minute)) for r in rows]


async def set_availability(hub: Hub, actor: Actor, data: AvailabilityIn | dict) -> list[Slot]:
    """Replace the actor's weekly slots (all of them; an empty list: free at any time)."""
    data = parse(AvailabilityIn, data)
    slots = sorted((s.weekday, minutes(s.start), minutes(s.end, end=True)) for s in data.slots)
    person = await actor.load_person()
    async with unit_of_work(hub, actor.id) as uow:
        # Take the person's row first: two replacements at once run one after the other
        # (PostgreSQL: the row lock; SQLite: the write lock), never interleaving their
        # deletes and inserts.
        await Person.filter(id=actor.id).update(calendar_version=F("calendar_version"))
        before = [
            [r.weekday, r.start_minute, r.end_minute]
            for r in await AvailabilitySlot.filter(person_id=actor.id).order_by(
                "weekday", "start_minute"
            )
        ]
        await AvailabilitySlot.filter(person_id=actor.id).delete()
        if slots:
            await AvailabilitySlot.bulk_create(
                [
                    AvailabilitySlot(person_id=actor.id, weekday=w, start_minute=s, end_minute=e)
                    for w, s, e in slots
                ]
            )
        await uow.record(
            "person.availability_set",
            person,
            community_id=person.community_id,
            before={"slots": before},
            after={"slots": [list(s) for s in slots]},
        )
    return await get_availability(actor)


# --- do not send this volunteer again -------------------------------------------------------

SERVED_STATUSES = frozenset({WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.CONFIRMED})


@dataclass(frozen=True)
class DoNotSendView:
    wish_id: int
    created: bool  # False when it was recorded before (the call is idempotent)


def may_ask_not_to_send(
    actor: Actor, resident_id: int, posted_by_id: int, community_id: int
) -> bool:
    """The resident, whoever posted for them, and staff of the community."""
    return actor.id in (resident_id, posted_by_id) or actor.is_staff(community_id)


async def do_not_send(hub: Hub, actor: Actor, wish_id: int) -> DoNotSendView:
    """The wish's resident (or staff, or whoever posted for them) asks that its claimer not
    be sent to this resident again: ranking leaves them out of the resident's wishes.

    409 ``no_claimer`` when nobody served the wish. Asking twice changes nothing.
    """
    wish = await get_wish(hub, actor, wish_id)
    if not may_ask_not_to_send(actor, wish.resident_id, wish.posted_by_id, wish.community_id):
        raise PermissionDenied("Only the resident or staff can do this.")
    if wish.claimer_id is None or wish.status not in SERVED_STATUSES:
        raise Conflict("Nobody has served this wish yet.", code="no_claimer")
    async with unit_of_work(hub, actor.id) as uow:
        # The resident's row first: concurrent requests for one resident run one by one.
        await Person.filter(id=wish.resident_id).update(calendar_version=F("calendar_version"))
        row = await DoNotSend.get_or_none(resident_id=wish.resident_id, person_id=wish.claimer_id)
        created = row is None
        if row is None:
            row = await DoNotSend.create(
                resident_id=wish.resident_id, person_id=wish.claimer_id, created_at=uow.now
            )
            # Audited on the do-not-send row, not on the wish: the wish's timeline is shown
            # to its claimer, who is never told.
            await uow.record(
                "person.do_not_send",
                row,
                community_id=wish.community_id,
                after={"wish_id": wish.id},
            )
    return DoNotSendView(wish.id, created)


async def do_not_send_state(hub: Hub, actor: Actor, wish_id: int) -> bool | None:
    """For the wish page: None when the actor may not ask (or nobody served the wish);
    else whether its claimer is already on the resident's do-not-send list."""
    wish = await get_wish(hub, actor, wish_id)
    if (
        wish.claimer_id is None
        or wish.status not in SERVED_STATUSES
        or not may_ask_not_to_send(actor, wish.resident_id, wish.posted_by_id, wish.community_id)
    ):
        return None
    return await DoNotSend.exists(resident_id=wish.resident_id, person_id=wish.claimer_id)
