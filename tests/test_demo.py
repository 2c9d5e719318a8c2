"""The demo community: built through the services, every state present, same seed same data."""

from __future__ import annotations

import asyncio
import io
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from tests.conftest import Clock
from volunteer_hub import db
from volunteer_hub.config import Settings, sqlite_url
from volunteer_hub.demo import (
    DEMO_PASSWORD,
    MIN_PEOPLE,
    SILVER_PATROL_RRULE,
    TEAM_ORDER,
    build_demo,
    plan_people,
    reset_database,
)
from volunteer_hub.errors import Conflict, InvalidInput
from volunteer_hub.hooktypes import age_on
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Escalation,
    MembershipStatus,
    Occurrence,
    PartyReport,
    Person,
    Qualification,
    Role,
    RoleAssignment,
    ServiceRecord,
    Signup,
    SignupStatus,
    Task,
    TeamMembership,
    Wish,
    WishStatus,
)
from volunteer_hub.services import people, teams
from volunteer_hub.services.access import load_actor
from volunteer_hub.validation import normalize_phone

TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)


def silent() -> Console:
    return Console(file=io.StringIO())


async def test_demo_builds_a_living_community(hub):
    summary = await build_demo(hub, seed=7, people=80, console=silent())
    now = hub.now()
    community = await Community.get(id=summary.community_id)
    assert summary.community == community.name == "幸福里社区"
    assert summary.password == DEMO_PASSWORD
    assert await Person.all().count() == 80  # the administrator included

    # Wishes in every status, each with what its status implies.
    wishes = await Wish.filter(community_id=community.id)
    assert {w.status for w in wishes} == set(WishStatus)
    for wish in wishes:
        if wish.status is WishStatus.REJECTED:
            assert wish.review_reason
        if wish.status is WishStatus.CANCELLED:
            assert wish.cancel_reason
        if wish.status is WishStatus.CONFIRMED:
            assert 1 <= wish.rating <= 5 and wish.thanks
            assert await ServiceRecord.filter(wish_id=wish.id, person_id=wish.claimer_id).exists()
        if wish.status is WishStatus.EXPIRED:
            assert wish.needed_by < hub.today(TZ)
        if wish.status in (WishStatus.OPEN, WishStatus.SUBMITTED) and wish.needed_by:
            assert wish.needed_by >= hub.today(TZ)
    # Escalations of every colour; the dim street light (story 6) went all the way to red.
    assert {w.escalation for w in wishes} >= set(Escalation)
    light = next(w for w in wishes if w.title == "3号楼前路灯太暗")
    assert (light.category, light.escalation, light.status) == (
        "public_facility",
        Escalation.RED,
        WishStatus.OPEN,
    )
    assert light.referral
    assert (
        await AuditEntry.filter(
            entity_type="wish", entity_id=light.id, action="wish.escalated"
        ).count()
        == 3
    )

    # The silver patrol: Tuesdays and Thursdays 19:00-21:00, six places, a waiting list.
    patrol = await Task.get(community_id=community.id, rrule=SILVER_PATROL_RRULE).select_related(
        "team"
    )
    assert patrol.team.kind == "silver_patrol" and patrol.capacity == 6
    local = patrol.starts_at.astimezone(ZONE)
    assert (local.hour, local.minute, local.weekday()) in {(19, 0, 1), (19, 0, 3)}
    assert patrol.ends_at - patrol.starts_at == timedelta(hours=2)
    coming = await Occurrence.filter(task_id=patrol.id, start__gt=now).order_by("start")
    full = coming[0]
    assert full.taken == full.capacity == 6
    assert await Signup.filter(occurrence_id=full.id, status=SignupStatus.WAITLISTED).exists()
    assert await Signup.filter(occurrence_id=full.id, promoted_at__isnull=False).exists()
    assert await Occurrence.filter(task_id=patrol.id, start__lt=now).count() >= 8

    # Capacity held everywhere; signups came before the start, check-ins in their window.
    for occurrence in await Occurrence.all():
        signups = await Signup.filter(occurrence_id=occurrence.id)
        seated = [
            s
            for s in signups
            if s.status in (SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN, SignupStatus.COMPLETED)
        ]
        assert len(seated) == occurrence.taken <= occurrence.capacity
        for s in signups:
            assert s.created_at < occurrence.start
            if s.checked_in_at:
                assert occurrence.start - timedelta(hours=1) <= s.checked_in_at <= occurrence.end
                assert s.checked_in_at <= now

    # Service records from past shifts and from confirmed wishes.
    shift_records = await ServiceRecord.filter(signup_id__isnull=False)
    assert len(shift_records) > 30
    assert all(r.started_at < r.ended_at <= now for r in shift_records)
    assert await ServiceRecord.filter(wish_id__isnull=False).count() >= 5

    # Every silver-patrol member is 60 or older; psychology members hold a checked certificate.
    today = hub.today(TZ)
    patrol_members = await TeamMembership.filter(
        team__community_id=community.id, team__kind="silver_patrol"
    ).select_related("person")
    assert len(patrol_members) >= 10
    assert all(age_on(m.person.birth_date, today) >= 60 for m in patrol_members)
    counsellors = await TeamMembership.filter(team__kind="psychology").select_related("person")
    for m in counsellors:
        verified = await Qualification.filter(
            person_id=m.person_id, kind="counsellor", verified=True
        ).exists()
        assert verified == (m.status is MembershipStatus.ACTIVE)
    assert any(m.status is MembershipStatus.PENDING for m in counsellors)  # one still waits

    # In-service party members reported with their unit; Mr. Li served and sees his hours.
    reports = await PartyReport.filter(community_id=community.id)
    assert len(reports) >= 4 and all(r.work_unit and r.party_branch for r in reports)
    party_login = next(login for login in summary.logins if login.role.startswith("party_member"))
    li = await Person.get(phone=party_login.phone)
    progress = await teams.party_progress(hub, await load_actor(li.id))
    assert progress["items"][0]["hours"] > 0

    # The trail spans the six simulated weeks and never runs ahead of now.
    first = await AuditEntry.all().order_by("created_at").first()
    last = await AuditEntry.all().order_by("-created_at").first()
    assert first.created_at < now - timedelta(days=40)
    assert last.created_at <= now

    # Logins: each role, a volunteer of each team, Ms. Wang (82); the password works.
    codes = {login.role.split()[0] for login in summary.logins}
    assert codes >= {"admin", "staff", "grid_worker", "party_member", "resident"}
    assert codes >= {f"volunteer/{kind}" for kind in TEAM_ORDER}
    for login in summary.logins:
        person = await Person.get(phone=login.phone)
        assert person.name == login.name
        code = login.role.split()[0].split("/")[0]
        assert await RoleAssignment.filter(person_id=person.id, role=Role(code)).exists()
    wang_login = next(x for x in summary.logins if x.role.startswith("resident 居民（王奶奶"))
    wang = await Person.get(phone=wang_login.phone)
    assert age_on(wang.birth_date, today) == 82
    wang_wish = await Wish.get(resident_id=wang.id, status=WishStatus.CONFIRMED)
    assert wang_wish.posted_by_id != wang.id  # her grid worker posted it for her
    assert wang_wish.rating == 5
    assert await Wish.filter(resident_id=wang.id, status=WishStatus.OPEN).exists()
    assert (await people.authenticate(hub, wang_login.phone, DEMO_PASSWORD)).id == wang.id

    # `vhub demo --keep`: a second demo beside the first gets its own name and free phones.
    second = await build_demo(hub, seed=7, people=MIN_PEOPLE, console=silent())
    assert second.community == "幸福里社区（演示2）"
    assert await Person.all().count() == 80 + MIN_PEOPLE
    assert second.logins[0].name == summary.logins[0].name  # the same seed, the same admin
    assert not {x.phone for x in summary.logins} & {x.phone for x in second.logins}
    assert await Wish.filter(community_id=second.community_id, status=WishStatus.EXPIRED).exists()


