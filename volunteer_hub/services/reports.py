"""The staff console's lists and numbers: what waits for review, what is escalated or
overdue, the wish funnel, hours per team and month, and the workload across volunteers.

For staff of the community only (an admin acts as staff of every community). Every
number is a SQL aggregate (COUNT / SUM with CASE filters, GROUP BY), so a dashboard costs
a handful of queries however many rows there are. Months are the community's own: they
start at local midnight in its time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum

from volunteer_hub.clock import local_day_start, local_month_start
from volunteer_hub.errors import PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Role,
    RoleAssignment,
    ServiceRecord,
    Signup,
    SignupStatus,
    Team,
    Wish,
    WishStatus,
)
from volunteer_hub.services import referrals
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.views import ReferralRow, StaffWish
from volunteer_hub.services.wishes import ACTIVE_STATUSES, ESCALATION_ORDER

#: The stages a wish passes, in order, and the ways out of them.
FUNNEL_STAGES = ("submitted", "open", "claimed", "fulfilled", "confirmed")
FUNNEL_EXITS = ("rejected", "cancelled", "expired")
# The audit action that marks a wish reaching each stage (the trace feeds the report).
_STAGE_ACTIONS = {
    "wish.posted": "submitted",
    "wish.approved": "open",
    "wish.claimed": "claimed",
    "wish.fulfilled": "fulfilled",
    "wish.confirmed": "confirmed",
    "wish.rejected": "rejected",
    "wish.cancelled": "cancelled",
    "wish.expired": "expired",
}
_CENT = Decimal("0.01")


async def _staff_community(actor: Actor, community_id: int) -> Community:
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    return await get_community(community_id)


def _hours(value: object) -> Decimal:
    """A SUM of hours as Decimal to the cent (SQLite answers floats, PostgreSQL Decimals)."""
    return Decimal(str(value or 0)).quantize(_CENT)


# --- the console's index, the review queue and the escalation board ----------------------


def higher_levels(wish: Wish) -> tuple[str, ...]:
    """The levels a wish may still be raised to (none once it is closed)."""
    if wish.status not in ACTIVE_STATUSES:
        return ()
    order = [level.value for level in ESCALATION_ORDER]
    current = order.index(wish.escalation.value) if wish.escalation else -1
    return tuple(order[current + 1 :])


def staff_wish(
    wish: Wish, holders: tuple[ReferralRow, ...] = (), claimer_name: str | None = None
) -> StaffWish:
    """The console's view of a wish loaded with its resident and poster (and, for the
    board, its claimer's name and the contacts referred at its current level)."""
    return StaffWish(
        id=wish.id,
        community_id=wish.community_id,
        title=wish.title,
        description=wish.description,
        category=wish.category,
        status=wish.status,
        escalation=wish.escalation,
        escalated_at=wish.escalated_at,
        referral=wish.referral,
        needed_by=wish.needed_by,
        created_at=wish.created_at,
        resident_name=wish.resident.name,
        typed_in_by=None if wish.posted_by_id == wish.resident_id else wish.posted_by.name,
        levels=higher_levels(wish),
        urgent=wish.urgent,
        claimer_name=claimer_name,
        window_start=wish.window_start,
        window_end=wish.window_end,
        holders=holders,
    )


@dataclass(frozen=True)
class Overview:
    to_review: int
    open: int
    claimed: int
    overdue: int  # still active after the day it was needed by
    escalated: dict[str, int]  # level → active wishes at that level


async def overview(hub: Hub, actor: Actor, community_id: int) -> Overview:
    """What needs the staff's attention now, counted in one query."""
    community = await _staff_community(actor, community_id)
    active = Q(status__in=list(ACTIVE_STATUSES))
    counts = {
        "to_review": Count("id", _filter=Q(status=WishStatus.SUBMITTED)),
        "open_count": Count("id", _filter=Q(status=WishStatus.OPEN)),
        "claimed": Count("id", _filter=Q(status=WishStatus.CLAIMED)),
        "overdue": Count("id", _filter=active & Q(needed_by__lt=hub.today(community.timezone))),
        **{
            f"level_{level.value}": Count("id", _filter=active & Q(escalation=level))
            for level in ESCALATION_ORDER
        },
    }
    rows = await Wish.filter(community_id=community.id).annotate(**counts).values(*counts)
    row = {key: int(value or 0) for key, value in (rows[0] if rows else {}).items()}
    return Overview(
        to_review=row.get("to_review", 0),
        open=row.get("open_count", 0),
        claimed=row.get("claimed", 0),
        overdue=row.get("overdue", 0),
        escalated={lv.value: row.get(f"level_{lv.value}", 0) for lv in ESCALATION_ORDER},
    )


