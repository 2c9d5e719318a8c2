"""Invitations: staff ask a volunteer to claim a wish, or a person to come to a shift.

The invited person hears of it through their channels; an e-mail carries a calendar file
(``notifications.invitations``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from volunteer_hub.services import invitations, tasks
from volunteer_hub.web.api import Call, Endpoint
from volunteer_hub.web.schemas import local


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
]
