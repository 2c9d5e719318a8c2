"""The optimal fair roster, end to end from the database: 10,000 places × 50,000 volunteers.

A community with N volunteers (default 50,000) in teams of 460; each team has four
recurring tasks for next week (morning, late morning on weekdays, overlapping the morning,
afternoon, and an evening shift; a quarter of the teams are silver patrols whose evening
walks need pairs, from the registration-rules plugin), so about 10,000 open places and
1.3 M candidate pairs. Some volunteers declared their weekly availability, served hours in
the last 30 days, or missed a shift. The database is built once in bulk (a SQLite file is
kept under ``--cache`` between runs; PostgreSQL gets a fresh database each run, dropped
afterwards) in a separate process, and measured in another, so that the peak RSS is the
measurement's alone (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the process's peak
resident set, imports and the database driver included).

Times are wall-clock (``time.perf_counter``) with the process's CPU time
(``time.process_time``, every thread) beside the main ones: on a shared machine the wall
time grows with the load average (printed), the CPU time hardly.

It prints, in the same run on the same instance:

* ``plan (load + solve)``: ``rostering.load_problem`` + ``solve_problem`` from the
  database (all filters, the features, the rules' lazy checks, minimum groups), cold then
  warm;
* ``generate_plan``: the same plus writing the draft plan and its assignments;
* ``bare solver``: ``roster_solver.solve`` on the same arrays (no rules callback);
* ``greedy``: ``roster_solver.greedy`` on the same arrays, and its share of the optimum;
* the peak RSS.

    python benchmarks/roster_bench.py                       # 10,000 × 50,000 on SQLite
    python benchmarks/roster_bench.py --volunteers 200000   # 40,000 × 200,000
    python benchmarks/roster_bench.py --database postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench_db import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TEAM_SIZE = 460
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Shanghai
SH = ZoneInfo("Asia/Shanghai")
SKILLS = ["急救", "维修", "心理", "法律", "陪护"]
# (title, first start, hours, capacity, rule)
SHIFTS = [
    ("晨间值守（急救）", (8, 0), 3, 4, "FREQ=DAILY"),
    ("上午陪护", (9, 30), 2.5, 3, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    ("下午维修服务", (14, 0), 3, 4, "FREQ=DAILY"),
    ("夜间巡逻", (19, 0), 2, 3, "FREQ=DAILY"),
]


def settings_for(url: str, work_dir: Path):
    from volunteer_hub.config import Settings

    return Settings(
        database_url=url,
        secret_key="bench-secret",
        data_dir=work_dir,
        password_profile="CHEAPEST",
    )


# --- building the database ----------------------------------------------------------------------


async def build(url: str, volunteers: int, work_dir: Path) -> None:
    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub
    from volunteer_hub.models import (
        AvailabilitySlot,
        MembershipStatus,
        NoShow,
        Person,
        Role,
        RoleAssignment,
        ServiceRecord,
        TeamMembership,
    )
    from volunteer_hub.services import people, tasks, teams
    from volunteer_hub.services.access import load_actor

    rng = random.Random(13)
    await db.upgrade(url)
    async with db.database(url):
        hub = build_hub(settings_for(url, work_dir), clock=lambda: NOW)
        admin = await load_actor(
            (
                await people.create_admin(
                    hub, name="管理员", phone="13900000000", password="bench-password-1"
                )
            ).id
        )
        community = await people.create_community(hub, admin, {"name": "幸福里社区"})
        grids = [
            await people.create_grid(hub, admin, community.id, {"name": f"第{g + 1}网格"})
            for g in range(10)
        ]
        n_teams = max(1, volunteers // TEAM_SIZE)
        team_rows = []
        for t in range(n_teams):
            kind = "silver_patrol" if t % 4 == 0 else "elderly_care"
            team_rows.append(
                await teams.create_team(hub, admin, community.id, {"name": f"队{t}", "kind": kind})
            )
        first_day = date(2026, 12, 2)
        for team in team_rows:
            for title, (h, m), hours, capacity, rule in SHIFTS:
                start = datetime(first_day.year, first_day.month, first_day.day, h, m, tzinfo=SH)
                await tasks.create_task(
                    hub,
                    admin,
                    community.id,
                    {
                        "title": f"{team.name}{title}",
                        "team_id": team.id,
                        "starts_at": start,
                        "ends_at": start + timedelta(hours=hours),
                        "capacity": capacity,
                        "rrule": rule,
                        "location": f"{grids[team.id % 10].name}活动室",
                    },
                )
        first_phone = 15000000000
        people_rows = []
        for i in range(n_teams * TEAM_SIZE):
            team = team_rows[i // TEAM_SIZE]
            senior = team.kind == "silver_patrol"
            born = date(rng.randint(1950, 1964) if senior else rng.randint(1970, 2004), 6, 1)
            if senior and rng.random() < 0.01:  # joined before the age rule: it refuses them now
                born = date(1970, 6, 1)
            people_rows.append(
                Person(
                    name=f"志愿者{i}",
                    phone=str(first_phone + i),
                    community_id=community.id,
                    grid_id=grids[rng.randrange(10)].id,
                    birth_date=born,
                    skills=rng.sample(SKILLS, rng.randint(0, 2)),
                )
            )
        await Person.bulk_create(people_rows, batch_size=5000)
        ids = [
            pid
            for _, pid in sorted(
                await Person.filter(phone__gte=str(first_phone)).values_list("phone", "id")
            )
        ]
        await RoleAssignment.bulk_create(
            [
                RoleAssignment(person_id=p, community_id=community.id, role=Role.VOLUNTEER)
                for p in ids
            ],
            batch_size=5000,
        )
        await TeamMembership.bulk_create(
            [
                TeamMembership(
                    team_id=team_rows[i // TEAM_SIZE].id,
                    person_id=p,
                    status=MembershipStatus.ACTIVE,
                )
                for i, p in enumerate(ids)
            ],
            batch_size=5000,
        )
        slots, records, no_shows = [], [], []
        for p in ids:
            r = rng.random()
            if r < 0.10:  # weekdays only, all day
                slots += [
                    AvailabilitySlot(person_id=p, weekday=d, start_minute=0, end_minute=1440)
                    for d in range(1, 6)
                ]
            if rng.random() < 0.2:
                hours = rng.randint(1, 8)
                started = NOW - timedelta(days=rng.randint(1, 29))
                records.append(
                    ServiceRecord(
                        person_id=p,
                        community_id=community.id,
                        description="服务",
                        started_at=started,
                        ended_at=started + timedelta(hours=hours),
                        hours=hours,
                    )
                )
            if rng.random() < 0.02:
                no_shows.append(
                    NoShow(
                        community_id=community.id,
                        person_id=p,
                        occurred_at=NOW - timedelta(days=rng.randint(1, 200)),
                    )
                )
        await AvailabilitySlot.bulk_create(slots, batch_size=5000)
        await ServiceRecord.bulk_create(records, batch_size=5000)
        await NoShow.bulk_create(no_shows, batch_size=5000)
        staff = await people.register(
            hub,
            {
                "name": "社区干部",
                "phone": "13800000000",
                "password": "bench-password-1",
                "community_id": community.id,
            },
        )
        await people.assign_role(hub, admin, community.id, staff.id, "staff")
        # Statistics for the query planner, as autovacuum gathers them after bulk loads (a
        # fresh PostgreSQL database has none and plans the joins blind).
        await db.execute("ANALYZE")


# --- measuring ---------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(url: str, work_dir: Path) -> dict:
    import numpy as np

    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub
    from volunteer_hub.models import Community, Person
    from volunteer_hub.services import roster_solver, rostering
    from volunteer_hub.services.access import load_actor

    out: dict = {"rss_start_mb": peak_rss_mb()}
    async with db.database(url):
        hub = build_hub(settings_for(url, work_dir), clock=lambda: NOW)
        out["plugins"] = [s.name for s in hub.plugins.statuses()]
        community = await Community.get(name="幸福里社区")
        staff = await load_actor((await Person.get(phone="13800000000")).id)
        start, end = rostering._period(hub, community, rostering.PlanIn())
        for label in ("cold", "warm"):
            t0, c0 = time.perf_counter(), time.process_time()
            problem = await rostering.load_problem(hub, community, start, end)
            t1, c1 = time.perf_counter(), time.process_time()
            out[f"load_{label}_cpu_s"] = c1 - c0
            solution = await rostering.solve_problem(hub, problem)
            t2, c2 = time.perf_counter(), time.process_time()
            out[f"load_{label}_s"] = t1 - t0
            out[f"solve_{label}_s"] = t2 - t1
            out[f"plan_{label}_s"] = t2 - t0
            out[f"plan_{label}_cpu_s"] = c2 - c0
        out["rss_after_plan_mb"] = peak_rss_mb()
        inst = problem.instance()
        out["places"] = int(inst.places.sum())
        out["occurrences"] = inst.n_occurrences
        out["volunteers"] = inst.n_people
        out["pairs"] = len(inst.pair_occ)
        out["assigned"] = len(solution.chosen)
        out["rounds"] = solution.rounds
        out["refused_by_rules"] = len(solution.refused)
        out["closed_for_minimum_group"] = len(solution.closed)
        out["objective"] = solution.objective
        # The bare solver and the greedy on the same arrays (the plan's minimum groups and
        # refusals are in the arrays: refused pairs dropped).
        keep = np.ones(len(inst.pair_occ), dtype=bool)
        keep[solution.refused] = False
        bare = roster_solver.Instance(
            occ_start=inst.occ_start,
            occ_end=inst.occ_end,
            places=inst.places,
            pair_occ=inst.pair_occ[keep],
            pair_person=inst.pair_person[keep],
            pair_score=inst.pair_score[keep],
            n_people=inst.n_people,
            load_before=inst.load_before,
            min_group=inst.min_group,
            taken=inst.taken,
        )
        t0, c0 = time.perf_counter(), time.process_time()
        best = roster_solver.solve(bare, rostering.WEIGHTS)
        out["bare_solver_s"] = time.perf_counter() - t0
        out["bare_solver_cpu_s"] = time.process_time() - c0
        out["bare_objective"] = best.objective
        t0 = time.perf_counter()
        plain = roster_solver.greedy(bare, rostering.WEIGHTS)
        out["greedy_s"] = time.perf_counter() - t0
        out["greedy_objective"] = roster_solver.objective(bare, plain, rostering.WEIGHTS)
        out["greedy_share"] = out["greedy_objective"] / best.objective
        values = roster_solver.pair_values(bare, rostering.WEIGHTS) - rostering.WEIGHTS.place_value
        out["greedy_fit_share"] = float(values[plain].sum() / values[best.chosen].sum())
        out["greedy_assigned"] = len(plain)
        loads_best = np.bincount(bare.pair_person[best.chosen], minlength=bare.n_people)
        loads_greedy = np.bincount(bare.pair_person[plain], minlength=bare.n_people)
        out["load_max_optimal"] = int(loads_best.max())
        out["load_max_greedy"] = int(loads_greedy.max())
        out["feasible"] = bool(roster_solver.is_feasible(bare, best.chosen, rostering.WEIGHTS))
        t0 = time.perf_counter()
        plan = await rostering.generate_plan(hub, staff, community.id, {})
        out["generate_plan_s"] = time.perf_counter() - t0
        out["plan_assignments"] = plan.summary["assigned"]
        out["rss_peak_mb"] = peak_rss_mb()
    return out


# --- orchestration -----------------------------------------------------------------------


def child(step: str, url: str, volunteers: int, work_dir: Path) -> dict | None:
    args = [sys.executable, __file__, "--step", step, "--url", url]
    args += ["--volunteers", str(volunteers), "--work", str(work_dir)]
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def report(result: dict, backend: str) -> None:
    r = result
    print(f"{backend}: {r['places']} places in {r['occurrences']} occurrences × "
          f"{r['volunteers']} volunteers, {r['pairs']:,} candidate pairs")  # fmt: skip
    print(f"  plan (load + solve), cold  {r['plan_cold_s']:.2f} s  "
          f"(load {r['load_cold_s']:.2f} s, solve {r['solve_cold_s']:.2f} s)")  # fmt: skip
    print(f"  plan (load + solve), warm  {r['plan_warm_s']:.2f} s  "
          f"(load {r['load_warm_s']:.2f} s, solve {r['solve_warm_s']:.2f} s, "
          f"{r['rounds']} flow rounds; CPU {r['plan_warm_cpu_s']:.2f} s)")  # fmt: skip
    print(f"  generate_plan (+ writing)  {r['generate_plan_s']:.2f} s")
    print(f"  bare solver                {r['bare_solver_s']:.2f} s "
          f"(CPU {r['bare_solver_cpu_s']:.2f} s)")  # fmt: skip
    print(f"  greedy                     {r['greedy_s']:.2f} s")
    print(f"  assigned {r['assigned']} (greedy {r['greedy_assigned']}); "
          f"objective {r['objective']:,} = bare solver {r['bare_objective']:,}")  # fmt: skip
    print(f"  greedy: {100 * r['greedy_share']:.2f} % of the optimum "
          f"({100 * r['greedy_fit_share']:.1f} % of its fit); busiest volunteer "
          f"{r['load_max_greedy']} places (optimum {r['load_max_optimal']})")  # fmt: skip
    print(f"  refused by rules {r['refused_by_rules']}, closed for a minimum group "
          f"{r['closed_for_minimum_group']}; feasible {r['feasible']}")  # fmt: skip
    print(f"  peak RSS {r['rss_peak_mb']:.0f} MB (after load + solve {r['rss_after_plan_mb']:.0f} "
          f"MB; at start {r['rss_start_mb']:.0f} MB)")  # fmt: skip
    print(f"  plugins: {', '.join(r['plugins'])}")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=50_000)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "vhub-roster-bench"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--step", choices=["build", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "build":
        asyncio.run(build(args.url, args.volunteers, Path(args.work)))
        return 0
    if args.step == "measure":
        print(json.dumps(asyncio.run(measure(args.url, Path(args.work)))))
        return 0

    from volunteer_hub.config import sqlite_url

    work = Path(args.cache)
    work.mkdir(parents=True, exist_ok=True)
    if args.database:
        url, name = asyncio.run(create_postgres_database(args.database))
        try:
            t0 = time.monotonic()
            child("build", url, args.volunteers, work)
            print(f"built in {time.monotonic() - t0:.0f} s")
            result = child("measure", url, args.volunteers, work)
        finally:
            asyncio.run(drop_postgres_database(args.database, name))
        backend = "PostgreSQL"
    else:
        path = work / f"roster-{args.volunteers}.sqlite3"
        url = sqlite_url(path)
        if not path.exists():
            t0 = time.monotonic()
            try:
                child("build", url, args.volunteers, work)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            print(f"built {path} in {time.monotonic() - t0:.0f} s")
        # Each measurement starts from the built file: the plan it writes is not kept.
        copy = work / "measured.sqlite3"
        copy.write_bytes(path.read_bytes())
        result = child("measure", sqlite_url(copy), args.volunteers, work)
        backend = "SQLite"
    assert result is not None
    report(result, backend)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