async def review_queue(
    hub: Hub, actor: Actor, community_id: int, *, limit: int = 100
) -> list[StaffWish]:
    """Submitted wishes, oldest first, in one query."""
    community = await _staff_community(actor, community_id)
    rows = (
        await Wish.filter(community_id=community.id, status=WishStatus.SUBMITTED)
        .select_related("resident", "posted_by")
        .order_by("id")
        .limit(limit)
    )
    return [staff_wish(w) for w in rows]


@dataclass(frozen=True)
class Board:
    today: date  # in the community's zone: a wish needed before it is overdue
    columns: dict[str, list[StaffWish]]  # blue, yellow, red: active wishes at that level
    overdue: list[StaffWish]  # active, past the day needed, not escalated yet
    now: datetime | None = None  # when it was read: the ages are counted to it

    def age(self, wish: StaffWish, locale: str) -> str:
        """How long since it was posted, in words ("3天", "5 hours")."""
        return referrals.age_in_words((self.now or wish.created_at) - wish.created_at, locale)

    def waiting(self, wish: StaffWish, locale: str) -> str | None:
        """How long since it reached its level, in words; None if not escalated."""
        if wish.escalated_at is None:
            return None
        return referrals.age_in_words((self.now or wish.escalated_at) - wish.escalated_at, locale)

    @property
    def wishes(self) -> list[StaffWish]:
        return [*self.overdue, *(w for column in self.columns.values() for w in column)]

    def is_overdue(self, wish: StaffWish) -> bool:
        return wish.needed_by is not None and wish.needed_by < self.today


async def escalation_board(hub: Hub, actor: Actor, community_id: int, *, limit: int = 500) -> Board:
    """Active wishes that were escalated (by level; urgent first, then longest waiting) or
    are overdue, each with who holds it: its claimer, and the responsible contacts referred
    at its level and whether they acknowledged (one more query for them all)."""
    community = await _staff_community(actor, community_id)
    today = hub.today(community.timezone)
    found = (
        await Wish.filter(community_id=community.id, status__in=list(ACTIVE_STATUSES))
        .filter(Q(escalation__isnull=False) | Q(needed_by__lt=today))
        .select_related("resident", "posted_by", "claimer")
        .order_by("-urgent", "escalated_at", "needed_by", "id")
        .limit(limit)
    )
    holders = await referrals.current_holders(found)
    columns: dict[str, list[StaffWish]] = {level.value: [] for level in ESCALATION_ORDER}
    overdue = []
    for row in found:
        claimer = row.claimer.name if row.claimer_id is not None else None
        wish = staff_wish(row, tuple(holders.get(row.id, ())), claimer)
        if wish.escalation is None:
            overdue.append(wish)
        else:
            columns[wish.escalation.value].append(wish)
    return Board(today=today, columns=columns, overdue=overdue, now=hub.now())


# --- dashboards -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    since: datetime
    stages: list[tuple[str, int]]  # FUNNEL_STAGES: wishes that reached each stage
    exits: list[tuple[str, int]]  # FUNNEL_EXITS: wishes that left that way

    @property
    def posted(self) -> int:
        return self.stages[0][1]


async def wish_funnel(hub: Hub, actor: Actor, community_id: int, *, since: datetime) -> Funnel:
    """Of the wishes posted since ``since``: how many reached each stage, and how many left.

    Read from the audit trail, so a wish cancelled after it was claimed still counts as
    claimed: each stage counts the distinct wishes with that transition.
    """
    community = await _staff_community(actor, community_id)
    posted = Wish.filter(community_id=community.id, created_at__gte=since).values("id")
    rows = (
        await AuditEntry.filter(
            community_id=community.id,
            entity_type="wish",
            action__in=list(_STAGE_ACTIONS),
            entity_id__in=Subquery(posted),
        )
        .group_by("action")
        .annotate(wishes=Count("entity_id", distinct=True))
        .values_list("action", "wishes")
    )
    counts = {_STAGE_ACTIONS[action]: int(n) for action, n in rows}
    return Funnel(
        since=since,
        stages=[(stage, counts.get(stage, 0)) for stage in FUNNEL_STAGES],
        exits=[(way, counts.get(way, 0)) for way in FUNNEL_EXITS],
    )


