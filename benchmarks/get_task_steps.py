"""Where one GET /api/v1/tasks/{id} spends its time, step by step, in-process.

No HTTP and no concurrency: the same seeded SQLite database as ``http_bench.py``, the
real app called as a raw ASGI application, then each service step alone, then the same
data fetched without the ORM's query building, each repeated ``--repeat`` times.
Wall time and CPU time (``time.process_time``, all threads) per call, in microseconds.

    python benchmarks/get_task_steps.py
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_bench import seed  # puts this checkout first on sys.path too


async def asgi_get(app, path: str, token: str) -> list[dict]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def steps(repeat: int) -> None:
    from pydantic import TypeAdapter
    from starlette.responses import JSONResponse
    from tortoise.connection import get_connection

    from volunteer_hub import db
    from volunteer_hub.config import Settings, sqlite_url
    from volunteer_hub.hub import Hub
    from volunteer_hub.models import ApiToken, Person, RoleAssignment
    from volunteer_hub.services import auth, tasks
    from volunteer_hub.services.access import load_actor
    from volunteer_hub.web import create_app
    from volunteer_hub.web.schemas import TaskOut, task_out

    workdir = Path(tempfile.mkdtemp(prefix="vhub-steps-"))
    url = sqlite_url(workdir / "steps.sqlite3")
    seeded = await seed(url, workdir, 100)
    token = seeded.reader_token
    digest = hashlib.sha256(token.encode()).hexdigest()

    async def timed(label: str, call: Callable[[], Awaitable[object]]) -> None:
        for _ in range(min(50, repeat)):
            await call()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(repeat):
            await call()
        wall_us = (time.perf_counter() - wall) / repeat * 1e6
        cpu_us = (time.process_time() - cpu) / repeat * 1e6
        print(f"{label:<62}{wall_us:>9.0f}{cpu_us:>9.0f}")

    settings = Settings(
        database_url=url, secret_key="bench", data_dir=workdir, disable_plugin_autoload=True
    )
    async with db.database(url):
        hub = Hub.create(settings)
        app = create_app(settings, hub=hub, manage_database=False)
        path = f"/api/v1/tasks/{seeded.task_id}"
        answer = await asgi_get(app, path, token)
        assert answer[0]["status"] == 200, answer
        reader = await auth.actor_for_token(hub, token)
        task = await tasks.get_task(reader, seeded.task_id)
        occurrences = await tasks.occurrences(hub, task)
        adapter = TypeAdapter(TaskOut)
        conn = get_connection(db.connection_name(url))

        async def serialise() -> object:
            return JSONResponse(adapter.dump_python(task_out(task, occurrences), mode="json"))

        async def serialise_json() -> object:
            return adapter.dump_json(task_out(task, occurrences))

        print(f"{'per call, microseconds':<62}{'wall':>9}{'CPU':>9}")
        await timed(
            "whole GET /api/v1/tasks/{id} (raw ASGI call)", lambda: asgi_get(app, path, token)
        )
        await timed("  auth.actor_for_token", lambda: auth.actor_for_token(hub, token))
        await timed(
            "    ApiToken.get_or_none(token_hash=...)",
            lambda: ApiToken.get_or_none(token_hash=digest),
        )
        await timed("    access.load_actor", lambda: load_actor(reader.id))
        await timed("      Person.get_or_none(id=...)", lambda: Person.get_or_none(id=reader.id))
        await timed(
            "      RoleAssignment.filter(...).values_list(...)",
            lambda: RoleAssignment.filter(person_id=reader.id).values_list(
                "community_id", "role", "grid_id"
            ),
        )
        await timed(
            "  tasks.get_task (select_related community)",
            lambda: tasks.get_task(reader, seeded.task_id),
        )
        await timed("  tasks.occurrences (one-off task)", lambda: tasks.occurrences(hub, task))
        await timed("  task_out + dump_python + JSONResponse", serialise)
        await timed("  (instead) task_out + dump_json", serialise_json)
        sql = (
            "SELECT p.*, t.expires_at, t.revoked_at FROM api_token t"
            " JOIN person p ON p.id = t.person_id WHERE t.token_hash = ?"
        )
        await timed(
            "  (instead) token + person, one SQL via execute_query",
            lambda: conn.execute_query(sql, [digest]),
        )
        await timed("  (floor) SELECT 1 via execute_query", lambda: conn.execute_query("SELECT 1"))

        async def build_only() -> None:
            ApiToken.filter(token_hash=digest).limit(2).sql()

        await timed("  (cost) building the ApiToken query's SQL, not running it", build_only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    opts = parser.parse_args()
    import uvloop

    uvloop.run(steps(opts.repeat))


if __name__ == "__main__":
    main()
