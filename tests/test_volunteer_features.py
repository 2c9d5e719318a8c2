"""A feature snapshot read again in pieces equals one read whole (volunteer_features).

Random sequences of changes (a new volunteer, a new role, a second team, a deactivation and
a reactivation, qualifications declared, verified and refused, free times, signups, a
cancelled task, service records, no-shows and their excuse, party reports, the time zone,
a staff role given and taken back), each made through one of two Hubs on the same database
(as two processes would), mostly through the services, some as bare rows: after each
checked step, each Hub's snapshot, refreshed from what changed, holds exactly the arrays a
full read gives, and no Hub read everything again. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import strategies as st

from tests.factories import World, next_phone
from tests.test_api_fuzz import draw_cases
from volunteer_hub.bootstrap import build_hub
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.models import (
    AuditEntry,
    NoShow,
    Person,
    Role,
    RoleAssignment,
    ServiceRecord,
    TeamMembership,
)
from volunteer_hub.services import (
    availability,
    people,
    roster,
    tasks,
    teams,
    volunteer_features,
)
from volunteer_hub.services.access import load_actor
from volunteer_hub.services.volunteer_features import Features, features, load

KINDS = ("psychology", "silver_patrol")
OPS = (
    "join",
    "raw_role",
    "second_team",
    "deactivate",
    "reactivate",
    "declare",
    "verify",
    "refuse",
    "availability",
    "signup",
    "cancel_task",
    "record",
    "no_show",
    "excuse",
    "party",
    "timezone",
    "staff_role",
    "team_elsewhere",
)


@dataclass(frozen=True)
class Step:
    op: str
    via: int  # which Hub makes the change: 0 or 1
    who: int  # picks a person (modulo how many there are)
    value: int  # picks a team, a slot, a task, an amount...
    check: bool  # compare the snapshots after this step


step_st = st.builds(
    Step,
    op=st.sampled_from(OPS),
    via=st.integers(0, 1),
    who=st.integers(0, 50),
    value=st.integers(0, 50),
    check=st.booleans(),
)


# Each kind of change once, in turn through each Hub, then random sequences.
SEQUENCES = [
    [Step(op, i % 2, i, i + 1, True) for i, op in enumerate(OPS)],
    *draw_cases(st.lists(step_st, min_size=1, max_size=10), 40),
]


def assert_same(got: Features, want: Features) -> None:
    """Every array and list of the two snapshots equal (values, dtypes and order)."""

    def same(a: np.ndarray, b: np.ndarray, what: str) -> None:
        assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
        assert np.array_equal(a, b), (what, a, b)

    assert (got.community_id, got.timezone, got.weekly_hours_cap) == (
        want.community_id,
        want.timezone,
        want.weekly_hours_cap,
    )
    same(got.ids, want.ids, "ids")
    assert got.names == want.names
    same(got.grid, want.grid, "grid")
    same(got.home, want.home, "home")
    assert got.birth_dates == want.birth_dates
    assert got.skills == want.skills
    for name in ("team_pos", "team_ids", "team_kinds", "team_community"):
        same(getattr(got, name), getattr(want, name), name)
    assert sorted(got.kinds) == sorted(want.kinds)
    for kind in want.kinds:
        same(got.kinds[kind], want.kinds[kind], f"kinds[{kind}]")
    assert got.qualification_rows == want.qualification_rows
    assert sorted(got.verified) == sorted(want.verified)
    for kind, (pos, expires) in want.verified.items():
        same(got.verified[kind][0], pos, f"verified[{kind}]")
        same(got.verified[kind][1], expires, f"verified[{kind}] expiry")
    same(got.declared, want.declared, "declared")
    assert sorted(got.slots) == sorted(want.slots)
    for weekday, arrays in want.slots.items():
        for i, array in enumerate(arrays):
            same(got.slots[weekday][i], array, f"slots[{weekday}][{i}]")
    for name in (
        "rec_pos",
        "rec_at",
        "rec_hours",
        "shift_pos",
        "shift_start",
        "shift_end",
        "ns_pos",
        "ns_at",
        "party_target",
        "is_party",
    ):
        same(getattr(got, name), getattr(want, name), name)


SKILL = frozenset({"陪诊", "escort"})
# Local (weekday, start minute, end minute) pieces the roster asks about.
PIECES = ((1, 0, 1440), (2, 8 * 60, 12 * 60), (3, 9 * 60 + 30, 17 * 60))


def derived(snapshot: Features) -> tuple:
    """What a snapshot works out from its parts and keeps (joined slots, each person's
    facts for the rules), to compare with a full read's."""
    return (
        snapshot.covered_minutes(PIECES).tolist(),
        [snapshot.person_facts(p) for p in range(snapshot.size)],
    )


