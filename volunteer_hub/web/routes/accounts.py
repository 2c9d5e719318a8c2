"""Accounts: login, logout, registration, me, people, password reset."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from volunteer_hub.services import auth, channels, people
from volunteer_hub.services.access import load_actor
from volunteer_hub.validation import Input, Line
from volunteer_hub.web.api import Call, Endpoint, client_address
from volunteer_hub.web.schemas import LoginOut, PersonOut, person_out


class LoginIn(Input):
    phone: Annotated[Line, Field(min_length=1, max_length=40)]
    password: Annotated[str, Field(min_length=1, max_length=128)]


async def login(call: Call) -> LoginOut:
    address = client_address(call.request)
    result = await auth.login(call.hub, call.body.phone, call.body.password, address)
    viewer = await load_actor(result.person.id)
    return LoginOut(
        token=result.token,
        expires_at=result.expires_at,
        person=await person_out(call.hub, viewer, result.person),
    )


async def logout(call: Call) -> None:
    await auth.logout(call.hub, call.token or "")


async def register(call: Call) -> PersonOut:
    # With sms_consent, the phone becomes the text-message address (services.channels).
    person = await channels.register(
        call.hub, call.body, actor=call.actor, address=client_address(call.request)
    )
    viewer = call.actor or await load_actor(person.id)
    return await person_out(call.hub, viewer, person)


async def me(call: Call) -> PersonOut:
    return await person_out(call.hub, call.user, await call.user.load_person())


async def change_password(call: Call) -> None:
    await people.change_password(call.hub, call.user, call.body)


async def get_person(call: Call) -> PersonOut:
    person = await people.get_person(call.user, call.path_int("id"))
    return await person_out(call.hub, call.user, person)


class ResetCodeOut(BaseModel):
    """A one-time code to set a new password, shown this once: hand it to the person."""

    person_id: int
    name: str
    code: str
    expires_at: datetime


async def issue_reset_code(call: Call) -> ResetCodeOut:
    issued = await auth.issue_reset_code(call.hub, call.user, call.path_int("id"))
    return ResetCodeOut(
        person_id=issued.person_id,
        name=issued.name,
        code=issued.code,
        expires_at=issued.expires_at,
    )


async def request_reset_code(call: Call) -> None:
    await auth.request_reset_code(call.hub, call.body, client_address(call.request))


async def reset_password(call: Call) -> None:
    await auth.reset_password(call.hub, call.body, client_address(call.request))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/auth/login",
        login,
        "Log in with phone and password",
        body=LoginIn,
        response=LoginOut,
        auth="none",
        errors=(401, 422, 429),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/auth/logout",
        logout,
        "Log out: the token stops working",
        status=204,
        errors=(401,),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/people",
        register,
        "Register a resident",
        body=people.PersonIn,
        response=PersonOut,
        status=201,
        auth="optional",
        errors=(401, 409, 422, 429),
        tag="accounts",
        validate_body=False,  # people.register counts the attempt first, then validates
    ),
    Endpoint(
        "GET",
        "/me",
        me,
        "The logged-in person, with roles",
        response=PersonOut,
        errors=(401,),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/me/password",
        change_password,
        "Change your password (give the current one); weak ones are refused",
        body=people.PasswordChangeIn,
        status=204,
        errors=(401, 422),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/auth/reset-code",
        request_reset_code,
        "Ask for a code to set a new password, sent to your confirmed addresses; 202 "
        "whether or not the phone is registered",
        body=auth.ResetCodeRequest,
        status=202,
        auth="none",
        errors=(422, 429),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/auth/reset",
        reset_password,
        "Set a new password with a one-time code; every token of the person stops working",
        body=auth.PasswordResetIn,
        status=204,
        auth="none",
        errors=(422, 429),
        tag="accounts",
    ),
    Endpoint(
        "POST",
        "/people/{id:int}/reset-code",
        issue_reset_code,
        "Issue a one-time code to set a new password (staff of the person's community, the "
        "grid worker of a resident's grid); the code is in this answer only",
        response=ResetCodeOut,
        status=201,
        errors=(401, 403, 404, 409),
        tag="accounts",
    ),
    Endpoint(
        "GET",
        "/people/{id:int}",
        get_person,
        "A person (self, or staff of their community)",
        response=PersonOut,
        errors=(401, 404),
        tag="accounts",
    ),
]
