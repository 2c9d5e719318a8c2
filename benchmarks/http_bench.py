"""HTTP throughput and latency of the real API, as a ratio to a bare Starlette endpoint.

One run serves, side by side, each under uvicorn with one worker (uvloop, httptools,
no access log) as a subprocess on 127.0.0.1:

(a) a bare Starlette app with one JSON endpoint,
(b) the real application (``vhub serve --workers 1``) on a SQLite file seeded with a
    community, a resident, a one-off task, a weekly task and N people with bearer tokens,
(c) the same application with GET /api/v1/tasks/{id} answered by the flat prototype in
    ``fast_get_task.py`` (no model objects, no endpoint layers; checked first to answer
    exactly as the product does),

then drives them one at a time with a load generator at C concurrent keep-alive connections
(warm-up, then a fixed measured duration) and prints requests per second, p50/p99
latency and the server's CPU time per request, each also as a ratio to the bare
endpoint, all from the same run. README.md beside this file has measured figures.

    python benchmarks/http_bench.py --duration 10
    python benchmarks/http_bench.py --duration 10 --client wrk      # needs `wrk` on PATH
    python benchmarks/http_bench.py --duration 10 --profile          # py-spy on GET /tasks/{id}

The load generator is a small raw-asyncio HTTP/1.1 client (``--client python``, the
default, needs nothing but this repository's virtualenv); ``--client wrk`` uses wrk
instead, as a cross-check that the client is not the bottleneck. On a machine with at
least two CPUs the servers are pinned to all CPUs but the last and the load generator
to the last one, so they do not compete (``--no-pin`` turns this off).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
PASSWORD = "bench-passw0rd"
READER_PHONE = "13900000001"
GOAL_RATIO = 0.30
GOAL_P99_MS = 50.0


# --- (a) the bare app -----------------------------------------------------------------------


def bare_app():
    """The yardstick: Starlette, one route, one small JSON answer, no middleware."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"id": 1, "title": "社区巡逻", "capacity": 10, "taken": 0})

    return Starlette(routes=[Route("/json", hello, methods=["GET"])])


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(
        bare_app(),
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


def serve_prototype(port: int) -> None:
    """The real app with GET /api/v1/tasks/{id} answered by benchmarks/fast_get_task.py."""
    import uvicorn
    from fast_get_task import app_factory  # beside this file

    uvicorn.run(
        app_factory(),
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


# --- seeding (b) ----------------------------------------------------------------------------


@dataclass
class Seed:
    reader_token: str
    task_id: int
    weekly_task_id: int
    tokens_file: Path
    people: int


def _digest(token: str) -> str:
    """What volunteer_hub.services.auth stores for a bearer token (checked after seeding)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _fresh_postgres(server: str) -> str:
    """A new, empty database on the server, dropped when the benchmark ends."""
    import uuid

    import asyncpg

    name = f"vhub_bench_{uuid.uuid4().hex[:10]}"
    dsn = server.replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    def drop() -> None:
        async def go() -> None:
            c = await asyncpg.connect(dsn)
            try:
                await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await c.close()

        asyncio.run(go())

    atexit.register(drop)
    return f"{server.rsplit('/', 1)[0]}/{name}"


async def seed(database_url: str, data_dir: Path, people_count: int) -> Seed:
    """Seed through the services where it matters, in bulk where it would only take time.

    The community, the resident who reads the task, the tasks and the resident's token
    (a real ``auth.login``) go through the services. The ``people_count`` people who
    sign up are inserted with ``bulk_create`` (no password: they never log in) and each
    gets an ``ApiToken`` row holding the SHA-256 of a fresh random token, exactly what
    ``auth.login`` writes; one of them is checked with ``auth.actor_for_token``.
    """
    from volunteer_hub import db
    from volunteer_hub.config import Settings
    from volunteer_hub.hub import Hub
    from volunteer_hub.models import ApiToken, Person
    from volunteer_hub.services import auth, people, tasks
    from volunteer_hub.services.access import load_actor

    await db.upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        secret_key="bench",
        data_dir=data_dir,
        disable_plugin_autoload=True,
        password_profile="CHEAPEST",
    )
    async with db.database(database_url):
        hub = Hub.create(settings)
        admin_person = await people.create_admin(
            hub, name="管理员", phone="13900000000", password=PASSWORD
        )
        admin = await load_actor(admin_person.id)
        community = await people.create_community(hub, admin, {"name": "幸福里社区"})
        reader = await people.register(
            hub,
            {
                "name": "居民",
                "phone": READER_PHONE,
                "password": PASSWORD,
                "community_id": community.id,
            },
        )
        login = await auth.login(hub, READER_PHONE, PASSWORD, "127.0.0.1")
        start = hub.now() + timedelta(days=2)
        shift = {
            "title": "社区巡逻",
            "description": "晚间巡逻，注意安全",
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "capacity": 10,
            "location": "幸福里3号楼",
        }
        task = await tasks.create_task(hub, admin, community.id, shift)
        weekly = await tasks.create_task(
            hub, admin, community.id, {**shift, "title": "每周巡逻", "rrule": "FREQ=WEEKLY"}
        )

        now = hub.now()
        await Person.bulk_create(
            [
                Person(name=f"志愿者{i}", phone=f"137{i:08d}", community_id=community.id)
                for i in range(people_count)
            ],
            batch_size=2000,
        )
        ids = await Person.filter(id__gt=reader.id).order_by("id").values_list("id", flat=True)
        assert len(ids) == people_count, (len(ids), people_count)
        tokens = [secrets.token_urlsafe(32) for _ in ids]
        await ApiToken.bulk_create(
            [
                ApiToken(
                    person_id=pid,
                    token_hash=_digest(tok),
                    created_at=now,
                    expires_at=now + auth.TOKEN_LIFETIME,
                )
                for pid, tok in zip(ids, tokens, strict=True)
            ],
            batch_size=2000,
        )
        actor = await auth.actor_for_token(hub, tokens[-1])
        assert actor.id == ids[-1], "bulk tokens are not what auth expects"

    tokens_file = data_dir / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    (data_dir / "reader_token.txt").write_text(login.token + "\n")
    return Seed(login.token, task.id, weekly.id, tokens_file, people_count)


async def count_queries(database_url: str, data_dir: Path, seed_: Seed) -> dict[str, list[str]]:
    """The SQL each measured API request runs, captured in-process over ASGI."""
    import logging

    import httpx

    from volunteer_hub import db
    from volunteer_hub.config import Settings
    from volunteer_hub.hub import Hub
    from volunteer_hub.web import create_app

    class Capture(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.sql: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if text.lstrip().split(" ", 1)[0].upper() in {
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "BEGIN",
                "COMMIT",
                "SAVEPOINT",
                "RELEASE",
            }:
                self.sql.append(" ".join(text.split())[:110])

    settings = Settings(
        database_url=database_url,
        secret_key="bench",
        data_dir=data_dir,
        disable_plugin_autoload=True,
    )
    logger = logging.getLogger("tortoise.db_client")
    capture = Capture()
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    tokens = seed_.tokens_file.read_text().split()
    found: dict[str, list[str]] = {}
    try:
        async with db.database(database_url):
            app = create_app(settings, hub=Hub.create(settings), manage_database=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                calls = [
                    (
                        "GET /tasks/{id}",
                        "GET",
                        f"/api/v1/tasks/{seed_.task_id}",
                        seed_.reader_token,
                    ),
                    (
                        "POST /tasks/{id}/signups",
                        "POST",
                        f"/api/v1/tasks/{seed_.task_id}/signups",
                        tokens[-1],  # the last token: the load run starts with the first
                    ),
                ]
                for name, method, path, token in calls:
                    capture.sql.clear()
                    answer = await client.request(
                        method,
                        path,
                        headers={"Authorization": f"Bearer {token}"},
                        json={} if method == "POST" else None,
                    )
                    assert answer.status_code in (200, 201), answer.text
                    found[name] = list(capture.sql)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
    return found


# --- the load generator -------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    port: int
    method: str
    path: str
    token: str | None = None  # one token for every request
    tokens_file: str | None = None  # or a different token for each request
    body: str | None = None
    offset: int = 0  # the first token to use from tokens_file


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    tokens_used: int = 0
    total: int = 0  # answers during warm-up and measurement
    cpu_seconds: float = 0.0  # the server process's CPU time over the whole run

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.cpu_seconds / self.total if self.total else float("nan")

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if not s.startswith("2"))


def _request_bytes(s: Scenario, token: str | None) -> bytes:
    lines = [f"{s.method} {s.path} HTTP/1.1", f"Host: {HOST}:{s.port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    body = (s.body or "").encode()
    if s.method in {"POST", "PUT", "PATCH"}:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def python_load(
    s: Scenario, tokens: list[str] | None, connections: int, warmup: float, duration: float
) -> Result:
    """C keep-alive connections, each sending its next request when the last answer is in.

    Only answers completed inside the measured window count, towards both the rate and
    the latency percentiles; requests that fail at the transport level are errors.
    """
    if tokens is not None:
        requests = iter([_request_bytes(s, t) for t in tokens[s.offset :]])
        fixed = None
    else:
        requests, fixed = None, _request_bytes(s, s.token)
    used = 0

    def next_request() -> bytes | None:
        nonlocal used
        if fixed is not None:
            return fixed
        used += 1
        return next(requests, None)  # type: ignore[arg-type]

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    total = 0
    clock = time.perf_counter
    begin = clock() + warmup
    end = begin + duration

    async def connection() -> None:
        nonlocal total
        reader, writer = await asyncio.open_connection(HOST, s.port)
        try:
            while True:
                sent = clock()
                if sent >= end:
                    return
                request = next_request()
                if request is None:
                    statuses["tokens exhausted"] += 1
                    return
                writer.write(request)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = head[9:12].decode()
                    length = 0
                    close = False
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        name = name.strip().lower()
                        if name == b"content-length":
                            length = int(value)
                        elif name == b"connection" and value.strip().lower() == b"close":
                            close = True
                    await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    statuses[type(exc).__name__] += 1
                    close, status = True, None
                done = clock()
                if status is not None:
                    total += 1
                if begin <= done < end and status is not None:
                    latencies.append(done - sent)
                    statuses[status] += 1
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, s.port)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    latencies.sort()
    return Result(
        s.name,
        len(latencies),
        duration,
        _percentile(latencies, 0.50) * 1000,
        _percentile(latencies, 0.99) * 1000,
        dict(statuses),
        used,
        total,
    )


WRK_SCRIPT = r"""
local tokens = nil
local index = 0
local method, path, body, fixed, tokens_file, offset = "GET", "/", nil, nil, nil, 0

function init(args)
  method, path, body, fixed = args[1], args[2], args[3], args[4]
  tokens_file, offset = args[5], tonumber(args[6])
  if body == "-" then body = nil end
  if tokens_file ~= "-" then
    tokens = {}
    for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
  end
  index = offset
end

function request()
  local headers = {}
  local token = fixed
  if tokens then
    index = index + 1
    token = tokens[index] or tokens[#tokens]
  end
  if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    '{"requests": %d, "micros": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    non2xx, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""


def wrk_load(
    s: Scenario,
    connections: int,
    warmup: float,
    duration: float,
    workdir: Path,
    cpus: set[int] | None,
) -> Result:
    """The same scenario with wrk (one thread is plenty for C connections on one server)."""
    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT)

    def run(seconds: float, offset: int) -> dict:
        args = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{s.port}",
            "--",
            s.method,
            s.path,
            s.body or "-",
            s.token or "-",
            s.tokens_file or "-",
            str(offset),
        ]
        out = subprocess.run(
            args, capture_output=True, text=True, check=True, preexec_fn=_pinned(cpus)
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    offset = s.offset
    warm = 0
    if warmup > 0:
        warm = run(warmup, offset)["requests"]
        offset += warm + connections
    m = run(duration, offset)
    statuses = {"2xx": m["requests"] - m["non2xx"]}
    if m["non2xx"]:
        statuses["non-2xx"] = m["non2xx"]
    if m["socket_errors"]:
        statuses["socket errors"] = m["socket_errors"]
    return Result(
        s.name,
        m["requests"],
        m["micros"] / 1e6,
        m["p50_us"] / 1000,
        m["p99_us"] / 1000,
        statuses,
        offset + m["requests"] + connections - s.offset,
        warm + m["requests"],
    )


def load_main(argv: list[str]) -> None:
    """`http_bench.py _load SCENARIO-JSON C WARMUP DURATION`: one load run, JSON out."""
    spec, connections, warmup, duration = argv
    s = Scenario(**json.loads(spec))
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        tokens = Path(s.tokens_file).read_text().split() if s.tokens_file else None
        result = runner.run(
            python_load(s, tokens, int(connections), float(warmup), float(duration))
        )
    print(json.dumps(result.__dict__))


# --- orchestration ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _pinned(cpus: set[int] | None):
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start(args: list[str], log: Path, env: dict[str, str], cpus: set[int] | None):
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=_pinned(cpus),
        )


def wait_ready(proc: subprocess.Popen, port: int, path: str, log: Path, timeout: float = 60):
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://{HOST}:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"server on port {port} not ready after {timeout:.0f} s:\n{log.read_text()}")


def same_answers(seeded: Seed, api_port: int, proto_port: int) -> None:
    """The prototype must answer exactly what the product answers, or it proves nothing."""
    import httpx

    auth = {"Authorization": f"Bearer {seeded.reader_token}"}
    for task_id in (seeded.task_id, seeded.weekly_task_id, 999999):
        for headers in (auth, {"Authorization": "Bearer wrong"}):
            path = f"/api/v1/tasks/{task_id}"
            a = httpx.get(f"http://{HOST}:{api_port}{path}", headers=headers)
            b = httpx.get(f"http://{HOST}:{proto_port}{path}", headers=headers)
            if (a.status_code, a.json()) != (b.status_code, b.json()):
                sys.exit(f"prototype differs on {path}:\n{a.text}\n{b.text}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    s: Scenario, server_pid: int, opts: argparse.Namespace, workdir: Path, cpus: set[int] | None
) -> Result:
    """One load run, with the CPU time the server spent on it."""
    before = cpu_seconds(server_pid)
    result = run_scenario(s, opts, workdir, cpus)
    result.cpu_seconds = cpu_seconds(server_pid) - before
    return result


def run_scenario(
    s: Scenario, opts: argparse.Namespace, workdir: Path, cpus: set[int] | None
) -> Result:
    if opts.client == "wrk":
        return wrk_load(s, opts.connections, opts.warmup, opts.duration, workdir, cpus)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "_load",
            json.dumps(s.__dict__),
            str(opts.connections),
            str(opts.warmup),
            str(opts.duration),
        ],
        capture_output=True,
        text=True,
        preexec_fn=_pinned(cpus),
        cwd=ROOT,
    )
    if out.returncode != 0:
        sys.exit(f"load generator failed:\n{out.stderr}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Result(**data)


def profile(pid: int, s: Scenario, opts: argparse.Namespace, workdir: Path, cpus) -> Path:
    """py-spy on the API server while the scenario runs again (its figures are discarded)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = workdir / "get_task.folded"
    if not Path(py_spy).exists():
        print("py-spy is not installed (pip install py-spy): no profile")
        return out
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(opts.warmup + opts.duration)),
            "--rate",
            "250",
            "--format",
            "raw",
            "--threads",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1)
    run_scenario(s, opts, workdir, cpus)
    _, err = spy.communicate(timeout=60)
    if spy.returncode != 0 or not out.exists():
        print(f"py-spy failed ({spy.returncode}): {err.decode()[-500:]}")
    return out


# Frames to report inclusive shares for, by a piece of py-spy's `name (file:line)` text.
FOCUS = [
    ("whole request (Endpoint.asgi)", "asgi (volunteer_hub/web/api.py"),
    ("  authenticate: auth.actor_for_token", "actor_for_token ("),
    ("    of which the Person model (_Columns.load)", "load (volunteer_hub/services/reads.py"),
    ("  tasks.task_view (task + occurrences, plain rows)", "task_view ("),
    ("    of which recurrence.expand", "expand (volunteer_hub/recurrence.py"),
    ("  task_out (pydantic model)", "task_out ("),
    ("  TypeAdapter.dump_json", "dump_json ("),
    ("db.read (all of it: SQLite on the read connection)", "read (volunteer_hub/db.py"),
    ("tortoise: rows to model objects (_init_from_db)", "_init_from_db (tortoise"),
    ("tortoise: building a query (_make_query)", "_make_query (tortoise"),
    ("aiosqlite: handing a query to its thread", "_execute (aiosqlite/core.py"),
    ("SecurityHeaders middleware (inclusive of the app)", "SecurityHeaders.__call__"),
    ("uvicorn: writing the answer (two send() calls)", "RequestResponseCycle.send ("),
]


def summarise_profile(folded: Path, top: int = 25) -> str:
    """Inclusive shares of the focus frames and the top self-time functions, per thread."""
    main_total = other_total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # py-spy --threads puts `thread (0x...)` first; the event loop runs in the main one.
        is_main = "MainThread" in frames[0] or "serve_cmd" in stack or "run (uvicorn" in stack
        if not is_main:
            other_total += count
            continue
        main_total += count
        for label, needle in FOCUS:
            if any(needle in f for f in frames):
                inclusive[label] += count
        leaf = frames[-1]
        if leaf.startswith("Runner.run ("):
            inclusive["the event loop itself (uvloop, C)"] += count
        own[leaf.split(" (")[0] + " (" + leaf.split(" (")[-1].split("/")[-1]] += count
    lines = [
        f"busy samples: event-loop thread {main_total}, other threads {other_total}"
        " (aiosqlite's worker thread)",
        "inclusive share of the event-loop thread's busy samples:",
    ]
    for label in [label for label, _ in FOCUS] + ["the event loop itself (uvloop, C)"]:
        share = 100 * inclusive[label] / main_total if main_total else 0
        lines.append(f"  {share:5.1f}%  {label}")
    lines.append(f"top {top} functions by own time (event-loop thread):")
    for name, count in own.most_common(top):
        lines.append(f"  {100 * count / main_total:5.1f}%  {name}")
    return "\n".join(lines)


def table(results: list[Result], bare_rate: float, bare_cpu_us: float) -> str:
    """Rates and CPU per request, each also as a ratio to the bare endpoint's."""
    head = (
        f"{'scenario':<47}{'req/s':>8}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU us/req':>12}{'bare/CPU':>10}  answers"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        rows.append(
            f"{r.name:<47}{r.rate:>8.0f}{r.rate / bare_rate:>8.3f}"
            f"{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.cpu_us_per_request:>12.0f}"
            f"{bare_cpu_us / r.cpu_us_per_request:>10.3f}  {answers}"
        )
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        load_main(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_bare":
        serve_bare(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_prototype":
        serve_prototype(int(sys.argv[2]))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--people", type=int, default=20000, help="people with tokens for the signup run"
    )
    parser.add_argument("--client", choices=["python", "wrk"], default="python")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the API server on GET /tasks/{id}"
    )
    parser.add_argument(
        "--no-prototype",
        action="store_true",
        help="skip the flat prototype of GET /tasks/{id} (benchmarks/fast_get_task.py)",
    )
    parser.add_argument("--keep", type=Path, help="keep the database, logs and profile here")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the API on PostgreSQL instead of SQLite: a server URL such as "
        "postgres://postgres@127.0.0.1:5432/test (a fresh database is made there and dropped)",
    )
    opts = parser.parse_args()
    if opts.client == "wrk" and not shutil.which("wrk"):
        sys.exit("--client wrk needs wrk on PATH (apt-get install -y wrk)")

    if opts.keep:
        opts.keep.mkdir(parents=True, exist_ok=True)
        workdir = opts.keep.resolve()
    else:
        workdir = Path(tempfile.mkdtemp(prefix="vhub-bench-"))
    if not opts.keep and not opts.profile:  # the profile's folded stacks stay where the output says
        atexit.register(shutil.rmtree, workdir, True)
    cpus_all = sorted(os.sched_getaffinity(0))
    server_cpus = load_cpus = None
    if len(cpus_all) >= 2 and not opts.no_pin:
        server_cpus, load_cpus = set(cpus_all[:-1]), {cpus_all[-1]}

    from volunteer_hub.config import sqlite_url

    if opts.postgres:
        database_url = asyncio.run(_fresh_postgres(opts.postgres))
        opts.no_prototype = True  # the prototype's SQL is SQLite's (group_concat)
    else:
        db_file = workdir / "bench.sqlite3"
        db_file.unlink(missing_ok=True)
        database_url = sqlite_url(db_file)
    t0 = time.monotonic()
    seeded = asyncio.run(seed(database_url, workdir, opts.people))
    print(f"seeded {opts.people} people with tokens in {time.monotonic() - t0:.1f} s")
    sql = asyncio.run(count_queries(database_url, workdir, seeded))

    env = dict(os.environ)
    env.update(
        VHUB_DATABASE_URL=database_url,
        VHUB_SECRET_KEY="bench",
        VHUB_DATA_DIR=str(workdir),
        VHUB_DISABLE_PLUGIN_AUTOLOAD="1",
        # The servers run the same volunteer_hub as this script (this checkout's).
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    vhub = Path(sys.executable).parent / "vhub"
    bare_port, api_port = free_port(), free_port()
    bare = start(
        [sys.executable, __file__, "_bare", str(bare_port)], workdir / "bare.log", env, server_cpus
    )
    api = start(
        [
            str(vhub),
            "serve",
            "--host",
            HOST,
            "--port",
            str(api_port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        workdir / "api.log",
        env,
        server_cpus,
    )
    proto = proto_port = None
    if not opts.no_prototype:
        proto_port = free_port()
        proto = start(
            [sys.executable, __file__, "_prototype", str(proto_port)],
            workdir / "prototype.log",
            env,
            server_cpus,
        )
    try:
        wait_ready(bare, bare_port, "/json", workdir / "bare.log")
        wait_ready(api, api_port, "/healthz", workdir / "api.log")
        scenarios = [
            Scenario("bare Starlette JSON endpoint", bare_port, "GET", "/json"),
            Scenario(
                "GET /api/v1/tasks/{id}",
                api_port,
                "GET",
                f"/api/v1/tasks/{seeded.task_id}",
                token=seeded.reader_token,
            ),
            Scenario(
                "GET /api/v1/tasks/{id} (weekly, 8 occurrences)",
                api_port,
                "GET",
                f"/api/v1/tasks/{seeded.weekly_task_id}",
                token=seeded.reader_token,
            ),
            Scenario(
                "POST /api/v1/tasks/{id}/signups",
                api_port,
                "POST",
                f"/api/v1/tasks/{seeded.task_id}/signups",
                tokens_file=str(seeded.tokens_file),
                body="{}",
            ),
        ]
        if proto is not None:
            wait_ready(proto, proto_port, "/healthz", workdir / "prototype.log")
            same_answers(seeded, api_port, proto_port)
            scenarios.append(
                Scenario(
                    "GET /api/v1/tasks/{id}, flat prototype",
                    proto_port,
                    "GET",
                    f"/api/v1/tasks/{seeded.task_id}",
                    token=seeded.reader_token,
                )
            )
        # The bare endpoint again, last: other load on the machine that changes during the
        # run shows as a difference between its two rates.
        scenarios.append(Scenario("bare Starlette JSON endpoint, again", bare_port, "GET", "/json"))
        results = []
        pids = {bare_port: bare.pid, api_port: api.pid, proto_port: proto.pid if proto else None}
        for s in scenarios:
            print(f"running {s.name} ...", flush=True)
            pid = pids[s.port]
            results.append(measure(s, pid, opts, workdir, load_cpus))
        folded = None
        if opts.profile:
            print("profiling GET /api/v1/tasks/{id} with py-spy ...", flush=True)
            folded = profile(api.pid, scenarios[1], opts, workdir, load_cpus)
    finally:
        stop(bare)
        stop(api)
        if proto is not None:
            stop(proto)

    first_bare, last_bare = results[0], results[-1]
    bare_rate = (first_bare.rate + last_bare.rate) / 2
    bare_cpu_us = (first_bare.cpu_us_per_request + last_bare.cpu_us_per_request) / 2
    print()
    print(
        f"{opts.connections} connections, {opts.warmup:g} s warm-up + {opts.duration:g} s measured"
        f" per run; client {opts.client}; uvicorn 1 worker, uvloop + httptools, no access log;"
        f" {'PostgreSQL' if opts.postgres else 'SQLite'}; CPUs {len(cpus_all)}"
        + (
            f" (servers on {sorted(server_cpus)}, load on {sorted(load_cpus)})"
            if server_cpus
            else " (not pinned)"
        )
        + f"; Python {platform.python_version()}"
    )
    print(table(results, bare_rate, bare_cpu_us))
    drift = abs(first_bare.rate - last_bare.rate) / bare_rate
    unsteady = ": the machine's load changed during the run, trust the CPU ratio"
    print(
        f"ratios are to the mean of the two bare runs ({bare_rate:.0f} req/s, {bare_cpu_us:.0f} us"
        f" of CPU per request); the two differ by {drift:.0%}" + (unsteady if drift > 0.15 else "")
    )
    signup = results[3]
    if signup.tokens_used > opts.people:
        print(
            f"note: the signup run needed {signup.tokens_used} tokens but only {opts.people} "
            "people were seeded; later requests reused tokens (409). Raise --people."
        )
    get = results[1]
    ratio = get.rate / bare_rate
    met = ratio >= GOAL_RATIO and get.p99_ms < GOAL_P99_MS
    print(
        f"goal: GET /api/v1/tasks/{{id}} >= {GOAL_RATIO:.0%} of bare and p99 < {GOAL_P99_MS:g} ms:"
        f" {ratio:.1%} (by CPU per request: {bare_cpu_us / get.cpu_us_per_request:.1%}),"
        f" p99 {get.p99_ms:.1f} ms -> {'MET' if met else 'NOT MET'}"
    )
    print()
    for name, statements in sql.items():
        print(f"SQL statements for one {name}: {len(statements)}")
        for statement in statements:
            print(f"  {statement}")
    if folded is not None and folded.exists():
        print()
        print(summarise_profile(folded))
        print(f"(folded stacks: {folded})")


if __name__ == "__main__":
    main()
