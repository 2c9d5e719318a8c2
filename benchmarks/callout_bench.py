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
    this process), then delivery by the real ``Worker`` with the real ``AppriseNotifier``,
    until the sink has received all N messages (from the staff action to the sink's last
    first-receipt). By default two ``vhub worker`` processes deliver (``--workers 2``, as
    on a 2-CPU server: they share the outbox); ``--workers 0`` runs ``Worker.run_once()``
    in this process instead (what ``--profile`` profiles best);
(b) a raw ``httpx.AsyncClient`` posting the same N messages (the rendered subjects and
    bodies of (a), read back from the database) to the same sink, on 16 keep-alive
    connections;
(c) the floor: the same N messages written by hand as HTTP/1.1 on 16 asyncio streams (no
    HTTP library), which tells a slow sink from a slow client;

and prints them, their CPU time, the sink's CPU time, and the ratios. README.md beside this
file has measured figures.

    python benchmarks/callout_bench.py
    python benchmarks/callout_bench.py --database postgres://postgres@127.0.0.1:5432/test
    python benchmarks/callout_bench.py --workers 0 --profile --keep /tmp/callout   # py-spy

Nothing is pinned by default: the sink, this process and the worker processes share the
machine's CPUs, as a worker and an SMS gateway on one small server would. ``--pin`` puts
the sink on the last CPU and everything else on the others.
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
from dataclasses import dataclass
from pathlib import Path

from bench_db import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
PASSWORD = "bench-passw0rd"
STAFF_PHONE = "13900000001"
PUBLIC_URL = "https://vhub.example.org"
GOAL_SECONDS = 10.0
RAW_LANES = 16


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

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- the database -------------------------------------------------------------------------------


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
        [
            # Confirmed, as if each had typed in their code: nothing goes to an unconfirmed one.
            PersonChannel(person_id=pid, code="webhook", address=phone, confirmed_at=hub.now())
            for phone, pid in ids.items()
        ],
        batch_size=2000,
    )
    return Seeded(community.id, STAFF_PHONE)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Timing:
    staff_action: float = 0.0  # the POST, answered (everything written)
    worker: float = 0.0  # Worker.run_once() after it
    to_last_delivery: float = 0.0  # from the POST to the sink's last first-receipt
    to_first_delivery: float = 0.0  # from the POST to the sink's first receipt
    received: int = 0
    duplicates: int = 0
    bad: int = 0
    sink_cpu: float = 0.0  # the sink process's CPU seconds meanwhile
    own_cpu: float = 0.0  # this process's CPU seconds (all threads)


