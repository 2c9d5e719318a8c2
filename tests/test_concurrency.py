"""Capacities and claims under hundreds of simultaneous requests, on SQLite and PostgreSQL.

In one process the requests are concurrent tasks on one event loop; across processes
(``test_signups_from_several_processes``) separate interpreters share one database,
as several web and worker processes do in production.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tests.factories import World, next_phone
from volunteer_hub.errors import Conflict
from volunteer_hub.models import (
    Occurrence,
    Person,
    Role,
    RoleAssignment,
    Signup,
    SignupStatus,
    Wish,
    WishStatus,
)
from volunteer_hub.services import tasks, wishes
from volunteer_hub.services.access import Actor, RoleGrant

ROOT = Path(__file__).resolve().parent.parent


async def crowd(community_id: int, n: int, role: Role = Role.VOLUNTEER) -> list[Actor]:
    """n people with a role, inserted in bulk: these tests are about signups, not registration."""
    phones = [next_phone() for _ in range(n)]
    await Person.bulk_create(
        [
            Person(name=f"志愿者{i}", phone=p, community_id=community_id)
            for i, p in enumerate(phones)
        ]
    )
    people = await Person.filter(phone__in=phones).order_by("id")
    await RoleAssignment.bulk_create(
        [RoleAssignment(person_id=p.id, community_id=community_id, role=role) for p in people]
    )
    grant = {RoleGrant(community_id, role)}
    return [Actor(p, frozenset(grant)) for p in people]


async def shift(w: World, capacity: int):
    return await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": "社区巡逻",
            "starts_at": w.hub.now() + timedelta(days=2),
            "ends_at": w.hub.now() + timedelta(days=2, hours=2),
            "capacity": capacity,
        },
    )


async def test_200_simultaneous_signups_for_10_places(hub):
    w = await World(hub).build()
    task = await shift(w, capacity=10)
    people = await crowd(w.community.id, 200)

    results = await asyncio.gather(*(tasks.sign_up(hub, p, task.id) for p in people))

    statuses = [s.status for s in results]
    assert statuses.count(SignupStatus.CONFIRMED) == 10
    assert statuses.count(SignupStatus.WAITLISTED) == 190
    rows = await Signup.all().order_by("id")
    assert [r.status for r in rows] == [SignupStatus.CONFIRMED] * 10 + [
        SignupStatus.WAITLISTED
    ] * 190
    occurrence = await Occurrence.get(task_id=task.id)
    assert occurrence.taken == 10


async def test_cancellations_each_promote_exactly_one(hub):
    w = await World(hub).build()
    task = await shift(w, capacity=10)
    people = await crowd(w.community.id, 30)
    signups = [await tasks.sign_up(hub, p, task.id) for p in people]  # in arrival order
    owners = {s.id: p for s, p in zip(signups, people, strict=True)}
    confirmed = [s for s in signups if s.status is SignupStatus.CONFIRMED]

    # 5 different confirmed signups cancelled at once, and one of them twice.
    victims = confirmed[:5]
    calls = [tasks.cancel_signup(hub, owners[s.id], s.id) for s in victims]
    calls.append(tasks.cancel_signup(hub, owners[victims[0].id], victims[0].id))
    results = await asyncio.gather(*calls, return_exceptions=True)

    conflicts = [r for r in results if isinstance(r, Conflict)]
    promoted = [r for r in results if isinstance(r, Signup)]
    assert len(conflicts) == 1 and conflicts[0].code == "invalid_state"
    assert len(promoted) == 5
    waitlisted_in_order = [s.id for s in signups if s.status is SignupStatus.WAITLISTED]
    assert sorted(p.id for p in promoted) == waitlisted_in_order[:5]
    rows = await Signup.filter(occurrence__task_id=task.id)
    assert sum(r.status is SignupStatus.CONFIRMED for r in rows) == 10
    assert sum(r.status is SignupStatus.CANCELLED for r in rows) == 5
    assert (await Occurrence.get(task_id=task.id)).taken == 10


async def test_cancel_and_signup_race_keeps_capacity(hub):
    """Cancellations and new signups interleaved never exceed capacity nor lose a place."""
    w = await World(hub).build()
    task = await shift(w, capacity=5)
    first = await crowd(w.community.id, 5)
    mine = [await tasks.sign_up(hub, p, task.id) for p in first]
    late = await crowd(w.community.id, 40)

    await asyncio.gather(
        *(tasks.cancel_signup(hub, p, s.id) for p, s in zip(first, mine, strict=True)),
        *(tasks.sign_up(hub, p, task.id) for p in late),
    )
    rows = await Signup.filter(occurrence__task_id=task.id).order_by("id")
    confirmed = [r for r in rows if r.status is SignupStatus.CONFIRMED]
    assert len(confirmed) == 5
    assert (await Occurrence.get(task_id=task.id)).taken == 5
    # Whoever holds a place arrived before everyone still waiting.
    waiting = [r.id for r in rows if r.status is SignupStatus.WAITLISTED]
    late_confirmed = [r for r in confirmed if r.person_id in {p.id for p in late}]
    assert all(r.id < min(waiting) for r in late_confirmed if r.promoted_at is None)


async def test_50_simultaneous_claims_leave_one_claimer(hub):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    wish = await wishes.post(
        hub,
        resident,
        w.community.id,
        {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"},
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    people = await crowd(w.community.id, 50)

    results = await asyncio.gather(
        *(wishes.claim(hub, p, wish.id) for p in people), return_exceptions=True
    )

    winners = [r for r in results if isinstance(r, Wish)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 49
    assert {e.code for e in losers} == {"already_claimed"}
    stored = await Wish.get(id=wish.id)
    assert stored.status is WishStatus.CLAIMED
    assert stored.claimer_id == winners[0].claimer_id


async def test_signups_from_several_processes(hub, settings):
    """4 processes × 30 signups for 10 places on one database: exactly 10 confirmed."""
    w = await World(hub).build()
    task = await shift(w, capacity=10)
    people = await crowd(w.community.id, 120)
    batches = [[p.id for p in people[i::4]] for i in range(4)]
    start_at = (hub.now()).isoformat()

    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.concurrency_worker",
            settings.database_url,
            str(task.id),
            start_at,
            json.dumps(batch),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for batch in batches
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    statuses = [s for out, _ in outputs for s in json.loads(out)]
    assert len(statuses) == 120
    assert statuses.count("confirmed") == 10
    assert statuses.count("waitlisted") == 110
    rows = await Signup.filter(occurrence__task_id=task.id).order_by("id")
    assert [r.status for r in rows] == [SignupStatus.CONFIRMED] * 10 + [
        SignupStatus.WAITLISTED
    ] * 110
    assert (await Occurrence.get(task_id=task.id)).taken == 10
