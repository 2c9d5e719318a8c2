"""An emergency call-out to 10,000 volunteers, timed from the staff action to the last delivery.

One run, on a fresh database (SQLite by default, ``--database postgres://…`` for
PostgreSQL; a fresh database is created on that server and dropped afterwards):

* a community with N volunteers (default 10,000), each of whom gave a phone number for
  the webhook channel (seeded in bulk: a volunteer is a person with the volunteer role),
  and the webhook channel configured by staff, pointing at a local sink;
* the sink: a separate process (uvicorn, uvloop, httptools, a bare ASGI callable) on
  127.0.0.1 that counts JSON posts by their Idempotency-Key, checks each one carries an
  acknowledgement link, and notes the (system-wide monotonic) time of each first receipt;

then times, one after the other, against the same sink:

(a) the product: staff POST /api/v1/communities/{cid}/callouts (the real app over ASGI, in
    this process), then the real ``Worker.run_once()`` with the real ``AppriseNotifier``,
    until the sink has received all N messages (from the staff action to the sink's last
    first-receipt);
(b) a raw ``httpx.AsyncClient`` posting the same N messages (the rendered subjects and
    bodies of (a), read back from the database) to the same sink, 100 at a time;

and prints both and the ratio. README.md beside this file has measured figures.

    python benchmarks/callout_bench.py
    python benchmarks/callout_bench.py --database postgres://postgres@127.0.0.1:5432/test
    python benchmarks/callout_bench.py --profile --keep /tmp/callout   # + py-spy of (a)

With two or more CPUs the sink is pinned to the last CPU and this process to the others
(``--no-pin`` turns this off), so the sink does not compete with the worker it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
PASSWORD = "bench-passw0rd"
STAFF_PHONE = "13900000001"
PUBLIC_URL = "https://vhub.example.org"
GOAL_SECONDS = 10.0
RAW_CONCURRENCY = 100


# --- the sink (its own process) ---------------------------------------------------------------


def sink_app():
    """A bare ASGI app: POST anything → count it by Idempotency-Key; GET /stats; POST /reset."""
    state = {"accepted": {}, "duplicates": 0, "attempts": 0, "bad": 0, "last": 0.0, "first": 0.0}
    ok = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    done = {"type": "http.response.body", "body": b""}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/stats":
            stats = {k: v for k, v in state.items() if k != "accepted"}
            body = json.dumps({**stats, "accepted": len(state["accepted"])}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        if path == "/reset":
            state.update(accepted={}, duplicates=0, attempts=0, bad=0, last=0.0, first=0.0)
            await send(ok)
            await send(done)
            return
        state["attempts"] += 1
        key = ""
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                key = value.decode()
        try:
            payload = json.loads(b"".join(chunks))
            good = bool(key) and "/ack/" in payload["message"] and bool(payload.get("to"))
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            state["bad"] += 1
        elif key in state["accepted"]:
            state["duplicates"] += 1
        else:
            now = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
            state["accepted"][key] = now
            state["first"] = state["first"] or now
            state["last"] = now
        await send(ok)
        await send(done)

    return app


def serve_sink(port: int) -> None:
    import uvicorn

    uvicorn.run(
        sink_app(),
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self, pin: list[int] | None) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/hook"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-sink", str(self.port)],
            preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the sink did not start") from None
                time.sleep(0.05)

    async def stats(self, client) -> dict:
        return (await client.get(f"http://{HOST}:{self.port}/stats")).json()

    async def reset(self, client) -> None:
        await client.post(f"http://{HOST}:{self.port}/reset")

    async def wait_for(self, client, n: int, within: float) -> dict:
        deadline = time.monotonic() + within
        while True:
            stats = await self.stats(client)
            if stats["accepted"] >= n or time.monotonic() > deadline:
                return stats
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- the database -------------------------------------------------------------------------------


async def create_postgres_database(server_url: str) -> tuple[str, str]:
    import asyncpg

    name = f"vhub_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url.rpartition('/')[0]}/{name}", name


async def drop_postgres_database(server_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class Seeded:
    community_id: int
    staff_phone: str


async def seed(hub, n: int, sink_url: str) -> Seeded:
    """Staff, the webhook channel and its address through the services; N volunteers in bulk."""
    from volunteer_hub.models import Person, PersonChannel, Role, RoleAssignment
    from volunteer_hub.services import channels, people
    from volunteer_hub.services.access import load_actor

    admin_person = await people.create_admin(
        hub, name="管理员", phone="13900000000", password=PASSWORD
    )
    admin = await load_actor(admin_person.id)
    community = await people.create_community(hub, admin, {"name": "幸福里社区"})
    grid = await people.create_grid(hub, admin, community.id, {"name": "第一网格"})
    staff_person = await people.register(
        hub,
        {
            "name": "社区干部",
            "phone": STAFF_PHONE,
            "password": PASSWORD,
            "community_id": community.id,
        },
    )
    await people.assign_role(hub, admin, community.id, staff_person.id, "staff")
    staff = await load_actor(staff_person.id)
    await channels.configure(
        hub,
        staff,
        community.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": sink_url}},
    )
    first = 15000000000
    await Person.bulk_create(
        [
            Person(
                name=f"志愿者{i}",
                phone=str(first + i),
                community_id=community.id,
                grid_id=grid.id,
                skills=["急救"] if i % 3 == 0 else [],
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    ids = dict(await Person.filter(phone__gte=str(first)).values_list("phone", "id"))
    assert len(ids) == n, (len(ids), n)
    await RoleAssignment.bulk_create(
        [
            RoleAssignment(person_id=pid, community_id=community.id, role=Role.VOLUNTEER)
            for pid in ids.values()
        ],
        batch_size=2000,
    )
    await PersonChannel.bulk_create(
        [PersonChannel(person_id=pid, code="webhook", address=phone) for phone, pid in ids.items()],
        batch_size=2000,
    )
    return Seeded(community.id, STAFF_PHONE)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Timing:
    staff_action: float = 0.0  # the POST, answered (everything written)
    worker: float = 0.0  # Worker.run_once() after it
    to_last_delivery: float = 0.0  # from the POST to the sink's last first-receipt
    received: int = 0
    duplicates: int = 0
    bad: int = 0


async def run_product(hub, app, seeded: Seeded, sink: Sink, n: int, http) -> tuple[Timing, int]:
    import httpx

    from volunteer_hub.notifications.senders import AppriseNotifier
    from volunteer_hub.notifications.worker import Worker

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vhub") as api:
        r = await api.post(
            "/api/v1/auth/login", json={"phone": seeded.staff_phone, "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        body = {
            "title": "暴雨红色预警：请立即到岗",
            "message": "今晚8点前到社区服务站集合，带好雨具和手电。到岗后请点链接确认。",
            "target": {"kind": "everyone"},
        }
        await sink.reset(http)
        worker = Worker(hub, AppriseNotifier())
        t = Timing()
        start = time.monotonic()
        r = await api.post(
            f"/api/v1/communities/{seeded.community_id}/callouts", json=body, headers=headers
        )
        t.staff_action = time.monotonic() - start
        assert r.status_code == 201, r.text
        assert r.json()["recipients"] == n, r.text
        report = await worker.run_once()
        t.worker = time.monotonic() - start - t.staff_action
        assert report.sent == n and report.failed == 0, report
        stats = await sink.wait_for(http, n, within=60)
        t.to_last_delivery = stats["last"] - start
        t.received, t.duplicates, t.bad = stats["accepted"], stats["duplicates"], stats["bad"]
        return t, r.json()["id"]


async def run_raw(callout_id: int, sink: Sink, n: int, http) -> Timing:
    """The same N messages, straight from httpx to the sink (no database, no apprise)."""
    import httpx

    from volunteer_hub import db

    rows = await db.fetch(
        "SELECT d.id, d.address, n.subject, n.body FROM delivery d"
        " JOIN notification n ON n.id = d.notification_id"
        " WHERE n.entity_type = ? AND n.entity_id = ? ORDER BY d.id",
        "callout",
        callout_id,
    )
    assert len(rows) == n, len(rows)
    await sink.reset(http)
    slots = asyncio.Semaphore(RAW_CONCURRENCY)
    limits = httpx.Limits(
        max_connections=RAW_CONCURRENCY, max_keepalive_connections=RAW_CONCURRENCY
    )
    t = Timing()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def post(row: dict) -> None:
            async with slots:
                r = await client.post(
                    sink.url,
                    content=json.dumps(
                        {"title": row["subject"], "message": row["body"], "to": row["address"]},
                        ensure_ascii=False,
                    ).encode(),
                    headers={
                        "Content-Type": "application/json",
                        "Idempotency-Key": f"raw-{row['id']}",
                    },
                )
                r.raise_for_status()

        start = time.monotonic()
        await asyncio.gather(*(post(row) for row in rows))
        stats = await sink.wait_for(http, n, within=60)
    t.to_last_delivery = stats["last"] - start
    t.received, t.duplicates, t.bad = stats["accepted"], stats["duplicates"], stats["bad"]
    return t


def start_profiler(out: Path) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: no profile")
        return None
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            "250",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main_async(args: argparse.Namespace, work_dir: Path) -> int:
    import httpx

    from volunteer_hub import db
    from volunteer_hub.config import Settings, sqlite_url
    from volunteer_hub.hub import Hub
    from volunteer_hub.web import create_app

    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and not args.no_pin
    sink = Sink([cpus[-1]] if pin else None)
    if pin:
        os.sched_setaffinity(0, cpus[:-1])
    pg_name = None
    try:
        if args.database:
            url, pg_name = await create_postgres_database(args.database)
        else:
            url = sqlite_url(work_dir / "bench.sqlite3")
        await db.upgrade(url)
        settings = Settings(
            database_url=url,
            secret_key="bench-secret",
            data_dir=work_dir,
            disable_plugin_autoload=True,
            password_profile="CHEAPEST",
            allow_private_network=True,  # the sink listens on 127.0.0.1
            public_url=PUBLIC_URL,
        )
        async with db.database(url), httpx.AsyncClient(timeout=10) as http:
            hub = Hub.create(settings)
            started = time.monotonic()
            seeded = await seed(hub, args.recipients, sink.url)
            print(
                f"seeded {args.recipients} volunteers in {time.monotonic() - started:.1f} s"
                f" ({'PostgreSQL' if pg_name else 'SQLite'}; sink on {sink.url}"
                f"{f', pinned to CPU {cpus[-1]}' if pin else ''})"
            )
            app = create_app(settings, hub=hub, manage_database=False)
            profiler = start_profiler(work_dir / "callout.folded") if args.profile else None
            try:
                product, callout_id = await run_product(
                    hub, app, seeded, sink, args.recipients, http
                )
            finally:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
            raw = await run_raw(callout_id, sink, args.recipients, http)

        n = args.recipients
        print()
        print(f"{'scenario':<52} {'seconds':>8} {'msg/s':>8} {'received':>9} {'dupl.':>6}")
        rows = [
            ("(a) call-out: staff POST → worker → sink (apprise)", product),
            ("(b) raw httpx.AsyncClient, same messages, same sink", raw),
        ]
        for name, t in rows:
            rate = n / t.to_last_delivery if t.to_last_delivery else float("nan")
            print(
                f"{name:<52} {t.to_last_delivery:8.2f} {rate:8.0f} {t.received:9d}"
                f" {t.duplicates:6d}"
            )
        print(
            f"    of (a): staff action (POST answered) {product.staff_action:.2f} s,"
            f" then Worker.run_once() {product.worker:.2f} s"
        )
        ratio = product.to_last_delivery / raw.to_last_delivery
        print(f"ratio (a)/(b): {ratio:.1f}x")
        met = product.to_last_delivery <= GOAL_SECONDS and product.received == n
        print(
            f"goal: (a) <= {GOAL_SECONDS:.0f} s for {n} recipients: {'MET' if met else 'NOT MET'}"
        )
        if args.profile:
            print(f"profile (py-spy raw folded stacks): {work_dir / 'callout.folded'}")
        problems = product.bad + raw.bad + product.duplicates + raw.duplicates
        return 0 if problems == 0 and product.received == n and raw.received == n else 1
    finally:
        sink.stop()
        if pg_name:
            await drop_postgres_database(args.database, pg_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--profile", action="store_true", help="py-spy record of (a)")
    parser.add_argument("--keep", type=Path, help="keep the database and profile here")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--serve-sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink)
        return 0
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(main_async(args, args.keep))
    with tempfile.TemporaryDirectory(prefix="callout-bench-") as tmp:
        return asyncio.run(main_async(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
