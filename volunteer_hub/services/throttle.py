"""Throttling: attempts counted under a key in a time window, taken atomically.

A key (``login:phone:13900000010``, ``register:address:203.0.113.7``) has one row: how
many attempts its window has counted and when the window ends. An attempt is taken by
one conditional UPDATE (``count < limit`` in the window read a moment before), so
simultaneous requests, in one process or several, on SQLite or PostgreSQL, never take
more than ``limit``: the database applies updates of one row one after the other, and
an update that finds the row changed takes nothing and reads it again. A window begins
with the first attempt after the previous one ended; an attempt can be given back
(a login that succeeded) while its window lasts.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from volunteer_hub.models import AttemptCounter

MAX_KEY_LENGTH = 100  # AttemptCounter.key
# Reading the row again after losing a race: each loss means another request moved
# the count, so a few rounds suffice; past them the attempt is refused, never let through.
_ROUNDS = 20


@dataclass(frozen=True)
class Attempt:
    """One attempt taken under ``key``, in the window that ends at ``expires_at``."""

    key: str
    expires_at: datetime


class Refused(Exception):
    """No attempt is left under a key; ``retry_after`` seconds until its window ends."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def key(kind: str, value: str) -> str:
    """A counter's key; a value too long or not printable (any text a client sent) is
    hashed, so every key fits the column and each value keeps a counter of its own."""
    text = f"{kind}:{value}"
    if len(text) <= MAX_KEY_LENGTH and value.isprintable():
        return text
    return f"{kind}:#{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


async def take(
    now: datetime, limits: Sequence[tuple[str, int]], window: timedelta
) -> list[Attempt]:
    """Take one attempt under each ``(key, limit)``, or none: ``Refused`` when a key has
    ``limit`` attempts in its current window already."""
    taken: list[Attempt] = []
    try:
        for name, limit in limits:
            taken.append(await _take_one(now, name, limit, window))
    except Refused:
        await give_back(taken)
        raise
    return taken


async def give_back(attempts: Sequence[Attempt]) -> None:
    """Un-count attempts (while their window lasts: a new window owes them nothing)."""
    for attempt in attempts:
        await AttemptCounter.filter(
            key=attempt.key, expires_at=attempt.expires_at, count__gt=0
        ).update(count=F("count") - 1)


async def _take_one(now: datetime, name: str, limit: int, window: timedelta) -> Attempt:
    for _ in range(_ROUNDS):
        row = await AttemptCounter.get_or_none(key=name)
        if row is None:
            try:
                await AttemptCounter.create(key=name, count=1, expires_at=now + window)
            except IntegrityError:
                continue  # another request made it first: count there
            # Rows of windows that ended are never needed again.
            await AttemptCounter.filter(expires_at__lt=now).delete()
            return Attempt(name, now + window)
        if row.expires_at <= now:
            # Its window is over: begin a new one, unless another request just did.
            started = await AttemptCounter.filter(key=name, expires_at=row.expires_at).update(
                count=1, expires_at=now + window
            )
            if started:
                return Attempt(name, now + window)
            continue
        if row.count >= limit:
            raise Refused(_seconds_until(row.expires_at, now))
        counted = await AttemptCounter.filter(
            key=name, expires_at=row.expires_at, count__lt=limit
        ).update(count=F("count") + 1)
        if counted:
            return Attempt(name, row.expires_at)
    raise Refused(1)  # still contended: worth asking again at once


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))