@dataclass(frozen=True)
class TeamHours:
    team_id: int | None  # None: hours served outside any team (wishes)
    name: str | None
    by_month: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return sum(self.by_month, Decimal(0))


@dataclass(frozen=True)
class HoursByMonth:
    months: tuple[date, ...]  # the first day of each month, oldest first
    teams: list[TeamHours]  # every team of the community, then hours outside teams if any

    @property
    def since(self) -> date:
        return self.months[0]

    @property
    def top(self) -> Decimal:
        return max((h for t in self.teams for h in t.by_month), default=Decimal(0))


def month_starts(today: date, count: int) -> tuple[date, ...]:
    """The first days of the ``count`` months up to and including ``today``'s, oldest first."""
    index = today.year * 12 + today.month - 1
    return tuple(date(i // 12, i % 12 + 1, 1) for i in range(index - count + 1, index + 1))


async def hours_by_team(
    hub: Hub, actor: Actor, community_id: int, *, months: int = 6
) -> HoursByMonth:
    """Verified hours per team per month (the current month and the ``months - 1`` before)."""
    community = await _staff_community(actor, community_id)
    firsts = month_starts(hub.today(community.timezone), months)
    last = firsts[-1]
    following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    bounds = [local_day_start(d, community.timezone) for d in (*firsts, following)]
    sums = {
        f"m{i}": Sum("hours", _filter=Q(started_at__gte=bounds[i], started_at__lt=bounds[i + 1]))
        for i in range(months)
    }
    rows = (
        await ServiceRecord.filter(
            community_id=community.id, started_at__gte=bounds[0], started_at__lt=bounds[-1]
        )
        .group_by("team_id")
        .annotate(**sums)
        .values("team_id", *sums)
    )
    by_team = {row["team_id"]: tuple(_hours(row[f"m{i}"]) for i in range(months)) for row in rows}
    zero = tuple(Decimal(0).quantize(_CENT) for _ in range(months))
    teams = [
        TeamHours(team_id, name, by_team.get(team_id, zero))
        for team_id, name in await Team.filter(community_id=community.id)
        .order_by("id")
        .values_list("id", "name")
    ]
    if None in by_team:
        teams.append(TeamHours(None, None, by_team[None]))
    return HoursByMonth(months=firsts, teams=teams)


@dataclass(frozen=True)
class Load:
    person_id: int
    name: str
    hours: Decimal  # verified hours this month
    open_claims: int  # wishes claimed and not yet done
    upcoming_shifts: int  # confirmed signups for shifts that have not started

    @property
    def idle(self) -> bool:
        return not (self.hours or self.open_claims or self.upcoming_shifts)


@dataclass(frozen=True)
class Workload:
    month: date  # the first day of the current month
    volunteers: list[Load]  # busiest first

    @property
    def busy(self) -> list[Load]:
        return [v for v in self.volunteers if not v.idle]

    @property
    def idle(self) -> list[Load]:
        return [v for v in self.volunteers if v.idle]


async def workload(hub: Hub, actor: Actor, community_id: int) -> Workload:
    """Each volunteer's hours this month, open claims and upcoming shifts, busiest first."""
    community = await _staff_community(actor, community_id)
    now = hub.now()
    month_start = local_month_start(now, community.timezone)
    people = dict(
        await RoleAssignment.filter(community_id=community.id, role=Role.VOLUNTEER)
        .order_by("person_id")
        .values_list("person_id", "person__name")
    )
    hours = dict(
        await ServiceRecord.filter(community_id=community.id, started_at__gte=month_start)
        .group_by("person_id")
        .annotate(total=Sum("hours"))
        .values_list("person_id", "total")
    )
    claims = dict(
        await Wish.filter(community_id=community.id, status=WishStatus.CLAIMED)
        .group_by("claimer_id")
        .annotate(n=Count("id"))
        .values_list("claimer_id", "n")
    )
    shifts = dict(
        await Signup.filter(
            status=SignupStatus.CONFIRMED,
            occurrence__task__community_id=community.id,
            occurrence__start__gt=now,
            occurrence__cancelled=False,
        )
        .group_by("person_id")
        .annotate(n=Count("id"))
        .values_list("person_id", "n")
    )
    loads = [
        Load(pid, name, _hours(hours.get(pid)), int(claims.get(pid, 0)), int(shifts.get(pid, 0)))
        for pid, name in people.items()
    ]
    loads.sort(key=lambda v: (-v.hours, -v.open_claims, -v.upcoming_shifts, v.name, v.person_id))
    return Workload(month=hub.today(community.timezone).replace(day=1), volunteers=loads)
