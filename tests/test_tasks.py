"""Micro-tasks and shifts: create, list occurrences, sign up, cancel, check in and out.

Every refusal is checked twice: the typed error (class, code, field or rule) and that
nothing was written. The ``clock`` fixture starts at 2026-12-01T01:00Z, 09:00 on a
Tuesday in Shanghai; tasks are made a few days ahead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.factories import World
from volunteer_hub import hookimpl
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Violation,
)
from volunteer_hub.models import (
    AuditEntry,
    Occurrence,
    Role,
    ServiceRecord,
    Signup,
    SignupStatus,
    Task,
)
from volunteer_hub.services import people, tasks, teams
from volunteer_hub.services.access import load_actor

SH = ZoneInfo("Asia/Shanghai")
PATROL_RULE = "FREQ=WEEKLY;BYDAY=TU,TH"
ADULT = date(1990, 5, 1)
MINOR = date(2012, 5, 1)  # 14 in December 2026
SENIOR = date(1960, 3, 1)


def at(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    """A local (Asia/Shanghai) time in December 2026 by default."""
    return datetime(year, month, day, hour, minute, tzinfo=SH)


async def counts() -> dict[str, int]:
    return {
        model.__name__: await model.all().count()
        for model in (Task, Occurrence, Signup, AuditEntry, ServiceRecord)
    }


async def new_task(hub, w: World, actor=None, **fields) -> Task:
    data = {
        "title": "楼道清扫",
        "starts_at": at(3, 19),
        "ends_at": at(3, 21),
        "capacity": 3,
    } | fields
    return await tasks.create_task(hub, actor or w.staff, w.community.id, data)


async def status_of(signup: Signup) -> SignupStatus:
    return (await Signup.get(id=signup.id)).status


async def listed(hub, task: Task, **kw) -> list[dict]:
    fresh = await Task.get(id=task.id).select_related("community")
    return await tasks.occurrences(hub, fresh, **kw)


class EventLog:
    """A temporary plugin that records domain events."""

    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def vh_domain_event(self, event):
        self.events.append(event)

    def names(self, prefix: str = "signup.") -> list[str]:
        return [e.name for e in self.events if e.name.startswith(prefix)]


class NoMinorsLate:
    """A registration rule: nobody under 18 on a shift that ends after 21:00 local."""

    RULE = "no_minors_after_21"

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def vh_check_signup(self, person, signup):
        self.seen.append((person, signup))
        start, end = signup.local_start, signup.local_end
        limit = datetime.combine(start.date(), time(21, 0), tzinfo=start.tzinfo)
        age = person.age_on(start.date())
        if age is not None and age < 18 and end > limit:
            return [
                Violation(
                    self.RULE,
                    {"zh-CN": "未成年人不能参加21点以后结束的班次", "en": "No minors after 21:00"},
                )
            ]
        return None


class BrokenRule:
    @hookimpl
    def vh_check_signup(self, person, signup):
        raise RuntimeError("the rule's database is down")


@contextmanager
def plugin(hub, obj: object, name: str) -> Iterator[object]:
    status = hub.plugins.register(obj, name)
    assert status.status == "enabled", status.error
    try:
        yield obj
    finally:
        hub.plugins.unregister(name)


# --- create_task ------------------------------------------------------------------------


async def test_staff_creates_one_off_task_with_its_one_occurrence_row(hub):
    w = await World(hub).build()
    log = EventLog()
    before = await counts()
    with plugin(hub, log, "test-events"):
        task = await new_task(hub, w, title="社区义诊", location="活动室", capacity=5)
    after = await counts()
    assert after["Task"] == before["Task"] + 1
    assert after["Occurrence"] == before["Occurrence"] + 1
    assert after["AuditEntry"] == before["AuditEntry"] + 1
    task = await Task.get(id=task.id)
    assert (task.title, task.location, task.capacity, task.rrule) == ("社区义诊", "活动室", 5, None)
    assert task.starts_at == at(3, 19) and task.ends_at == at(3, 21)
    assert task.created_by_id == w.staff.id and task.community_id == w.community.id
    [occ] = await Occurrence.filter(task_id=task.id)
    assert occ.start == at(3, 19) and occ.end == at(3, 21)
    assert (occ.capacity, occ.taken, occ.cancelled) == (5, 0, False)
    entry = await AuditEntry.get(entity_type="task", entity_id=task.id)
    assert entry.action == "task.created"
    assert entry.actor_id == w.staff.id and entry.community_id == w.community.id
    assert entry.after["capacity"] == 5
    assert [e.name for e in log.events] == ["task.created"]


async def test_staff_creates_recurring_task_without_occurrence_rows(hub):
    w = await World(hub).build()
    before = await counts()
    task = await new_task(hub, w, rrule="RRULE:" + PATROL_RULE, capacity=6)
    after = await counts()
    assert after["Task"] == before["Task"] + 1
    assert after["Occurrence"] == before["Occurrence"]
    assert after["AuditEntry"] == before["AuditEntry"] + 1
    stored = await Task.get(id=task.id)
    assert stored.rrule == PATROL_RULE  # the RRULE: prefix is not stored
    # The rule alone lists the occurrences.
    shown = await listed(hub, task)
    assert [o["start"] for o in shown[:3]] == [at(3, 19), at(8, 19), at(10, 19)]
    assert all(o["taken"] == 0 and o["capacity"] == 6 for o in shown)


@pytest.mark.parametrize("prefix", ["RRULE:", "rrule:", "  RRULE:", "Rrule:"])
async def test_rrule_is_stored_without_its_prefix_whatever_its_case(hub, prefix):
    """The prefix is accepted in any case (as parse_rrule does) and never stored, so a
    calendar feed that writes ``RRULE:`` + the stored rule gets a valid line."""
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=prefix + PATROL_RULE)
    assert (await Task.get(id=task.id)).rrule == PATROL_RULE


async def test_a_shift_of_exactly_24_hours_and_capacity_10000_are_allowed(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, starts_at=at(3, 8), ends_at=at(4, 8), capacity=10000)
    assert task.ends_at - task.starts_at == timedelta(hours=24)
    assert task.capacity == 10000


async def test_team_leader_creates_a_task_for_their_team(hub):
    w = await World(hub).build()
    leader = await w.person("队长")
    team = await teams.create_team(
        hub,
        w.admin,
        w.community.id,
        {"name": "银发巡逻队", "kind": "silver_patrol", "leader_id": leader.id},
    )
    other = await w.team("repair")
    before = await counts()
    task = await new_task(hub, w, actor=leader, team_id=team.id, rrule=PATROL_RULE)
    assert task.team_id == team.id and task.created_by_id == leader.id
    after = await counts()
    assert after["Task"] == before["Task"] + 1
    assert after["AuditEntry"] == before["AuditEntry"] + 1

    # ... but not for another team, nor without a team.
    before = await counts()
    for fields in ({"team_id": other.id}, {}):
        with pytest.raises(PermissionDenied) as info:
            await new_task(hub, w, actor=leader, **fields)
        assert info.value.code == "forbidden"
    assert await counts() == before


async def test_plain_volunteer_and_grid_worker_cannot_create_tasks(hub):
    w = await World(hub).build()
    team = await w.team("elderly_care")
    volunteer = await w.volunteer("志愿者", team=team)
    before = await counts()
    for actor in (volunteer, w.grid_worker):
        for fields in ({}, {"team_id": team.id}):
            with pytest.raises(PermissionDenied) as info:
                await new_task(hub, w, actor=actor, **fields)
            assert info.value.code == "forbidden"
    assert await counts() == before


async def test_staff_of_another_community_cannot_create_tasks_here_but_admin_can(hub):
    w = await World(hub).build()
    elsewhere = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    outsider = await w.person("外社区干部", roles=[Role.STAFF], community=elsewhere)
    before = await counts()
    with pytest.raises(PermissionDenied) as info:
        await new_task(hub, w, actor=outsider)
    assert info.value.code == "forbidden"
    assert await counts() == before
    task = await new_task(hub, w, actor=w.admin)
    assert task.created_by_id == w.admin.id


@pytest.mark.parametrize(
    ("fields", "field", "msgid"),
    [
        ({"ends_at": at(3, 18)}, "ends_at", "Must be after the start."),
        ({"ends_at": at(3, 19)}, "ends_at", "Must be after the start."),
        ({"ends_at": at(4, 19, 1)}, "ends_at", "A shift may last at most 24 hours."),
        ({"starts_at": datetime(2026, 12, 3, 19)}, "starts_at", None),
        ({"starts_at": "2026-12-03T19:00:00"}, "starts_at", None),
        ({"ends_at": datetime(2026, 12, 3, 21)}, "ends_at", None),
        ({"capacity": 0}, "capacity", None),
        ({"capacity": 10001}, "capacity", None),
        ({"capacity": -3}, "capacity", None),
        ({"capacity": "many"}, "capacity", None),
        ({"starts_at": at(1, 8), "ends_at": at(1, 10)}, "starts_at", "This time is in the past."),
        ({"starts_at": at(1, 9), "ends_at": at(1, 10)}, "starts_at", "This time is in the past."),
        (
            {"starts_at": at(30, 19, month=11), "ends_at": at(30, 21, month=11)},
            "starts_at",
            "This time is in the past.",
        ),
        ({"team_id": 999999}, "team_id", "No such team in this community."),
        ({"rrule": "FREQ=HOURLY"}, "rrule", "The rule may repeat at most daily."),
        ({"rrule": "FREQ=MINUTELY;INTERVAL=15"}, "rrule", "The rule may repeat at most daily."),
        ({"rrule": "every tuesday"}, "rrule", "Must be a valid RRULE (RFC 5545)."),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "Must be a valid RRULE (RFC 5545)."),
        (
            {"rrule": "DTSTART:20261203T190000\nRRULE:FREQ=WEEKLY"},
            "rrule",
            "Must be a single RRULE line without DTSTART.",
        ),
        ({"rrule": "FREQ=WEEKLY;" * 50}, "rrule", None),  # over 500 characters
        ({"title": "x"}, "title", None),
        ({"title": "a\nb"}, "title", None),
        ({"shift_lead": 3}, "shift_lead", None),
    ],
)
async def test_create_task_refuses_bad_input_and_writes_nothing(hub, fields, field, msgid):
    w = await World(hub).build()
    before = await counts()
    with pytest.raises(InvalidInput) as info:
        await new_task(hub, w, **fields)
    err = info.value
    assert err.code == "validation_error"
    assert field in err.fields, err.fields
    if msgid is not None:
        assert [d.msgid for d in err.details if d.field == field] == [msgid]
    assert await counts() == before


async def test_create_task_refuses_missing_fields(hub):
    w = await World(hub).build()
    before = await counts()
    with pytest.raises(InvalidInput) as info:
        await tasks.create_task(hub, w.staff, w.community.id, {"title": "清扫"})
    assert set(info.value.fields) >= {"starts_at", "ends_at", "capacity"}
    assert await counts() == before


async def test_create_task_refuses_a_team_of_another_community(hub):
    w = await World(hub).build()
    elsewhere = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    foreign = await teams.create_team(
        hub, w.admin, elsewhere.id, {"name": "外社区巡逻队", "kind": "silver_patrol"}
    )
    before = await counts()
    with pytest.raises(InvalidInput) as info:
        await new_task(hub, w, team_id=foreign.id)
    assert info.value.code == "validation_error"
    assert info.value.fields == ["team_id"]
    assert await counts() == before


async def test_create_task_in_unknown_community_is_not_found(hub):
    w = await World(hub).build()
    before = await counts()
    with pytest.raises(NotFound) as info:
        await tasks.create_task(
            hub,
            w.staff,
            999999,
            {"title": "清扫", "starts_at": at(3, 19), "ends_at": at(3, 21), "capacity": 3},
        )
    assert info.value.code == "community_not_found"
    assert await counts() == before


# --- occurrences ------------------------------------------------------------------------


async def test_occurrences_of_a_one_off_task(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=4)
    [occ] = await listed(hub, task)
    assert occ == {
        "start": at(3, 19),
        "end": at(3, 21),
        "capacity": 4,
        "taken": 0,
        "cancelled": False,
    }
    for name in ("甲", "乙"):
        await tasks.sign_up(hub, await w.person(name), task.id)
    [occ] = await listed(hub, task)
    assert (occ["capacity"], occ["taken"]) == (4, 2)
    # Once it has started it is no longer upcoming.
    clock.now = at(3, 19, 30)
    assert await listed(hub, task) == []


async def test_one_off_task_beyond_the_default_window_still_has_its_occurrence(hub):
    """API: a task's occurrences are "one for a one-off task"; signing up without
    occurrence_start takes "the next upcoming occurrence", however far ahead it is."""
    w = await World(hub).build()
    far = at(10, 9, month=2, year=2027)  # about ten weeks ahead
    task = await new_task(hub, w, starts_at=far, ends_at=far + timedelta(hours=3))
    shown = await listed(hub, task)
    assert [o["start"] for o in shown] == [far]
    signup = await tasks.sign_up(hub, await w.person("甲"), task.id)
    assert signup.status is SignupStatus.CONFIRMED
    assert signup.occurrence.start == far


async def test_occurrences_of_a_recurring_task_show_capacity_and_taken(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=PATROL_RULE, capacity=6)
    shown = await listed(hub, task)
    # Eight weeks from Tuesday 2026-12-01 09:00: every Tuesday and Thursday 19:00 local.
    expected = [at(d, 19) for d in (3, 8, 10, 15, 17, 22, 24, 29, 31)] + [
        at(d, 19, month=1, year=2027) for d in (5, 7, 12, 14, 19, 21)
    ]
    assert [o["start"] for o in shown] == expected
    assert all(o["end"] - o["start"] == timedelta(hours=2) for o in shown)
    assert all(o["capacity"] == 6 and o["taken"] == 0 for o in shown)

    # One signup each for two different occurrences.
    await tasks.sign_up(hub, await w.person("甲"), task.id)
    await tasks.sign_up(
        hub, await w.person("乙"), task.id, {"occurrence_start": at(10, 19).astimezone(UTC)}
    )
    taken = {o["start"]: o["taken"] for o in await listed(hub, task)}
    assert taken[at(3, 19)] == 1
    assert taken[at(8, 19)] == 0
    assert taken[at(10, 19)] == 1
    # A window can be asked for.
    window = await listed(hub, task, start=at(8, 0), end=at(11, 0))
    assert [(o["start"], o["taken"]) for o in window] == [(at(8, 19), 0), (at(10, 19), 1)]


async def test_taken_counts_every_signup_to_a_recurring_occurrence(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=PATROL_RULE, capacity=2)
    statuses = []
    for name in ("甲", "乙", "丙"):
        signup = await tasks.sign_up(hub, await w.person(name), task.id)
        statuses.append(signup.status)
    assert statuses == [SignupStatus.CONFIRMED, SignupStatus.CONFIRMED, SignupStatus.WAITLISTED]
    first = (await listed(hub, task))[0]
    assert (first["start"], first["taken"]) == (at(3, 19), 2)
    assert await Occurrence.filter(task_id=task.id).count() == 1


async def test_task_in_a_berlin_community_keeps_local_time_across_dst(hub):
    """Summer time starts in Europe on 2027-03-28: the walk stays at 19:00 local."""
    w = await World(hub).build()
    berlin = await people.create_community(
        hub, w.admin, {"name": "柏林华人社区", "timezone": "Europe/Berlin"}
    )
    staff = await w.person("柏林干部", roles=[Role.STAFF], community=berlin)
    be = ZoneInfo("Europe/Berlin")
    first = datetime(2027, 3, 23, 19, 0, tzinfo=be)  # a Tuesday, winter time (UTC+1)
    task = await tasks.create_task(
        hub,
        staff,
        berlin.id,
        {
            "title": "Abendrunde",
            "starts_at": first,
            "ends_at": first + timedelta(hours=2),
            "capacity": 4,
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
        },
    )
    shown = await listed(
        hub, task, start=datetime(2027, 3, 20, tzinfo=UTC), end=datetime(2027, 4, 7, tzinfo=UTC)
    )
    assert [o["start"].astimezone(be).date() for o in shown] == [
        date(2027, 3, 23),
        date(2027, 3, 30),
        date(2027, 4, 6),
    ]
    assert all(o["start"].astimezone(be).time() == time(19, 0) for o in shown)
    assert all(o["end"].astimezone(be).time() == time(21, 0) for o in shown)
    assert [o["start"].astimezone(UTC).hour for o in shown] == [18, 17, 17]

    volunteer = await w.person("Anna", community=berlin, birth_date=ADULT)
    rule = NoMinorsLate()
    with plugin(hub, rule, "test-rule"):
        signup = await tasks.sign_up(
            hub, volunteer, task.id, {"occurrence_start": datetime(2027, 3, 30, 17, tzinfo=UTC)}
        )
    assert signup.status is SignupStatus.CONFIRMED
    assert signup.occurrence.start == datetime(2027, 3, 30, 19, tzinfo=be)
    _, facts = rule.seen[-1]
    assert facts.local_start.utcoffset() == timedelta(hours=2)
    assert facts.local_start.time() == time(19, 0) and facts.local_end.time() == time(21, 0)
    # 18:00 UTC on the 30th (19:00 in winter time) is not an occurrence any more.
    before = await counts()
    with pytest.raises(InvalidInput) as info:
        await tasks.sign_up(
            hub, volunteer, task.id, {"occurrence_start": datetime(2027, 3, 30, 18, tzinfo=UTC)}
        )
    assert info.value.fields == ["occurrence_start"]
    assert await counts() == before


# --- sign_up ------------------------------------------------------------------------------


async def test_confirmed_until_capacity_then_waitlisted_in_arrival_order(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=3)
    volunteers = [await w.person(f"志愿者{i}") for i in range(5)]
    before = await counts()
    signups = [await tasks.sign_up(hub, v, task.id) for v in volunteers]
    assert [s.status for s in signups] == [SignupStatus.CONFIRMED] * 3 + [
        SignupStatus.WAITLISTED
    ] * 2
    assert [s.person_id for s in signups] == [v.id for v in volunteers]
    assert all(s.occurrence.start == at(3, 19) for s in signups)
    after = await counts()
    assert after["Signup"] == before["Signup"] + 5
    assert after["AuditEntry"] == before["AuditEntry"] + 5
    # The one-off task keeps using the occurrence row made with it.
    assert after["Occurrence"] == before["Occurrence"]
    [occ] = await Occurrence.filter(task_id=task.id)
    assert (occ.capacity, occ.taken) == (3, 3)
    actions = (
        await AuditEntry.filter(entity_type="signup")
        .order_by("id")
        .values_list("action", "entity_id", "actor_id")
    )
    assert [tuple(a) for a in actions] == [
        (f"signup.{s.status.value}", s.id, s.person_id) for s in signups
    ]


async def test_sign_up_with_explicit_occurrence_start_in_local_time(hub):
    """The API's own example offset (+08:00) names the occurrence like any other offset."""
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    a, b = await w.person("甲"), await w.person("乙")
    first = await tasks.sign_up(hub, a, task.id, {"occurrence_start": at(3, 19)})
    second = await tasks.sign_up(hub, b, task.id, {"occurrence_start": "2026-12-03T19:00:00+08:00"})
    assert (first.status, second.status) == (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)
    assert await Occurrence.filter(task_id=task.id).count() == 1


