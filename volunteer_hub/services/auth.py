"""Logging in: throttled password checks and bearer tokens (stored hashed, expiring, revocable)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from volunteer_hub.errors import NotAuthenticated, Throttled
from volunteer_hub.hub import Hub
from volunteer_hub.models import ApiToken, Person, Role
from volunteer_hub.security import secret_digest
from volunteer_hub.services import people, reads, throttle
from volunteer_hub.services.access import Actor, RoleGrant

TOKEN_LIFETIME = timedelta(days=30)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PHONE = 5
MAX_FAILURES_PER_ADDRESS = 50


@dataclass(frozen=True)
class Login:
    token: str
    person: Person
    expires_at: datetime


async def login(hub: Hub, phone: str, password: str, address: str) -> Login:
    """Check the password, unless this phone, its person or this address failed too often.

    Wrong passwords and unknown phones get the same error. Each check first takes an
    attempt under the normalised phone (any spelling of a number is one counter; text
    that is no number still counts, under itself), the person it belongs to, and the
    client address, atomically (services/throttle.py); a success gives them back, so
    only failures count (API.md).
    """
    now = hub.now()
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
