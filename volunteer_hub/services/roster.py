"""The roster of a task, for staff of its community and the leader of its team.

A task's roster shows one occurrence at a time: the confirmed volunteers (with their
attendance) and the waiting list in order. From it staff and the team's leader check
volunteers in and out (also by the check-in code a volunteer shows on their schedule),
mark a no-show or excuse one with a note, message everyone on the shift, edit the task
and cancel the task or one occurrence.

Locks, in one order so that no two changes wait on each other: the task's row first
(editing or cancelling the task, and every signup since it may add an occurrence), then
occurrence rows in start order (see ``services.tasks``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field
from tortoise.expressions import Subquery

from volunteer_hub.clock import as_utc
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import AuditEntry, Occurrence, Person, Signup, SignupStatus, Task, Team
from volunteer_hub.services import no_shows, tasks
from volunteer_hub.services.access import Actor
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.validation import Input, Line, Moment, Text, mask_phone, parse

# How far back the occurrence picker goes (attendance is marked after a shift).
PAST_SHOWN = timedelta(days=14)
# The statuses of a signup that holds (or held) a place, shown as the roster's people.
PLACED = (
    SignupStatus.CONFIRMED,
    SignupStatus.CHECKED_IN,
    SignupStatus.COMPLETED,
    SignupStatus.NO_SHOW,
    SignupStatus.EXCUSED,
)
CODE_LETTERS = 8


def shift_key(moment: datetime) -> str:
    """An occurrence's start as it travels in a link or a form: UTC, e.g. 20261208T110000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def shift_path(task_id: int, start: datetime) -> str:
    """The roster page of one occurrence (for staff and the team's leader)."""
    return f"/staff/tasks/{task_id}/roster?start={shift_key(start)}"


# --- who manages a task ----------------------------------------------------------------------


async def _managed_task(actor: Actor, task_id: int) -> Task:
    """The task, if the actor is staff of its community or the leader of its team.

    Not found for those outside the community; 403 for its other members.
    """
    task = await Task.get_or_none(id=task_id).select_related("community", "team")
    if task is None or not actor.belongs_to(task.community_id):
        raise NotFound("No such task.", code="task_not_found")
    if not _manages(actor, task):
        raise PermissionDenied("Only staff and the team's leader manage this task.")
    return task


def _manages(actor: Actor, task: Task) -> bool:
    return actor.is_staff(task.community_id) or (
        task.team is not None and task.team.leader_id == actor.id
    )


async def _managed_signup(actor: Actor, signup_id: int) -> Signup:
    signup = await Signup.get_or_none(id=signup_id).select_related(
        "person", "occurrence", "occurrence__task", "occurrence__task__community"
    )
    if signup is None:
        raise NotFound("No such signup.", code="signup_not_found")
    task = signup.occurrence.task
    if not actor.belongs_to(task.community_id):
        raise NotFound("No such signup.", code="signup_not_found")
    team = await Team.get_or_none(id=task.team_id) if task.team_id else None
    if not (actor.is_staff(task.community_id) or (team is not None and team.leader_id == actor.id)):
        if signup.person_id == actor.id:
            raise PermissionDenied("Only staff and the team's leader record attendance.")
        raise NotFound("No such signup.", code="signup_not_found")
    return signup


# --- views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSummary:
    id: int
    community_id: int
    title: str
    description: str
    location: str | None
    team_id: int | None
    team_name: str | None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    recurring: bool
    cancelled_at: datetime | None
    cancel_reason: str | None
    timezone: str


@dataclass(frozen=True)
class Shift:
    """One occurrence as the roster shows it; ``waitlisted``: how many wait for a place."""

    start: datetime
    end: datetime
    capacity: int
    taken: int
    cancelled: bool
    waitlisted: int = 0

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class RosterEntry:
    """A volunteer on the roster. ``phone`` in full only for staff, else masked."""

    signup_id: int
    person_id: int
    name: str
    phone: str
    status: SignupStatus
    position: int | None  # on the waiting list, 1 = next
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    note: str | None
    may_check_in: bool
    may_check_out: bool
    may_mark_no_show: bool
    may_excuse: bool