def skilled(snapshot: Features) -> list[bool]:
    """Who lists a skill named in ``SKILL`` (what ``matching`` caches per category)."""
    return [any(s.lower() in SKILL for s in skills) for skills in snapshot.skills]


class Community:
    """The world a sequence runs in: a community with two teams, three tasks, volunteers
    and residents who are not volunteers yet."""

    def __init__(self, w: World, hubs: tuple) -> None:
        self.w = w
        self.hubs = hubs
        self.done: set[str] = set()  # the kinds of change made

    async def setup(self) -> None:
        w = self.w
        self.teams = [await w.team(kind) for kind in KINDS]
        now = w.hub.now()
        self.tasks = [
            await tasks.create_task(
                w.hub,
                w.staff,
                w.id,
                {
                    "title": f"值班{i}",
                    "starts_at": (now + timedelta(days=1 + i, hours=2)).isoformat(),
                    "ends_at": (now + timedelta(days=1 + i, hours=4)).isoformat(),
                    "capacity": 2,
                },
            )
            for i in range(3)
        ]
        self.volunteers = [
            (await w.volunteer(f"志愿者{i}", team=self.teams[i % 2])).id for i in range(3)
        ]
        self.residents = [(await w.person(f"居民{i}")).id for i in range(2)]
        other = await World(w.hub).build(f"{w.community.name}的邻居", admin=w.admin)
        self.elsewhere = await other.team("repair")

    def pick(self, ids: list[int], n: int) -> int:
        return ids[n % len(ids)]

    async def apply(self, step: Step) -> None:
        """Make the step's change through Hub ``step.via``; a change the services refuse
        (a deactivated person acting, a second signup...) changes nothing."""
        try:
            await getattr(self, f"_{step.op}")(self.hubs[step.via], step)
            self.done.add(step.op)
        except (Conflict, InvalidInput, NotFound, PermissionDenied):
            pass

    async def _join(self, hub, step: Step) -> None:
        w = self.w
        person = await people.register(
            hub,
            {
                "name": f"新人{step.value}",
                "phone": next_phone(),
                "password": "pw-Quite-long-1",
                "community_id": w.id,
                "grid_id": (w.grid if step.value % 2 else w.other_grid).id,
                "skills": ["陪诊"] if step.value % 3 == 0 else [],
            },
        )
        membership = await teams.join_team(
            hub, await load_actor(person.id), self.teams[step.value % 2].id
        )
        await teams.approve_membership(hub, w.admin, membership.id)
        self.volunteers.append(person.id)

    async def _raw_role(self, hub, step: Step) -> None:
        """A new volunteer role written as a bare row (no audit entry): its new id shows it."""
        if not self.residents:
            return
        person_id = self.residents.pop(step.who % len(self.residents))
        await RoleAssignment.create(
            person_id=person_id, community_id=self.w.id, role=Role.VOLUNTEER
        )
        await TeamMembership.create(
            team_id=self.teams[step.value % 2].id, person_id=person_id, status="active"
        )
        self.volunteers.append(person_id)

    async def _second_team(self, hub, step: Step) -> None:
        person_id = self.pick(self.volunteers, step.who)
        membership = await teams.join_team(
            hub, await load_actor(person_id), self.teams[step.value % 2].id
        )
        if membership.status == "pending":
            await teams.approve_membership(hub, self.w.admin, membership.id)

    async def _team_elsewhere(self, hub, step: Step) -> None:
        """A volunteer here in a team of another community (a bare row): a kind the rules
        see, no team kind here."""
        await TeamMembership.create(
            team_id=self.elsewhere.id,
            person_id=self.pick(self.volunteers, step.who),
            status="active",
        )

    async def _deactivate(self, hub, step: Step) -> None:
        await people.deactivate_person(hub, self.w.admin, self.pick(self.volunteers, step.who))

    async def _reactivate(self, hub, step: Step) -> None:
        await people.reactivate_person(hub, self.w.admin, self.pick(self.volunteers, step.who))

    async def _declare(self, hub, step: Step) -> None:
        person_id = self.pick(self.volunteers, step.who)
        team = await TeamMembership.filter(person_id=person_id).first()
        await teams.declare_qualification(
            hub,
            await load_actor(person_id),
            team.team_id,
            {
                "kind": ("counsellor", "first_aid")[step.value % 2],
                "expires_on": (hub.today("Asia/Shanghai") + timedelta(days=step.value)).isoformat(),
            },
        )

    async def _waiting(self, step: Step) -> int:
        from volunteer_hub.models import Qualification

        waiting = (
            await Qualification.filter(verified=False).order_by("id").values_list("id", flat=True)
        )
        if not waiting:
            raise NotFound("nothing waits")
        return self.pick(list(waiting), step.value)

    async def _verify(self, hub, step: Step) -> None:
        await teams.verify_qualification(hub, self.w.admin, await self._waiting(step))

    async def _refuse(self, hub, step: Step) -> None:
        await teams.refuse_qualification(
            hub, self.w.admin, await self._waiting(step), {"reason": "证书看不清"}
        )

    async def _availability(self, hub, step: Step) -> None:
        slots = [
            {"weekday": 1 + (step.value + i) % 7, "start": f"{8 + i:02d}:00", "end": "18:00"}
            for i in range(step.value % 3)
        ]
        actor = await load_actor(self.pick(self.volunteers, step.who))
        await availability.set_availability(hub, actor, {"slots": slots})

    async def _signup(self, hub, step: Step) -> None:
        actor = await load_actor(self.pick(self.volunteers, step.who))
        await tasks.sign_up(hub, actor, self.tasks[step.value % 3].id)

    async def _cancel_task(self, hub, step: Step) -> None:
        await roster.cancel_task(
            hub, self.w.staff, self.tasks[step.value % 3].id, {"reason": "天气不好"}
        )

    async def _record(self, hub, step: Step) -> None:
        started = hub.now() - timedelta(days=step.value % 40, hours=3)
        await ServiceRecord.create(
            person_id=self.pick(self.volunteers, step.who),
            community_id=self.w.id,
            description="陪诊",
            started_at=started,
            ended_at=started + timedelta(hours=1 + step.value % 3),
            hours=Decimal(1 + step.value % 3),
        )

    async def _no_show(self, hub, step: Step) -> None:
        await NoShow.create(
            community_id=self.w.id,
            person_id=self.pick(self.volunteers, step.who),
            occurred_at=hub.now() - timedelta(days=step.value * 7),
        )

    async def _excuse(self, hub, step: Step) -> None:
        """What ``no_shows.excuse`` writes (a bare no-show has neither wish nor signup for
        the service's message): the row's update and its audit entry."""
        open_ = (
            await NoShow.filter(excused_at__isnull=True).order_by("id").values_list("id", flat=True)
        )
        if not open_:
            raise NotFound("nothing to excuse")
        no_show_id = self.pick(list(open_), step.value)
        await NoShow.filter(id=no_show_id).update(excused_at=hub.now())
        await AuditEntry.create(
            community_id=self.w.id,
            action="no_show.excused",
            entity_type="no_show",
            entity_id=no_show_id,
            created_at=hub.now(),
        )

    async def _party(self, hub, step: Step) -> None:
        actor = await load_actor(self.pick(self.volunteers, step.who))
        filed = await teams.file_party_report(
            hub, actor, {"community_id": self.w.id, "work_unit": "单位", "party_branch": "支部"}
        )
        if step.value % 3:
            await teams.accept_party_report(hub, self.w.admin, filed.id)

    async def _timezone(self, hub, step: Step) -> None:
        zone = ("Asia/Urumqi", "Asia/Shanghai")[step.value % 2]
        await people.update_community(hub, self.w.admin, self.w.id, {"timezone": zone})

    async def _staff_role(self, hub, step: Step) -> None:
        """A role given and taken back: the revoked row is gone, its entry names the person."""
        person_id = self.pick(self.volunteers, step.who)
        await people.assign_role(hub, self.w.admin, self.w.id, person_id, Role.STAFF)
        await people.revoke_role(hub, self.w.admin, self.w.id, person_id, Role.STAFF)


