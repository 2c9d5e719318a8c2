"""No-shows: a place or a wish a volunteer took on and did not serve (issue 13, point 3).

Two kinds, one record (``NoShow``):

- **A shift.** A confirmed signup never checked in, ``GRACE`` (30 minutes) after its
  occurrence ended, becomes a no-show by itself (``record_overdue``, run by the worker):
  the signup's status ``no_show`` (event ``signup.no_show``) and a ``NoShow`` row
  (``no_show.recorded``) whose ``occurred_at`` is the occurrence's end. Staff or the
  team's leader marking it on the roster (``roster.mark_no_show``) write the same row.
- **A wish.** A claimed wish not fulfilled ``GRACE`` after it was due: ``Wish.window_end``
  when set, else the end of its ``needed_by`` day in the community's zone (no due date:
  never). The claimer gets a ``NoShow`` row (``occurred_at`` = the due time); the wish
  opens again without a claimer (``wish.no_show``: the resident, whoever posted it and
  staff are told), rises one escalation level so that staff see it, and is offered to the
  next volunteer (``invitations.offer_to_next``).

Only what fell due in the last ``LOOKBACK`` (14 days, as far back as the roster shows) is
judged, so that switching this on does not turn years of unrecorded history into no-shows.

Staff of the community (and, for a shift, the leader of the task's team) excuse a no-show
with a note (``excuse``; ``no_show.excused``: the volunteer is told). An excused no-show
does not count. The others lower a volunteer's ``reliability`` for a while: the rule is
the pure function of that name, which automatic matching reads too.

Concurrency: every move is a conditional UPDATE (``status = 'confirmed'`` for a signup,
``status = 'claimed' AND claimer_id = …`` for a wish, ``excused_at IS NULL`` for an
excuse), so of two workers (or a worker and staff) exactly one records each no-show, and
the unique constraints (``NoShow.signup``; ``NoShow.wish`` with the person) hold the rest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field

from volunteer_hub import db
from volunteer_hub.clock import ONE_DAY, as_utc, local_day_start
from volunteer_hub.errors import Conflict, NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    Community,
    NoShow,
    Signup,
    SignupStatus,
    Team,
    Wish,
    WishStatus,
)
from volunteer_hub.services import invitations, wishes
from volunteer_hub.services.access import Actor
from volunteer_hub.services.uow import Recorded, UnitOfWork, unit_of_work
from volunteer_hub.services.volunteer_features import HALF_LIFE_DAYS
from volunteer_hub.validation import Input, Line, parse

log = logging.getLogger(__name__)

# How long after a shift's end (or a wish's due time) a volunteer is still in time: a
# check-in a little late, a wish marked fulfilled on the way home.
GRACE = timedelta(minutes=30)
# How far back the worker judges (the roster's attendance goes back as far).
LOOKBACK = timedelta(days=14)
# Signups per transaction; each batch is a fixed handful of statements.
BATCH = 500


# --- the rule: reliability -------------------------------------------------------------------


def reliability(ages_in_days: Sequence[float], half_life_days: float = HALF_LIFE_DAYS) -> float:
    """A volunteer's reliability from the ages (in days) of their no-shows that count
    (not excused): 1.0 with no record, lower with each no-show, recovering as they age.

    Each no-show weighs ``0.5 ** (age / half_life_days)`` (1 when fresh, ½ after the half
    life, ¼ after twice as long); the reliability is ``1 / (1 + total weight)``. One fresh
    no-show gives 0.5, two give 0.33; one 90 days old 0.67, 180 days old 0.8. A negative
    age (a clock ahead of the record) counts as fresh.
    """
    if half_life_days <= 0:
        raise ValueError("half_life_days must be positive")
    weight = math.fsum(0.5 ** (max(0.0, age) / half_life_days) for age in ages_in_days)
    return 1.0 / (1.0 + weight)


def reliability_level(score: float) -> str:
    """Words for a score, as the volunteer's page says it: ``full`` (no record that still
    weighs much), ``lowered`` (about one recent no-show) or ``low`` (more)."""
    if score >= 0.9:
        return "full"
    if score >= 0.4:
        return "lowered"
    return "low"


# --- recording: the worker's pass ------------------------------------------------------------


@dataclass(frozen=True)
class PassResult:
    """What one pass recorded: no-shows of shifts, and of wishes."""

    shifts: int
    wishes: int

    @property
    def total(self) -> int:
        return self.shifts + self.wishes


async def record_overdue(hub: Hub, *, batch: int = BATCH) -> PassResult:
    """Record every no-show that has fallen due (the worker runs this each round).

    Idempotent, and safe with several workers at once (module docstring). Shifts go in
    batches of ``batch`` signups, each one transaction of a fixed number of statements
    whatever its size; wishes one transaction each (each is reopened, escalated and
    offered to the next volunteer, which ranks candidates).
    """
    return PassResult(
        shifts=await record_overdue_shifts(hub, batch=batch),
        wishes=await record_overdue_wishes(hub),
    )


async def record_overdue_shifts(hub: Hub, *, batch: int = BATCH) -> int:
    """Confirmed signups never checked in whose occurrence ended ``GRACE`` ago or more."""
    now = hub.now()
    recorded = 0
    after_id = 0
    while True:
        rows = await _overdue_signups(now, after_id, batch)
        if not rows:
            return recorded
        recorded += await _record_shift_batch(hub, rows)
        if len(rows) < batch:
            return recorded
        after_id = rows[-1]["id"]


async def _overdue_signups(now: datetime, after_id: int, limit: int) -> list[dict]:
    return (
        await Signup.filter(
            id__gt=after_id,
            status=SignupStatus.CONFIRMED,
            checked_in_at__isnull=True,
            occurrence__end__lte=as_utc(now - GRACE),
            occurrence__end__gt=as_utc(now - LOOKBACK),
            occurrence__cancelled=False,
        )
        .order_by("id")
        .limit(limit)
        .values(
            "id",
            "person_id",
            end="occurrence__end",
            task_id="occurrence__task_id",
            community_id="occurrence__task__community_id",
        )
    )


async def _record_shift_batch(hub: Hub, rows: list[dict]) -> int:
    """One transaction: move the signups that are still confirmed (UPDATE … RETURNING:
    exactly the ones this call moved), insert their ``NoShow`` rows, audit both."""
    by_id = {r["id"]: r for r in rows}
    marks = ", ".join("?" * len(by_id))
    async with unit_of_work(hub, None) as uow:
        moved = await db.fetch(
            f"UPDATE signup SET status = ? WHERE id IN ({marks})"
            " AND status = ? AND checked_in_at IS NULL RETURNING id",
            SignupStatus.NO_SHOW.value,
            *by_id,
            SignupStatus.CONFIRMED.value,
        )
        ids = sorted(m["id"] for m in moved)
        if not ids:
            return 0
        inserted = await db.insert_rows(
            "no_show",
            ("community_id", "person_id", "signup_id", "wish_id", "occurred_at")
            + ("excused_at", "excused_by_id", "note"),
            [
                (
                    by_id[i]["community_id"],
                    by_id[i]["person_id"],
                    i,
                    None,
                    as_utc(by_id[i]["end"]),
                    None,
                    None,
                    None,
                )
                for i in ids
            ],
            returning=("id", "signup_id"),
        )
        no_show_of = {r["signup_id"]: r["id"] for r in inserted}
        await uow.record_many(
            "signup.no_show",
            Signup,
            [
                Recorded(
                    i,
                    by_id[i]["community_id"],
                    before={"status": "confirmed"},
                    after={"status": "no_show", "task_id": by_id[i]["task_id"]},
                )
                for i in ids
            ],
        )
        await uow.record_many(
            "no_show.recorded",
            NoShow,
            [
                Recorded(
                    no_show_of[i],
                    by_id[i]["community_id"],
                    after=_recorded_after(by_id[i]["person_id"], "shift", by_id[i]["end"])
                    | {"signup_id": i, "task_id": by_id[i]["task_id"]},
                )
                for i in ids
            ],
        )
    return len(ids)


def _recorded_after(person_id: int, kind: str, occurred_at: datetime) -> dict:
    return {"person_id": person_id, "kind": kind, "occurred_at": as_utc(occurred_at)}


async def record_signup(
    uow: UnitOfWork, signup: Signup, community_id: int, occurred_at: datetime
) -> NoShow:
    """Inside the change that made ``signup`` a no-show (staff's ``roster.mark_no_show``):
    its ``NoShow`` row and ``no_show.recorded``."""
    row = await NoShow.create(
        community_id=community_id,
        person_id=signup.person_id,
        signup_id=signup.id,
        occurred_at=as_utc(occurred_at),
    )
    await uow.record(
        "no_show.recorded",
        row,
        community_id=community_id,
        after=_recorded_after(signup.person_id, "shift", occurred_at)
        | {"signup_id": signup.id, "by_staff": True},
    )
    return row


def due_at(wish: Wish, timezone: str) -> datetime | None:
    """When a claimed wish is due: its window's end, else the end of its needed-by day in
    the community's zone; None when it names neither."""
    if wish.window_end is not None:
        return as_utc(wish.window_end)
    if wish.needed_by is not None:
        return local_day_start(wish.needed_by + ONE_DAY, timezone)
    return None


async def record_overdue_wishes(hub: Hub) -> int:
    """Claimed wishes past due (``due_at`` + ``GRACE``) and not fulfilled."""
    now = hub.now()
    cutoff = now - GRACE
    found = list(
        await Wish.filter(
            status=WishStatus.CLAIMED,
            window_end__isnull=False,
            window_end__lte=as_utc(cutoff),
            window_end__gt=as_utc(now - LOOKBACK),
        ).order_by("id")
    )
    # Without a window, due at the end of the needed-by day: one query per time zone.
    zones = set(await Community.all().distinct().values_list("timezone", flat=True))
    for zone in sorted(zones):
        last_day = _local_date(cutoff, zone) - ONE_DAY  # its end lies before the cutoff
        first_day = _local_date(now - LOOKBACK, zone)
        found += await Wish.filter(
            status=WishStatus.CLAIMED,
            window_end__isnull=True,
            needed_by__lte=last_day,
            needed_by__gte=first_day,
            community__timezone=zone,
        ).order_by("id")
    recorded = 0
    for wish in found:
        try:
            recorded += await _record_wish(hub, wish)
        except Exception:  # its transaction rolled back: the next round tries it again
            log.exception("recording the no-show of wish %s failed", wish.id)
    return recorded


def _local_date(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


async def _record_wish(hub: Hub, wish: Wish) -> int:
    community = await Community.get(id=wish.community_id)
    due = due_at(wish, community.timezone)
    claimer_id = wish.claimer_id
    if due is None or claimer_id is None:
        return 0
    async with unit_of_work(hub, None) as uow:
        # One conditional UPDATE: of two workers (or a fulfil at the same moment) one wins.
        if not await wishes.reopen_after_no_show(uow, wish, claimer_id):
            return 0
        row = await NoShow.get_or_none(wish_id=wish.id, person_id=claimer_id)
        if row is None:  # the same volunteer missing the same wish twice: one record
            row = await NoShow.create(
                community_id=wish.community_id,
                person_id=claimer_id,
                wish_id=wish.id,
                occurred_at=due,
            )
            await uow.record(
                "no_show.recorded",
                row,
                community_id=wish.community_id,
                after=_recorded_after(claimer_id, "wish", due) | {"wish_id": wish.id},
            )
        level = wishes.next_level(wish.escalation)
        if level is not None:
            await wishes.escalate_within(uow, wish, level)
        await invitations.offer_to_next(uow, wish, claimer_id)
    return 1


# --- excusing --------------------------------------------------------------------------------


class ExcuseIn(Input):
    note: Annotated[Line, Field(min_length=2, max_length=200)]


async def _loaded(actor: Actor, no_show_id: int) -> NoShow:
    """The no-show, if the actor may excuse it: staff of its community, or for a shift the
    leader of the task's team. The volunteer themselves and other members of the community
    get 403; anyone else 404."""
    row = await NoShow.get_or_none(id=no_show_id).select_related(
        "person", "signup__occurrence__task", "wish"
    )
    if row is None or not actor.belongs_to(row.community_id):
        raise NotFound("No such no-show.", code="no_show_not_found")
    if not await _may_excuse(actor, row):
        raise PermissionDenied("Only staff and the team's leader excuse a no-show.")
    return row


async def _may_excuse(actor: Actor, row: NoShow) -> bool:
    if actor.is_staff(row.community_id):
        return True
    if row.signup_id is None:
        return False
    task = row.signup.occurrence.task
    return task.team_id is not None and await Team.exists(id=task.team_id, leader_id=actor.id)


async def excuse(hub: Hub, actor: Actor, no_show_id: int, data: ExcuseIn | dict) -> NoShowView:
    """Excuse a no-show with a note (``POST /no-shows/{id}/excuse``): it stops counting,
    the volunteer is told (``no_show.excused``). For a shift the signup becomes
    ``excused`` too (``signup.excused``), as the roster's excuse does. 409
    ``already_excused`` the second time."""
    data = parse(ExcuseIn, data)
    row = await _loaded(actor, no_show_id)
    async with unit_of_work(hub, actor.id) as uow:
        if not await _mark_excused(uow, row, data.note):
            raise Conflict("This no-show is excused already.", code="already_excused")
        if row.signup_id is not None:
            moved = await Signup.filter(id=row.signup_id, status=SignupStatus.NO_SHOW).update(
                status=SignupStatus.EXCUSED, attendance_note=data.note
            )
            if moved:
                await uow.record(
                    "signup.excused",
                    row.signup,
                    community_id=row.community_id,
                    before={"status": "no_show"},
                    after={
                        "status": "excused",
                        "note": data.note,
                        "task_id": row.signup.occurrence.task_id,
                    },
                )
    await row.refresh_from_db()
    (view,) = await _views(actor, [row])
    return view


async def excuse_signup(uow: UnitOfWork, signup_id: int, note: str) -> None:
    """Inside the roster's excuse of a no-show signup: its ``NoShow`` row is excused too
    (if it has one: a no-show marked before rows were kept has none)."""
    row = await NoShow.get_or_none(signup_id=signup_id)
    if row is not None:
        await _mark_excused(uow, row, note)


async def _mark_excused(uow: UnitOfWork, row: NoShow, note: str) -> bool:
    """One conditional UPDATE (``excused_at IS NULL``): False when excused already."""
    if not await NoShow.filter(id=row.id, excused_at__isnull=True).update(
        excused_at=uow.now, excused_by_id=uow.actor_id, note=note
    ):
        return False
    await uow.record(
        "no_show.excused",
        row,
        community_id=row.community_id,
        before={"excused_at": None},
        after={
            "excused_at": uow.now,
            "note": note,
            "person_id": row.person_id,
            "kind": "shift" if row.signup_id is not None else "wish",
        },
    )
    return True


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoShowView:
    """A no-show as a list shows it: what (a shift of a task, or a wish), when, whether
    excused and why. ``person_name`` and ``may_excuse`` matter on staff's list."""

    id: int
    kind: str  # "shift" or "wish"
    title: str
    person_id: int
    person_name: str
    occurred_at: datetime
    timezone: str
    task_id: int | None
    occurrence_start: datetime | None
    wish_id: int | None
    excused: bool
    excused_at: datetime | None
    note: str | None
    may_excuse: bool


@dataclass(frozen=True)
class MyRecord:
    """A volunteer's own record: the no-shows, and what they do to automatic matching."""

    items: list[NoShowView]
    counted: int  # not excused, within the last year
    reliability: float
    level: str  # reliability_level


async def _views(actor: Actor, rows: list[NoShow]) -> list[NoShowView]:
    zones = dict(
        await Community.filter(id__in={r.community_id for r in rows}).values_list("id", "timezone")
    )
    led = set(await Team.filter(leader_id=actor.id).values_list("id", flat=True))
    views = []
    for r in rows:
        task = r.signup.occurrence.task if r.signup_id is not None else None
        may = r.excused_at is None and (
            actor.is_staff(r.community_id) or (task is not None and task.team_id in led)
        )
        views.append(
            NoShowView(
                id=r.id,
                kind="shift" if task is not None else "wish",
                title=task.title if task is not None else r.wish.title,
                person_id=r.person_id,
                person_name=r.person.name,
                occurred_at=r.occurred_at,
                timezone=zones.get(r.community_id, "Asia/Shanghai"),
                task_id=task.id if task is not None else None,
                occurrence_start=r.signup.occurrence.start if task is not None else None,
                wish_id=r.wish_id,
                excused=r.excused_at is not None,
                excused_at=r.excused_at,
                note=r.note,
                may_excuse=may,
            )
        )
    return views


def _rows(query, before_id: int | None, limit: int):
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return (
        query.select_related("person", "signup__occurrence__task", "wish")
        .order_by("-id")
        .limit(limit)
    )


async def my_no_shows(
    hub: Hub, actor: Actor, *, before_id: int | None = None, limit: int = 50
) -> list[NoShowView]:
    """The actor's own no-shows, latest recorded first (``before_id``: the next page)."""
    rows = await _rows(NoShow.filter(person_id=actor.id), before_id, limit)
    return await _views(actor, list(rows))


async def community_no_shows(
    hub: Hub,
    actor: Actor,
    community_id: int,
    *,
    before_id: int | None = None,
    limit: int = 50,
    excused: bool | None = None,
) -> list[NoShowView]:
    """A community's no-shows, latest recorded first: for its staff (403 for others).
    ``excused``: only those excused (True) or not (False)."""
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    query = NoShow.filter(community_id=community_id)
    if excused is not None:
        query = query.filter(excused_at__isnull=not excused)
    return await _views(actor, list(await _rows(query, before_id, limit)))


async def reliabilities(hub: Hub, person_ids: Sequence[int]) -> dict[int, float]:
    """``reliability`` of each of ``person_ids`` now, from their no-shows that count (not
    excused, within the last year), in one query; 1.0 for someone with none."""
    now = hub.now()
    ages: dict[int, list[float]] = {pid: [] for pid in person_ids}
    rows = await NoShow.filter(
        person_id__in=list(ages),
        excused_at__isnull=True,
        occurred_at__gt=as_utc(now - 365 * ONE_DAY),
    ).values_list("person_id", "occurred_at")
    for person_id, at in rows:
        ages[person_id].append((now - as_utc(at)).total_seconds() / 86400)
    return {pid: reliability(found) for pid, found in ages.items()}


async def my_record(hub: Hub, actor: Actor, *, limit: int = 20) -> MyRecord:
    """The volunteer's page: their latest no-shows, how many count (not excused, last
    year) and their reliability in automatic matching (``reliability``)."""
    counted = await NoShow.filter(
        person_id=actor.id,
        excused_at__isnull=True,
        occurred_at__gt=as_utc(hub.now() - 365 * ONE_DAY),
    ).count()
    score = (await reliabilities(hub, [actor.id]))[actor.id]
    return MyRecord(
        items=await my_no_shows(hub, actor, limit=limit),
        counted=counted,
        reliability=score,
        level=reliability_level(score),
    )
