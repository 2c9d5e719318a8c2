"""Micro-tasks, signups, check-in and check-out, service records."""

from __future__ import annotations

from volunteer_hub.services import tasks
from volunteer_hub.web.api import Call, Endpoint
from volunteer_hub.web.schemas import (
    ServiceRecordOut,
    ServiceRecordsOut,
    SignupOut,
    TaskOut,
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
