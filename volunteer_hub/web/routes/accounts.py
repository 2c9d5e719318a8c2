"""Accounts: login, logout, registration, me, people."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

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
        "GET",
        "/people/{id:int}",
        get_person,
        "A person (self, or staff of their community)",
        response=PersonOut,
        errors=(401, 404),
        tag="accounts",
    ),
]
