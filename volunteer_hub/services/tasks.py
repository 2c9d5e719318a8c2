"""Micro-tasks (微事项) and shifts: create, expand, sign up, cancel, check in and out.

Capacity holds under any concurrency because every signup change on an occurrence
starts by writing that occurrence's row (``lock_version + 1``). The write takes the
row lock on PostgreSQL and the database write lock on SQLite *before* anything is
read, so changes to one occurrence run one after the other, in arrival order.

Callers that show a signup or hours get views (``signup_view``, ``service_records``,
``record_view``, ``my_signups`` with the buttons allowed now). Inviting people to a shift is
``services.invitations``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from volunteer_hub import db
from volunteer_hub.clock import as_utc
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from volunteer_hub.hooktypes import SignupFacts
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    Invitation,
    InvitationStatus,
    MembershipStatus,
    Occurrence,
    ServiceRecord,
    Signup,
    SignupStatus,
    Task,
    Team,
    TeamMembership,
)
from volunteer_hub.recurrence import (
    RecurrenceError,
    cached_expansion,
    check_rule,
    expand,
    next_start,
    occurs_at,
)
from volunteer_hub.services import reads
from volunteer_hub.services.access import Actor
from volunteer_hub.services.facts import person_facts
from volunteer_hub.services.people import get_community
from volunteer_hub.services.teams import check_rules
from volunteer_hub.services.uow import UnitOfWork, snapshot, unit_of_work
from volunteer_hub.services.views import ServiceRecordsView, ServiceRecordView, SignupView
from volunteer_hub.validation import Id, Input, Line, Moment, Text, custom_error, parse

# How early a volunteer may check in before the shift starts.
CHECK_IN_EARLY = timedelta(hours=1)
DEFAULT_WINDOW = timedelta(weeks=8)
T = TypeVar("T")
ACTIVE_SIGNUP = (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED, SignupStatus.CHECKED_IN)
# The signups that hold a place (the registration rules' ``confirmed_people``).
HOLDING_PLACE = (SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN)


class TaskIn(Input):
    title: Annotated[Line, Field(min_length=2, max_length=100)]
    description: Annotated[Text, Field(max_length=2000)] = ""
    team_id: Id | None = None
    starts_at: Moment
    ends_at: Moment
    capacity: Annotated[int, Field(ge=1, le=10000)]
    rrule: Annotated[str, Field(max_length=500)] | None = None
    location: Annotated[Line, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> TaskIn:
        if self.ends_at <= self.starts_at:
            raise custom_error("ends_at", "Must be after the start.", field="ends_at")
        if self.ends_at - self.starts_at > timedelta(hours=24):
            raise custom_error("ends_at", "A shift may last at most 24 hours.", field="ends_at")
        return self


class SignupIn(Input):
    occurrence_start: Moment | None = None


# --- tasks ----------------------------------------------------------------------------


async def create_task(hub: Hub, actor: Actor, community_id: int, data: TaskIn | dict) -> Task:
    """Staff, or the leader of the task's team, create a one-off or recurring task."""
    community = await get_community(community_id)
    data = parse(TaskIn, data)
    team = None
    if data.team_id is not None:
        team = await Team.get_or_none(id=data.team_id, community_id=community.id)
        if team is None:
            raise InvalidInput.for_field("team_id", "No such team in this community.")
    is_leader = team is not None and team.leader_id == actor.id
    if not (actor.is_staff(community.id) or is_leader):
        raise PermissionDenied("Only staff and team leaders can create tasks.")
    if data.starts_at <= hub.now():
        raise InvalidInput.for_field("starts_at", "This time is in the past.")
    rule = None
    if data.rrule:
        try:
            rule = await _off_loop(check_rule, data.rrule, data.starts_at, community.timezone)
        except RecurrenceError as exc:
            raise InvalidInput.for_field("rrule", exc.msgid, **exc.params) from None
    async with unit_of_work(hub, actor.id) as uow:
        task = await Task.create(
            created_at=uow.now,
            community_id=community.id,
            team_id=data.team_id,
            title=data.title,
            description=data.description,
            location=data.location,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            capacity=data.capacity,
            rrule=rule,
            created_by_id=actor.id,
        )
        if rule is None:
            await Occurrence.create(
                task_id=task.id, start=task.starts_at, end=task.ends_at, capacity=task.capacity
            )
        await uow.record(
            "task.created",
            task,
            community_id=community.id,
            after=snapshot(task, "title", "team_id", "starts_at", "ends_at", "capacity", "rrule"),
        )
    return task


