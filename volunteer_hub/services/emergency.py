"""Emergency mode (战时) for a community: on with a reason and a call-out, off with a note.

Staff (or an admin) switch it on: in ONE transaction the community records the reason, the
moment and the wish categories put on automatic approval, the call-out goes to the chosen
volunteers (``callouts.write_call_out``) and ``community.emergency_started`` is recorded.
Switching on is a conditional UPDATE (``WHERE emergency_started_at IS NULL``), so of two
concurrent requests one wins and the other gets 409. Switching off clears it all (the
categories go back to review) and records ``community.emergency_ended``.

While it is on, a wish posted in a chosen category is approved at once
(``services.wishes.post`` asks ``approves_automatically``), every page of the community's
people shows the reason (``services.people.account`` reads it with the account), and the
call-out's acknowledgements are counted live (``callouts.headcount``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from volunteer_hub.errors import Conflict, InvalidInput, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import Community, Team
from volunteer_hub.services import callouts
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community, list_grids, natural_key
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.validation import Input, Line, Text, parse

Code = Annotated[Line, Field(min_length=1, max_length=40)]
TITLE_LENGTH = 100  # a call-out's title: the reason, cut to fit


class EmergencyIn(Input):
    reason: Annotated[Line, Field(min_length=1, max_length=200)]
    message: Annotated[Text, Field(min_length=1, max_length=1000)]
    target: callouts.TargetIn = Field(
        default_factory=lambda: callouts.TargetIn(kind="everyone"),
        description="Who is called out; everyone (every volunteer) when left out.",
    )
    categories: Annotated[list[Code], Field(max_length=30)] = Field(
        default=[], description="Wish categories approved without review while it is on."
    )


class EmergencyEndIn(Input):
    note: Annotated[Text, Field(max_length=500)] | None = None


@dataclass(frozen=True)
class EmergencyState:
    """A community's emergency mode as its people may see it; ``callout_id`` for staff."""

    community_id: int
    active: bool
    reason: str | None
    started_at: datetime | None
    categories: tuple[str, ...]
    callout_id: int | None
    timezone: str  # the community's


def approves_automatically(community: Community, category: str) -> bool:
    """Whether a wish in ``category`` skips review now: emergency mode is on and chose it."""
    return community.emergency_started_at is not None and category in (
        community.emergency_categories or ()
    )


def _state(community: Community, *, staff: bool) -> EmergencyState:
    active = community.emergency_started_at is not None
    return EmergencyState(
        community_id=community.id,
        active=active,
        reason=community.emergency_reason if active else None,
        started_at=community.emergency_started_at if active else None,
        categories=tuple(community.emergency_categories or ()) if active else (),
        callout_id=community.emergency_callout_id if active and staff else None,
        timezone=community.timezone,
    )


async def state(actor: Actor, community_id: int) -> EmergencyState:
    """Whether the community is in emergency mode, why and since when (a public notice, as
    its banner is); which call-out it sent only to staff."""
    community = await get_community(community_id)
    return _state(community, staff=actor.is_staff(community.id))


async def start(
    hub: Hub, actor: Actor, community_id: int, data: EmergencyIn | dict | bytes
) -> EmergencyState:
    """Switch emergency mode on: the reason, the call-out and the categories, together."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(EmergencyIn, data)
    known = hub.wish_categories(community.id)
    unknown = [code for code in data.categories if code not in known]
    if unknown:
        raise InvalidInput.for_field(
            "categories",
            "Unknown wish category. Known categories: {expected}.",
            expected=", ".join(known),
        )
    categories = list(dict.fromkeys(data.categories))  # each once, in the order chosen
    if community.emergency_started_at is not None:
        raise _already_on()
    _, callout_in = await callouts.check_call_out(
        actor,
        community.id,
        {
            "title": data.reason[:TITLE_LENGTH].strip(),
            "message": data.message,
            "target": data.target.model_dump(),
        },
    )
    async with unit_of_work(hub, actor.id) as uow:
        # The one winner of concurrent requests: whoever moves it from off to on.
        moved = await Community.filter(id=community.id, emergency_started_at__isnull=True).update(
            emergency_reason=data.reason,
            emergency_started_at=uow.now,
            emergency_categories=categories,
        )
        if not moved:
            raise _already_on()
        callout = await callouts.write_call_out(uow, actor, community, callout_in)
        await Community.filter(id=community.id).update(emergency_callout_id=callout.id)
        await community.refresh_from_db()
        await uow.record(
            "community.emergency_started",
            community,
            community_id=community.id,
            after={
                "reason": data.reason,
                "categories": categories,
                "callout_id": callout.id,
                "recipients": callout.recipients,
            },
        )
    return _state(community, staff=True)


def _already_on() -> Conflict:
    return Conflict("Emergency mode is on already.", code="emergency_on")


async def end(
    hub: Hub, actor: Actor, community_id: int, data: EmergencyEndIn | dict | bytes | None = None
) -> EmergencyState:
    """Switch emergency mode off (with an optional note): wishes go back to review."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(EmergencyEndIn, data or {})
    async with unit_of_work(hub, actor.id) as uow:
        before = _state(community, staff=True)
        moved = await Community.filter(id=community.id, emergency_started_at__isnull=False).update(
            emergency_reason=None,
            emergency_started_at=None,
            emergency_categories=[],
            emergency_callout_id=None,
        )
        if not moved:
            raise Conflict("Emergency mode is not on.", code="emergency_off")
        await community.refresh_from_db()
        await uow.record(
            "community.emergency_ended",
            community,
            community_id=community.id,
            before={
                "reason": before.reason,
                "started_at": before.started_at,
                "categories": list(before.categories),
                "callout_id": before.callout_id,
            },
            after={"note": data.note},
            # What the call-out's recipients are told (the planner): stand down.
            data={"reason": before.reason, "callout_id": before.callout_id, "note": data.note},
        )
    return _state(community, staff=True)


@dataclass(frozen=True)
class CallOutChoices:
    """What the emergency and call-out forms offer: the community's teams and grids (id,
    name) in natural order, and its wish categories' codes."""

    teams: tuple[tuple[int, str], ...]
    grids: tuple[tuple[int, str], ...]
    categories: tuple[str, ...]


async def choices(hub: Hub, actor: Actor, community_id: int) -> CallOutChoices:
    """For staff of the community: whom a call-out can name, which categories can skip review."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    team_rows = await Team.filter(community_id=community.id)
    team_rows.sort(key=lambda t: (natural_key(t.name), t.id))
    grid_rows = await list_grids(community.id)  # in natural order, as everywhere
    return CallOutChoices(
        teams=tuple((t.id, t.name) for t in team_rows),
        grids=tuple((g.id, g.name) for g in grid_rows),
        categories=tuple(hub.wish_categories(community.id)),
    )