async def test_any_offset_names_the_same_recurring_occurrence(hub):
    """Capacity holds per occurrence whichever offset names it: no duplicate rows."""
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=PATROL_RULE, capacity=1)
    a, b, c = [await w.person(n) for n in ("甲", "乙", "丙")]
    s1 = await tasks.sign_up(hub, a, task.id, {"occurrence_start": at(8, 19).astimezone(UTC)})
    s2 = await tasks.sign_up(hub, b, task.id, {"occurrence_start": at(8, 19)})
    s3 = await tasks.sign_up(hub, c, task.id, {"occurrence_start": "2026-12-08T19:00:00+08:00"})
    assert [s.status for s in (s1, s2, s3)] == [
        SignupStatus.CONFIRMED,
        SignupStatus.WAITLISTED,
        SignupStatus.WAITLISTED,
    ]
    assert await Occurrence.filter(task_id=task.id).count() == 1
    [occ] = await Occurrence.filter(task_id=task.id)
    assert (occ.start, occ.taken) == (at(8, 19), 1)


async def test_sign_up_without_occurrence_start_picks_the_next_upcoming(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=PATROL_RULE, capacity=6)
    first = await tasks.sign_up(hub, await w.person("甲"), task.id)
    assert first.occurrence.start == at(3, 19)
    # During Thursday's walk the next one is Tuesday's.
    clock.now = at(3, 19, 30)
    second = await tasks.sign_up(hub, await w.person("乙"), task.id)
    assert second.occurrence.start == at(8, 19)
    assert second.status is SignupStatus.CONFIRMED
    # A minute before Tuesday's walk it is still Tuesday's.
    clock.now = at(8, 18, 59)
    third = await tasks.sign_up(hub, await w.person("丙"), task.id)
    assert third.occurrence.start == at(8, 19)