async def test_same_seed_gives_the_same_community(sqlite_template: Path, tmp_path: Path):
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    async def build(name: str, now: datetime) -> dict:
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(sqlite_template, path)
        settings = Settings(
            database_url=sqlite_url(path),
            secret_key=f"secret-{name}",
            data_dir=tmp_path,
            disable_plugin_autoload=True,
            password_profile="CHEAPEST",
        )
        async with db.database(settings.database_url):
            hub = Hub.create(settings, clock=Clock(now))
            summary = await build_demo(hub, seed=3, people=MIN_PEOPLE, console=silent())
            return {
                "logins": summary.logins,
                "people": await Person.all()
                .order_by("id")
                .values_list("name", "phone", "address", "skills"),
                "teams": await TeamMembership.all()
                .order_by("team__name", "person__phone")
                .values_list("team__name", "person__phone", "status"),
                "wishes": await Wish.all()
                .order_by("id")
                .values_list("title", "status", "escalation", "resident__phone", "claimer__phone"),
                "signups": await Signup.all()
                .order_by("id")
                .values_list("occurrence__task__title", "person__phone", "status"),
            }

    first = await build("first", start)
    again = await build("again", start)
    assert first == again
    # Another day: the same people and wishes, on a timeline that moved with the date.
    later = await build("later", start + timedelta(days=3))
    assert later["logins"] == first["logins"]
    assert later["people"] == first["people"]
    assert later["teams"] == first["teams"]
    assert Counter(w[:2] for w in later["wishes"]) == Counter(w[:2] for w in first["wishes"])