@dataclass(frozen=True)
class Roster:
    task: TaskSummary
    shifts: list[Shift]  # to pick from: the last two weeks' and the upcoming ones
    shift: Shift | None  # the one shown
    placed: list[RosterEntry]
    waiting: list[RosterEntry]
    is_staff: bool
    may_message: bool
    may_cancel_shift: bool
    # Dispatch found nobody left to invite for a freed place, and places are still free.
    nobody_left: bool = False


@dataclass(frozen=True)
class TaskLine:
    """A line of the staff task list: the task and its next shift (None: none ahead)."""

    task: TaskSummary
    next_shift: Shift | None
    upcoming: int


def _summary(task: Task) -> TaskSummary:
    return TaskSummary(
        id=task.id,
        community_id=task.community_id,
        title=task.title,
        description=task.description,
        location=task.location,
        team_id=task.team_id,
        team_name=task.team.name if task.team else None,
        starts_at=task.starts_at,
        ends_at=task.ends_at,
        capacity=task.capacity,
        recurring=bool(task.rrule),
        cancelled_at=task.cancelled_at,
        cancel_reason=task.cancel_reason,
        timezone=task.community.timezone,
    )


async def _shifts(hub: Hub, task: Task) -> list[Shift]:
    """The occurrences from two weeks back to eight weeks ahead, with waiting-list sizes."""
    since = hub.now() - PAST_SHOWN
    found = await tasks.occurrences(hub, task, start=since)
    waiting: dict[datetime, int] = {}
    for start in await Signup.filter(
        occurrence__task_id=task.id,
        occurrence__start__gte=since,
        status=SignupStatus.WAITLISTED,
    ).values_list("occurrence__start", flat=True):
        key = as_utc(start)
        waiting[key] = waiting.get(key, 0) + 1
    return [
        Shift(
            as_utc(o["start"]),
            as_utc(o["end"]),
            o["capacity"],
            o["taken"],
            o["cancelled"],
            waiting.get(as_utc(o["start"]), 0),
        )
        for o in found
    ]


async def task_list(hub: Hub, actor: Actor, community_id: int) -> list[TaskLine]:
    """The community's tasks with a shift ahead (or under way), soonest first: all of them
    for staff, those of the teams they lead for a team leader; cancelled tasks last."""
    if not actor.belongs_to(community_id):
        raise PermissionDenied("Only staff and team leaders manage tasks.")
    query = Task.filter(community_id=community_id)
    if not actor.is_staff(community_id):
        led = await Team.filter(community_id=community_id, leader_id=actor.id).values_list(
            "id", flat=True
        )
        if not led:
            raise PermissionDenied("Only staff and team leaders manage tasks.")
        query = query.filter(team_id__in=list(led))
    now = hub.now()
    rows = await query.select_related("community", "team").order_by("-id").limit(200)
    lines = []
    for task in rows:
        if not task.rrule and task.ends_at <= now:
            continue
        ahead = [s for s in await _shifts(hub, task) if s.end > now and not s.cancelled]
        if task.cancelled_at is None and not ahead:
            continue
        if task.cancelled_at is not None and task.ends_at <= now - PAST_SHOWN:
            continue
        lines.append(TaskLine(_summary(task), ahead[0] if ahead else None, len(ahead)))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    lines.sort(
        key=lambda line: (
            line.task.cancelled_at is not None,
            line.next_shift.start if line.next_shift else far,
            line.task.id,
        )
    )
    return lines