async def test_recurring_task_starting_beyond_the_window_can_be_signed_up_for(hub):
    w = await World(hub).build()
    first = at(2, 19, month=3, year=2027)  # a Tuesday, thirteen weeks ahead
    task = await new_task(
        hub, w, starts_at=first, ends_at=first + timedelta(hours=2), rrule=PATROL_RULE
    )
    signup = await tasks.sign_up(hub, await w.person("甲"), task.id)
    assert signup.occurrence.start == first


@pytest.mark.parametrize(
    "occurrence_start",
    [
        at(9, 19),  # a Wednesday
        at(8, 19, 30),  # a Tuesday, at the wrong time
        at(8, 20),
        at(1, 19),  # a Tuesday before the first start
        "2026-12-08T19:00:00",  # naive
        "next tuesday",
    ],
)
async def test_sign_up_for_a_time_that_is_not_an_occurrence(hub, occurrence_start):
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=PATROL_RULE)
    volunteer = await w.person("甲")
    before = await counts()
    with pytest.raises(InvalidInput) as info:
        await tasks.sign_up(hub, volunteer, task.id, {"occurrence_start": occurrence_start})
    assert info.value.code == "validation_error"
    assert info.value.fields == ["occurrence_start"]
    assert await counts() == before


async def test_sign_up_for_a_one_off_task_at_another_time(hub):
    w = await World(hub).build()
    task = await new_task(hub, w)
    volunteer = await w.person("甲")
    before = await counts()
    for when in (at(4, 19), at(3, 19, 1), at(3, 21)):
        with pytest.raises(InvalidInput) as info:
            await tasks.sign_up(hub, volunteer, task.id, {"occurrence_start": when})
        assert info.value.code == "validation_error"
        assert info.value.fields == ["occurrence_start"]
    assert await counts() == before