def test_plan_people_is_valid_and_seeded():
    plan = plan_people(1, 300)
    assert len(plan) == 300
    phones = [p.phone for p in plan]
    assert len(set(phones)) == 300
    assert all(normalize_phone(phone) == phone for phone in phones)
    assert len({p.name for p in plan}) == 300
    assert all(p.age >= 61 for p in plan if p.kind == "silver_patrol")
    assert {p.kind for p in plan} >= {"admin", "staff", "grid_worker", "resident", *TEAM_ORDER}
    assert [p.name for p in plan_people(1, 300)] == [p.name for p in plan]
    assert [p.name for p in plan_people(2, 300)] != [p.name for p in plan]


def test_too_few_people_is_refused():
    with pytest.raises(InvalidInput) as info:
        plan_people(1, MIN_PEOPLE - 1)
    assert info.value.fields == ["people"]


def test_reset_database(settings: Settings):
    if settings.is_sqlite:
        path = Path(settings.database_url.removeprefix("sqlite://").split("?")[0])
        companions = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
        for companion in companions:
            companion.write_bytes(b"")
        reset_database(settings)
        assert not path.exists() and not any(c.exists() for c in companions)
        reset_database(settings)  # nothing there: still fine
        return

    reset_database(settings)  # PostgreSQL, empty: fine, nothing dropped

    async def add_community() -> None:
        async with db.database(settings.database_url):
            await people.create_community(Hub.create(settings), None, {"name": "和平里社区"})

    asyncio.run(add_community())
    with pytest.raises(Conflict) as info:
        reset_database(settings)
    assert info.value.code == "database_not_empty"
    assert "--keep" in str(info.value)

    async def communities() -> int:
        async with db.database(settings.database_url):
            return await Community.all().count()

    assert asyncio.run(communities()) == 1  # refused, and nothing was dropped


def scheduled_events(seed: int) -> list[tuple]:
    """Every event the plan puts on the timeline, in the order it would run, with no
    database: the actions only write down what they were asked."""
    from volunteer_hub.demo.clock import Calendar, SimClock, Timeline
    from volunteer_hub.demo.content import SIMULATED_DAYS
    from volunteer_hub.demo.people import Cast
    from volunteer_hub.demo.plan import Schedule

    cast = Cast(plan_people(seed, MIN_PEOPLE))
    members = {kind: [p.key for p in cast.people if kind in p.teams] for kind in TEAM_ORDER}
    cal = Calendar(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), ZONE, SIMULATED_DAYS)
    clock = SimClock(cal.at(cal.day0, 8, 30))
    timeline = Timeline(clock, until=cal.now)
    events: list[tuple] = []

    class Recorder:
        def __getattr__(self, action: str):
            async def record(*args) -> None:
                # Runs (shifts, wishes) are named by what they plan, not by identity.
                named = [getattr(a, "spec", None) or getattr(a, "script", a) for a in args]
                events.append((clock(), action, *map(repr, named)))

            return record

    Schedule(seed, cast, members, cal, timeline, Recorder()).everything()
    asyncio.run(timeline.run(lambda: None))
    return events


def test_the_schedule_is_the_same_for_the_same_seed():
    first = scheduled_events(4)
    assert first == scheduled_events(4)
    assert first != scheduled_events(5)
    assert [when for when, *_ in first] == sorted(when for when, *_ in first)
    actions = {action for _, action, *_ in first}
    assert actions >= {"create_task", "sign_up", "check_in", "post", "review", "claim", "expire"}
