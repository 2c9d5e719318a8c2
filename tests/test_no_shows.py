"""No-shows recorded by themselves, excused by staff, seen by volunteers (issue 13, point 3).

The ``clock`` starts at 2026-12-01T01:00Z, 09:00 on a Tuesday in Shanghai. The shift is on
Thursday, December 3, 19:00-21:00 (Shanghai); a no-show is due 30 minutes after its end.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import World
from tests.pages_support import statements_for
from volunteer_hub.clock import as_utc
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.models import (
    AuditEntry,
    Escalation,
    NoShow,
    Notification,
    Occurrence,
    Person,
    Signup,
    SignupStatus,
    Task,
    Wish,
    WishStatus,
)
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import no_shows, roster, tasks, teams, wishes
from volunteer_hub.services.no_shows import GRACE, reliability
from volunteer_hub.testing import login

SH = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent
SENIOR = date(1958, 3, 1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


class Patrol:
    """A community, its silver patrol (a leader and volunteers) and a one-off shift."""

    async def build(self, hub, *, people: int = 3, capacity: int = 10) -> Patrol:
        w = self.w = await World(hub).build()
        self.hub = hub
        self.leader = await w.person("王队长", birth_date=SENIOR)
        self.team = await teams.create_team(
            hub,
            w.admin,
            w.id,
            {"name": "银发巡逻队", "kind": "silver_patrol", "leader_id": self.leader.id},
        )
        self.people = [
            await w.volunteer(f"队员{i}", team=self.team, birth_date=SENIOR) for i in range(people)
        ]
        self.task = await tasks.create_task(
            hub,
            w.staff,
            w.id,
            {
                "title": "银发巡逻",
                "team_id": self.team.id,
                "starts_at": at(3, 19),
                "ends_at": at(3, 21),
                "capacity": capacity,
            },
        )
        return self

    async def sign_up(self, *who: int) -> list[Signup]:
        return [await tasks.sign_up(self.hub, self.people[i], self.task.id, {}) for i in who]


@pytest.fixture
async def p(hub) -> Patrol:
    return await Patrol().build(hub)


def move_to(hub, moment: datetime) -> None:
    hub.clock.advance(seconds=(moment - hub.now()).total_seconds())


# --- shifts ----------------------------------------------------------------------------------


async def test_a_shift_not_come_to_becomes_a_no_show_once_after_the_grace(p):
    first, second = await p.sign_up(0, 1)
    move_to(p.hub, at(3, 18, 45))
    await tasks.check_in(p.hub, p.people[1], second.id)
    move_to(p.hub, at(3, 21, 29))  # within the 30 minutes' grace: nothing yet
    assert (await no_shows.record_overdue(p.hub)).total == 0

    move_to(p.hub, at(3, 21, 30))
    worker = Worker(p.hub, AppriseNotifier())
    report = await worker.run_once()
    assert report.no_shows == 1
    again = await worker.run_once()
    assert again.no_shows == 0  # run twice: still one

    row = await NoShow.get(person_id=p.people[0].id)
    assert row.signup_id == first.id and row.wish_id is None
    assert row.community_id == p.w.id
    assert row.occurred_at == at(3, 21) and row.excused_at is None
    assert (await Signup.get(id=first.id)).status is SignupStatus.NO_SHOW
    assert (await Signup.get(id=second.id)).status is SignupStatus.CHECKED_IN  # came: none
    assert await NoShow.all().count() == 1
    signup_entry = await AuditEntry.get(action="signup.no_show", entity_id=first.id)
    assert signup_entry.actor_id is None and signup_entry.after["status"] == "no_show"
    recorded = await AuditEntry.get(action="no_show.recorded")
    assert recorded.entity_type == "no_show" and recorded.entity_id == row.id
    assert recorded.after["person_id"] == p.people[0].id and recorded.after["kind"] == "shift"


async def test_cancelled_and_long_past_shifts_are_not_judged(p):
    (signup,) = await p.sign_up(0)
    await tasks.cancel_occurrence(p.hub, p.w.staff, p.task.id, at(3, 19))
    move_to(p.hub, at(4, 9))
    assert (await no_shows.record_overdue(p.hub)).total == 0
    assert not await NoShow.exists()

    # A shift that ended before the 14 days the worker looks back stays as it was.
    old = await tasks.create_task(
        p.hub,
        p.w.staff,
        p.w.id,
        {"title": "旧巡逻", "starts_at": at(5, 19), "ends_at": at(5, 21), "capacity": 3},
    )
    late = await tasks.sign_up(p.hub, p.people[1], old.id, {})
    move_to(p.hub, at(5, 21) + no_shows.LOOKBACK + timedelta(minutes=1))
    assert (await no_shows.record_overdue(p.hub)).total == 0
    assert (await Signup.get(id=late.id)).status is SignupStatus.CONFIRMED


async def test_staff_marking_a_no_show_writes_the_one_record(p):
    (signup,) = await p.sign_up(0)
    move_to(p.hub, at(3, 19, 30))
    await roster.mark_no_show(p.hub, p.w.staff, signup.id)
    row = await NoShow.get(signup_id=signup.id)
    assert row.occurred_at == at(3, 21)
    move_to(p.hub, at(4, 9))
    assert (await no_shows.record_overdue(p.hub)).total == 0
    assert await NoShow.filter(signup_id=signup.id).count() == 1
    assert await AuditEntry.filter(action="no_show.recorded").count() == 1


async def test_two_workers_at_once_record_each_no_show_once(hub):
    p = await Patrol().build(hub, people=12, capacity=12)
    signups = await p.sign_up(*range(12))
    move_to(hub, at(4, 9))

    results = await asyncio.gather(
        *(no_shows.record_overdue(hub, batch=5) for _ in range(4)), return_exceptions=True
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert sum(r.total for r in results) == 12
    assert await NoShow.all().count() == 12
    assert {s.id for s in signups} == set(await NoShow.all().values_list("signup_id", flat=True))
    assert await AuditEntry.filter(action="signup.no_show").count() == 12
    assert await AuditEntry.filter(action="no_show.recorded").count() == 12


async def test_a_worker_racing_staff_leaves_one_record(hub):
    p = await Patrol().build(hub, people=8, capacity=8)
    signups = await p.sign_up(*range(8))
    move_to(hub, at(3, 21, 45))

    async def staff_marks(signup_id: int):
        try:
            await roster.mark_no_show(hub, p.w.staff, signup_id)
        except Conflict:
            return "taken"
        return "marked"

    results = await asyncio.gather(
        no_shows.record_overdue(hub, batch=3),
        *(staff_marks(s.id) for s in signups),
        no_shows.record_overdue(hub, batch=3),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert await NoShow.all().count() == 8
    assert await AuditEntry.filter(action="no_show.recorded").count() == 8
    assert await AuditEntry.filter(action="signup.no_show").count() == 8


async def test_worker_processes_at_once_record_each_no_show_once(p, settings):
    """4 worker processes on one database, 240 overdue shifts and 6 overdue wishes: each
    recorded exactly once, whichever process got there first."""
    later = await tasks.create_task(
        p.hub,
        p.w.staff,
        p.w.id,
        {"title": "夜间巡逻", "starts_at": at(3, 19), "ends_at": at(3, 21), "capacity": 300},
    )
    (first,) = [await tasks.sign_up(p.hub, p.people[0], later.id, {})]
    phones = [f"1350000{i:04d}" for i in range(239)]
    await Person.bulk_create(
        [
            Person(name=f"志愿者{i}", phone=phone, community_id=p.w.id)
            for i, phone in enumerate(phones)
        ]
    )
    people = await Person.filter(phone__in=phones).values_list("id", flat=True)
    await Signup.bulk_create(
        [
            Signup(occurrence_id=first.occurrence_id, person_id=i, status=SignupStatus.CONFIRMED)
            for i in people
        ]
    )
    wishes_ = [
        await with_window(await claimed_wish(p, claimer=i % 3), at(2, 9), at(2, 11))
        for i in range(6)
    ]
    now = at(4, 9).isoformat()
    go_at = str(time.time() + 4)  # all four connected by then, on a busy machine too
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.no_show_worker",
            settings.database_url,
            now,
            "25",
            go_at,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.gather(*(proc.communicate() for proc in procs))
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    done = [json.loads(out) for out, _ in outputs]
    assert sum(d["shifts"] for d in done) == 240
    assert sum(d["wishes"] for d in done) == 6
    assert await NoShow.filter(signup_id__isnull=False).count() == 240
    assert await NoShow.filter(wish_id__in=[w.id for w in wishes_]).count() == 6
    assert await AuditEntry.filter(action="no_show.recorded").count() == 246
    assert await AuditEntry.filter(action="signup.no_show").count() == 240
    assert await AuditEntry.filter(action="wish.no_show").count() == 6
    # Each no-show raises its wish once; dispatch raises it once more where nobody is left.
    exhausted = await AuditEntry.filter(action="wish.dispatch_exhausted").count()
    assert await AuditEntry.filter(action="wish.escalated").count() == 6 + exhausted


async def test_the_pass_agrees_with_a_naive_reference(p):
    """Random shifts around the cut-offs (grace, look-back), cancelled or not, and signups in
    every status, checked in or not: the pass records exactly what a plain reading of the
    rule picks, and a second pass nothing."""
    rng = random.Random(13)
    now = at(20, 9)
    edges = [GRACE, no_shows.LOOKBACK]
    occurrences = []
    for i in range(12):
        edge = rng.choice(edges)
        end = now - edge + timedelta(minutes=rng.choice([-1, 0, 1, -90, 90]))
        task = await Task.create(
            community_id=p.w.id,
            title=f"班次{i}",
            starts_at=end - timedelta(hours=2),
            ends_at=end,
            capacity=50,
            created_by_id=p.w.staff.id,
        )
        occurrences.append(
            await Occurrence.create(
                task_id=task.id,
                start=as_utc(end - timedelta(hours=2)),
                end=as_utc(end),
                capacity=50,
                cancelled=rng.random() < 0.2,
            )
        )
    phones = [f"1340000{i:04d}" for i in range(60)]
    await Person.bulk_create(
        [Person(name=f"志愿者{i}", phone=ph, community_id=p.w.id) for i, ph in enumerate(phones)]
    )
    people = list(await Person.filter(phone__in=phones).values_list("id", flat=True))
    rows = []
    for person in people:
        occurrence = rng.choice(occurrences)
        status = rng.choice(list(SignupStatus))
        checked = rng.random() < 0.3
        rows.append(
            Signup(
                occurrence_id=occurrence.id,
                person_id=person,
                status=status,
                checked_in_at=as_utc(occurrence.start) if checked else None,
            )
        )
    await Signup.bulk_create(rows)
    by_occurrence = {o.id: o for o in occurrences}
    expected = {
        s.person_id
        for s in rows
        if s.status is SignupStatus.CONFIRMED
        and s.checked_in_at is None
        and not by_occurrence[s.occurrence_id].cancelled
        and now - no_shows.LOOKBACK < by_occurrence[s.occurrence_id].end <= now - GRACE
    }
    confirmed = [s for s in rows if s.status is SignupStatus.CONFIRMED and not s.checked_in_at]
    assert 0 < len(expected) < len(confirmed)  # the draw falls on both sides of the rule
    move_to(p.hub, now)

    assert (await no_shows.record_overdue(p.hub, batch=7)).shifts == len(expected)
    assert set(await NoShow.all().values_list("person_id", flat=True)) == expected
    assert (await no_shows.record_overdue(p.hub, batch=7)).total == 0
    moved = await Signup.filter(person_id__in=people, status=SignupStatus.NO_SHOW).count()
    originally = sum(1 for s in rows if s.status is SignupStatus.NO_SHOW)
    assert moved == originally + len(expected)


async def test_a_batch_costs_the_same_statements_for_few_rows_as_for_many(p):
    """One pass over hundreds of overdue rows: a fixed number of statements per batch."""
    await p.sign_up(0, 1)
    move_to(p.hub, at(4, 9))
    _, few = await statements_for(no_shows.record_overdue_shifts(p.hub))
    assert await NoShow.all().count() == 2

    # 300 more volunteers on a later shift, inserted in bulk (this is about the pass).
    later = await tasks.create_task(
        p.hub,
        p.w.staff,
        p.w.id,
        {"title": "夜间巡逻", "starts_at": at(5, 19), "ends_at": at(5, 21), "capacity": 400},
    )
    (first,) = [await tasks.sign_up(p.hub, p.people[2], later.id, {})]
    phones = [f"1360000{i:04d}" for i in range(300)]
    await Person.bulk_create(
        [
            Person(name=f"志愿者{i}", phone=phone, community_id=p.w.id)
            for i, phone in enumerate(phones)
        ]
    )
    people = await Person.filter(phone__in=phones).values_list("id", flat=True)
    await Signup.bulk_create(
        [
            Signup(occurrence_id=first.occurrence_id, person_id=i, status=SignupStatus.CONFIRMED)
            for i in people
        ]
    )
    move_to(p.hub, at(6, 9))
    _, many = await statements_for(no_shows.record_overdue_shifts(p.hub))
    assert await NoShow.all().count() == 2 + 301
    assert many == few, (few, many)


# --- wishes ----------------------------------------------------------------------------------

ERRAND = {"title": "陪王奶奶去医院", "description": "周三上午九点出发", "category": "errand"}


async def claimed_wish(p: Patrol, claimer: int = 0, **data) -> Wish:
    resident = await p.w.person("王奶奶")
    wish = await wishes.post(p.hub, resident, p.w.id, {**ERRAND, **data})
    await wishes.review(p.hub, p.w.staff, wish.id, {"decision": "approve"})
    return await wishes.claim(p.hub, p.people[claimer], wish.id)


async def with_window(wish: Wish, start: datetime, end: datetime) -> Wish:
    # The window's input is another part's (API.md ``window``); the columns are here already.
    await Wish.filter(id=wish.id).update(window_start=as_utc(start), window_end=as_utc(end))
    return await Wish.get(id=wish.id)


async def test_a_claimed_wish_past_its_window_is_reopened_escalated_and_offered(p):
    wish = await with_window(await claimed_wish(p), at(2, 9), at(2, 11))
    move_to(p.hub, at(2, 11, 29))
    assert (await no_shows.record_overdue(p.hub)).wishes == 0

    move_to(p.hub, at(2, 11, 30))
    assert (await no_shows.record_overdue(p.hub)).wishes == 1
    assert (await no_shows.record_overdue(p.hub)).wishes == 0  # once

    stored = await Wish.get(id=wish.id)
    assert stored.status is WishStatus.OPEN and stored.claimer_id is None
    assert stored.escalation is Escalation.BLUE
    row = await NoShow.get(wish_id=wish.id)
    assert row.person_id == p.people[0].id and row.signup_id is None
    assert row.occurred_at == at(2, 11)
    trail = [
        e.action
        for e in await AuditEntry.filter(entity_type="wish", entity_id=wish.id).order_by("id")
    ]
    after = trail[trail.index("wish.no_show") :]
    assert after[:2] == ["wish.no_show", "wish.escalated"]
    # Then dispatch invites the next ones (each: wish.invited, wish.dispatched).
    assert set(after[2:]) == {"wish.invited", "wish.dispatched"} and len(after) > 2
    no_show_id = (await AuditEntry.get(entity_id=wish.id, action="wish.no_show")).id
    invited_rows = await AuditEntry.filter(
        entity_type="wish", entity_id=wish.id, action="wish.invited", id__gt=no_show_id
    )
    assert invited_rows and all(
        e.after["person_id"] != p.people[0].id and e.actor_id is None for e in invited_rows
    )
    invited = invited_rows[0]
    no_show_entry = await AuditEntry.get(entity_id=wish.id, action="wish.no_show")
    assert no_show_entry.actor_id is None
    assert no_show_entry.before["claimer_id"] == p.people[0].id
    # The resident and staff are told, in Chinese first; the one who did not come is not.
    told = dict(await Notification.filter(event="wish.no_show").values_list("person_id", "body"))
    assert stored.resident_id in told and p.w.staff.id in told
    assert p.people[0].id not in told
    assert all(
        "没有在约定时间前完成" in body and "已邀请其他志愿者" in body for body in told.values()
    )
    assert await Notification.exists(event="wish.invited", person_id=invited.after["person_id"])


async def test_a_wish_without_a_window_is_due_at_the_end_of_its_day(p):
    wish = await claimed_wish(p, needed_by="2026-12-02")
    move_to(p.hub, at(3, 0, 29))
    assert (await no_shows.record_overdue(p.hub)).wishes == 0
    move_to(p.hub, at(3, 0, 30))
    assert (await no_shows.record_overdue(p.hub)).wishes == 1
    assert (await NoShow.get(wish_id=wish.id)).occurred_at == at(3, 0)
    # Open again past its needed-by date: the next round expires it, as any such wish.
    assert (await Wish.get(id=wish.id)).status is WishStatus.OPEN
    assert await wishes.expire_overdue(p.hub) == 1
    assert (await Wish.get(id=wish.id)).status is WishStatus.EXPIRED


async def test_a_wish_fulfilled_in_time_or_without_a_date_is_no_no_show(p):
    done = await with_window(await claimed_wish(p), at(2, 9), at(2, 11))
    undated = await claimed_wish(p, claimer=1)
    move_to(p.hub, at(2, 10))
    await wishes.fulfil(p.hub, p.people[0], done.id, {"note": "已陪同就诊"})
    move_to(p.hub, at(20, 9))
    assert (await no_shows.record_overdue(p.hub)).total == 0
    assert not await NoShow.exists()
    assert (await Wish.get(id=undated.id)).status is WishStatus.CLAIMED


async def test_an_escalated_wish_rises_one_level_and_red_stays_red(p):
    yellow = await with_window(await claimed_wish(p), at(2, 9), at(2, 11))
    await wishes.escalate(p.hub, p.w.staff, yellow.id, {"level": "yellow"})
    red = await with_window(await claimed_wish(p, claimer=1), at(2, 9), at(2, 11))
    await wishes.escalate(p.hub, p.w.staff, red.id, {"level": "red"})
    move_to(p.hub, at(2, 12))
    assert (await no_shows.record_overdue(p.hub)).wishes == 2
    assert (await Wish.get(id=yellow.id)).escalation is Escalation.RED
    assert (await Wish.get(id=red.id)).escalation is Escalation.RED
    assert (await Wish.get(id=red.id)).status is WishStatus.OPEN


async def test_two_workers_and_a_late_fulfil_racing_leave_one_outcome(p):
    wish = await with_window(await claimed_wish(p), at(2, 9), at(2, 11))
    move_to(p.hub, at(2, 12))

    async def fulfil():
        try:
            await wishes.fulfil(p.hub, p.people[0], wish.id, {"note": "刚送到"})
        except Conflict:
            return "late"
        return "fulfilled"

    results = await asyncio.gather(
        no_shows.record_overdue_wishes(p.hub),
        fulfil(),
        no_shows.record_overdue_wishes(p.hub),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    stored = await Wish.get(id=wish.id)
    recorded = results[0] + results[2]
    if results[1] == "fulfilled":
        assert recorded == 0 and stored.status is WishStatus.FULFILLED
        assert not await NoShow.exists()
    else:
        assert recorded == 1 and stored.status is WishStatus.OPEN
        assert await NoShow.filter(wish_id=wish.id).count() == 1
    assert await AuditEntry.filter(action="no_show.recorded").count() == recorded


# --- excusing --------------------------------------------------------------------------------


async def overdue_shift(p: Patrol, who: int = 0) -> NoShow:
    (signup,) = await p.sign_up(who)
    move_to(p.hub, at(4, 9))
    await no_shows.record_overdue(p.hub)
    return await NoShow.get(signup_id=signup.id)


async def test_staff_excuse_a_no_show_it_stops_counting_and_the_volunteer_is_told(p):
    row = await overdue_shift(p)
    volunteer = p.people[0]
    before = await no_shows.my_record(p.hub, volunteer)
    assert before.counted == 1 and before.reliability == pytest.approx(0.5, abs=0.01)
    assert before.level == "lowered"

    excused = await no_shows.excuse(p.hub, p.w.staff, row.id, {"note": "家中老人突发急病"})

    assert excused.excused and excused.note == "家中老人突发急病" and not excused.may_excuse
    stored = await NoShow.get(id=row.id)
    assert stored.excused_at == p.hub.now() and stored.excused_by_id == p.w.staff.id
    signup = await Signup.get(id=row.signup_id)
    assert signup.status is SignupStatus.EXCUSED and signup.attendance_note == "家中老人突发急病"
    after = await no_shows.my_record(p.hub, volunteer)
    assert after.counted == 0 and after.reliability == 1.0 and after.level == "full"
    assert after.items[0].excused and after.items[0].note == "家中老人突发急病"
    message = await Notification.get(event="no_show.excused")
    assert message.person_id == volunteer.id
    assert "银发巡逻" in message.body and "家中老人突发急病" in message.body
    assert "不计入缺席记录" in message.body
    entry = await AuditEntry.get(action="no_show.excused")
    assert entry.actor_id == p.w.staff.id and entry.after["note"] == "家中老人突发急病"
    assert await AuditEntry.exists(action="signup.excused", entity_id=row.signup_id)

    with pytest.raises(Conflict) as twice:
        await no_shows.excuse(p.hub, p.w.staff, row.id, {"note": "再次说明"})
    assert twice.value.code == "already_excused"
    assert await AuditEntry.filter(action="no_show.excused").count() == 1


async def test_who_may_excuse_and_bad_notes_write_nothing(p):
    row = await overdue_shift(p)
    for someone in (p.people[0], p.people[1], p.w.grid_worker):
        with pytest.raises(PermissionDenied):
            await no_shows.excuse(p.hub, someone, row.id, {"note": "路上堵车"})
    outsider = await World(p.hub).build_other(p.w)
    with pytest.raises(NotFound):
        await no_shows.excuse(p.hub, outsider.staff, row.id, {"note": "路上堵车"})
    with pytest.raises(NotFound):
        await no_shows.excuse(p.hub, p.w.staff, 999999, {"note": "路上堵车"})
    for bad in ({}, {"note": "x"}, {"note": "长" * 201}):
        with pytest.raises(InvalidInput) as refused:
            await no_shows.excuse(p.hub, p.w.staff, row.id, bad)
        assert refused.value.fields == ["note"]
    assert (await NoShow.get(id=row.id)).excused_at is None
    assert not await AuditEntry.exists(action="no_show.excused")

    # The leader of the task's team may excuse a shift, not a wish.
    await no_shows.excuse(p.hub, p.leader, row.id, {"note": "队长确认请过假"})
    wish = await with_window(await claimed_wish(p, claimer=1), at(4, 9), at(4, 10))
    move_to(p.hub, at(4, 11))
    await no_shows.record_overdue(p.hub)
    missed = await NoShow.get(wish_id=wish.id)
    with pytest.raises(PermissionDenied):
        await no_shows.excuse(p.hub, p.leader, missed.id, {"note": "队长确认"})
    await no_shows.excuse(p.hub, p.w.staff, missed.id, {"note": "居民改了时间"})
    assert (await NoShow.get(id=missed.id)).excused_at is not None


async def test_the_rosters_excuse_of_a_no_show_excuses_its_record(p):
    row = await overdue_shift(p)
    await roster.excuse(p.hub, p.w.staff, row.signup_id, {"note": "临时加班"})
    stored = await NoShow.get(id=row.id)
    assert stored.excused_at is not None and stored.note == "临时加班"
    assert await Notification.exists(event="no_show.excused", person_id=p.people[0].id)
    with pytest.raises(Conflict):
        await no_shows.excuse(p.hub, p.w.staff, row.id, {"note": "再次说明"})


async def test_lists_for_the_volunteer_and_for_staff(p):
    row = await overdue_shift(p)
    mine = await no_shows.my_no_shows(p.hub, p.people[0])
    assert [(v.id, v.kind, v.title, v.excused) for v in mine] == [
        (row.id, "shift", "银发巡逻", False)
    ]
    assert mine[0].occurrence_start == at(3, 19) and not mine[0].may_excuse
    assert await no_shows.my_no_shows(p.hub, p.people[1]) == []
    listed = await no_shows.community_no_shows(p.hub, p.w.staff, p.w.id)
    assert [(v.id, v.person_name, v.may_excuse) for v in listed] == [(row.id, "队员0", True)]
    assert await no_shows.community_no_shows(p.hub, p.w.staff, p.w.id, excused=True) == []
    with pytest.raises(PermissionDenied):
        await no_shows.community_no_shows(p.hub, p.people[0], p.w.id)


async def test_reliabilities_of_many_people_at_once(p):
    row = await overdue_shift(p)
    scores = await no_shows.reliabilities(p.hub, [p.people[0].id, p.people[1].id])
    age = (p.hub.now() - at(3, 21)).total_seconds() / 86400
    assert scores == {p.people[0].id: pytest.approx(reliability([age])), p.people[1].id: 1.0}
    await no_shows.excuse(p.hub, p.w.staff, row.id, {"note": "已说明"})
    assert await no_shows.reliabilities(p.hub, [p.people[0].id]) == {p.people[0].id: 1.0}


# --- the rule --------------------------------------------------------------------------------

AGES = st.lists(st.floats(min_value=0, max_value=3650), max_size=30)


def test_reliability_is_one_without_a_record_and_halves_with_a_fresh_no_show():
    assert reliability([]) == 1.0
    assert reliability([0]) == pytest.approx(0.5)
    assert reliability([0, 0]) == pytest.approx(1 / 3)
    assert reliability([90]) == pytest.approx(1 / 1.5)  # a half-life later: half the weight
    assert reliability([180]) == pytest.approx(1 / 1.25)
    assert reliability([-5]) == reliability([0])
    with pytest.raises(ValueError):
        reliability([1], half_life_days=0)


@given(AGES, st.floats(min_value=0, max_value=3650))
def test_reliability_falls_with_each_no_show_and_recovers_with_age(ages, age):
    score = reliability(ages)
    assert 0 < score <= 1
    assert reliability([*ages, age]) < score
    assert reliability([a + 30 for a in ages]) >= score


# --- over HTTP -------------------------------------------------------------------------------


async def test_the_api_lists_and_excuses_in_the_communitys_time(hub, api):
    p = await Patrol().build(hub)
    row = await overdue_shift(p)
    volunteer = await login(api, p.people[0])
    staff = await login(api, p.w.staff)

    mine = await api.get("/api/v1/me/no-shows", headers=volunteer)
    assert mine.status_code == 200, mine.text
    (item,) = mine.json()["items"]
    assert item["id"] == row.id and item["kind"] == "shift" and item["title"] == "银发巡逻"
    assert item["occurred_at"] == "2026-12-03T21:00:00+08:00"
    assert item["occurrence_start"] == "2026-12-03T19:00:00+08:00"
    assert item["excused"] is False and item["note"] is None and item["may_excuse"] is False
    assert mine.json()["next_cursor"] is None

    listed = await api.get(f"/api/v1/communities/{p.w.id}/no-shows?excused=false", headers=staff)
    assert [i["id"] for i in listed.json()["items"]] == [row.id]
    assert listed.json()["items"][0]["may_excuse"] is True

    bad = await api.post(f"/api/v1/no-shows/{row.id}/excuse", json={"note": ""}, headers=staff)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "note"
    done = await api.post(
        f"/api/v1/no-shows/{row.id}/excuse", json={"note": "社区派去协助防疫"}, headers=staff
    )
    assert done.status_code == 200, done.text
    assert done.json()["excused"] is True and done.json()["note"] == "社区派去协助防疫"
    again = await api.post(
        f"/api/v1/no-shows/{row.id}/excuse",
        json={"note": "社区派去协助防疫"},
        headers=staff | {"Accept-Language": "en"},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_excused"
    assert "excused already" in again.json()["error"]["message"]
    listed = await api.get(f"/api/v1/communities/{p.w.id}/no-shows?excused=false", headers=staff)
    assert listed.json()["items"] == []


async def test_the_api_pages_through_a_long_record(hub, api):
    p = await Patrol().build(hub, people=1)
    for day in (3, 4, 5):
        task = await tasks.create_task(
            hub,
            p.w.staff,
            p.w.id,
            {
                "title": f"巡逻{day}",
                "starts_at": at(day, 19),
                "ends_at": at(day, 21),
                "capacity": 2,
            },
        )
        await tasks.sign_up(hub, p.people[0], task.id, {})
    move_to(hub, at(6, 9))
    await no_shows.record_overdue(hub)
    headers = await login(api, p.people[0])
    first = (await api.get("/api/v1/me/no-shows?limit=2", headers=headers)).json()
    assert [i["title"] for i in first["items"]] == ["巡逻5", "巡逻4"]
    rest = await api.get(
        f"/api/v1/me/no-shows?limit=2&cursor={first['next_cursor']}", headers=headers
    )
    assert [i["title"] for i in rest.json()["items"]] == ["巡逻3"]
    assert rest.json()["next_cursor"] is None