async def test_sign_up_for_an_occurrence_that_has_started(hub, clock):
    w = await World(hub).build()
    one_off = await new_task(hub, w)
    recurring = await new_task(hub, w, rrule=PATROL_RULE)
    volunteer = await w.person("甲")
    await tasks.sign_up(hub, await w.person("乙"), recurring.id)  # materialise Thursday's
    clock.now = at(3, 19)  # exactly the start
    before = await counts()
    for task in (one_off, recurring):
        with pytest.raises(InvalidInput) as info:
            await tasks.sign_up(hub, volunteer, task.id, {"occurrence_start": at(3, 19)})
        assert info.value.fields == ["occurrence_start"]
    clock.now = at(3, 20)
    for task in (one_off, recurring):
        with pytest.raises(InvalidInput) as info:
            await tasks.sign_up(hub, volunteer, task.id, {"occurrence_start": at(3, 19)})
        assert info.value.fields == ["occurrence_start"]
    # Without occurrence_start, the one-off task has nothing left to sign up for.
    with pytest.raises(Conflict) as conflict:
        await tasks.sign_up(hub, volunteer, one_off.id)
    assert conflict.value.code == "no_upcoming_occurrence"
    assert await counts() == before


async def test_sign_up_for_unknown_task(hub):
    w = await World(hub).build()
    volunteer = await w.person("甲")
    before = await counts()
    with pytest.raises(NotFound) as info:
        await tasks.sign_up(hub, volunteer, 999999)
    assert info.value.code == "task_not_found"
    with pytest.raises(InvalidInput) as bad:
        await tasks.sign_up(hub, volunteer, 999999, {"occurrence": "x"})
    assert bad.value.fields == ["occurrence"]
    assert await counts() == before


