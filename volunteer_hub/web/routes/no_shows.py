"""No-shows: a volunteer's own record, a community's for its staff, and excusing one
(``services.no_shows``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from volunteer_hub.services import no_shows
from volunteer_hub.services.no_shows import NoShowView
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page
from volunteer_hub.web.schemas import local


class NoShowOut(BaseModel):
    id: int
    kind: Literal["shift", "wish"] = Field(description="A shift not come to, or a wish not served")
    title: str = Field(description="What: the task's or the wish's title")
    person_id: int
    name: str
    occurred_at: datetime = Field(description="When: the shift's end, or the wish's due time")
    task_id: int | None
    occurrence_start: datetime | None
    wish_id: int | None
    excused: bool = Field(description="Excused by staff: it does not count")
    excused_at: datetime | None
    note: str | None = Field(description="Why it was excused, in staff's words")
    may_excuse: bool = Field(description="Whether the caller may excuse it now")


class CommunityNoShowsQuery(ListQuery):
    excused: Annotated[bool | None, Field(description="Only excused ones, or only not")] = None


def _out(v: NoShowView) -> NoShowOut:
    return NoShowOut(
        id=v.id,
        kind=v.kind,
        title=v.title,
        person_id=v.person_id,
        name=v.person_name,
        occurred_at=local(v.occurred_at, v.timezone),
        task_id=v.task_id,
        occurrence_start=local(v.occurrence_start, v.timezone),
        wish_id=v.wish_id,
        excused=v.excused,
        excused_at=local(v.excused_at, v.timezone),
        note=v.note,
        may_excuse=v.may_excuse,
    )


def _page(views: list[NoShowView], limit: int) -> dict:
    result = page(views, limit, lambda v: v.id)
    result["items"] = [_out(v) for v in result["items"]]
    return result


async def my_no_shows(call: Call) -> dict:
    q: ListQuery = call.query
    views = await no_shows.my_no_shows(
        call.hub, call.user, before_id=q.after_id(), limit=q.limit + 1
    )
    return _page(views, q.limit)


async def community_no_shows(call: Call) -> dict:
    q: CommunityNoShowsQuery = call.query
    views = await no_shows.community_no_shows(
        call.hub,
        call.user,
        call.path_int("cid"),
        before_id=q.after_id(),
        limit=q.limit + 1,
        excused=q.excused,
    )
    return _page(views, q.limit)


async def excuse(call: Call) -> NoShowOut:
    return _out(await no_shows.excuse(call.hub, call.user, call.path_int("id"), call.body))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/me/no-shows",
        my_no_shows,
        "Your no-shows (shifts not come to, wishes not served in time), latest first; "
        "those not excused lower your place in automatic matching for a while",
        query=ListQuery,
        response=ListPage[NoShowOut],
        errors=(401, 422),
        tag="no-shows",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/no-shows",
        community_no_shows,
        "The community's no-shows, latest first (staff)",
        query=CommunityNoShowsQuery,
        response=ListPage[NoShowOut],
        errors=(401, 403, 404, 422),
        tag="no-shows",
    ),
    Endpoint(
        "POST",
        "/no-shows/{id:int}/excuse",
        excuse,
        "Excuse a no-show with a note: it stops counting and the volunteer is told (staff; "
        "for a shift also the leader of the task's team); 409 when excused already",
        body=no_shows.ExcuseIn,
        response=NoShowOut,
        errors=(401, 403, 404, 409, 422),
        tag="no-shows",
    ),
]
