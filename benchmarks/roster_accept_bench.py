"""Accepting a big roster plan: N places invited in bulk, against the per-row way.

The database is ``roster_bench.py``'s (a community whose teams have a week of recurring
shifts; about one place per five volunteers), built in bulk in a separate process with a
draft plan for next week. It is then copied, and each copy has the plan accepted
(``rostering.accept_plan``: the invitations, their audit entries and events, the
messages and deliveries, the events published to plugins after commit) in a process of
its own:

* **product**: this tree;
* **baseline**: the tree of ``--baseline`` (a git revision, by default ``6263d66``, the
  code before plans were accepted in bulk: the per-row way, one INSERT per invitation,
  audit entry, message and delivery), exported with ``git archive`` and put first on
  ``sys.path``; the process prints where it imported ``volunteer_hub`` from.

Both print wall time, CPU time (``time.process_time``) and SQL statements (those
Tortoise's client logs); the report gives them per place and the ratios of the same run.
SQLite copies the file; PostgreSQL makes each copy with ``CREATE DATABASE … TEMPLATE``
(and drops them afterwards). Every installed plugin is loaded, as a deployment does (the
registration rules are asked about each place).

    python benchmarks/roster_accept_bench.py --places 2000
    python benchmarks/roster_accept_bench.py --places 10000
    python benchmarks/roster_accept_bench.py --places 10000 --database postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import roster_bench  # imports no code of ours: before the tree is put on sys.path
from bench_db import create_postgres_database, drop_postgres_database
from bench_sql import counting

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "6263d66"  # the last commit that accepted a plan one invitation at a time
VOLUNTEERS_PER_PLACE = 5  # roster_bench's shifts: 9,936 places for 49,680 volunteers


async def plan(url: str, work: Path) -> dict:
    """The built database's draft plan (this tree). Beforehand, as in a community that uses
    them: staff configure an SMS webhook, every volunteer has a confirmed number there (a
    delivery per message), and one in ten reads English."""
    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub
    from volunteer_hub.models import Community, Person, PersonChannel, Role, RoleAssignment
    from volunteer_hub.services import channels, rostering
    from volunteer_hub.services.access import load_actor

    # The gateway is on this machine (nothing is sent: the outbox is what is measured).
    settings = replace(roster_bench.settings_for(url, work), allow_private_network=True)
    async with db.database(url):
        hub = build_hub(settings, clock=lambda: roster_bench.NOW)
        community = await Community.get(name="幸福里社区")
        staff = await load_actor((await Person.get(phone="13800000000")).id)
        await channels.configure(
            hub,
            staff,
            community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": "http://127.0.0.1:9/sms"}},
        )
        phones = dict(
            await RoleAssignment.filter(community_id=community.id, role=Role.VOLUNTEER)
            .order_by("person_id")
            .values_list("person_id", "person__phone")
        )
        await PersonChannel.bulk_create(
            [
                PersonChannel(person_id=p, code="webhook", address=a, confirmed_at=roster_bench.NOW)
                for p, a in phones.items()
            ],
            batch_size=5000,
        )
        await Person.filter(id__in=list(phones)[::10]).update(locale="en")
        draft = await rostering.generate_plan(hub, staff, community.id, {})
        return {"plan_id": draft.id, "assignments": draft.summary["assigned"]}


async def accept(url: str, work: Path, plan_id: int) -> dict:
    """Accept the plan with whichever ``volunteer_hub`` is first on sys.path."""
    import volunteer_hub
    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub
    from volunteer_hub.models import Delivery, Notification, Person
    from volunteer_hub.services import rostering
    from volunteer_hub.services.access import load_actor

    async with db.database(url):
        hub = build_hub(roster_bench.settings_for(url, work), clock=lambda: roster_bench.NOW)
        staff = await load_actor((await Person.get(phone="13800000000")).id)
        with counting() as counter:
            t0, c0 = time.perf_counter(), time.process_time()
            result = await rostering.accept_plan(hub, staff, plan_id)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {
            "code": str(Path(volunteer_hub.__file__).parent),
            "invited": result.invited,
            "skipped": len(result.skipped),
            "seconds": seconds,
            "cpu_seconds": cpu,
            "statements": counter.count,
            "notifications": await Notification.filter(event="task.invited").count(),
            "deliveries": await Delivery.all().count(),
            "plugins": [s.name for s in hub.plugins.statuses()],
        }


# --- orchestration -----------------------------------------------------------------------


def child(step: str, url: str, work: Path, *, tree: Path | None = None, plan_id: int = 0) -> dict:
    args = [sys.executable, __file__, "--step", step, "--url", url, "--work", str(work)]
    args += ["--plan-id", str(plan_id)] + (["--tree", str(tree)] if tree else [])
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{step} failed:\n{done.stderr}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def export(revision: str, into: Path) -> Path:
    """The package of ``revision``, exported with git archive into ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "volunteer_hub"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def report(backend: str, places: int, product: dict, baseline: dict, revision: str) -> None:
    def per_place(r: dict) -> str:
        n = max(r["invited"], 1)
        return (
            f"{r['seconds']:7.2f} s  {1000 * r['seconds'] / n:6.3f} ms/place"
            f"  CPU {1000 * r['cpu_seconds'] / n:6.3f} ms/place"
            f"  {r['statements']:>6} statements ({r['statements'] / n:.3f}/place)"
        )

    print(f"{backend}: a plan of {places} places, load average {os.getloadavg()[0]:.1f}")
    for label, r in (("product", product), (f"baseline ({revision})", baseline)):
        print(f"  {label:<22} {per_place(r)}")
        print(f"  {'':<22} invited {r['invited']}, skipped {r['skipped']}, "
              f"{r['notifications']} messages, {r['deliveries']} deliveries")  # fmt: skip
        print(f"  {'':<22} code: {r['code']}")
    ratio = (baseline["seconds"] / baseline["invited"]) / (product["seconds"] / product["invited"])
    statements = (baseline["statements"] / baseline["invited"]) / (
        product["statements"] / product["invited"]
    )
    print(f"  per place, baseline / product: time {ratio:.1f}x, statements {statements:.0f}x")
    print(f"  plugins: {', '.join(product['plugins'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", type=int, default=2_000, help="about this many places")
    parser.add_argument("--baseline", default=BASELINE, help="the git revision to compare with")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "vhub-roster-bench"))
    parser.add_argument("--step", choices=["plan", "accept"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--plan-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, args.tree or str(ROOT))
    if args.step == "plan":
        print(json.dumps(asyncio.run(plan(args.url, Path(args.work)))))
        return 0
    if args.step == "accept":
        print(json.dumps(asyncio.run(accept(args.url, Path(args.work), args.plan_id))))
        return 0

    from volunteer_hub.config import sqlite_url

    volunteers = args.places * VOLUNTEERS_PER_PLACE
    work = Path(args.cache)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="roster-accept-") as tmp:
        tree = export(args.baseline, Path(tmp))
        if args.database:
            url, name = asyncio.run(create_postgres_database(args.database))
            copies = [f"vhub_bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
            try:
                roster_bench.child("build", url, volunteers, work)
                drafted = child("plan", url, work)
                server = args.database.rpartition("/")[0]
                asyncio.run(_copy_postgres(args.database, name, copies))
                product = child("accept", f"{server}/{copies[0]}", work, plan_id=drafted["plan_id"])
                baseline = child(
                    "accept", f"{server}/{copies[1]}", work, tree=tree, plan_id=drafted["plan_id"]
                )
            finally:
                for database in [name, *copies]:
                    asyncio.run(drop_postgres_database(args.database, database))
            backend = "PostgreSQL"
        else:
            built = work / f"roster-{volunteers}.sqlite3"
            if not built.exists():
                try:
                    roster_bench.child("build", sqlite_url(built), volunteers, work)
                except BaseException:
                    built.unlink(missing_ok=True)
                    raise
            planned = Path(tmp) / "planned.sqlite3"
            shutil.copyfile(built, planned)
            drafted = child("plan", sqlite_url(planned), work)
            copies = [Path(tmp) / f"{label}.sqlite3" for label in ("product", "baseline")]
            for copy in copies:
                shutil.copyfile(planned, copy)
            product = child("accept", sqlite_url(copies[0]), work, plan_id=drafted["plan_id"])
            baseline = child(
                "accept", sqlite_url(copies[1]), work, tree=tree, plan_id=drafted["plan_id"]
            )
            backend = "SQLite"
    assert product["invited"] == baseline["invited"], (product, baseline)
    assert product["notifications"] == baseline["notifications"], (product, baseline)
    report(backend, drafted["assignments"], product, baseline, args.baseline)
    return 0


async def _copy_postgres(server_url: str, template: str, copies: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        for name in copies:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
