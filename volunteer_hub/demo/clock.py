"""The demo's clock: simulated time that only moves forward, and the events that move it.

The past six weeks are lived on a second Hub that shares the caller's settings and
plugins but reads this clock; the builder moves it event by event up to the present.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from volunteer_hub.hub import Hub


class SimClock:
    """The demo's clock: it only moves forward, and only when the builder says so."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def move_to(self, when: datetime) -> None:
        if when > self._now:
            self._now = when


def simulated_hub(hub: Hub, clock: SimClock) -> Hub:
    """The Hub the demo writes through: the same plugins and settings, on the demo's clock.

    Demo accounts share a printed password, so they get argon2's cheapest profile
    (re-hashed at the first login).
    """
    return Hub(
        settings=replace(hub.settings, password_profile="CHEAPEST"),
        plugins=hub.plugins,
        clock=clock,
        events=hub.events,  # the same subscribers: the demo's notifications are planned
    )


class Timeline:
    """Events in time order; each runs with the clock set to its moment."""

    def __init__(self, clock: SimClock, until: datetime) -> None:
        self.clock = clock
        self.until = until
        self._heap: list[tuple[datetime, int, Callable[..., Awaitable[None]], tuple]] = []
        self._seq = itertools.count()  # ties run in the order they were scheduled

    def at(self, when: datetime, action: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Schedule an action; what would happen after the present never does."""
        if when < self.until:
            heapq.heappush(self._heap, (when, next(self._seq), action, args))

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self, advance: Callable[[], None]) -> None:
        while self._heap:
            when, _, action, args = heapq.heappop(self._heap)
            self.clock.move_to(when)
            await action(*args)
            advance()


@dataclass(frozen=True)
class Calendar:
    """Local times in the community's time zone, anchored to the caller's present.

    The simulation starts ``days`` before today, so timestamps move with the date while
    the content stays the same.
    """

    now: datetime
    zone: ZoneInfo
    days: int

    @property
    def today(self) -> date:
        return self.local_date(self.now)

    @property
    def day0(self) -> date:
        """The first simulated day."""
        return self.today - timedelta(days=self.days)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A local wall-clock time on ``day``, in UTC."""
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone).astimezone(UTC)

    def local_date(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()


def spread(start: datetime, end: datetime, count: int) -> list[datetime]:
    """``count`` moments evenly apart from ``start`` (included) to ``end`` (excluded)."""
    step = (end - start) / max(count, 1)
    return [start + step * i for i in range(count)]


def next_weekday(day: date, weekday: int) -> date:
    """``day`` itself if it falls on ``weekday`` (Monday = 0), else the next one."""
    return day + timedelta(days=(weekday - day.weekday()) % 7)
