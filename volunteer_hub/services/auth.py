"""Logging in: throttled password checks and bearer tokens (stored hashed, expiring,
revocable); resetting a forgotten password with a one-time code."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from tortoise.expressions import F, Q

from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
)
from volunteer_hub.hub import Hub
from volunteer_hub.models import ApiToken, ChannelConfig, Person, PersonChannel, Role
from volunteer_hub.security import secret_digest
from volunteer_hub.services import people, reads, throttle
from volunteer_hub.services.access import Actor, RoleGrant, load_actor
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.validation import (
    Input,
    Line,
    Password,
    custom_error,
    parse,
    personal_words,
    refuse_weak_password,
)

TOKEN_LIFETIME = timedelta(days=30)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PHONE = 5
MAX_FAILURES_PER_ADDRESS = 50


@dataclass(frozen=True)
class Login:
    token: str
    person: Person
    expires_at: datetime


async def _take_login_attempt(
    now: datetime, phone: str, address: str
) -> tuple[Person | None, list[throttle.Attempt]]:
    """Count one attempt at a password (a login, or a reset with a code) against the phone
    in every spelling, the person and the client address, atomically; 429 when one is
    spent. Returns the person the phone belongs to (or None) and the attempts, to give back
    on success."""
    normalized = people.login_phone(phone)
    person = await people.person_for_login(normalized)
    limits = [(throttle.key("login:phone", normalized or phone.strip()), MAX_FAILURES_PER_PHONE)]
    if person is not None:
        limits.append((throttle.key("login:person", str(person.id)), MAX_FAILURES_PER_PHONE))
    limits.append((throttle.key("login:address", address), MAX_FAILURES_PER_ADDRESS))
    try:
        attempts = await throttle.take(now, limits, THROTTLE_WINDOW)
    except throttle.Refused as refused:
        raise Throttled(
            "Too many failed attempts. Try again in {minutes} minutes.", refused.retry_after
        ) from None
    return person, attempts


async def login(hub: Hub, phone: str, password: str, address: str) -> Login:
    """Check the password, unless this phone, its person or this address failed too often.

    Wrong passwords and unknown phones get the same error. Each check first takes an
    attempt under the normalised phone (any spelling of a number is one counter; text
    that is no number still counts, under itself), the person it belongs to, and the
    client address, atomically (services/throttle.py); a success gives them back, so
    only failures count (API.md).
    """
    now = hub.now()
    person, attempts = await _take_login_attempt(now, phone, address)
    person = await people.check_password(hub, person, password)  # a failure stays counted
    await throttle.give_back(attempts)
    token = secrets.token_urlsafe(32)
    expires_at = now + TOKEN_LIFETIME
    await ApiToken.create(
        person_id=person.id, token_hash=secret_digest(token), created_at=now, expires_at=expires_at
    )
    return Login(token, person, expires_at)


async def actor_for_token(hub: Hub, token: str) -> Actor:
    """The actor a bearer token stands for; an unknown, expired or revoked token is refused.

    Every request comes through here: one SQL statement (services/reads.py) for the
    person's ids and role grants. Services that need their ``Person`` model call
    ``actor.load_person()`` (an ORM query).
    """
    found = await reads.token_holder(secret_digest(token), hub.now())
    if found is None:
        raise NotAuthenticated("You need to log in.", code="invalid_token")
    actor = Actor.unloaded(
        found.person_id, found.community_id, found.grid_id, _grants(found.grants)
    )
    return actor


@lru_cache(maxsize=4096)
def _grants(rows: tuple[tuple[int | None, str, int | None], ...]) -> frozenset[RoleGrant]:
    # Grants are immutable values and most callers hold one of a few sets of them.
    return frozenset(RoleGrant(c, Role(r), g) for c, r, g in rows)


async def logout(hub: Hub, token: str) -> None:
    await ApiToken.filter(token_hash=secret_digest(token), revoked_at__isnull=True).update(
        revoked_at=hub.now()
    )


# --- password reset -------------------------------------------------------------------
#
# A one-time code, from staff (or the grid worker of a resident's grid), or sent to one
# of the person's confirmed addresses when they ask. Only a keyed hash of it is stored,
# on the person: it expires, allows RESET_TRIES tries and works once. The code itself is
# handed to the caller (staff read it out) or, as the secret of ``person.reset_code_issued``,
# to the notification planner, which sends it: never to the audit trail, plugins or logs.

RESET_CODE_TTL = timedelta(minutes=15)
RESET_TRIES = 5  # tries at one code, right or wrong; then the code is void
RESEND_AFTER = timedelta(seconds=60)  # between two codes a person asks for
# The key of the code in the secret of ``person.reset_code_issued`` (sent by the planner).
RESET_CODE_SECRET = "reset_code"
# Roles whose holders only staff of the same level may reset: a grid worker resets no
# colleague's password, staff no administrator's.
_ASSISTING = (Role.ADMIN, Role.STAFF, Role.GRID_WORKER)


@dataclass(frozen=True)
class ResetCode:
    """A code just issued by staff: shown once, to them, then only its hash exists."""

    person_id: int
    name: str
    code: str
    expires_at: datetime


class ResetCodeRequest(Input):
    phone: Annotated[Line, Field(min_length=1, max_length=40)]


def _reset_digits(value: str) -> str:
    if not (len(value) == 6 and value.isascii() and value.isdigit()):
        raise custom_error("code", "Must be the 6 digits of the code.")
    return value


class PasswordResetIn(Input):
    phone: Annotated[Line, Field(min_length=1, max_length=40)]
    code: Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_reset_digits)]
    password: Password


async def issue_reset_code(hub: Hub, actor: Actor, person_id: int) -> ResetCode:
    """Staff of the person's community, or a grid worker of the resident's grid, issue a
    one-time code for them (the person forgot their password and asks in person or by
    phone). Anyone else: 404. A grid worker may not reset staff or another grid worker,
    nor staff an administrator (403). An earlier code stops working."""
    person = await Person.get_or_none(id=person_id)
    if person is None or not _may_see_for_reset(actor, person):
        raise NotFound("No such person.", code="person_not_found")
    target = await load_actor(person.id)
    if not _outranks(actor, target, person):
        raise PermissionDenied("You may not reset this person's password.")
    if not person.active:
        raise Conflict("This account is deactivated.", code="person_inactive")
    async with unit_of_work(hub, actor.id) as uow:
        code = await _new_reset_code(hub, uow.now, person)
        await uow.record(
            "person.reset_code_issued",
            person,
            community_id=person.community_id,
            after={"via": "staff"},
        )
    return ResetCode(person.id, person.name, code, uow.now + RESET_CODE_TTL)


def _may_see_for_reset(actor: Actor, person: Person) -> bool:
    if actor.is_admin:
        return True
    if person.community_id is None:
        return False
    if actor.is_staff(person.community_id):
        return True
    return person.grid_id is not None and person.grid_id in actor.grids_worked(person.community_id)


def _outranks(actor: Actor, target: Actor, person: Person) -> bool:
    """Whether ``actor`` may reset ``target``'s password: admins anyone; staff anyone but an
    administrator; a grid worker only people who assist nobody (residents, volunteers)."""
    if actor.is_admin or actor.id == target.id:
        return True
    if target.is_admin:
        return False
    if person.community_id is not None and actor.is_staff(person.community_id):
        return True
    return not any(g.role in _ASSISTING for g in target.grants)


async def request_reset_code(hub: Hub, data: ResetCodeRequest | dict, address: str) -> None:
    """A person who forgot their password asks for a code at one of their confirmed
    addresses (text message, e-mail, chat). The answer is the same whether or not the
    phone is registered or has such an address (no account enumeration); every request
    counts against the phone and the client address as failed logins do, and a person
    gets at most one code a minute."""
    data = parse(ResetCodeRequest, data)
    now = hub.now()
    normalized = people.login_phone(data.phone)
    try:
        await throttle.take(
            now,
            [
                (throttle.key("reset:phone", normalized or data.phone), MAX_FAILURES_PER_PHONE),
                (throttle.key("reset:address", address), MAX_FAILURES_PER_ADDRESS),
            ],
            THROTTLE_WINDOW,
        )
    except throttle.Refused as refused:
        raise Throttled(
            "Too many attempts. Try again in {minutes} minutes.", refused.retry_after
        ) from None
    person = await people.person_for_login(normalized)
    if person is None or not person.active or person.community_id is None:
        return
    if not await _reachable(person):
        return
    # One code a minute: the claim is the conditional UPDATE in _new_reset_code.
    async with unit_of_work(hub, person.id) as uow:
        code = await _new_reset_code(hub, uow.now, person, resend_guard=True)
        if code is None:
            return
        await uow.record(
            "person.reset_code_issued",
            person,
            community_id=person.community_id,
            after={"via": "channel"},
            secret={RESET_CODE_SECRET: code},
        )


async def _reachable(person: Person) -> bool:
    """Whether the person has a confirmed, enabled address on a channel their community
    sends through (where the planner can deliver the code)."""
    codes = await PersonChannel.filter(
        person_id=person.id, enabled=True, confirmed_at__isnull=False
    ).values_list("code", flat=True)
    return bool(codes) and await ChannelConfig.exists(
        community_id=person.community_id, enabled=True, code__in=list(codes)
    )


async def _new_reset_code(
    hub: Hub, now: datetime, person: Person, *, resend_guard: bool = False
) -> str | None:
    """Store the hash of a fresh code on ``person`` (the last one stops working). With
    ``resend_guard``, only if no code was made in the last minute (one conditional
    UPDATE, so of simultaneous requests one makes a code): None otherwise."""
    code = f"{secrets.randbelow(10**6):06d}"
    expires_at = now + RESET_CODE_TTL
    query = Person.filter(id=person.id)
    if resend_guard:
        query = query.filter(
            Q(reset_code_expires_at__isnull=True)
            | Q(reset_code_expires_at__lte=expires_at - RESEND_AFTER)
        )
    changed = await query.update(
        reset_code_hash=_reset_hash(hub, person.id, code),
        reset_code_expires_at=expires_at,
        reset_code_attempts=0,
    )
    return code if changed else None


def _reset_hash(hub: Hub, person_id: int, code: str) -> str:
    """Keyed with the installation secret (six digits are found at once unkeyed) and bound
    to the person (a code for one account resets no other)."""
    message = f"password reset:{person_id}:{code}".encode()
    return hmac.new(hub.settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


async def reset_password(hub: Hub, data: PasswordResetIn | dict, address: str) -> None:
    """Set a new password with a one-time code. Wrong, expired, used or void codes and
    unknown phones all get the same answer (422 on ``code``); failures count against the
    phone and the address as failed logins do. Each try at a code counts, in one
    conditional UPDATE (tries at once cannot pass the limit); the code works once. On
    success every token of the person is revoked (every browser and app logs in again)."""
    data = parse(PasswordResetIn, data)
    now = hub.now()
    person, attempts = await _take_login_attempt(now, data.phone, address)
    wrong = InvalidInput.for_field(
        "code", "The code is wrong, used or expired. Ask for a new one if needed."
    )
    if person is None or person.reset_code_hash is None or not person.active:
        raise wrong
    stored = person.reset_code_hash
    tried = await Person.filter(
        id=person.id, reset_code_hash=stored, reset_code_attempts__lt=RESET_TRIES
    ).update(reset_code_attempts=F("reset_code_attempts") + 1)
    if not tried:
        await _void_code(person.id, stored)
        raise wrong
    expired = person.reset_code_expires_at is None or person.reset_code_expires_at <= now
    if expired or not hmac.compare_digest(_reset_hash(hub, person.id, data.code), stored):
        if expired or person.reset_code_attempts + 1 >= RESET_TRIES:
            await _void_code(person.id, stored)
        raise wrong
    words = personal_words(name=person.name, phone=person.phone, birth_date=person.birth_date)
    try:
        refuse_weak_password("password", data.password, words)
    except InvalidInput:
        # The code was right: this try does not count against it.
        await Person.filter(id=person.id, reset_code_hash=stored).update(
            reset_code_attempts=F("reset_code_attempts") - 1
        )
        await throttle.give_back(attempts)
        raise
    password_hash = await hub.passwords.hash_async(data.password)
    async with unit_of_work(hub, person.id) as uow:
        if not await Person.filter(id=person.id, reset_code_hash=stored).update(
            password_hash=password_hash,
            reset_code_hash=None,
            reset_code_expires_at=None,
            reset_code_attempts=0,
        ):
            raise wrong  # used by a request at the same moment
        await ApiToken.filter(person_id=person.id, revoked_at__isnull=True).update(
            revoked_at=uow.now
        )
        await uow.record("person.password_reset", person, community_id=person.community_id)
    await throttle.give_back(attempts)


async def _void_code(person_id: int, stored: str) -> None:
    await Person.filter(id=person_id, reset_code_hash=stored).update(
        reset_code_hash=None, reset_code_expires_at=None
    )