async def test_already_signed_up_then_again_after_cancelling(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    a, b = await w.person("甲"), await w.person("乙")
    first = await tasks.sign_up(hub, a, task.id)
    waiting = await tasks.sign_up(hub, b, task.id)
    assert waiting.status is SignupStatus.WAITLISTED
    before = await counts()
    for actor in (a, b):  # confirmed or waitlisted: either way, already signed up
        with pytest.raises(Conflict) as info:
            await tasks.sign_up(hub, actor, task.id)
        assert info.value.code == "already_signed_up"
        with pytest.raises(Conflict) as info:
            await tasks.sign_up(
                hub, actor, task.id, {"occurrence_start": at(3, 19).astimezone(UTC)}
            )
        assert info.value.code == "already_signed_up"
    assert await counts() == before
    [occ] = await Occurrence.filter(task_id=task.id)
    assert occ.taken == 1

    await tasks.cancel_signup(hub, b, waiting.id)
    again = await tasks.sign_up(hub, b, task.id)
    assert again.id != waiting.id
    assert again.status is SignupStatus.WAITLISTED
    await tasks.cancel_signup(hub, a, first.id)  # b's new signup is promoted
    assert await status_of(again) is SignupStatus.CONFIRMED
    back = await tasks.sign_up(hub, a, task.id)
    assert back.status is SignupStatus.WAITLISTED


async def test_same_person_may_sign_up_for_several_occurrences(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, rrule=PATROL_RULE)
    volunteer = await w.person("甲")
    s1 = await tasks.sign_up(hub, volunteer, task.id)
    s2 = await tasks.sign_up(
        hub, volunteer, task.id, {"occurrence_start": at(8, 19).astimezone(UTC)}
    )
    assert (s1.occurrence.start, s2.occurrence.start) == (at(3, 19), at(8, 19))
    assert s1.status is s2.status is SignupStatus.CONFIRMED


async def test_team_only_task_refuses_non_members(hub):
    w = await World(hub).build()
    patrol = await w.team("silver_patrol", "银发巡逻队")
    repair = await w.team("repair", "维修队")
    task = await new_task(hub, w, team_id=patrol.id)
    outsider = await w.person("路人")
    other_team = await w.volunteer("维修工", team=repair)
    pending = await w.person("待审核")
    await teams.join_team(hub, pending, patrol.id, {"qualifications": [{"kind": "first_aid"}]})
    pending = await load_actor(pending.id)
    member = await w.volunteer("队员", team=patrol)
    before = await counts()
    for actor in (outsider, other_team, pending):
        with pytest.raises(PermissionDenied) as info:
            await tasks.sign_up(hub, actor, task.id)
        assert info.value.code == "not_team_member"
    assert await counts() == before
    signup = await tasks.sign_up(hub, member, task.id)
    assert signup.status is SignupStatus.CONFIRMED


async def test_registration_rule_refuses_minor_on_a_late_shift(hub):
    w = await World(hub).build()
    late = await new_task(hub, w, title="夜间巡逻", starts_at=at(3, 20), ends_at=at(3, 22))
    early = await new_task(hub, w, title="傍晚巡逻", starts_at=at(3, 18), ends_at=at(3, 20))
    adult = await w.person("成年人", birth_date=ADULT)
    minor = await w.person("中学生", birth_date=MINOR)
    rule = NoMinorsLate()
    with plugin(hub, rule, "test-rule"):
        confirmed = await tasks.sign_up(hub, adult, late.id)
        assert confirmed.status is SignupStatus.CONFIRMED
        before = await counts()
        with pytest.raises(RuleViolation) as info:
            await tasks.sign_up(hub, minor, late.id)
        err = info.value
        assert err.code == "registration_refused"
        assert err.rules == [NoMinorsLate.RULE]
        assert err.as_dict("en")["details"] == [
            {"rule": NoMinorsLate.RULE, "message": "No minors after 21:00"}
        ]
        assert await counts() == before
        assert await Signup.filter(person_id=minor.id).count() == 0

        # The rule saw the occurrence in local time, and who is confirmed already.
        person, facts = rule.seen[-1]
        assert person.id == minor.id and person.birth_date == MINOR
        assert facts.task_id == late.id and facts.community_id == w.community.id
        assert facts.local_start == at(3, 20) and facts.local_end == at(3, 22)
        assert facts.local_start.utcoffset() == timedelta(hours=8)
        assert facts.local_end.hour == 22
        assert facts.capacity == 3 and facts.confirmed_people == (adult.id,)

        # A shift that ends by 21:00 is fine for the same minor.
        ok = await tasks.sign_up(hub, minor, early.id)
        assert ok.status is SignupStatus.CONFIRMED
    # Once the plugin is gone, its rule no longer applies.
    later = await tasks.sign_up(hub, minor, late.id)
    assert later.status is SignupStatus.CONFIRMED


async def test_refused_first_signup_to_a_recurring_occurrence_writes_nothing(hub):
    """The occurrence row must not be made when the signup that needed it is refused."""
    w = await World(hub).build()
    task = await new_task(
        hub, w, title="夜间巡逻", starts_at=at(3, 20), ends_at=at(3, 22), rrule=PATROL_RULE
    )
    minor = await w.person("中学生", birth_date=MINOR)
    with plugin(hub, NoMinorsLate(), "test-rule"):
        before = await counts()
        with pytest.raises(RuleViolation) as info:
            await tasks.sign_up(hub, minor, task.id)
        assert info.value.rules == [NoMinorsLate.RULE]
        assert await counts() == before


async def test_a_failing_rule_plugin_refuses(hub):
    w = await World(hub).build()
    task = await new_task(hub, w)
    volunteer = await w.person("甲")
    with plugin(hub, BrokenRule(), "test-broken-rule"):
        before = await counts()
        with pytest.raises(RuleViolation) as info:
            await tasks.sign_up(hub, volunteer, task.id)
        assert info.value.code == "registration_refused"
        assert info.value.rules == ["plugin_error"]
        assert await counts() == before
        status = {s.name: s for s in hub.plugins.statuses()}["test-broken-rule"]
        assert status.status == "call_error" and status.failures == 1


# --- cancel_signup --------------------------------------------------------------------


async def test_cancel_confirmed_promotes_exactly_the_first_waitlisted(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=2)
    a, b, c, d, e = [await w.person(n) for n in "甲乙丙丁戊"]
    sa, sb, sc, sd, se = [await tasks.sign_up(hub, p, task.id) for p in (a, b, c, d, e)]
    assert [s.status for s in (sc, sd, se)] == [SignupStatus.WAITLISTED] * 3

    before = await counts()
    promoted = await tasks.cancel_signup(hub, b, sb.id)
    assert promoted is not None and promoted.id == sc.id
    assert promoted.status is SignupStatus.CONFIRMED
    assert [await status_of(s) for s in (sa, sb, sc, sd, se)] == [
        SignupStatus.CONFIRMED,
        SignupStatus.CANCELLED,
        SignupStatus.CONFIRMED,
        SignupStatus.WAITLISTED,
        SignupStatus.WAITLISTED,
    ]
    row = await Signup.get(id=sb.id)
    assert row.cancelled_at is not None
    assert (await Signup.get(id=sc.id)).promoted_at is not None
    [occ] = await Occurrence.filter(task_id=task.id)
    assert occ.taken == occ.capacity == 2
    after = await counts()
    assert after["Signup"] == before["Signup"]
    assert after["AuditEntry"] == before["AuditEntry"] + 2  # cancelled, promoted
    entries = await AuditEntry.filter(id__gt=0).order_by("-id").limit(2)
    assert [(x.action, x.entity_id) for x in reversed(entries)] == [
        ("signup.cancelled", sb.id),
        ("signup.promoted", sc.id),
    ]
    assert entries[0].after["person_id"] == c.id
    # The next cancellation promotes the next in line.
    promoted = await tasks.cancel_signup(hub, a, sa.id)
    assert promoted.id == sd.id
    assert await status_of(se) is SignupStatus.WAITLISTED


async def test_cancel_waitlisted_promotes_nobody(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    a, b, c = [await w.person(n) for n in "甲乙丙"]
    sa, sb, sc = [await tasks.sign_up(hub, p, task.id) for p in (a, b, c)]
    promoted = await tasks.cancel_signup(hub, b, sb.id)
    assert promoted is None
    assert [await status_of(s) for s in (sa, sb, sc)] == [
        SignupStatus.CONFIRMED,
        SignupStatus.CANCELLED,
        SignupStatus.WAITLISTED,
    ]
    [occ] = await Occurrence.filter(task_id=task.id)
    assert occ.taken == 1
    # The remaining waitlisted one moves up when the confirmed one leaves.
    assert (await tasks.cancel_signup(hub, a, sa.id)).id == sc.id


async def test_cancel_with_nobody_waiting_frees_the_place(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=2)
    a, b, c = [await w.person(n) for n in "甲乙丙"]
    sa = await tasks.sign_up(hub, a, task.id)
    await tasks.sign_up(hub, b, task.id)
    assert await tasks.cancel_signup(hub, a, sa.id) is None
    [occ] = await listed(hub, task)
    assert occ["taken"] == 1
    # The freed place is taken by the next to sign up.
    sc = await tasks.sign_up(hub, c, task.id)
    assert sc.status is SignupStatus.CONFIRMED
    assert (await listed(hub, task))[0]["taken"] == 2


async def test_cancelling_twice_is_a_conflict(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    a, b = await w.person("甲"), await w.person("乙")
    sa = await tasks.sign_up(hub, a, task.id)
    await tasks.cancel_signup(hub, a, sa.id)
    before = await counts()
    with pytest.raises(Conflict) as info:
        await tasks.cancel_signup(hub, a, sa.id)
    assert info.value.code == "invalid_state"
    assert await counts() == before
    [occ] = await Occurrence.filter(task_id=task.id)
    assert occ.taken == 0
    # The freed place was not given away twice.
    sb = await tasks.sign_up(hub, b, task.id)
    assert sb.status is SignupStatus.CONFIRMED


async def test_others_cannot_see_or_cancel_a_signup_but_staff_can(hub):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    owner, other, waiting = [await w.person(n) for n in ("本人", "别人", "候补")]
    signup = await tasks.sign_up(hub, owner, task.id)
    late = await tasks.sign_up(hub, waiting, task.id)
    elsewhere = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    foreign_staff = await w.person("外社区干部", roles=[Role.STAFF], community=elsewhere)
    before = await counts()
    for actor in (other, foreign_staff, w.grid_worker):
        for action in (tasks.get_signup, tasks.check_in, tasks.check_out):
            with pytest.raises(NotFound) as info:
                if action is tasks.get_signup:
                    await action(actor, signup.id)
                else:
                    await action(hub, actor, signup.id)
            assert info.value.code == "signup_not_found"
        with pytest.raises(NotFound) as info:
            await tasks.cancel_signup(hub, actor, signup.id)
        assert info.value.code == "signup_not_found"
    with pytest.raises(NotFound):
        await tasks.cancel_signup(hub, owner, 999999)
    assert await counts() == before
    assert await status_of(signup) is SignupStatus.CONFIRMED

    seen = await tasks.get_signup(w.staff, signup.id)
    assert seen.person_id == owner.id
    promoted = await tasks.cancel_signup(hub, w.staff, signup.id)
    assert promoted.id == late.id
    entry = await AuditEntry.filter(action="signup.cancelled").get()
    assert entry.actor_id == w.staff.id and entry.entity_id == signup.id


# --- check in and out -------------------------------------------------------------------


async def test_check_in_window_is_an_hour_before_start_until_the_end(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=3)
    a, b, c = [await w.person(n) for n in "甲乙丙"]
    sa, sb, sc = [await tasks.sign_up(hub, p, task.id) for p in (a, b, c)]

    clock.now = at(3, 17, 59)
    before = await counts()
    with pytest.raises(Conflict) as info:
        await tasks.check_in(hub, a, sa.id)
    assert info.value.code == "outside_check_in_window"
    assert await counts() == before
    assert await status_of(sa) is SignupStatus.CONFIRMED

    clock.now = at(3, 18)
    checked = await tasks.check_in(hub, a, sa.id)
    assert checked.status is SignupStatus.CHECKED_IN
    assert checked.checked_in_at == at(3, 18)

    clock.now = at(3, 21)  # the end itself is still inside
    assert (await tasks.check_in(hub, b, sb.id)).status is SignupStatus.CHECKED_IN

    clock.now = at(3, 21) + timedelta(seconds=1)
    before = await counts()
    with pytest.raises(Conflict) as info:
        await tasks.check_in(hub, c, sc.id)
    assert info.value.code == "outside_check_in_window"
    assert await counts() == before
    assert await status_of(sc) is SignupStatus.CONFIRMED


async def test_only_confirmed_signups_check_in(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    a, b, c = [await w.person(n) for n in "甲乙丙"]
    sa, sb, sc = [await tasks.sign_up(hub, p, task.id) for p in (a, b, c)]
    await tasks.cancel_signup(hub, c, sc.id)
    clock.now = at(3, 18, 30)
    await tasks.check_in(hub, a, sa.id)
    before = await counts()
    for actor, signup in ((b, sb), (c, sc), (a, sa)):  # waitlisted, cancelled, checked in
        with pytest.raises(Conflict) as info:
            await tasks.check_in(hub, actor, signup.id)
        assert info.value.code == "invalid_state"
    assert await counts() == before
    assert [await status_of(s) for s in (sa, sb, sc)] == [
        SignupStatus.CHECKED_IN,
        SignupStatus.WAITLISTED,
        SignupStatus.CANCELLED,
    ]
    # A checked-in signup can no longer be cancelled.
    with pytest.raises(Conflict) as info:
        await tasks.cancel_signup(hub, a, sa.id)
    assert info.value.code == "invalid_state"
    assert await counts() == before


async def test_check_out_records_hours_clipped_to_the_shift(hub, clock):
    w = await World(hub).build()
    team = await w.team("elderly_care")
    task = await new_task(hub, w, title="助老送餐", team_id=team.id, capacity=3)
    early = await w.volunteer("早到", team=team)
    late = await w.volunteer("迟到", team=team)
    sa = await tasks.sign_up(hub, early, task.id)
    sb = await tasks.sign_up(hub, late, task.id)

    clock.now = at(3, 18, 30)  # 30 minutes early
    await tasks.check_in(hub, early, sa.id)
    clock.now = at(3, 19, 30)  # 30 minutes late
    await tasks.check_in(hub, late, sb.id)

    clock.now = at(3, 21, 15)  # 15 minutes after the end
    before = await counts()
    record = await tasks.check_out(hub, early, sa.id)
    assert record.hours == Decimal("2.00")
    assert record.started_at == at(3, 19) and record.ended_at == at(3, 21)
    assert record.person_id == early.id and record.signup_id == sa.id
    assert record.community_id == w.community.id and record.team_id == team.id
    assert record.description == "助老送餐"
    stored = await ServiceRecord.get(id=record.id)
    assert stored.hours == Decimal("2.00")
    row = await Signup.get(id=sa.id)
    assert row.status is SignupStatus.COMPLETED and row.checked_out_at == at(3, 21, 15)
    after = await counts()
    assert after["ServiceRecord"] == before["ServiceRecord"] + 1
    assert after["AuditEntry"] == before["AuditEntry"] + 1
    entry = await AuditEntry.filter(action="signup.checked_out").get()
    assert entry.entity_id == sa.id
    assert entry.after["hours"] == "2.00" and entry.after["service_record_id"] == record.id

    clock.now = at(3, 21)
    shorter = await tasks.check_out(hub, late, sb.id)
    assert shorter.hours == Decimal("1.50")
    assert shorter.started_at == at(3, 19, 30) and shorter.ended_at == at(3, 21)

    # Not twice.
    before = await counts()
    for actor, signup in ((early, sa), (late, sb)):
        with pytest.raises(Conflict) as info:
            await tasks.check_out(hub, actor, signup.id)
        assert info.value.code == "invalid_state"
    assert await counts() == before


async def test_check_out_leaving_early_and_without_check_in(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=2)
    a, b = await w.person("甲"), await w.person("乙")
    sa = await tasks.sign_up(hub, a, task.id)
    sb = await tasks.sign_up(hub, b, task.id)
    clock.now = at(3, 19)
    await tasks.check_in(hub, a, sa.id)
    before = await counts()
    with pytest.raises(Conflict) as info:  # confirmed, never checked in
        await tasks.check_out(hub, b, sb.id)
    assert info.value.code == "invalid_state"
    assert await counts() == before
    clock.now = at(3, 20, 12)  # leaves after 1 h 12 min
    record = await tasks.check_out(hub, a, sa.id)
    assert record.hours == Decimal("1.20")
    assert record.ended_at == at(3, 20, 12)


async def test_staff_check_in_and_out_for_a_volunteer(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w)
    elder = await w.person("王大爷", birth_date=SENIOR)
    signup = await tasks.sign_up(hub, elder, task.id)
    clock.now = at(3, 19)
    await tasks.check_in(hub, w.staff, signup.id)
    clock.now = at(3, 21)
    record = await tasks.check_out(hub, w.staff, signup.id)
    assert record.person_id == elder.id and record.hours == Decimal("2.00")
    actors = await AuditEntry.filter(
        action__in=["signup.checked_in", "signup.checked_out"]
    ).values_list("actor_id", flat=True)
    assert list(actors) == [w.staff.id, w.staff.id]
    assert (await tasks.service_records(elder)).total_hours == Decimal("2.00")
    assert (await tasks.service_records(w.staff)).total_hours == Decimal("0")


async def test_service_records_total_hours_sums(hub, clock):
    w = await World(hub).build()
    thursday = await new_task(hub, w, title="周四清扫", starts_at=at(3, 19), ends_at=at(3, 21))
    friday = await new_task(hub, w, title="周五清扫", starts_at=at(4, 9), ends_at=at(4, 12))
    saturday = await new_task(hub, w, title="周六清扫", starts_at=at(5, 9), ends_at=at(5, 10))
    volunteer, other = await w.person("甲"), await w.person("乙")
    empty = await tasks.service_records(volunteer)
    assert empty.total_hours == Decimal("0") and list(empty.items) == []

    signups = [await tasks.sign_up(hub, volunteer, t.id) for t in (thursday, friday, saturday)]
    other_signup = await tasks.sign_up(hub, other, thursday.id)
    shifts = [  # (check in, check out): 2.00 h, 1.90 h, 0.25 h
        (at(3, 18, 30), at(3, 21, 30)),
        (at(4, 10, 6), at(4, 12)),
        (at(5, 9, 45), at(5, 10, 5)),
    ]
    for signup, (check_in_at, check_out_at) in zip(signups, shifts, strict=True):
        clock.now = check_in_at
        await tasks.check_in(hub, volunteer, signup.id)
        clock.now = check_out_at
        await tasks.check_out(hub, volunteer, signup.id)
    clock.now = at(5, 12)
    result = await tasks.service_records(volunteer)
    assert [r.hours for r in result.items] == [
        Decimal("0.25"),
        Decimal("1.90"),
        Decimal("2.00"),
    ]  # newest first
    assert result.total_hours == Decimal("4.15")
    assert isinstance(result.total_hours, Decimal)
    # Someone else's hours are not counted.
    assert other_signup.person_id == other.id
    assert (await tasks.service_records(other)).total_hours == Decimal("0")


# --- audit trail and domain events ------------------------------------------------------


async def test_signup_lifecycle_events_in_order(hub, clock):
    w = await World(hub).build()
    task = await new_task(hub, w, capacity=1)
    a, b = await w.person("甲"), await w.person("乙")
    log = EventLog()
    with plugin(hub, log, "test-events"):
        sa = await tasks.sign_up(hub, a, task.id)
        sb = await tasks.sign_up(hub, b, task.id)
        await tasks.cancel_signup(hub, a, sa.id)
        clock.now = at(3, 18, 30)
        await tasks.check_in(hub, b, sb.id)
        clock.now = at(3, 21)
        record = await tasks.check_out(hub, b, sb.id)
        # A refused action publishes nothing.
        with pytest.raises(Conflict):
            await tasks.check_out(hub, b, sb.id)
    events = [e for e in log.events if e.name.startswith("signup.")]
    assert [(e.name, e.entity_id, e.actor_id) for e in events] == [
        ("signup.confirmed", sa.id, a.id),
        ("signup.waitlisted", sb.id, b.id),
        ("signup.cancelled", sa.id, a.id),
        ("signup.promoted", sb.id, a.id),
        ("signup.checked_in", sb.id, b.id),
        ("signup.checked_out", sb.id, b.id),
    ]
    assert all(e.community_id == w.community.id and e.entity_type == "signup" for e in events)
    confirmed = events[0]
    assert confirmed.data["status"] == "confirmed"
    assert confirmed.data["task_id"] == task.id and confirmed.data["person_id"] == a.id
    assert datetime.fromisoformat(confirmed.data["occurrence_start"]) == at(3, 19)
    assert events[3].data["person_id"] == b.id
    assert events[5].data["service_record_id"] == record.id
    assert events[4].occurred_at == at(3, 18, 30)
    # Every event has its audit entry, in the same order.
    audit = (
        await AuditEntry.filter(entity_type="signup")
        .order_by("id")
        .values_list("action", "entity_id")
    )
    assert [tuple(x) for x in audit] == [(e.name, e.entity_id) for e in events]
    # After unregistering, the log hears nothing more.
    tomorrow = await new_task(hub, w, starts_at=at(4, 19), ends_at=at(4, 21))
    await tasks.sign_up(hub, a, tomorrow.id)
    assert len(log.events) == 6  # only the six signup events above


async def test_refusals_publish_no_events(hub):
    w = await World(hub).build()
    team = await w.team("repair")
    task = await new_task(hub, w, capacity=1, team_id=team.id)
    member = await w.volunteer("队员", team=team)
    outsider = await w.person("路人")
    log = EventLog()
    with plugin(hub, log, "test-events"):
        await tasks.sign_up(hub, member, task.id)
        with pytest.raises(Conflict):
            await tasks.sign_up(hub, member, task.id)
        with pytest.raises(PermissionDenied):
            await tasks.sign_up(hub, outsider, task.id)
        with pytest.raises(InvalidInput):
            await new_task(hub, w, capacity=0)
    assert log.names("") == ["signup.confirmed"]


# --- story 3: the silver patrol ----------------------------------------------------------


class SilverAge:
    """The community's local rule: silver patrol members are 60 or older."""

    @hookimpl
    def vh_check_team_join(self, person, team_kind, today):
        if team_kind == "silver_patrol" and (person.age_on(today) or 0) < 60:
            return [Violation("silver_patrol_age", "银发巡逻队队员须年满60周岁")]
        return None


async def test_story_3_the_silver_patrol(hub, clock):
    w = await World(hub).build()
    captain = await w.person("张队长", birth_date=date(1958, 6, 1))
    patrol = await teams.create_team(
        hub,
        w.admin,
        w.community.id,
        {"name": "银发巡逻队", "kind": "silver_patrol", "leader_id": captain.id},
    )
    log = EventLog()
    with plugin(hub, SilverAge(), "test-silver-age"), plugin(hub, log, "test-events"):
        young = await w.person("小赵", birth_date=date(1985, 1, 1))
        with pytest.raises(RuleViolation) as info:
            await teams.join_team(hub, young, patrol.id)
        assert info.value.rules == ["silver_patrol_age"]

        walkers = [
            await w.volunteer(f"巡逻员{i}", team=patrol, birth_date=date(1950 + i, 1, 1))
            for i in range(8)
        ]
        # Every Tuesday and Thursday, 19:00-21:00, six places, set up by the captain.
        task = await new_task(
            hub,
            w,
            actor=captain,
            title="银发巡逻",
            team_id=patrol.id,
            starts_at=at(3, 19),
            ends_at=at(3, 21),
            capacity=6,
            rrule=PATROL_RULE,
            location="幸福里小区",
        )
        with pytest.raises(PermissionDenied):
            await tasks.sign_up(hub, young, task.id)

        next_tuesday = at(8, 19)
        signups = [
            await tasks.sign_up(hub, v, task.id, {"occurrence_start": next_tuesday})
            for v in walkers
        ]
        assert [s.status for s in signups] == [SignupStatus.CONFIRMED] * 6 + [
            SignupStatus.WAITLISTED
        ] * 2
        shown = {o["start"]: o for o in await listed(hub, task)}
        assert shown[next_tuesday]["taken"] == 6 and shown[next_tuesday]["capacity"] == 6
        assert shown[at(3, 19)]["taken"] == 0
        assert await Occurrence.filter(task_id=task.id).count() == 1

        # One walker drops out: the seventh to sign up takes the place.
        promoted = await tasks.cancel_signup(hub, walkers[2], signups[2].id)
        assert promoted.id == signups[6].id
        assert await status_of(signups[6]) is SignupStatus.CONFIRMED
        assert await status_of(signups[7]) is SignupStatus.WAITLISTED
        shown = {o["start"]: o for o in await listed(hub, task)}
        assert shown[next_tuesday]["taken"] == 6

        # On the night: check in and out, and the hours are recorded.
        clock.now = at(8, 18, 45)
        await tasks.check_in(hub, walkers[6], signups[6].id)
        clock.now = at(8, 21, 5)
        record = await tasks.check_out(hub, walkers[6], signups[6].id)
        assert record.hours == Decimal("2.00") and record.team_id == patrol.id
        assert (await tasks.service_records(walkers[6])).total_hours == Decimal("2.00")

    names = log.names()
    assert names.count("signup.confirmed") == 6
    assert names.count("signup.waitlisted") == 2
    assert names[-4:] == [
        "signup.cancelled",
        "signup.promoted",
        "signup.checked_in",
        "signup.checked_out",
    ]
