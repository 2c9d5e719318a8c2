"""What anyone may see without logging in: each community's open needs and its open shifts.

The anonymous home page and the public shift grid (``/shifts``) show, per community, the
wishes waiting for a volunteer (title, category, grid, how long they have waited) and the
shifts of the coming days with their free places, as Volunteer Planner does. Nothing
names or locates a person: no resident, no contact, no description (where people say who
they are), nothing in a restricted category (psychology), no signup. A task's title and
team are public already (the team's calendar feed).

A fixed number of queries however many communities, wishes and tasks there are: the
communities, their open wishes with grids, their tasks with teams, and the tasks' stored
occurrences in the window; recurring tasks are expanded in memory.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.expressions import Q

from volunteer_hub.clock import local_day_start
from volunteer_hub.hub import Hub
from volunteer_hub.models import Community, Occurrence, Task, Wish, WishStatus
from volunteer_hub.recurrence import expand

DAYS = 7  # a week, from today
NEEDS_SHOWN = 8  # open wishes per community on the home page
MAX_COMMUNITIES = 20
MAX_TASKS = 500  # tasks considered per window (a community has tens)


@dataclass(frozen=True)
class PublicNeed:
    """An open wish as anyone sees it: no person, no place finer than the grid."""

    id: int
    title: str
    category: str
    grid_name: str | None
    waiting_days: int  # whole days since it was posted


@dataclass(frozen=True)
class PublicShift:
    """One upcoming occurrence of a task, with how many places are free."""

    task_id: int
    title: str
    team_name: str | None
    start: datetime  # UTC; shown in the community's zone
    end: datetime
    capacity: int
    places_left: int


@dataclass(frozen=True)
class PublicDay:
    day: date
    shifts: list[PublicShift]


@dataclass(frozen=True)
class PublicCommunity:
    id: int
    name: str
    timezone: str
    needs: list[PublicNeed]
    open_needs: int  # all of them, of which ``needs`` are the newest
    days: list[PublicDay]


async def overview(
    hub: Hub,
    *,
    community_id: int | None = None,
    first_day: date | None = None,
    days: int = DAYS,
    needs_shown: int = NEEDS_SHOWN,
) -> list[PublicCommunity]:
    """Every community (or only ``community_id``; none if it does not exist), by id, with
    its open needs and its shifts from ``first_day`` (default: today there) for ``days``
    days. Shifts that ended, cancelled ones and those of cancelled tasks are left out;
    a full shift stays, with no place left."""
    query = Community.all().order_by("id").limit(MAX_COMMUNITIES)
    if community_id is not None:
        query = Community.filter(id=community_id)
    communities = await query
    if not communities:
        return []
    now = hub.now()
    windows = {}
    for c in communities:
        start_day = first_day or hub.today(c.timezone)
        windows[c.id] = (
            start_day,
            local_day_start(start_day, c.timezone),
            local_day_start(start_day + timedelta(days=days), c.timezone),
        )
    needs = await _open_needs(hub, communities, now)
    shifts = await _shifts(communities, windows, now)
    result = []
    for c in communities:
        start_day = windows[c.id][0]
        by_day: dict[date, list[PublicShift]] = defaultdict(list)
        for shift in shifts.get(c.id, []):
            by_day[_local_day(shift.start, c.timezone)].append(shift)
        result.append(
            PublicCommunity(
                id=c.id,
                name=c.name,
                timezone=c.timezone,
                needs=needs.get(c.id, [])[:needs_shown],
                open_needs=len(needs.get(c.id, [])),
                days=[
                    PublicDay(d, sorted(by_day[d], key=lambda s: (s.start, s.task_id)))
                    for d in (start_day + timedelta(days=i) for i in range(days))
                ],
            )
        )
    return result


def _local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


async def _open_needs(
    hub: Hub, communities: list[Community], now: datetime
) -> dict[int, list[PublicNeed]]:
    """Open wishes in categories anyone may know of, newest first, per community."""
    visible = Q()
    any_category = False
    for c in communities:
        codes = sorted(
            code for code, cat in hub.wish_categories(c.id).items() if not cat.restricted
        )
        if codes:
            visible |= Q(community_id=c.id, category__in=codes)
            any_category = True
    if not any_category:
        return {}
    rows = (
        await Wish.filter(visible, status=WishStatus.OPEN)
        .select_related("grid")
        .order_by("-id")
        .limit(MAX_COMMUNITIES * 200)
    )
    needs: dict[int, list[PublicNeed]] = defaultdict(list)
    for wish in rows:
        needs[wish.community_id].append(
            PublicNeed(
                id=wish.id,
                title=wish.title,
                category=wish.category,
                grid_name=wish.grid.name if wish.grid else None,
                waiting_days=max(0, (now - wish.created_at).days),
            )
        )
    return needs


async def _shifts(
    communities: list[Community],
    windows: dict[int, tuple[date, datetime, datetime]],
    now: datetime,
) -> dict[int, list[PublicShift]]:
    """The occurrences in each community's window that have not ended, with free places."""
    earliest = min(w[1] for w in windows.values())
    latest = max(w[2] for w in windows.values())
    zones = {c.id: c.timezone for c in communities}
    tasks = (
        await Task.filter(
            Q(rrule__isnull=False) | Q(starts_at__gte=earliest - timedelta(days=1)),
            community_id__in=sorted(zones),
            cancelled_at__isnull=True,
            starts_at__lt=latest,
        )
        .select_related("team")
        .order_by("id")
        .limit(MAX_TASKS)
    )
    if not tasks:
        return {}
    stored = {
        (o.task_id, o.start): o
        for o in await Occurrence.filter(
            task_id__in=[t.id for t in tasks], start__gte=earliest, start__lt=latest
        )
    }

    def walk() -> list[tuple[Task, list[tuple[datetime, datetime]]]]:
        return [
            (
                t,
                expand(
                    t.starts_at,
                    t.ends_at - t.starts_at,
                    t.rrule,
                    zones[t.community_id],
                    windows[t.community_id][1],
                    windows[t.community_id][2],
                ),
            )
            for t in tasks
        ]

    shifts: dict[int, list[PublicShift]] = defaultdict(list)
    for task, times in await asyncio.to_thread(walk):
        for start, end in times:
            if end <= now:
                continue
            row = stored.get((task.id, start))
            if row is not None and row.cancelled:
                continue
            capacity = row.capacity if row else task.capacity
            taken = row.taken if row else 0
            shifts[task.community_id].append(
                PublicShift(
                    task_id=task.id,
                    title=task.title,
                    team_name=task.team.name if task.team else None,
                    start=start,
                    end=end,
                    capacity=capacity,
                    places_left=max(0, capacity - taken),
                )
            )
    return shifts