async def roster(hub: Hub, actor: Actor, task_id: int, start: datetime | None = None) -> Roster:
    """The roster of one occurrence: ``start``, else the first that has not ended."""
    task = await _managed_task(actor, task_id)
    shifts = await _shifts(hub, task)
    now = hub.now()
    shift = None
    if start is not None:
        start = as_utc(start)
        shift = next((s for s in shifts if s.start == start), None)
        if shift is None:
            stored = await Occurrence.get_or_none(task_id=task.id, start=start)
            if stored is None:
                raise NotFound("The task has no occurrence at this time.", code="no_occurrence")
            shift = Shift(stored.start, stored.end, stored.capacity, stored.taken, stored.cancelled)
    elif shifts:
        shift = next((s for s in shifts if s.end > now), shifts[-1])
    placed: list[RosterEntry] = []
    waiting: list[RosterEntry] = []
    is_staff = actor.is_staff(task.community_id)
    if shift is not None:
        signups = (
            await Signup.filter(
                occurrence__task_id=task.id,
                occurrence__start=shift.start,
                status__in=[*PLACED, SignupStatus.WAITLISTED],
            )
            .select_related("person")
            .order_by("id")
        )
        for signup in signups:
            entry = _entry(signup, shift, now, is_staff, len(waiting) + 1)
            (waiting if signup.status is SignupStatus.WAITLISTED else placed).append(entry)
    upcoming = shift is not None and not shift.cancelled and shift.start > now
    nobody_left = (
        upcoming
        and shift.free > 0
        and await AuditEntry.exists(
            action="occurrence.dispatch_exhausted",
            entity_type="occurrence",
            entity_id__in=Subquery(
                Occurrence.filter(task_id=task.id, start=shift.start).values("id")
            ),
        )
    )
    return Roster(
        task=_summary(task),
        shifts=shifts,
        shift=shift,
        placed=placed,
        waiting=waiting,
        is_staff=is_staff,
        may_message=shift is not None and not shift.cancelled and shift.end > now,
        may_cancel_shift=upcoming and task.cancelled_at is None,
        nobody_left=nobody_left,
    )


def _entry(signup: Signup, shift: Shift, now: datetime, is_staff: bool, position: int):
    person: Person = signup.person
    status = signup.status
    confirmed = status is SignupStatus.CONFIRMED
    return RosterEntry(
        signup_id=signup.id,
        person_id=person.id,
        name=person.name,
        phone=person.phone if is_staff else mask_phone(person.phone),
        status=status,
        position=position if status is SignupStatus.WAITLISTED else None,
        checked_in_at=signup.checked_in_at,
        checked_out_at=signup.checked_out_at,
        note=signup.attendance_note,
        may_check_in=confirmed and tasks.check_in_open(shift.start, shift.end, now),
        may_check_out=status is SignupStatus.CHECKED_IN,
        may_mark_no_show=confirmed and now >= shift.start,
        may_excuse=confirmed or status is SignupStatus.NO_SHOW,
    )


# --- check-in codes --------------------------------------------------------------------------


def check_in_code(secret_key: str, signup_id: int) -> str:
    """The code a volunteer shows (as a QR code, or reads out) to check in: the signup's
    id and an HMAC of it under the app's secret, e.g. ``1234-KX7QM2PA``."""
    mac = hmac.new(secret_key.encode(), f"check-in:{signup_id}".encode(), hashlib.sha256)
    letters = base64.b32encode(mac.digest()).decode()[:CODE_LETTERS]
    return f"{signup_id}-{letters}"


def _signup_for_code(secret_key: str, code: str) -> int | None:
    """The signup a code names, if the code is genuine."""
    cleaned = "".join(code.split()).upper()
    number, _, letters = cleaned.partition("-")
    if not number.isdigit() or len(number) > 9 or len(letters) != CODE_LETTERS:
        return None
    expected = check_in_code(secret_key, int(number))
    return int(number) if hmac.compare_digest(expected, f"{int(number)}-{letters}") else None


async def my_check_in_codes(hub: Hub, actor: Actor, signup_ids: Sequence[int]) -> dict[int, str]:
    """The check-in codes of the actor's own confirmed signups among ``signup_ids``."""
    mine = await Signup.filter(
        id__in=list(signup_ids), person_id=actor.id, status=SignupStatus.CONFIRMED
    ).values_list("id", flat=True)
    return {signup_id: check_in_code(hub.settings.secret_key, signup_id) for signup_id in mine}


class CodeIn(Input):
    code: Annotated[str, Field(min_length=1, max_length=40)]


@dataclass(frozen=True)
class CheckedIn:
    signup_id: int
    name: str


