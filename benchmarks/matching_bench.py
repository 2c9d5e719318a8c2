"""Ranking a wish among 50,000 volunteers of a team, all filters included, from the database.

One run per database, on a fresh one (SQLite always; PostgreSQL too when ``--database
postgres://…`` or ``VHUB_TEST_POSTGRES_URL`` names a server: a fresh database is created
there and dropped afterwards):

* a community with a team of N volunteers (default 50,000), seeded in bulk: each has a
  grid, two weekly availability slots (some none), a service record in the last 60 days;
  one in twenty an unexcused no-show; one in five a confirmed shift in the next two weeks;
  one in ten a party report; a resident with a do-not-send list;
* a wish with a window (Thursday 09:00–11:00) in the team's category;

then times ``matching.rank(hub, wish, limit=10)``:

- cold: the first call of a Hub (it reads the community's feature snapshot);
- warm: ``--calls`` calls after it (median and p95), the database unchanged; each call
  still runs its freshness statement and the two per-wish queries;
- after a change: a volunteer sets their availability, then one call (their slots read again);
- after a new volunteer joins (registered, joined the team, approved: a new person, role and
  membership), the first call: read incrementally (the newcomer spliced in), and, as the
  baseline in the same run, the same after another newcomer with the snapshot dropped
  (``volunteer_features.forget``: everything read again, what any new person, role or
  membership cost before); ``--joins`` times each, alternating, medians reported;

and, in the same run, the old approach (two queries per volunteer, the matcher before
issue 13, kept below as ``old_rank``) on a team of ``--small`` volunteers (default 500),
extrapolated linearly to N. README.md beside this file has measured figures.

    python benchmarks/matching_bench.py
    python benchmarks/matching_bench.py --volunteers 50000 --database postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench_db import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "bench-passw0rd"
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Shanghai
THURSDAY_9 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


async def seed(hub, admin, n: int, name: str, phone_base: int):
    """A community with a team of ``n`` volunteers (bulk inserts); its open wish."""
    from volunteer_hub.models import (
        AvailabilitySlot,
        DoNotSend,
        MembershipStatus,
        NoShow,
        Occurrence,
        PartyReport,
        PartyReportStatus,
        Person,
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

    community = await people.create_community(hub, admin, {"name": name})
    grids = [
        await people.create_grid(hub, admin, community.id, {"name": f"第{i + 1}网格"})
        for i in range(10)
    ]
    team = await teams.create_team(
        hub, admin, community.id, {"name": "助老服务队", "kind": "elderly_care"}
    )
    batch = 5000
    await Person.bulk_create(
        [
            Person(
                name=f"志愿者{i}",
                phone=str(phone_base + i),
                community_id=community.id,
                grid_id=grids[i % 10].id,
                skills=["陪诊"] if i % 7 == 0 else [],
            )
            for i in range(n + 1)
        ],
        batch_size=batch,
    )
    ids = [
        pid
        for (pid,) in await Person.filter(
            phone__gte=str(phone_base), phone__lte=str(phone_base + n)
        )
        .order_by("id")
        .values_list("id")
    ]
    resident_id, ids = ids[0], ids[1:]
    await RoleAssignment.bulk_create(
        [RoleAssignment(person_id=p, community_id=community.id, role=Role.VOLUNTEER) for p in ids],
        batch_size=batch,
    )
    await TeamMembership.bulk_create(
        [TeamMembership(team_id=team.id, person_id=p, status=MembershipStatus.ACTIVE) for p in ids],
        batch_size=batch,
    )
    slots = []
    for i, p in enumerate(ids):
        if i % 4 == 3:
            continue  # said nothing: free at any time
        slots.append(
            AvailabilitySlot(person_id=p, weekday=1 + i % 7, start_minute=480, end_minute=720)
        )
        slots.append(
            AvailabilitySlot(
                person_id=p, weekday=1 + (i + 3) % 7, start_minute=1080, end_minute=1260
            )
        )
    await AvailabilitySlot.bulk_create(slots, batch_size=batch)
    await ServiceRecord.bulk_create(
        [
            ServiceRecord(
                person_id=p,
                community_id=community.id,
                description="陪诊",
                started_at=NOW - timedelta(days=1 + i % 60),
                ended_at=NOW - timedelta(days=1 + i % 60) + timedelta(hours=1 + i % 4),
                hours=Decimal(1 + i % 4),
            )
            for i, p in enumerate(ids)
        ],
        batch_size=batch,
    )
    await NoShow.bulk_create(
        [
            NoShow(
                community_id=community.id, person_id=p, occurred_at=NOW - timedelta(days=i % 300)
            )
            for i, p in enumerate(ids)
            if i % 20 == 0
        ],
        batch_size=batch,
    )
    task = await Task.create(
        community_id=community.id,
        title="巡逻",
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=2),
        capacity=n,
        created_by_id=admin.id,
    )
    occurrences = []
    for day in range(14):
        start = NOW + timedelta(days=day)
        occurrences.append(
            await Occurrence.create(
                task=task, start=start, end=start + timedelta(hours=2), capacity=n
            )
        )
    await Signup.bulk_create(
        [
            Signup(occurrence_id=occurrences[i % 14].id, person_id=p, status=SignupStatus.CONFIRMED)
            for i, p in enumerate(ids)
            if i % 5 == 0
        ],
        batch_size=batch,
    )
    await PartyReport.bulk_create(
        [
            PartyReport(
                person_id=p,
                community_id=community.id,
                work_unit="单位",
                party_branch="支部",
                status=PartyReportStatus.ACCEPTED,
            )
            for i, p in enumerate(ids)
            if i % 10 == 0
        ],
        batch_size=batch,
    )
    await DoNotSend.bulk_create(
        [DoNotSend(resident_id=resident_id, person_id=p, created_at=NOW) for p in ids[:50]]
    )
    wish = await Wish.create(
        community_id=community.id,
        grid_id=grids[0].id,
        resident_id=resident_id,
        posted_by_id=resident_id,
        title="周四上午陪同就医",
        description="",
        category="elderly_care",
        status=WishStatus.OPEN,
        window_start=THURSDAY_9,
        window_end=THURSDAY_9 + timedelta(hours=2),
        needed_by=date(2026, 12, 3),
    )
    return wish, ids


_phones = iter(range(17000000000, 17100000000))


async def join_team(hub, admin, community_id: int, name: str) -> None:
    """A new volunteer, through the services: registered, joined the community's team,
    approved by staff (a new person, role and membership)."""
    from volunteer_hub.models import Team
    from volunteer_hub.services import people, teams
    from volunteer_hub.services.access import load_actor

    person = await people.register(
        hub,
        {
            "name": name,
            "phone": str(next(_phones)),
            "password": PASSWORD,
            "community_id": community_id,
        },
    )
    team = await Team.get(community_id=community_id, kind="elderly_care")
    membership = await teams.join_team(hub, await load_actor(person.id), team.id)
    if membership.status == "pending":
        await teams.approve_membership(hub, admin, membership.id)


# --- the matcher before issue 13: two queries per volunteer -----------------------------------


async def old_rank(hub, wish, limit: int = 10):
    """The ranking as it was (commit f8058d0), minus its plugin scorer's call: the hard
    filters read person by person (``person_facts``: two queries per volunteer)."""
    from tortoise.functions import Count, Sum

    from volunteer_hub.clock import ONE_DAY, local_day_start, local_month_start
    from volunteer_hub.models import (
        MembershipStatus,
        Person,
        ServiceRecord,
        Signup,
        SignupStatus,
        TeamMembership,
        Wish,
        WishStatus,
    )
    from volunteer_hub.services.facts import person_facts
    from volunteer_hub.services.people import get_community
    from volunteer_hub.services.wishes import category_of

    community = await get_community(wish.community_id)
    category = category_of(hub, wish.community_id, wish.category)
    ids = await TeamMembership.filter(
        status=MembershipStatus.ACTIVE,
        team__community_id=wish.community_id,
        team__kind=category.team_kind,
    ).values_list("person_id", flat=True)
    excluded = {wish.resident_id, wish.posted_by_id}
    people = await Person.filter(
        id__in=[i for i in set(ids) if i not in excluded], active=True
    ).order_by("id")
    month_start = local_month_start(hub.now(), community.timezone)
    person_ids = [p.id for p in people]
    hours = dict(
        await ServiceRecord.filter(person_id__in=person_ids, started_at__gte=month_start)
        .group_by("person_id")
        .annotate(total=Sum("hours"))
        .values_list("person_id", "total")
    )
    claims = dict(
        await Wish.filter(claimer_id__in=person_ids, status=WishStatus.CLAIMED)
        .group_by("claimer_id")
        .annotate(n=Count("id"))
        .values_list("claimer_id", "n")
    )
    day_start = local_day_start(wish.needed_by, community.timezone)
    busy = set(
        await Signup.filter(
            person_id__in=person_ids,
            status__in=[SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN],
            occurrence__start__gte=day_start,
            occurrence__start__lt=day_start + ONE_DAY,
        ).values_list("person_id", flat=True)
    )
    ranked = []
    for person in people:
        await person_facts(person)  # the two queries per volunteer
        score = (30 if person.grid_id == wish.grid_id else 0) + (-40 if person.id in busy else 20)
        score += max(0.0, 25 - float(hours.get(person.id) or 0)) - 10 * claims.get(person.id, 0)
        ranked.append((-score, person.id))
    ranked.sort()
    return ranked[:limit]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_one(url: str, work_dir: Path, args: argparse.Namespace) -> dict:
    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub
    from volunteer_hub.config import Settings
    from volunteer_hub.services import availability, matching, people, volunteer_features
    from volunteer_hub.services.access import load_actor

    await db.upgrade(url)
    settings = Settings(
        database_url=url,
        secret_key="bench-secret",
        data_dir=work_dir,
        disable_plugin_autoload=True,
        password_profile="CHEAPEST",
    )
    result: dict = {}
    async with db.database(url):
        hub = build_hub(settings, clock=lambda: NOW)
        admin_person = await people.create_admin(
            hub, name="管理员", phone="13900000000", password=PASSWORD
        )
        admin = await load_actor(admin_person.id)
        started = time.perf_counter()
        wish, ids = await seed(hub, admin, args.volunteers, "大社区", 15000000000)
        result["seed_s"] = time.perf_counter() - started
        small_wish, _ = await seed(hub, admin, args.small, "小社区", 16000000000)

        started = time.perf_counter()
        ranked = await matching.rank(hub, wish, limit=10)
        result["cold_ms"] = (time.perf_counter() - started) * 1000
        assert len(ranked) == 10, ranked
        result["eligible"] = len(await matching.eligible_ids(hub, wish))
        warm = []
        for _ in range(args.calls):
            started = time.perf_counter()
            again = await matching.rank(hub, wish, limit=10)
            warm.append((time.perf_counter() - started) * 1000)
        assert again == ranked
        result["warm_median_ms"] = statistics.median(warm)
        result["warm_p95_ms"] = percentile(warm, 0.95)
        # A change: one volunteer sets their availability (an audited write); the next call
        # reloads the snapshot.
        volunteer = await load_actor(ids[1])
        await availability.set_availability(
            hub, volunteer, {"slots": [{"weekday": 4, "start": "08:00", "end": "12:00"}]}
        )
        started = time.perf_counter()
        await matching.rank(hub, wish, limit=10)
        result["after_change_ms"] = (time.perf_counter() - started) * 1000

        # A new volunteer joins: the first ranking after, incrementally and (the baseline)
        # with everything read again, alternating.
        spliced, full = [], []
        for i in range(args.joins):
            for label, times in (("spliced", spliced), ("full", full)):
                await join_team(hub, admin, wish.community_id, f"新志愿者{label}{i}")
                if label == "full":
                    volunteer_features.forget(hub)
                started = time.perf_counter()
                assert len(await matching.rank(hub, wish, limit=10)) == 10
                times.append((time.perf_counter() - started) * 1000)
        result["join_spliced_ms"] = statistics.median(spliced)
        result["join_full_ms"] = statistics.median(full)
        snapshot = hub.caches[volunteer_features.CACHE_KEY][wish.community_id]
        assert snapshot.size == args.volunteers + 2 * args.joins, snapshot.size

        old = []
        for _ in range(3):
            started = time.perf_counter()
            await old_rank(hub, small_wish)
            old.append(time.perf_counter() - started)
        result["old_small_s"] = statistics.median(old)
        result["old_extrapolated_s"] = result["old_small_s"] * args.volunteers / args.small
        started = time.perf_counter()
        await matching.rank(hub, small_wish, limit=10)
        result["new_small_cold_ms"] = (time.perf_counter() - started) * 1000
    return result


async def main_async(args: argparse.Namespace) -> int:
    from volunteer_hub.config import sqlite_url

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        runs.append(
            ("SQLite", await run_one(sqlite_url(Path(tmp) / "bench.sqlite3"), Path(tmp), args))
        )
    server = args.database or os.environ.get("VHUB_TEST_POSTGRES_URL")
    if server:
        url, name = await create_postgres_database(server)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(("PostgreSQL", await run_one(url, Path(tmp), args)))
        finally:
            await drop_postgres_database(server, name)
    n = args.volunteers
    print(f"ranking a wish among {n:,} volunteers of a team (top 10, all filters)")
    print(
        f"{'database':<11} {'seed s':>7} {'eligible':>8} {'cold ms':>8} {'warm median ms':>15}"
        f" {'warm p95 ms':>12} {'after a change ms':>18} {'join: spliced ms':>17}"
        f" {'join: full ms':>14} {'full/spliced':>13} {f'old, {args.small} s':>12}"
        f" {f'old, {n:,} s (extrap.)':>22} {'speed-up (warm)':>16}"
    )
    for label, r in runs:
        print(
            f"{label:<11} {r['seed_s']:>7.1f} {r['eligible']:>8} {r['cold_ms']:>8.1f}"
            f" {r['warm_median_ms']:>15.2f} {r['warm_p95_ms']:>12.2f} {r['after_change_ms']:>18.1f}"
            f" {r['join_spliced_ms']:>17.1f} {r['join_full_ms']:>14.1f}"
            f" {r['join_full_ms'] / r['join_spliced_ms']:>12.1f}×"
            f" {r['old_small_s']:>12.3f} {r['old_extrapolated_s']:>22.1f}"
            f" {r['old_extrapolated_s'] * 1000 / r['warm_median_ms']:>15,.0f}×"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=500, help="team size for the old approach")
    parser.add_argument("--calls", type=int, default=200, help="warm calls")
    parser.add_argument(
        "--joins", type=int, default=5, help="new volunteers timed each way (spliced, full)"
    )
    parser.add_argument(
        "--database", help="a PostgreSQL server URL (default: VHUB_TEST_POSTGRES_URL)"
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
