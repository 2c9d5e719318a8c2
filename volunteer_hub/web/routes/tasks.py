"""Micro-tasks, signups, check-in and check-out, service records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from volunteer_hub.services import roster, tasks
from volunteer_hub.validation import Input, Moment
from volunteer_hub.web.api import Call, Endpoint
from volunteer_hub.web.schemas import (
    ServiceRecordOut,
    ServiceRecordsOut,
    SignupOut,
    TaskOut,
    local,
    record_out,
    records_out,
    signup_out,
    task_out,
)


async def create_task(call: Call) -> TaskOut:
    task = await tasks.create_task(call.hub, call.user, call.path_int("cid"), call.body)
    return task_out(*await tasks.task_view(call.hub, call.user, task.id))


async def get_task(call: Call) -> TaskOut:
    return task_out(*await tasks.task_view(call.hub, call.user, call.path_int("id")))


async def sign_up(call: Call) -> SignupOut:
    signup = await tasks.sign_up(call.hub, call.user, call.path_int("id"), call.body)
    return signup_out(await tasks.signup_view(call.user, signup.id))


async def cancel_signup(call: Call) -> None:
    await tasks.cancel_signup(call.hub, call.user, call.path_int("id"))


async def check_in(call: Call) -> SignupOut:
    signup = await tasks.check_in(call.hub, call.user, call.path_int("id"))
    return signup_out(await tasks.signup_view(call.user, signup.id))


async def check_out(call: Call) -> ServiceRecordOut:
    record = await tasks.check_out(call.hub, call.user, call.path_int("id"))
    return record_out(await tasks.record_view(record))


async def my_records(call: Call) -> ServiceRecordsOut:
    return records_out(await tasks.service_records(call.user))


ERRORS = (401, 403, 404, 409, 422)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/communities/{cid:int}/tasks",
        create_task,
        "Create a task, one-off or recurring (staff, team leaders)",
        body=tasks.TaskIn,
        response=TaskOut,
        status=201,
        errors=ERRORS,
        tag="tasks",
    ),
    Endpoint(
        "GET",
        "/tasks/{id:int}",
        get_task,
        "A task with its upcoming occurrences",
        response=TaskOut,
        errors=(401, 404),
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/tasks/{id:int}/signups",
        sign_up,
        "Sign up: confirmed while places remain, then waitlisted",
        body=tasks.SignupIn,
        response=SignupOut,
        status=201,
        errors=ERRORS,
        tag="tasks",
    ),
    Endpoint(
        "DELETE",
        "/signups/{id:int}",
        cancel_signup,
        "Cancel a signup; the first waitlisted is promoted",
        status=204,
        errors=(401, 404, 409),
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/signups/{id:int}/check-in",
        check_in,
        "Check in to a shift",
        response=SignupOut,
        errors=(401, 404, 409),
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/signups/{id:int}/check-out",
        check_out,
        "Check out: the service record of the hours served",
        response=ServiceRecordOut,
        errors=(401, 404, 409),
        tag="tasks",
    ),
    Endpoint(
        "GET",
        "/me/service-records",
        my_records,
        "Your service records and total hours",
        response=ServiceRecordsOut,
        errors=(401,),
        tag="tasks",
    ),
]


# --- the roster, attendance, editing and cancelling (staff, the team's leader) ----------------


class RosterQuery(Input):
    occurrence_start: Moment | None = None


class ShiftOut(BaseModel):
    start: datetime
    end: datetime
    capacity: int
    taken: int
    cancelled: bool
    waitlisted: int


class RosterEntryOut(BaseModel):
    signup_id: int
    person_id: int
    name: str
    phone: str  # in full for staff of the community, else masked
    status: str
    position: int | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    note: str | None


class RosterOut(BaseModel):
    task_id: int
    cancelled: bool
    occurrence: ShiftOut | None
    confirmed: list[RosterEntryOut]
    waitlist: list[RosterEntryOut]


def _shift_out(shift: roster.Shift, zone: str) -> ShiftOut:
    return ShiftOut(
        start=local(shift.start, zone),
        end=local(shift.end, zone),
        capacity=shift.capacity,
        taken=shift.taken,
        cancelled=shift.cancelled,
        waitlisted=shift.waitlisted,
    )


def _entry_out(entry: roster.RosterEntry, zone: str) -> RosterEntryOut:
    return RosterEntryOut(
        signup_id=entry.signup_id,
        person_id=entry.person_id,
        name=entry.name,
        phone=entry.phone,
        status=entry.status.value,
        position=entry.position,
        checked_in_at=local(entry.checked_in_at, zone) if entry.checked_in_at else None,
        checked_out_at=local(entry.checked_out_at, zone) if entry.checked_out_at else None,
        note=entry.note,
    )


async def get_roster(call: Call) -> RosterOut:
    q: RosterQuery = call.query
    found = await roster.roster(call.hub, call.user, call.path_int("id"), q.occurrence_start)
    zone = found.task.timezone
    return RosterOut(
        task_id=found.task.id,
        cancelled=found.task.cancelled_at is not None,
        occurrence=_shift_out(found.shift, zone) if found.shift else None,
        confirmed=[_entry_out(e, zone) for e in found.placed],
        waitlist=[_entry_out(e, zone) for e in found.waiting],
    )


async def mark_no_show(call: Call) -> SignupOut:
    signup = await roster.mark_no_show(call.hub, call.user, call.path_int("id"))
    return signup_out(await tasks.signup_view(call.user, signup.id))


async def excuse(call: Call) -> SignupOut:
    signup = await roster.excuse(call.hub, call.user, call.path_int("id"), call.body)
    return signup_out(await tasks.signup_view(call.user, signup.id))


async def update_task(call: Call) -> TaskOut:
    task = await roster.update_task(call.hub, call.user, call.path_int("id"), call.body)
    return task_out(*await tasks.task_view(call.hub, call.user, task.id))


async def cancel_task(call: Call) -> TaskOut:
    task = await roster.cancel_task(call.hub, call.user, call.path_int("id"), call.body)
    return task_out(*await tasks.task_view(call.hub, call.user, task.id))


class MessageOut(BaseModel):
    recipients: int


async def message_shift(call: Call) -> MessageOut:
    sent = await roster.message_shift(call.hub, call.user, call.path_int("id"), call.body)
    return MessageOut(recipients=sent)


ENDPOINTS += [
    Endpoint(
        "GET",
        "/tasks/{id:int}/roster",
        get_roster,
        "The roster of one occurrence: confirmed signups and the waiting list (staff, leader)",
        query=RosterQuery,
        response=RosterOut,
        errors=(401, 403, 404, 422),
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/signups/{id:int}/no-show",
        mark_no_show,
        "Mark a confirmed volunteer a no-show once the shift has started (staff, leader)",
        response=SignupOut,
        errors=(401, 403, 404, 409),
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/signups/{id:int}/excuse",
        excuse,
        "Excuse a confirmed volunteer or a no-show, with a note (staff, leader)",
        body=roster.ExcuseIn,
        response=SignupOut,
        errors=ERRORS,
        tag="tasks",
    ),
    Endpoint(
        "PATCH",
        "/tasks/{id:int}",
        update_task,
        "Edit a task; the capacity never below the places taken (staff, leader)",
        body=roster.TaskPatch,
        response=TaskOut,
        errors=ERRORS,
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/tasks/{id:int}/cancel",
        cancel_task,
        "Cancel a task: its volunteers are told, no new signups (staff, leader)",
        body=roster.CancelTaskIn,
        response=TaskOut,
        errors=ERRORS,
        tag="tasks",
    ),
    Endpoint(
        "POST",
        "/tasks/{id:int}/messages",
        message_shift,
        "Send a message to everyone with a place on one occurrence (staff, leader)",
        body=roster.ShiftMessageIn,
        response=MessageOut,
        errors=ERRORS,
        tag="tasks",
    ),
]