async def check_in_by_code(hub: Hub, actor: Actor, task_id: int, data: CodeIn | dict) -> CheckedIn:
    """Check in the volunteer whose code staff (or the team's leader) scanned or typed."""
    data = parse(CodeIn, data)
    task = await _managed_task(actor, task_id)
    signup_id = _signup_for_code(hub.settings.secret_key, data.code)
    bad = InvalidInput.for_field("code", "This is not a valid check-in code.")
    if signup_id is None:
        raise bad
    signup = await Signup.get_or_none(id=signup_id).select_related("person", "occurrence")
    if signup is None:
        raise bad
    if signup.occurrence.task_id != task.id:
        raise InvalidInput.for_field("code", "This code is for another task.")
    await tasks.check_in(hub, actor, signup.id)
    return CheckedIn(signup.id, signup.person.name)


# --- attendance: no-show, excused ------------------------------------------------------------


class ExcuseIn(Input):
    note: Annotated[Line, Field(min_length=2, max_length=200)]


async def mark_no_show(hub: Hub, actor: Actor, signup_id: int) -> Signup:
    """A confirmed volunteer did not come: once the shift has started. Writes the same
    ``NoShow`` record as the worker's automatic pass (``services.no_shows``)."""
    signup = await _managed_signup(actor, signup_id)
    occurrence = signup.occurrence
    if hub.now() < occurrence.start:
        raise Conflict(
            "A no-show can be marked once the shift has started.", code="shift_not_started"
        )
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            signup,
            SignupStatus.CONFIRMED,
            SignupStatus.NO_SHOW,
            Conflict("Only a confirmed signup can be marked a no-show.", code="invalid_state"),
        )
        await uow.record(
            "signup.no_show",
            signup,
            community_id=occurrence.task.community_id,
            before={"status": "confirmed"},
            after={"status": "no_show", "task_id": occurrence.task_id},
        )
        # The one record the volunteer sees and reliability reads (services.no_shows).
        await no_shows.record_signup(
            uow, signup, occurrence.task.community_id, occurred_at=occurrence.end
        )
    await signup.refresh_from_db()
    return signup


async def excuse(hub: Hub, actor: Actor, signup_id: int, data: ExcuseIn | dict) -> Signup:
    """Excuse a confirmed volunteer (or a no-show) with a note. Before the shift starts
    this frees the place: the first on the waiting list is promoted."""
    data = parse(ExcuseIn, data)
    signup = await _managed_signup(actor, signup_id)
    occurrence = signup.occurrence
    task = occurrence.task
    refused = Conflict("Only a confirmed signup or a no-show can be excused.", code="invalid_state")
    async with unit_of_work(hub, actor.id) as uow:
        await tasks.lock(occurrence)
        current = await Signup.get(id=signup.id)
        if current.status not in (SignupStatus.CONFIRMED, SignupStatus.NO_SHOW):
            raise refused
        await uow.move(
            signup, current.status, SignupStatus.EXCUSED, refused, attendance_note=data.note
        )
        await uow.record(
            "signup.excused",
            signup,
            community_id=task.community_id,
            before={"status": current.status.value},
            after={"status": "excused", "note": data.note, "task_id": task.id},
        )
        if current.status is SignupStatus.NO_SHOW:  # its record stops counting
            await no_shows.excuse_signup(uow, signup.id, data.note)
        if current.status is SignupStatus.CONFIRMED and uow.now < occurrence.start:
            await tasks.fill_place(uow, occurrence, task)
    await signup.refresh_from_db()
    return signup


# --- a message to everyone on a shift --------------------------------------------------------


class ShiftMessageIn(Input):
    occurrence_start: Moment
    message: Annotated[Text, Field(min_length=2, max_length=1000)]