async def get_task(actor: Actor, task_id: int) -> reads.TaskRow:
    """A task of a community the actor belongs to (others are not found), as plain values."""
    task = await reads.task_with_community(task_id)
    _check_visible(actor, task)
    return task


async def task_view(hub: Hub, actor: Actor, task_id: int) -> tuple[reads.TaskRow, list[dict]]:
    """``get_task`` with its ``occurrences``, for answering a read: plain values from one
    statement, no model objects."""
    start = hub.now()
    end = start + DEFAULT_WINDOW
    task, stored = await reads.task_with_occurrences(task_id, start, end)
    _check_visible(actor, task)
    return task, await _upcoming(task, stored, start, end)


def _check_visible(actor: Actor, task: Task | reads.TaskRow | None) -> None:
    if task is None or not actor.belongs_to(task.community_id):
        raise NotFound("No such task.", code="task_not_found")


async def occurrences(
    hub: Hub,
    task: Task | reads.TaskRow,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict]:
    """The task's upcoming occurrences: a one-off task's only one, or a recurring task's.

    Upcoming means starting from ``start`` (default now); a recurring task's are those
    before ``end`` (default 8 weeks later). Each occurrence is
    ``{start, end, capacity, taken, cancelled}``; those nobody has signed up for yet
    exist only in the rule and show ``taken`` 0.
    """
    start = as_utc(start) if start else hub.now()
    end = as_utc(end) if end else start + DEFAULT_WINDOW
    stored = await reads.occurrences_from(task.id, start, end if task.rrule else None)
    return await _upcoming(task, stored, start, end)


async def _upcoming(
    task: Task | reads.TaskRow,
    stored: list[reads.StoredOccurrence],
    start: datetime,
    end: datetime,
) -> list[dict]:
    """``occurrences`` from the task's stored occurrences in the window; once a task is
    cancelled, every occurrence after the cancellation is too."""
    found = await _expand(task, stored, start, end)
    if task.cancelled_at is not None:
        gone = task.cancelled_at
        return [{**o, "cancelled": o["cancelled"] or o["start"] > gone} for o in found]
    return found


async def _expand(
    task: Task | reads.TaskRow,
    stored: list[reads.StoredOccurrence],
    start: datetime,
    end: datetime,
) -> list[dict]:
    if not task.rrule:  # its one occurrence, however far ahead, until it starts
        return [_occurrence_dict(task, o.start, o.end, o) for o in stored]
    by_start = {o.start: o for o in stored}
    rule = (task.starts_at, task.ends_at - task.starts_at, task.rrule, task.community.timezone)
    found = cached_expansion(*rule, start, end)
    if found is None:
        found = await _off_loop(expand, *rule, start, end)
    return [_occurrence_dict(task, s, e, by_start.get(s)) for s, e in found]


async def _off_loop(function: Callable[..., T], *args: Any) -> T:
    """Walk a rule in a worker thread: each walk is bounded (see recurrence), but may
    still take milliseconds, and a page or feed walks the rules of many tasks."""
    return await asyncio.to_thread(function, *args)


def _occurrence_dict(
    task: Task | reads.TaskRow,
    start: datetime,
    end: datetime,
    row: reads.StoredOccurrence | None,
) -> dict:
    return {
        "start": start,
        "end": end,
        "capacity": row.capacity if row else task.capacity,
        "taken": row.taken if row else 0,
        "cancelled": row.cancelled if row else False,
    }


async def resolve_start(hub: Hub, task: Task | reads.TaskRow, start: datetime | None) -> datetime:
    """The occurrence start (UTC) a signup is for: the given one, or the next upcoming."""
    timezone = task.community.timezone
    if start is None:
        after = hub.now()
        while True:
            start = await _off_loop(next_start, task.starts_at, task.rrule, timezone, after)
            if start is None:
                raise Conflict(
                    "This task has no upcoming occurrence.", code="no_upcoming_occurrence"
                )
            if not await Occurrence.exists(task_id=task.id, start=start, cancelled=True):
                return start
            after = start
    if not await _off_loop(occurs_at, task.starts_at, task.rrule, timezone, start):
        raise InvalidInput.for_field("occurrence_start", "The task has no occurrence at this time.")
    if start <= hub.now():
        raise InvalidInput.for_field("occurrence_start", "This occurrence has already started.")
    return as_utc(start)


