"""The worker's no-show pass over N overdue shifts, against recording them one by one.

One run, on a fresh database (SQLite by default, ``--database postgres://…`` for
PostgreSQL: a fresh database is created on that server and dropped afterwards):

* seeded in bulk: a community, a task with two occurrences that ended an hour ago, and on
  each N confirmed signups of N volunteers who never checked in;
* (a) the product: ``no_shows.record_overdue`` (what ``vhub worker`` runs each round) over
  the first occurrence's N signups, in batches of ``--batch`` (500): per batch one SELECT,
  one ``UPDATE … RETURNING``, one multi-row INSERT of the records and two of the audit
  entries, whatever the batch's size;
* (b) the baseline: the second occurrence's N signups recorded one at a time, each in its
  own transaction with the statements staff's roster mark uses (a conditional UPDATE of the
  signup, an INSERT of its record, two audit entries), as a per-row loop in the worker would;

then checks both recorded every row exactly once and prints wall time, SQL statements and
rows per second of each, and the ratio. The Hub is the application's (``build_hub``: the
notification planner is subscribed, as in ``vhub worker``). README.md beside this file has
measured figures.

    python benchmarks/no_show_bench.py
    python benchmarks/no_show_bench.py --database postgres://postgres@127.0.0.1:5432/test
    python benchmarks/no_show_bench.py --signups 50000 --baseline 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_db import create_postgres_database, drop_postgres_database
from bench_sql import counting

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from volunteer_hub import db  # noqa: E402
from volunteer_hub.bootstrap import build_hub  # noqa: E402
from volunteer_hub.config import Settings, sqlite_url  # noqa: E402
from volunteer_hub.models import (  # noqa: E402
    Community,
    NoShow,
    Occurrence,
    Person,
    Signup,
    SignupStatus,
    Task,
)
from volunteer_hub.services import no_shows  # noqa: E402
from volunteer_hub.services.uow import unit_of_work  # noqa: E402

END = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
NOW = END + timedelta(hours=1)


async def counted(coro) -> tuple[object, float, int]:
    with counting() as counter:
        started = time.perf_counter()
        result = await coro
        return result, time.perf_counter() - started, counter.count


async def seed(n: int) -> tuple[int, int]:
    """Two occurrences with ``n`` confirmed, never checked-in signups each."""
    community = await Community.create(name=f"基准社区{uuid.uuid4().hex[:6]}")
    staff = await Person.create(name="社区干部", phone="13900000000", community_id=community.id)
    task = await Task.create(
        community_id=community.id,
        title="银发巡逻",
        starts_at=END - timedelta(hours=2),
        ends_at=END,
        capacity=n,
        created_by_id=staff.id,
    )
    occurrences = []
    # The second ended 10 minutes before NOW, within the grace: the product's pass leaves it
    # to the baseline, which does not look at the time.
    for end in (END, NOW - timedelta(minutes=10)):
        start = end - timedelta(hours=2)
        occurrences.append(
            await Occurrence.create(
                task_id=task.id, start=start, end=start + timedelta(hours=2), capacity=n, taken=n
            )
        )
    for first in range(0, n, 5000):
        size = min(5000, n - first)
        await Person.bulk_create(
            [
                Person(name=f"志愿者{i}", phone=f"1{i:010d}", community_id=community.id)
                for i in range(first + 1, first + size + 1)
            ]
        )
    people = Person.filter(community_id=community.id).exclude(id=staff.id).order_by("id")
    ids = list(await people.values_list("id", flat=True))
    for occurrence in occurrences:
        for first in range(0, n, 5000):
            await Signup.bulk_create(
                [
                    Signup(occurrence_id=occurrence.id, person_id=pid, status="confirmed")
                    for pid in ids[first : first + 5000]
                ]
            )
    return occurrences[0].id, occurrences[1].id


async def one_by_one(hub, occurrence_id: int, limit: int) -> int:
    """The baseline: each overdue signup in its own transaction, as staff's roster mark."""
    rows = (
        await Signup.filter(occurrence_id=occurrence_id, status=SignupStatus.CONFIRMED)
        .order_by("id")
        .limit(limit)
        .select_related("occurrence", "occurrence__task")
    )
    done = 0
    for signup in rows:
        async with unit_of_work(hub, None) as uow:
            if not await Signup.filter(id=signup.id, status=SignupStatus.CONFIRMED).update(
                status=SignupStatus.NO_SHOW
            ):
                continue
            community_id = signup.occurrence.task.community_id
            await uow.record(
                "signup.no_show",
                signup,
                community_id=community_id,
                before={"status": "confirmed"},
                after={"status": "no_show", "task_id": signup.occurrence.task_id},
            )
            await no_shows.record_signup(uow, signup, community_id, signup.occurrence.end)
        done += 1
    return done


async def run(url: str, n: int, baseline: int, batch: int) -> None:
    await db.upgrade(url)
    settings = Settings(database_url=url, secret_key="bench", disable_plugin_autoload=True)
    async with db.database(url):
        hub = build_hub(settings, clock=lambda: NOW)
        started = time.perf_counter()
        first, second = await seed(n)
        print(f"seeded 2 × {n} overdue signups in {time.perf_counter() - started:.1f} s")

        result, product_s, product_sql = await counted(no_shows.record_overdue(hub, batch=batch))
        assert result.shifts == n, result
        assert await NoShow.filter(signup__occurrence_id=first).count() == n

        done, base_s, base_sql = await counted(one_by_one(hub, second, baseline))
        assert done == baseline
        assert await NoShow.filter(signup__occurrence_id=second).count() == baseline

    dialect = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    per_product = product_s / n
    per_base = base_s / baseline
    print(f"{dialect}, batch {batch}")
    print(
        f"  product pass   {n:>7} rows  {product_s:8.2f} s  {n / product_s:9.0f} rows/s"
        f"  {product_sql:>7} statements ({product_sql / -(-n // batch):.1f} per batch)"
    )
    print(
        f"  one by one     {baseline:>7} rows  {base_s:8.2f} s  {baseline / base_s:9.0f} rows/s"
        f"  {base_sql:>7} statements ({base_sql / baseline:.1f} per row)"
    )
    print(f"  time per row: one by one / product = {per_base / per_product:.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=10_000, help="overdue rows per side")
    parser.add_argument("--baseline", type=int, default=None, help="rows one by one (= signups)")
    parser.add_argument("--batch", type=int, default=no_shows.BATCH)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    baseline = min(args.baseline or args.signups, args.signups)
    if args.database:
        url, name = await create_postgres_database(args.database)
        try:
            await run(url, args.signups, baseline, args.batch)
        finally:
            await drop_postgres_database(args.database, name)
    else:
        with tempfile.TemporaryDirectory(prefix="no-show-bench-") as tmp:
            await run(sqlite_url(Path(tmp) / "bench.sqlite3"), args.signups, baseline, args.batch)


if __name__ == "__main__":
    asyncio.run(main())