async def test_a_snapshot_read_again_in_pieces_equals_one_read_whole(hub, settings, monkeypatch):
    # Only the changes, never the age of a snapshot, may cause a read here.
    monkeypatch.setattr(volunteer_features, "MAX_AGE_SECONDS", 10**9)
    other = build_hub(settings, clock=hub.clock)
    done: set[str] = set()
    for serial, steps in enumerate(SEQUENCES):
        w = await World(hub).build(f"社区{serial}")
        world = Community(w, (hub, other))
        await world.setup()
        first = [await features(h, w.id) for h in (hub, other)]
        for snapshot in first:
            derived(snapshot)  # worked out before the changes: must not be kept stale
        for i, step in enumerate(steps):
            await world.apply(step)
            if step.check or i == len(steps) - 1:
                for h, snapshot in zip((hub, other), first, strict=True):
                    got = await features(h, w.id)
                    want = await load(h, w.id)
                    assert_same(got, want)
                    assert derived(got) == derived(want)
                    # A skill mask cached by a ranking stays right (carried or dropped).
                    if SKILL in got.masks:
                        assert got.masks[SKILL].tolist() == skilled(want)
                    got.masks[SKILL] = np.array(skilled(got), dtype=bool)
                    assert got.loaded_at == snapshot.loaded_at, (step, "read everything again")
        done |= world.done
    assert done == set(
        OPS
    )  # every kind of change was made at least once  # most steps changed something