async def lock_occurrence(
    task: Task | reads.TaskRow, start: datetime, capacity: int | None = None
) -> Occurrence:
    """Inside a transaction: write the occurrence's row first (making it if need be, with
    ``capacity``, default the task's), then read.

    The first statement is a write, so concurrent signups queue on the row lock
    (PostgreSQL) or the write lock (SQLite) instead of reading stale counts.
    """
    rows = Occurrence.filter(task_id=task.id, start=start)
    if not await rows.update(lock_version=F("lock_version") + 1):
        try:
            async with in_transaction():  # a savepoint: losing the race must not abort us
                await Occurrence.create(
                    task_id=task.id,
                    start=start,
                    end=start + (task.ends_at - task.starts_at),
                    capacity=task.capacity if capacity is None else capacity,
                )
        except IntegrityError:  # a concurrent signup made it first
            await rows.update(lock_version=F("lock_version") + 1)
    return await Occurrence.get(task_id=task.id, start=start)


async def lock_occurrences(
    wanted: Sequence[tuple[Task, datetime, int]],
) -> dict[tuple[int, datetime], Occurrence]:
    """``lock_occurrence`` for many occurrences at once (an accepted roster plan), their
    tasks' rows written first: ``wanted`` is (task, start, capacity) each. Those missing
    are made in one INSERT (one by one if a concurrent change made one of them first),
    then every row is written and read: a few statements whatever their number. Answers
    the occurrences by (task id, start)."""
    wanted_by = {
        (task.id, as_utc(start)): (task, start, capacity) for task, start, capacity in wanted
    }
    if not wanted_by:
        return {}
    starts = [key[1] for key in wanted_by]
    ids, missing = [], dict(wanted_by)
    for chunk in db.chunks(sorted({key[0] for key in wanted_by})):
        for row_id, task_id, start in await Occurrence.filter(
            task_id__in=chunk, start__gte=min(starts), start__lte=max(starts)
        ).values_list("id", "task_id", "start"):
            if missing.pop((task_id, as_utc(start)), None) is not None:
                ids.append(row_id)
    if missing:
        try:
            async with in_transaction():  # a savepoint: losing the race must not abort us
                made = await db.insert_rows(
                    db.table_name(Occurrence),
                    ("task_id", "start", "end", "capacity", "taken", "cancelled", "lock_version"),
                    [
                        (t.id, start, start + (t.ends_at - t.starts_at), capacity, 0, False, 0)
                        for t, start, capacity in missing.values()
                    ],
                    returning=("id",),
                )
            ids += [row["id"] for row in made]
        except IntegrityError:  # a concurrent change made one first: each in turn
            ids += [(await lock_occurrence(*made)).id for made in missing.values()]
    found = {}
    for chunk in db.chunks(sorted(set(ids))):
        await Occurrence.filter(id__in=chunk).update(lock_version=F("lock_version") + 1)
        for occurrence in await Occurrence.filter(id__in=chunk):
            found[occurrence.task_id, as_utc(occurrence.start)] = occurrence
    return found


# --- signups ---------------------------------------------------------------------------