async def message_shift(hub: Hub, actor: Actor, task_id: int, data: ShiftMessageIn | dict) -> int:
    """Send a message to the confirmed (and checked-in) volunteers of one occurrence,
    through the notifications (event ``occurrence.messaged``). Returns how many."""
    data = parse(ShiftMessageIn, data)
    task = await _managed_task(actor, task_id)
    occurrence = await Occurrence.get_or_none(task_id=task.id, start=as_utc(data.occurrence_start))
    if occurrence is None or occurrence.cancelled:
        raise InvalidInput.for_field("occurrence_start", "Nobody is signed up for this occurrence.")
    if occurrence.end <= hub.now():
        raise Conflict("This shift is over.", code="shift_over")
    recipients = await Signup.filter(
        occurrence_id=occurrence.id,
        status__in=[SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN],
    ).values_list("person_id", flat=True)
    if not recipients:
        raise InvalidInput.for_field("occurrence_start", "Nobody is signed up for this occurrence.")
    async with unit_of_work(hub, actor.id) as uow:
        await uow.record(
            "occurrence.messaged",
            occurrence,
            community_id=task.community_id,
            after={
                "task_id": task.id,
                "start": occurrence.start,
                "message": data.message,
                "recipients": len(recipients),
            },
        )
    return len(recipients)


# --- editing and cancelling a task -----------------------------------------------------------


class TaskPatch(Input):
    title: Annotated[Line, Field(min_length=2, max_length=100)] | None = None
    description: Annotated[Text, Field(max_length=2000)] | None = None
    location: Annotated[Line, Field(max_length=200)] | None = None
    capacity: Annotated[int, Field(ge=1, le=10000)] | None = None
    starts_at: Moment | None = None
    ends_at: Moment | None = None


EDITABLE = ("title", "description", "location", "capacity", "starts_at", "ends_at")


async def update_task(hub: Hub, actor: Actor, task_id: int, data: TaskPatch | dict) -> Task:
    """Edit a task. Times only of a one-off task that has not started; the capacity never
    below the places taken in an occurrence still ahead (409). A larger capacity promotes
    from the waiting lists. Volunteers hear of a change of time or place."""
    data = parse(TaskPatch, data)
    task = await _managed_task(actor, task_id)
    given = data.model_dump(exclude_unset=True)
    if not given:
        raise InvalidInput.for_field("title", "Nothing to change.")
    now = hub.now()
    starts_at = given.get("starts_at") or task.starts_at
    ends_at = given.get("ends_at") or task.ends_at
    timing = "starts_at" in given or "ends_at" in given
    if timing:
        field = "starts_at" if "starts_at" in given else "ends_at"
        if task.rrule:
            raise InvalidInput.for_field(
                field, "The times of a repeating task cannot be changed; cancel it instead."
            )
        if task.starts_at <= now:
            raise InvalidInput.for_field(field, "This task has already started.")
        if starts_at <= now:
            raise InvalidInput.for_field("starts_at", "This time is in the past.")
        if ends_at <= starts_at:
            raise InvalidInput.for_field("ends_at", "Must be after the start.")
        if ends_at - starts_at > timedelta(hours=24):
            raise InvalidInput.for_field("ends_at", "A shift may last at most 24 hours.")
    changes = {k: v for k, v in given.items() if k in EDITABLE}
    if changes.get("description", "") is None:
        changes["description"] = ""
    for name in ("title", "capacity", "starts_at", "ends_at"):
        if name in changes and changes[name] is None:
            raise InvalidInput.for_field(name, "This field is required.")
    before = {k: getattr(task, k) for k in changes}
    async with unit_of_work(hub, actor.id) as uow:
        if not await Task.filter(id=task.id, cancelled_at__isnull=True).update(**changes):
            raise Conflict("This task is cancelled.", code="task_cancelled")
        ahead = await Occurrence.filter(task_id=task.id, end__gt=now, cancelled=False).order_by(
            "start"
        )
        for occurrence in ahead:
            await tasks.lock(occurrence)
            if timing:
                await Occurrence.filter(id=occurrence.id).update(start=starts_at, end=ends_at)
            if "capacity" not in changes:
                continue
            current = await Occurrence.get(id=occurrence.id)
            if current.taken > changes["capacity"]:
                raise Conflict(
                    "%(taken)s places are taken: the capacity cannot be less.",
                    code="capacity_below_taken",
                    taken=current.taken,
                )
            await Occurrence.filter(id=occurrence.id).update(capacity=changes["capacity"])
            for _ in range(changes["capacity"] - current.taken):
                if not await tasks.fill_place(uow, current, task, free=False):
                    break
        await task.refresh_from_db()
        after = {k: getattr(task, k) for k in changes}
        changed = [k for k in changes if before[k] != after[k]]
        if not changed:  # the same values again: nothing to record or tell
            return task
        await uow.record(
            "task.updated",
            task,
            community_id=task.community_id,
            before={k: before[k] for k in changed},
            after={**{k: after[k] for k in changed}, "changed": changed},
        )
    return task


