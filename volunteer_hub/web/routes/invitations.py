"""Invitations: staff ask a volunteer to claim a wish, or a person to come to a shift;
dispatch asks the best volunteers of every wish that opens; the invited person accepts or
declines (API.md "Availability, invitations and dispatch").

The invited person hears of it through their channels; an e-mail carries a calendar file
(``notifications.invitations``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from volunteer_hub.i18n import localize
from volunteer_hub.services import invitations, tasks
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page
from volunteer_hub.web.schemas import local

InvitationStatus = invitations.InvitationStatus


class WishInvitationOut(BaseModel):
    wish_id: int
    person_id: int


class TaskInvitationOut(BaseModel):
    task_id: int
    person_id: int
    occurrence_start: datetime


async def invite_to_wish(call: Call) -> WishInvitationOut:
    data: invitations.InviteIn = call.body
    wish = await invitations.invite_to_wish(call.hub, call.user, call.path_int("id"), data)
    return WishInvitationOut(wish_id=wish.id, person_id=data.person_id)


async def invite_to_task(call: Call) -> TaskInvitationOut:
    data: invitations.TaskInviteIn = call.body
    task_id = call.path_int("id")
    occurrence = await invitations.invite_to_task(call.hub, call.user, task_id, data)
    task = await tasks.get_task(call.user, task_id)
    return TaskInvitationOut(
        task_id=task_id,
        person_id=data.person_id,
        occurrence_start=local(occurrence.start, task.community.timezone),
    )


class InvitationQuery(ListQuery):
    status: InvitationStatus | None = None


class MyInvitationOut(BaseModel):
    id: int
    status: InvitationStatus
    expires_at: datetime
    wish_id: int | None = None
    task_id: int | None = None
    occurrence_start: datetime | None = None
    title: str
    answer_url: str


class AnsweredOut(BaseModel):
    id: int
    status: InvitationStatus


class StaffInvitationOut(BaseModel):
    id: int
    person_id: int
    status: InvitationStatus
    expires_at: datetime
    name: str
    rank: int | None = None
    reasons: list[str]
    invited_by: str | None = None
    decline_reason: str | None = None


def _mine(call: Call, view: invitations.InvitationView) -> MyInvitationOut:
    return MyInvitationOut(
        id=view.id,
        status=InvitationStatus(view.status),
        expires_at=local(view.expires_at, view.timezone),
        wish_id=view.wish_id,
        task_id=view.task_id,
        occurrence_start=local(view.occurrence_start, view.timezone),
        title=view.title,
        answer_url=invitations.answer_url(call.hub, view.id),
    )


async def my_invitations(call: Call) -> dict:
    q: InvitationQuery = call.query
    rows = await invitations.my_invitations(
        call.hub, call.user, status=q.status, after_id=q.after_id(), limit=q.limit + 1
    )
    result = page(rows, q.limit, lambda v: v.id)
    result["items"] = [_mine(call, v) for v in result["items"]]
    return result


async def accept_invitation(call: Call) -> AnsweredOut:
    view = await invitations.accept(call.hub, call.user, call.path_int("id"))
    return AnsweredOut(id=view.id, status=InvitationStatus(view.status))


async def decline_invitation(call: Call) -> AnsweredOut:
    view = await invitations.decline(call.hub, call.user, call.path_int("id"), call.body)
    return AnsweredOut(id=view.id, status=InvitationStatus(view.status))


async def wish_invitations(call: Call) -> dict:
    rows = await invitations.wish_invitations(call.hub, call.user, call.path_int("id"))
    return {
        "items": [
            StaffInvitationOut(
                id=r.id,
                person_id=r.person_id,
                status=InvitationStatus(r.status),
                expires_at=local(r.expires_at, r.timezone),
                name=r.name,
                rank=r.rank,
                reasons=[localize(x, call.locale) for x in r.reasons],
                invited_by=r.invited_by,
                decline_reason=r.decline_reason,
            )
            for r in rows
        ]
    }


class StaffInvitations(BaseModel):
    items: list[StaffInvitationOut]


ERRORS = (401, 403, 404, 409, 422)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/wishes/{id:int}/invitations",
        invite_to_wish,
        "Invite a volunteer who may claim it to claim an open wish (staff)",
        body=invitations.InviteIn,
        response=WishInvitationOut,
        status=201,
        errors=ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/tasks/{id:int}/invitations",
        invite_to_task,
        "Invite a person to an occurrence of a task (staff, team leaders)",
        body=invitations.TaskInviteIn,
        response=TaskInvitationOut,
        status=201,
        errors=ERRORS,
        tag="tasks",
    ),
    Endpoint(
        "GET",
        "/me/invitations",
        my_invitations,
        "My invitations (to claim a wish, to come to a shift), oldest first",
        query=InvitationQuery,
        response=ListPage[MyInvitationOut],
        errors=(401, 422),
        tag="invitations",
    ),
    Endpoint(
        "POST",
        "/invitations/{id:int}/accept",
        accept_invitation,
        "Accept an invitation (the invited person): claim the wish, or take a place",
        response=AnsweredOut,
        errors=ERRORS,
        tag="invitations",
    ),
    Endpoint(
        "POST",
        "/invitations/{id:int}/decline",
        decline_invitation,
        "Decline an invitation (the invited person); the next volunteer is invited",
        body=invitations.DeclineIn,
        response=AnsweredOut,
        errors=ERRORS,
        tag="invitations",
    ),
    Endpoint(
        "GET",
        "/wishes/{id:int}/invitations",
        wish_invitations,
        "A wish's invitations, with the rank and reasons of each dispatched one (staff)",
        response=StaffInvitations,
        errors=(401, 403, 404),
        tag="wishes",
    ),
]