async def sign_up(
    hub: Hub, actor: Actor, task_id: int, data: SignupIn | dict | None = None
) -> Signup:
    """Sign up: ``confirmed`` while places remain, then ``waitlisted`` in arrival order.

    Nothing is written (not even the occurrence's row) when a rule refuses.
    """
    data = parse(SignupIn, data or {})
    task = await get_task(actor, task_id)
    if task.team_id is not None and not await TeamMembership.exists(
        team_id=task.team_id, person_id=actor.id, status=MembershipStatus.ACTIVE
    ):
        raise PermissionDenied("This task is for members of its team.", code="not_team_member")
    if await Task.exists(id=task.id, cancelled_at__isnull=False):
        raise Conflict("This task is cancelled.", code="task_cancelled")
    start = await resolve_start(hub, task, data.occurrence_start)
    existing = await Occurrence.get_or_none(task_id=task.id, start=start)
    if existing is not None and existing.cancelled:
        raise Conflict("This occurrence is cancelled.", code="occurrence_cancelled")
    team = await Team.get(id=task.team_id) if task.team_id else None
    facts = await signup_facts(task, team, start, existing)
    violations = check_rules(
        hub, "vh_check_signup", person=await person_facts(await actor.load_person()), signup=facts
    )
    if violations:
        raise RuleViolation(
            "A registration rule refuses this.", code="registration_refused", details=violations
        )

    async with unit_of_work(hub, actor.id) as uow:
        capacity = await lock_task(task.id)
        occurrence = await lock_occurrence(task, start, capacity)
        if occurrence.cancelled:
            raise Conflict("This occurrence is cancelled.", code="occurrence_cancelled")
        if await Signup.exists(
            occurrence_id=occurrence.id, person_id=actor.id, status__in=ACTIVE_SIGNUP
        ):
            raise Conflict("You have signed up for this already.", code="already_signed_up")
        seated = await Occurrence.filter(id=occurrence.id, taken__lt=F("capacity")).update(
            taken=F("taken") + 1
        )
        status = SignupStatus.CONFIRMED if seated else SignupStatus.WAITLISTED
        signup = await Signup.create(
            occurrence_id=occurrence.id, person_id=actor.id, status=status, created_at=uow.now
        )
        await uow.record(
            f"signup.{status.value}",
            signup,
            community_id=task.community_id,
            after={
                "status": status.value,
                "task_id": task.id,
                "person_id": actor.id,
                "occurrence_start": occurrence.start,
            },
        )
    signup.occurrence = occurrence
    return signup


async def lock_task(task_id: int) -> int:
    """Inside a transaction, before any occurrence: write the task's row (its lock, taken
    first by signups, edits and cancellation alike) and answer its capacity now; 409 when
    the task is cancelled."""
    # One statement: the write (the lock) answers the capacity it kept.
    written = await db.fetch(
        "UPDATE task SET capacity = capacity WHERE id = ? AND cancelled_at IS NULL"
        " RETURNING capacity",
        task_id,
    )
    if not written:
        raise Conflict("This task is cancelled.", code="task_cancelled")
    return written[0]["capacity"]


async def lock(occurrence: Occurrence) -> None:
    """Serialise changes to one occurrence: write its row before reading anything."""
    await Occurrence.filter(id=occurrence.id).update(lock_version=F("lock_version") + 1)


async def fill_place(
    uow: UnitOfWork, occurrence: Occurrence, task: Task, *, free: bool = True
) -> Signup | None:
    """Inside ``uow``, the occurrence locked: a place opened (``free``: a confirmed
    volunteer left; else the capacity grew). The first on the waiting list is promoted
    (and returned); if nobody waits, a freed place is no longer taken."""
    promoted = (
        await Signup.filter(occurrence_id=occurrence.id, status=SignupStatus.WAITLISTED)
        .order_by("id")
        .first()
    )
    if promoted is None:
        if free:
            await Occurrence.filter(id=occurrence.id).update(taken=F("taken") - 1)
        return None
    await Signup.filter(id=promoted.id).update(status=SignupStatus.CONFIRMED, promoted_at=uow.now)
    if not free:
        await Occurrence.filter(id=occurrence.id).update(taken=F("taken") + 1)
    promoted.status = SignupStatus.CONFIRMED
    await uow.record(
        "signup.promoted",
        promoted,
        community_id=task.community_id,
        before={"status": "waitlisted"},
        after={
            "status": "confirmed",
            "task_id": task.id,
            "person_id": promoted.person_id,
            "occurrence_start": occurrence.start,
        },
    )
    return promoted


async def get_signup(actor: Actor, signup_id: int) -> Signup:
    signup = await Signup.get_or_none(id=signup_id).select_related(
        "occurrence", "occurrence__task", "occurrence__task__community"
    )
    if signup is None:
        raise NotFound("No such signup.", code="signup_not_found")
    task = signup.occurrence.task
    if signup.person_id != actor.id and not actor.is_staff(task.community_id):
        leads = task.team_id is not None and await Team.exists(id=task.team_id, leader_id=actor.id)
        if not (leads and actor.belongs_to(task.community_id)):
            raise NotFound("No such signup.", code="signup_not_found")
    return signup