async def test_what_still_reads_everything_again(w, settings, monkeypatch):
    """The fallbacks: an action this code does not know, and more audit entries than it
    reads one by one."""
    monkeypatch.setattr(volunteer_features, "MAX_AGE_SECONDS", 10**9)
    team = await w.team("psychology")
    helper = await w.volunteer("小李", team=team)
    first = await features(w.hub, w.id)
    await AuditEntry.create(
        community_id=w.id, action="plugin.unknown", entity_type="x", entity_id=1
    )
    second = await features(w.hub, w.id)
    assert second.loaded_at > first.loaded_at
    await AuditEntry.bulk_create(
        [
            AuditEntry(
                community_id=w.id,
                action="person.updated",
                entity_type="person",
                entity_id=helper.id,
            )
            for _ in range(volunteer_features.AT_MOST)
        ]
    )
    third = await features(w.hub, w.id)
    assert third.loaded_at > second.loaded_at
    assert_same(third, await load(w.hub, w.id))
    # A person-change of a row that is gone and whose entry names nobody.
    await AuditEntry.create(
        community_id=w.id, action="role.revoked", entity_type="role_assignment", entity_id=10**9
    )
    fourth = await features(w.hub, w.id)
    assert fourth.loaded_at > third.loaded_at


async def test_changes_elsewhere_read_nothing_here(w, monkeypatch):
    """A volunteer joining, new free times and a signup in another community leave this
    community's snapshot as it was (the same arrays)."""
    monkeypatch.setattr(volunteer_features, "MAX_AGE_SECONDS", 10**9)
    team = await w.team("psychology")
    await w.volunteer("小李", team=team)
    first = await features(w.hub, w.id)
    other = await World(w.hub).build_other(w)
    stranger = await other.volunteer("外人", team=await other.team("psychology"))
    await availability.set_availability(
        w.hub, stranger, {"slots": [{"weekday": 2, "start": "08:00", "end": "12:00"}]}
    )
    again = await features(w.hub, w.id)
    assert again.ids is first.ids and again.slots is first.slots
    assert again.loaded_at == first.loaded_at
    assert await Person.filter(id=stranger.id).exists()


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def test_a_late_commit_is_found_at_the_next_change(w, monkeypatch):
    """PostgreSQL hands out ids at insert, not at commit: a volunteer whose transaction
    commits after later ids were seen falls behind the last id seen. Their ids were holes
    when read; the next change looks for them again and finds the volunteer."""
    from tortoise.transactions import in_transaction

    from volunteer_hub import db

    if not db.is_postgres():
        pytest.skip("SQLite has one writer: its transactions commit in id order")
    monkeypatch.setattr(volunteer_features, "MAX_AGE_SECONDS", 10**9)
    team = await w.team("psychology")
    helper = await w.volunteer("小李", team=team)
    late = await w.person("晚到")
    first = await features(w.hub, w.id)
    inserted, commit = asyncio.Event(), asyncio.Event()

    async def slow_join() -> None:
        async with in_transaction():
            await RoleAssignment.create(person_id=late.id, community_id=w.id, role=Role.VOLUNTEER)
            await TeamMembership.create(team_id=team.id, person_id=late.id, status="active")
            inserted.set()
            await commit.wait()

    writer = asyncio.create_task(slow_join())
    await inserted.wait()
    quick = await w.volunteer("小张", team=team)  # later ids, committed first
    seen = await features(w.hub, w.id)
    assert quick.id in seen.ids.tolist() and late.id not in seen.ids.tolist()
    commit.set()
    await writer
    assert (await features(w.hub, w.id)).ids.tolist() == seen.ids.tolist()  # nothing new yet
    await availability.set_availability(  # any later change
        w.hub, helper, {"slots": [{"weekday": 3, "start": "09:00", "end": "11:00"}]}
    )
    after = await features(w.hub, w.id)
    assert late.id in after.ids.tolist()
    assert_same(after, await load(w.hub, w.id))
    assert after.loaded_at == first.loaded_at


async def test_a_volunteer_without_a_community_of_their_own(w):
    """An administrator (no community of their own) who joins a team is a volunteer of it:
    the snapshot keeps "no community" (the fuzzer found a 500 here), as facts.person_facts
    does."""
    team = await w.team("psychology")
    assert (await Person.get(id=w.admin.id)).community_id is None
    await w.join(w.admin, team)
    snap = await features(w.hub, w.id)
    (position,), _ = snap.positions([w.admin.id])
    assert snap.person_facts(int(position)).community_id is None
    assert snap.person_facts(int(position)).team_kinds == ("psychology",)
