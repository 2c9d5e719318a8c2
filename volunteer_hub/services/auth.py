"""Logging in: throttled password checks and bearer tokens (stored hashed, expiring, revocable)."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from volunteer_hub.errors import NotAuthenticated, Throttled
from volunteer_hub.hub import Hub
from volunteer_hub.models import ApiToken, LoginFailure, Person, Role
from volunteer_hub.services import reads
from volunteer_hub.services.access import Actor, RoleGrant
from volunteer_hub.services.people import authenticate

TOKEN_LIFETIME = timedelta(days=30)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PHONE = 5
MAX_FAILURES_PER_ADDRESS = 50


@dataclass(frozen=True)
class Login:
    token: str
    person: Person
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(hub: Hub, phone: str, password: str, address: str) -> Login:
    """Check the password, unless this phone or address failed too often lately.

    Wrong passwords and unknown phones get the same error; only failures count.
    """
    now = hub.now()
    since = now - THROTTLE_WINDOW
    key = "".join(c for c in phone.strip() if c.isprintable())[:40]
    await _refuse_if_throttled(LoginFailure.filter(phone=key), MAX_FAILURES_PER_PHONE, since, now)
    await _refuse_if_throttled(
        LoginFailure.filter(address=address), MAX_FAILURES_PER_ADDRESS, since, now
    )
    try:
        person = await authenticate(hub, phone, password)
    except NotAuthenticated:
        await LoginFailure.create(phone=key, address=address, created_at=now)
        raise
    token = secrets.token_urlsafe(32)
    expires_at = now + TOKEN_LIFETIME
    await ApiToken.create(
        person_id=person.id, token_hash=_digest(token), created_at=now, expires_at=expires_at
    )
    return Login(token, person, expires_at)


async def _refuse_if_throttled(query, limit: int, since: datetime, now: datetime) -> None:
    recent = await query.filter(created_at__gt=since).order_by("-created_at").limit(limit)
    if len(recent) >= limit:
        # Free again when the oldest of the last `limit` failures leaves the window.
        retry_after = (recent[-1].created_at + THROTTLE_WINDOW - now).total_seconds()
        raise Throttled(max(1, math.ceil(retry_after)))


async def actor_for_token(hub: Hub, token: str, *, with_person: bool = False) -> Actor:
    """The actor a bearer token stands for; an unknown, expired or revoked token is refused.

    Every request comes through here: one SQL statement (services/reads.py), which
    reads the person's model too only ``with_person`` (else ``actor.load_person()``).
    """
    found = await reads.token_holder(_digest(token), hub.now(), with_person=with_person)
    if found is None:
        raise NotAuthenticated("You need to log in.", code="invalid_token")
    grants = _grants(found.grants)
    if found.person is not None:
        return Actor(found.person, grants)
    return Actor.unloaded(found.person_id, found.community_id, found.grid_id, grants)


@lru_cache(maxsize=4096)
def _grants(rows: tuple[tuple[int | None, str, int | None], ...]) -> frozenset[RoleGrant]:
    # Grants are immutable values and most callers hold one of a few sets of them.
    return frozenset(RoleGrant(c, Role(r), g) for c, r, g in rows)


async def logout(hub: Hub, token: str) -> None:
    await ApiToken.filter(token_hash=_digest(token), revoked_at__isnull=True).update(
        revoked_at=hub.now()
    )