class WorkerProcesses:
    """``vhub worker`` processes, as deployed: they share the outbox (leases, SKIP LOCKED)."""

    def __init__(self, count: int, settings, interval: float) -> None:
        env = {
            **os.environ,
            "VHUB_DATABASE_URL": settings.database_url,
            "VHUB_SECRET_KEY": settings.secret_key,
            "VHUB_DATA_DIR": str(settings.data_dir),
            "VHUB_ALLOW_PRIVATE_NETWORK": "1",
            "VHUB_DISABLE_PLUGIN_AUTOLOAD": "1",
            "VHUB_PUBLIC_URL": settings.public_url,
        }
        vhub = Path(sys.executable).parent / "vhub"
        log = (settings.data_dir / "workers.log").open("ab")
        self.processes = [
            subprocess.Popen(
                [str(vhub), "worker", "--interval", str(interval)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(count)
        ]

    def cpu_seconds(self) -> float:
        return sum(proc_cpu_seconds(p.pid) for p in self.processes)

    def stop(self) -> None:
        for p in self.processes:
            p.send_signal(signal.SIGINT)
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def proc_cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_product(
    hub, app, seeded: Seeded, sink: Sink, n: int, http, args: argparse.Namespace
) -> tuple[Timing, int]:
    """(a): the staff action over the API, then delivery by the real worker."""
    import httpx

    from volunteer_hub.models import Delivery, DeliveryStatus
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
        workers = None
        profilers = []
        if args.workers:
            workers = WorkerProcesses(args.workers, hub.settings, args.interval)
            await asyncio.sleep(3)  # started and polling
            if args.profile:
                profilers = [
                    start_profiler(hub.settings.data_dir / f"worker{i}.folded", p.pid, args.gil)
                    for i, p in enumerate(workers.processes)
                ]
        else:
            notifier = AppriseNotifier(**({"threads": args.threads} if args.threads else {}))
            worker = Worker(
                hub, notifier, **({"concurrency": args.concurrency} if args.concurrency else {})
            )
        try:
            t = Timing()
            cpu, own = sink.cpu_seconds(), time.process_time()
            workers_cpu = workers.cpu_seconds() if workers else 0.0
            start = time.monotonic()
            r = await api.post(
                f"/api/v1/communities/{seeded.community_id}/callouts", json=body, headers=headers
            )
            t.staff_action = time.monotonic() - start
            assert r.status_code == 201, r.text
            assert r.json()["recipients"] == n, r.text
            if workers is None:
                report = await worker.run_once()
                assert report.sent == n and report.failed == 0, (report.sent, report.errors[:3])
            else:
                while await Delivery.filter(status=DeliveryStatus.SENT).count() < n:
                    assert time.monotonic() - start < 300, "the workers did not finish"
                    await asyncio.sleep(0.05)
            t.worker = time.monotonic() - start - t.staff_action
            stats = await sink.wait_for(http, n, within=60)
            t.to_last_delivery = stats["last"] - start
            t.to_first_delivery = stats["first"] - start
            t.sink_cpu, t.own_cpu = sink.cpu_seconds() - cpu, time.process_time() - own
            if workers is not None:
                t.own_cpu += workers.cpu_seconds() - workers_cpu
        finally:
            for profiler in profilers:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
            if workers is not None:
                workers.stop()
        t.received, t.duplicates, t.bad = stats["accepted"], stats["duplicates"], stats["bad"]
        return t, r.json()["id"]


async def run_raw(callout_id: int, sink: Sink, n: int, http) -> Timing:
    """The same N messages, straight from httpx to the sink (no database, no apprise).

    ``RAW_LANES`` lanes, each with its own client and keep-alive connection: one client
    with a large pool is much slower (httpcore 1.0 scans its whole pool for each
    request: one client with 100 connections spent 9 ms of CPU per request here).
    """
    import httpx

    rows = await _messages(callout_id, n)
    await sink.reset(http)
    queue = list(reversed(rows))
    t = Timing()
    clients = [httpx.AsyncClient(timeout=30) for _ in range(RAW_LANES)]

    async def lane(client: httpx.AsyncClient) -> None:
        while queue:
            row = queue.pop()
            r = await client.post(
                sink.url,
                content=_payload(row),
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"raw-{row['id']}",
                },
            )
            r.raise_for_status()

    cpu, own = sink.cpu_seconds(), time.process_time()
    start = time.monotonic()
    try:
        await asyncio.gather(*(lane(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    stats = await sink.wait_for(http, n, within=60)
    t.to_last_delivery = stats["last"] - start
    t.sink_cpu, t.own_cpu = sink.cpu_seconds() - cpu, time.process_time() - own
    t.received, t.duplicates, t.bad = stats["accepted"], stats["duplicates"], stats["bad"]
    return t


async def run_floor(callout_id: int, sink: Sink, n: int, http) -> Timing:
    """(c): the same N messages written by hand as HTTP/1.1 on asyncio streams.

    No HTTP library at all, ``RAW_LANES`` keep-alive connections: what the sink and the
    loopback take (the floor), to tell a slow sink from a slow client.
    """
    rows = await _messages(callout_id, n)
    await sink.reset(http)
    queue = list(reversed(rows))
    t = Timing()

    async def lane() -> None:
        reader, writer = await asyncio.open_connection(HOST, sink.port)
        try:
            while queue:
                row = queue.pop()
                body = _payload(row)
                head = (
                    f"POST /hook HTTP/1.1\r\nHost: {HOST}:{sink.port}\r\n"
                    f"Content-Type: application/json\r\nIdempotency-Key: floor-{row['id']}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                answer = await reader.readuntil(b"\r\n\r\n")
                if not answer.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError(f"the sink answered {answer[:40]!r}")
        finally:
            writer.close()

    cpu, own = sink.cpu_seconds(), time.process_time()
    start = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(RAW_LANES)))
    stats = await sink.wait_for(http, n, within=60)
    t.to_last_delivery = stats["last"] - start
    t.sink_cpu, t.own_cpu = sink.cpu_seconds() - cpu, time.process_time() - own
    t.received, t.duplicates, t.bad = stats["accepted"], stats["duplicates"], stats["bad"]
    return t


async def _messages(callout_id: int, n: int) -> list[dict]:
    """The call-out's rendered messages, as the product sent them."""
    from volunteer_hub import db

    rows = await db.fetch(
        "SELECT d.id, d.address, n.subject, n.body FROM delivery d"
        " JOIN notification n ON n.id = d.notification_id"
        " WHERE n.entity_type = ? AND n.entity_id = ? ORDER BY d.id",
        "callout",
        callout_id,
    )
    assert len(rows) == n, len(rows)
    return rows


def _payload(row: dict) -> bytes:
    return json.dumps(
        {"title": row["subject"], "message": row["body"], "to": row["address"]},
        ensure_ascii=False,
    ).encode()


def start_profiler(out: Path, pid: int | None = None, gil: bool = False) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: no profile")
        return None
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid or os.getpid()),
            "--rate",
            "250",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main_async(args: argparse.Namespace, work_dir: Path) -> int:
    import httpx

    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub
    from volunteer_hub.config import Settings, sqlite_url
    from volunteer_hub.web import create_app

    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and args.pin
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
            hub = build_hub(settings)
            started = time.monotonic()
            seeded = await seed(hub, args.recipients, sink.url)
            print(
                f"seeded {args.recipients} volunteers in {time.monotonic() - started:.1f} s"
                f" ({'PostgreSQL' if pg_name else 'SQLite'}; sink on {sink.url}"
                f"{f', pinned to CPU {cpus[-1]}' if pin else ''})"
            )
            app = create_app(settings, hub=hub, manage_database=False)
            profiler = (
                start_profiler(work_dir / "callout.folded", gil=args.gil) if args.profile else None
            )
            try:
                product, callout_id = await run_product(
                    hub, app, seeded, sink, args.recipients, http, args
                )
            finally:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
            raw = await run_raw(callout_id, sink, args.recipients, http)
            floor = await run_floor(callout_id, sink, args.recipients, http)

        n = args.recipients
        print()
        print(
            f"{'scenario':<52} {'seconds':>8} {'msg/s':>8} {'received':>9} {'dupl.':>6}"
            f" {'CPU s':>6} {'sink CPU s':>10}"
        )
        rows = [
            ("(a) call-out: staff POST → worker → sink (apprise)", product),
            ("(b) raw httpx.AsyncClient, same messages, same sink", raw),
            ("(c) hand-written HTTP/1.1 on asyncio streams (floor)", floor),
        ]
        for name, t in rows:
            rate = n / t.to_last_delivery if t.to_last_delivery else float("nan")
            print(
                f"{name:<52} {t.to_last_delivery:8.2f} {rate:8.0f} {t.received:9d}"
                f" {t.duplicates:6d} {t.own_cpu:6.2f} {t.sink_cpu:10.2f}"
            )
        by = f"{args.workers} worker processes" if args.workers else "Worker.run_once()"
        print(
            f"    of (a): staff action (POST answered) {product.staff_action:.2f} s,"
            f" then delivery by {by} {product.worker:.2f} s;"
            f" the first message reached the sink {product.to_first_delivery:.2f} s after the POST"
        )
        print(
            f"ratio (a)/(b): {product.to_last_delivery / raw.to_last_delivery:.2f}x,"
            f" (a)/(c): {product.to_last_delivery / floor.to_last_delivery:.1f}x"
        )
        met = product.to_last_delivery <= GOAL_SECONDS and product.received == n
        print(
            f"goal: (a) <= {GOAL_SECONDS:.0f} s for {n} recipients: {'MET' if met else 'NOT MET'}"
        )
        if args.profile:
            print(f"profiles (py-spy raw folded stacks, one per process): {work_dir}/*.folded")
        problems = sum(t.bad + t.duplicates + (t.received != n) for _, t in rows)
        return 0 if problems == 0 else 1
    finally:
        sink.stop()
        if pg_name:
            await drop_postgres_database(args.database, pg_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record of (a): this process, each worker"
    )
    parser.add_argument(
        "--gil", action="store_true", help="with --profile: only samples that hold the GIL"
    )
    parser.add_argument("--keep", type=Path, help="keep the database and profile here")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the sink to the last CPU and this process (and its workers) to the others",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="deliver with N `vhub worker` processes (0: Worker.run_once() in this process)",
    )
    parser.add_argument("--interval", type=float, default=0.2, help="the workers' --interval")
    parser.add_argument("--threads", type=int, help="with --workers 0: AppriseNotifier threads")
    parser.add_argument("--concurrency", type=int, help="with --workers 0: Worker concurrency")
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