class CancelTaskIn(Input):
    reason: Annotated[Line, Field(min_length=2, max_length=200)]


async def cancel_task(hub: Hub, actor: Actor, task_id: int, data: CancelTaskIn | dict) -> Task:
    """Cancel a task: no new signups (409), every occurrence ahead cancelled, and each of
    its volunteers (confirmed or waiting) told why. Past shifts and hours stay."""
    data = parse(CancelTaskIn, data)
    task = await _managed_task(actor, task_id)
    async with unit_of_work(hub, actor.id) as uow:
        if not await Task.filter(id=task.id, cancelled_at__isnull=True).update(
            cancelled_at=uow.now, cancel_reason=data.reason
        ):
            raise Conflict("This task is cancelled.", code="task_cancelled")
        ahead = await Occurrence.filter(
            task_id=task.id, start__gt=uow.now, cancelled=False
        ).order_by("start")
        told = 0
        for occurrence in ahead:
            await tasks.lock(occurrence)
            told += await tasks.cancel_places(uow, task, occurrence, "task_cancelled")
        await task.refresh_from_db()
        await uow.record(
            "task.cancelled",
            task,
            community_id=task.community_id,
            before={"cancelled_at": None},
            after={"cancelled_at": task.cancelled_at, "reason": data.reason, "told": told},
        )
    return task


async def cancel_shift(hub: Hub, actor: Actor, task_id: int, start: datetime) -> Occurrence:
    """Cancel one occurrence (``tasks.cancel_occurrence``), for the roster page."""
    task = await _managed_task(actor, task_id)
    if task.cancelled_at is not None:
        raise Conflict("This task is cancelled.", code="task_cancelled")
    return await tasks.cancel_occurrence(hub, actor, task.id, start)


async def managed_task(actor: Actor, task_id: int) -> TaskSummary:
    """The task as its manager sees it (for the edit page and the roster's forms): staff of
    its community or its team's leader; others as for ``roster``."""
    return _summary(await _managed_task(actor, task_id))


async def signup_of_task(actor: Actor, task_id: int, signup_id: int) -> int:
    """A signup of this task, for a button on its roster (the actor manages the task)."""
    await _managed_task(actor, task_id)
    if not await Signup.exists(id=signup_id, occurrence__task_id=task_id):
        raise NotFound("No such signup.", code="signup_not_found")
    return signup_id


@dataclass(frozen=True)
class Attendance:
    """One of the actor's past shifts that staff recorded as missed or excused."""

    title: str
    start: datetime
    end: datetime
    status: SignupStatus
    note: str | None
    timezone: str


async def my_attendance(hub: Hub, actor: Actor, *, limit: int = 20) -> list[Attendance]:
    """The actor's own no-shows and excused shifts of the last 90 days, latest first."""
    rows = (
        await Signup.filter(
            person_id=actor.id,
            status__in=[SignupStatus.NO_SHOW, SignupStatus.EXCUSED],
            occurrence__start__gte=hub.now() - timedelta(days=90),
        )
        .select_related("occurrence", "occurrence__task", "occurrence__task__community")
        .order_by("-occurrence__start")
        .limit(limit)
    )
    return [
        Attendance(
            s.occurrence.task.title,
            s.occurrence.start,
            s.occurrence.end,
            s.status,
            s.attendance_note,
            s.occurrence.task.community.timezone,
        )
        for s in rows
    ]


async def may_manage(actor: Actor, task_id: int) -> bool:
    """Whether the actor may open the task's roster (for a link on the task's page)."""
    task = await Task.get_or_none(id=task_id).select_related("team")
    return task is not None and actor.belongs_to(task.community_id) and _manages(actor, task)