async def cancel_signup(hub: Hub, actor: Actor, signup_id: int) -> Signup | None:
    """Cancel a signup; if it held a place, the first on the waiting list is promoted.

    Returns the promoted signup, if any.
    """
    signup = await get_signup(actor, signup_id)
    occurrence = signup.occurrence
    task = occurrence.task
    promoted = None
    async with unit_of_work(hub, actor.id) as uow:
        await lock(occurrence)
        current = await Signup.get(id=signup.id)
        if not _may_cancel(current.status):
            raise Conflict(
                "This signup is {status} and cannot be cancelled.",
                code="invalid_state",
                status=current.status.value,
            )
        await Signup.filter(id=signup.id).update(
            status=SignupStatus.CANCELLED, cancelled_at=uow.now
        )
        await uow.record(
            "signup.cancelled",
            signup,
            community_id=task.community_id,
            before={"status": current.status.value},
            after={"status": "cancelled"},
        )
        if current.status is SignupStatus.CONFIRMED:
            promoted = await fill_place(uow, occurrence, task)
    signup.status = SignupStatus.CANCELLED
    return promoted


async def release_places(uow: UnitOfWork, person_id: int) -> int:
    """Inside ``uow``: cancel every place ``person_id`` holds on a shift still ahead
    (confirmed or waiting; ``signup.cancelled`` with the reason ``deactivated``); a
    confirmed place goes to the first on the waiting list. Locks as a signup does: the
    task's row, then the occurrence's. Returns how many places were cancelled."""
    held = (
        await Signup.filter(
            person_id=person_id,
            status__in=(SignupStatus.CONFIRMED, SignupStatus.WAITLISTED),
            occurrence__start__gt=uow.now,
            occurrence__cancelled=False,
            occurrence__task__cancelled_at__isnull=True,
        )
        .select_related("occurrence", "occurrence__task")
        .order_by("occurrence__task_id", "occurrence_id")
    )
    for signup in held:
        occurrence, task = signup.occurrence, signup.occurrence.task
        await lock_task(task.id)
        await lock(occurrence)
        current = await Signup.get(id=signup.id)
        if current.status not in (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED):
            continue
        await Signup.filter(id=signup.id).update(
            status=SignupStatus.CANCELLED, cancelled_at=uow.now
        )
        await uow.record(
            "signup.cancelled",
            signup,
            community_id=task.community_id,
            before={"status": current.status.value},
            after={"status": "cancelled", "reason": "deactivated"},
            data={"status": "cancelled", "reason": "deactivated", "task_id": task.id},
        )
        if current.status is SignupStatus.CONFIRMED:
            await fill_place(uow, occurrence, task)
    return len(held)


def _may_cancel(status: SignupStatus) -> bool:
    """A signup may be cancelled while it waits for its shift (not once checked in)."""
    return status in (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)


def check_in_open(start: datetime, end: datetime, now: datetime) -> bool:
    """Check-in is open from ``CHECK_IN_EARLY`` before the start until the end."""
    return start - CHECK_IN_EARLY <= now <= end


_check_in_open = check_in_open


async def signup_view(actor: Actor, signup_id: int) -> SignupView:
    """A signup (the actor's, or any for staff) as they see it."""
    signup = await get_signup(actor, signup_id)
    occurrence = signup.occurrence
    return SignupView(
        id=signup.id,
        status=signup.status,
        occurrence_start=occurrence.start,
        task_id=occurrence.task_id,
        person_id=signup.person_id,
        timezone=occurrence.task.community.timezone,
    )


async def check_in(hub: Hub, actor: Actor, signup_id: int) -> Signup:
    signup = await get_signup(actor, signup_id)
    occurrence = signup.occurrence
    now = hub.now()
    if not _check_in_open(occurrence.start, occurrence.end, now):
        raise Conflict(
            "Check-in is open from an hour before the start until the end.",
            code="outside_check_in_window",
        )
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            signup,
            SignupStatus.CONFIRMED,
            SignupStatus.CHECKED_IN,
            Conflict("Only a confirmed signup can check in.", code="invalid_state"),
            checked_in_at=uow.now,
        )
        await uow.record(
            "signup.checked_in",
            signup,
            community_id=occurrence.task.community_id,
            before={"status": "confirmed"},
            after={"status": "checked_in"},
        )
    await signup.refresh_from_db()
    return signup


async def check_out(hub: Hub, actor: Actor, signup_id: int) -> ServiceRecord:
    """Check out and record the hours served: the checked-in time within the shift."""
    signup = await get_signup(actor, signup_id)
    occurrence = signup.occurrence
    task = occurrence.task
    now = hub.now()
    not_checked_in = Conflict("Only a checked-in signup can check out.", code="invalid_state")
    if signup.status is not SignupStatus.CHECKED_IN:
        raise not_checked_in
    started = max(signup.checked_in_at, occurrence.start)
    ended = min(now, occurrence.end)
    seconds = max(0.0, (ended - started).total_seconds())
    hours = (Decimal(seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            signup,
            SignupStatus.CHECKED_IN,
            SignupStatus.COMPLETED,
            not_checked_in,
            checked_out_at=uow.now,
        )
        record = await ServiceRecord.create(
            created_at=uow.now,
            person_id=signup.person_id,
            community_id=task.community_id,
            team_id=task.team_id,
            signup_id=signup.id,
            description=task.title,
            started_at=started,
            ended_at=max(started, ended),
            hours=hours,
        )
        await uow.record(
            "signup.checked_out",
            signup,
            community_id=task.community_id,
            before={"status": "checked_in"},
            after={"status": "completed", "hours": str(hours), "service_record_id": record.id},
        )
    return record


async def service_records(actor: Actor, *, limit: int = 200) -> ServiceRecordsView:
    """The actor's own service records and their total hours, in the time zone of the
    actor's community (Asia/Shanghai for someone of none)."""
    total = await ServiceRecord.filter(person_id=actor.id).annotate(t=Sum("hours")).values("t")
    items = await ServiceRecord.filter(person_id=actor.id).order_by("-started_at").limit(limit)
    timezone = "Asia/Shanghai"
    if actor.community_id:
        timezone = (await get_community(actor.community_id)).timezone
    return ServiceRecordsView(
        total_hours=Decimal(total[0]["t"] or 0) if total else Decimal(0),
        items=[_record_view(r, timezone) for r in items],
    )


async def record_view(record: ServiceRecord) -> ServiceRecordView:
    """A service record as its person sees it, in its community's time zone."""
    return _record_view(record, (await get_community(record.community_id)).timezone)


def _record_view(record: ServiceRecord, timezone: str) -> ServiceRecordView:
    return ServiceRecordView(
        id=record.id,
        description=record.description,
        started_at=record.started_at,
        ended_at=record.ended_at,
        hours=record.hours,
        team_id=record.team_id,
        wish_id=record.wish_id,
        signup_id=record.signup_id,
        timezone=timezone,
    )


# --- cancelling an occurrence ------------------------------------------------------------


class OccurrenceCancelIn(Input):
    start: Moment


async def cancel_places(uow: UnitOfWork, task: Task, occurrence: Occurrence, reason: str) -> int:
    """Cancel a locked occurrence and every place on it (confirmed, checked in or waiting),
    each audited as ``signup.cancelled`` with ``reason`` so the volunteer is told; its
    pending invitations are withdrawn (``invitation.withdrawn`` with ``reason``: no answer
    is needed). Returns how many places were cancelled."""
    await _withdraw_invitations(uow, task, occurrence, reason)
    signups = await Signup.filter(occurrence_id=occurrence.id, status__in=ACTIVE_SIGNUP).order_by(
        "id"
    )
    await Occurrence.filter(id=occurrence.id).update(cancelled=True, taken=0)
    for signup in signups:
        await Signup.filter(id=signup.id).update(
            status=SignupStatus.CANCELLED, cancelled_at=uow.now
        )
        await uow.record(
            "signup.cancelled",
            signup,
            community_id=task.community_id,
            before={"status": signup.status.value},
            after={"status": "cancelled", "reason": reason},
            data={
                "status": "cancelled",
                "reason": reason,
                "task_id": task.id,
                "person_id": signup.person_id,
                "occurrence_start": occurrence.start,
            },
        )
    return len(signups)


async def _withdraw_invitations(
    uow: UnitOfWork, task: Task, occurrence: Occurrence, reason: str
) -> None:
    # One conditional UPDATE each, as for a wish's (wishes.close_invitations): an accept
    # racing the cancellation waits on the occurrence's lock and then finds it cancelled.
    pending = await Invitation.filter(
        occurrence_id=occurrence.id, status=InvitationStatus.PENDING
    ).order_by("id")
    for invitation in pending:
        if await Invitation.filter(id=invitation.id, status=InvitationStatus.PENDING).update(
            status=InvitationStatus.WITHDRAWN, answered_at=uow.now
        ):
            await uow.record(
                "invitation.withdrawn",
                invitation,
                community_id=task.community_id,
                after={
                    "status": InvitationStatus.WITHDRAWN.value,
                    "occurrence_id": occurrence.id,
                    "task_id": task.id,
                    "person_id": invitation.person_id,
                    "reason": reason,
                },
            )


async def cancel_occurrence(hub: Hub, actor: Actor, task_id: int, start: datetime) -> Occurrence:
    """Staff, or the leader of the task's team, cancel one occurrence of a task.

    The occurrence's row is written first (made if nobody had signed up yet), marked
    cancelled with no places taken, and every active signup to it is cancelled, each with
    its own audit entry and event, so volunteers hear of it and their calendars drop it.
    """
    task = await get_task(actor, task_id)
    team = await Team.get_or_none(id=task.team_id) if task.team_id is not None else None
    is_leader = team is not None and team.leader_id == actor.id
    if not (actor.is_staff(task.community_id) or is_leader):
        raise PermissionDenied("Only staff and team leaders can cancel an occurrence.")
    try:
        start = as_utc(parse(OccurrenceCancelIn, {"start": start}).start)
    except OverflowError:  # beyond what UTC holds (year 1 at +14:00): no occurrence then
        raise InvalidInput.for_field("start", "The task has no occurrence at this time.") from None
    if not await _off_loop(occurs_at, task.starts_at, task.rrule, task.community.timezone, start):
        raise InvalidInput.for_field("start", "The task has no occurrence at this time.")
    if start <= hub.now():
        raise InvalidInput.for_field("start", "This occurrence has already started.")
    async with unit_of_work(hub, actor.id) as uow:
        occurrence = await lock_occurrence(task, start)
        if occurrence.cancelled:
            raise Conflict("This occurrence is cancelled.", code="occurrence_cancelled")
        taken_before = occurrence.taken
        cancelled = await cancel_places(uow, task, occurrence, "occurrence_cancelled")
        await occurrence.refresh_from_db()
        await uow.record(
            "occurrence.cancelled",
            occurrence,
            community_id=task.community_id,
            before={"cancelled": False, "taken": taken_before},
            after={
                "task_id": task.id,
                "start": occurrence.start,
                "cancelled": True,
                "signups_cancelled": cancelled,
            },
        )
    return occurrence


async def signup_facts(
    task: Task, team: Team | None, start: datetime, existing: Occurrence | None
) -> SignupFacts:
    """What the registration rules see of a signup to the occurrence at ``start``."""
    confirmed: list[int] = []
    if existing is not None:
        confirmed = await Signup.filter(
            occurrence_id=existing.id, status__in=HOLDING_PLACE
        ).values_list("person_id", flat=True)
    return signup_facts_with(task, team, start, existing, confirmed)


def signup_facts_with(
    task: Task,
    team: Team | None,
    start: datetime,
    existing: Occurrence | None,
    confirmed: list[int],
) -> SignupFacts:
    """``signup_facts`` with the people holding a place on the occurrence read already
    (``HOLDING_PLACE``: many occurrences read at once)."""
    zone = ZoneInfo(task.community.timezone)
    return SignupFacts(
        task_id=task.id,
        task_title=task.title,
        team_id=task.team_id,
        team_kind=team.kind if team is not None else None,
        community_id=task.community_id,
        local_start=start.astimezone(zone),
        local_end=(start + (task.ends_at - task.starts_at)).astimezone(zone),
        capacity=existing.capacity if existing else task.capacity,
        confirmed_people=tuple(confirmed),
    )


# --- what a volunteer sees: the task board and their own signups ----------------------------


@dataclass(frozen=True)
class TaskOverview:
    """A task and its next occurrences (``open_occurrences`` items)."""

    task: Task
    occurrences: list[dict]


@dataclass(frozen=True)
class MySignup:
    """One of a person's signups with its task; ``waitlist_position`` while waiting (1 = next)."""

    id: int
    status: SignupStatus
    task: Task
    start: datetime
    end: datetime
    waitlist_position: int | None
    # The buttons to offer now; the services check again when one is pressed.
    may_cancel: bool
    may_check_in: bool
    may_check_out: bool


async def open_occurrences(hub: Hub, task: Task | reads.TaskRow) -> list[dict]:
    """The task's upcoming occurrences (see ``occurrences``) without the cancelled ones, each
    also with ``places_left`` and ``waitlisted`` (how many are on its waiting list)."""
    now = hub.now()
    waiting = Counter(
        s.occurrence.start
        for s in await Signup.filter(
            occurrence__task_id=task.id,
            occurrence__start__gte=now,
            status=SignupStatus.WAITLISTED,
        ).select_related("occurrence")
    )
    return [
        {**o, "places_left": max(0, o["capacity"] - o["taken"]), "waitlisted": waiting[o["start"]]}
        for o in await occurrences(hub, task, start=now)
        if not o["cancelled"]
    ]


async def task_board(
    hub: Hub,
    actor: Actor,
    community_id: int,
    *,
    places_left_only: bool = True,
    shown: int = 3,
    limit: int = 200,
) -> list[TaskOverview]:
    """The community's tasks with an upcoming occurrence (in the next 8 weeks for a recurring
    one), soonest first, each with its next ``shown`` occurrences. ``places_left_only`` keeps
    the tasks with a place left in at least one of their upcoming occurrences."""
    if not actor.belongs_to(community_id):
        raise PermissionDenied("You can only see tasks of your own community.")
    rows = await (
        Task.filter(community_id=community_id, cancelled_at__isnull=True)
        .filter(Q(rrule__isnull=False) | Q(starts_at__gte=hub.now()))
        .select_related("community", "team")
        .order_by("-id")
        .limit(limit)
    )
    board = []
    for task in rows:
        upcoming = await open_occurrences(hub, task)
        if not upcoming or (places_left_only and not any(o["places_left"] for o in upcoming)):
            continue
        board.append(TaskOverview(task, upcoming[:shown]))
    board.sort(key=lambda item: (item.occurrences[0]["start"], item.task.id))
    return board


async def my_signups(hub: Hub, actor: Actor, *, task_id: int | None = None) -> list[MySignup]:
    """The actor's signups still ahead, soonest first: confirmed or waitlisted for an
    occurrence that has not ended, and checked in (until they check out)."""
    query = Signup.filter(person_id=actor.id).filter(
        Q(
            status__in=[SignupStatus.CONFIRMED, SignupStatus.WAITLISTED],
            occurrence__end__gt=hub.now(),
        )
        | Q(status=SignupStatus.CHECKED_IN)
    )
    if task_id is not None:
        query = query.filter(occurrence__task_id=task_id)
    signups = await query.select_related(
        "occurrence", "occurrence__task", "occurrence__task__community"
    )
    waiting = [s.occurrence_id for s in signups if s.status is SignupStatus.WAITLISTED]
    queues: dict[int, list[int]] = {}  # each waiting list in arrival (id) order, in one query
    if waiting:
        for occurrence_id, signup_id in (
            await Signup.filter(
                occurrence_id__in=sorted(set(waiting)), status=SignupStatus.WAITLISTED
            )
            .order_by("id")
            .values_list("occurrence_id", "id")
        ):
            queues.setdefault(occurrence_id, []).append(signup_id)
    now = hub.now()
    mine = []
    for signup in sorted(signups, key=lambda s: (s.occurrence.start, s.id)):
        position = None
        if signup.status is SignupStatus.WAITLISTED:
            position = queues[signup.occurrence_id].index(signup.id) + 1
        o = signup.occurrence
        mine.append(
            MySignup(
                signup.id,
                signup.status,
                o.task,
                o.start,
                o.end,
                position,
                may_cancel=_may_cancel(signup.status),
                may_check_in=signup.status is SignupStatus.CONFIRMED
                and _check_in_open(o.start, o.end, now),
                may_check_out=signup.status is SignupStatus.CHECKED_IN,
            )
        )
    return mine
