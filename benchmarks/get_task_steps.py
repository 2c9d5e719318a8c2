"""Where one GET /api/v1/tasks/{id} spends its time, step by step, in-process.

No HTTP and no concurrency: the same seeded SQLite database as ``http_bench.py``, the
real app called as a raw ASGI application, then each step alone, and what the steps
would cost the other way (model objects, aiosqlite's thread), each repeated
``--repeat`` times, the best of ``--rounds`` rounds.
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


async def steps(repeat: int, rounds: int) -> None:
    from fast_get_task import install  # beside this file
    from pydantic import TypeAdapter
    from tortoise.connection import get_connection

    from volunteer_hub import db
    from volunteer_hub.config import Settings, sqlite_url
    from volunteer_hub.hub import Hub
    from volunteer_hub.models import Person, Task
    from volunteer_hub.services import auth, people, reads, tasks
    from volunteer_hub.web import create_app
    from volunteer_hub.web.app import API_PREFIX
    from volunteer_hub.web.fastpath import ApiRoutes
    from volunteer_hub.web.routes import ENDPOINTS
    from volunteer_hub.web.schemas import TaskOut, task_out

    workdir = Path(tempfile.mkdtemp(prefix="vhub-steps-"))
    url = sqlite_url(workdir / "steps.sqlite3")
    seeded = await seed(url, workdir, 100)
    token = seeded.reader_token
    digest = hashlib.sha256(token.encode()).hexdigest()

    async def timed(label: str, call: Callable[[], Awaitable[object]]) -> None:
        for _ in range(min(50, repeat)):
            await call()
        # The best of ``rounds``: other work on a shared machine only ever adds time.
        wall_us = cpu_us = float("inf")
        for _ in range(rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(repeat):
                await call()
            wall_us = min(wall_us, (time.perf_counter() - wall) / repeat * 1e6)
            cpu_us = min(cpu_us, (time.process_time() - cpu) / repeat * 1e6)
        print(f"{label:<62}{wall_us:>9.1f}{cpu_us:>9.1f}")

    settings = Settings(
        database_url=url, secret_key="bench", data_dir=workdir, disable_plugin_autoload=True
    )
    async with db.database(url):
        hub = Hub.create(settings)
        app = create_app(settings, hub=hub, manage_database=False)
        path = f"/api/v1/tasks/{seeded.task_id}"
        answer = await asgi_get(app, path, token)
        assert answer[0]["status"] == 200, answer
        prototype = install(create_app(settings, hub=hub, manage_database=False))
        assert (await asgi_get(prototype, path, token))[1] == answer[1], "the bodies differ"
        reader = await auth.actor_for_token(hub, token)
        task, occurrences = await tasks.task_view(hub, reader, seeded.task_id)
        adapter = TypeAdapter(TaskOut)
        conn = get_connection(db.connection_name(url))
        now = hub.now()
        api_routes = ApiRoutes(API_PREFIX, ENDPOINTS)
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}

        async def person_model() -> object:
            return await Person.get(id=reader.id)

        async def route() -> object:
            return api_routes.matches(scope)

        async def mount_route() -> object:
            # What a Starlette router does with a plain Mount: its match, then the walk.
            _, child = api_routes.mount.matches(scope)
            inner = {**scope, **child}
            for candidate in api_routes.mount.routes:
                if candidate.matches(inner)[0].name == "FULL":
                    return candidate

        async def serialise() -> object:
            return adapter.dump_json(task_out(task, occurrences))

        async def models() -> object:
            model = await Task.get(id=seeded.task_id).prefetch_related("community")
            return task_out(model, await tasks.occurrences(hub, model))

        print(f"{'per call, microseconds':<62}{'wall':>9}{'CPU':>9}")
        await timed(
            "whole GET /api/v1/tasks/{id} (raw ASGI call)", lambda: asgi_get(app, path, token)
        )
        weekly = f"/api/v1/tasks/{seeded.weekly_task_id}"
        await timed(
            "whole GET of the weekly task (8 occurrences)", lambda: asgi_get(app, weekly, token)
        )
        await timed(
            "  (instead) the flat prototype, fast_get_task.py",
            lambda: asgi_get(prototype, path, token),
        )
        await timed("  auth.actor_for_token", lambda: auth.actor_for_token(hub, token))
        await timed(
            "    reads.token_holder",
            lambda: reads.token_holder(digest, now),
        )
        await timed(
            "      db.read: token + person's ids + roles",
            lambda: db.read(reads._TOKEN_SQL, digest),
        )
        await timed(
            "  (beside it) people.account: what the pages show (one statement)",
            lambda: people.account(reader),
        )
        await timed("    the Person model (an ORM query)", person_model)
        await timed("  ApiRoutes.matches (web/fastpath.py)", route)
        await timed("  (instead) Mount.matches, then walking its routes", mount_route)
        await timed(
            "  tasks.task_view (one statement, plain rows)",
            lambda: tasks.task_view(hub, reader, seeded.task_id),
        )
        await timed("  task_out + dump_json", serialise)
        await timed("  (instead) get_task + occurrences + task_out, models", models)
        await timed("  (floor) db.read SELECT 1: the read connection", lambda: db.read("SELECT 1"))
        await timed(
            "  (instead) SELECT 1 through aiosqlite's thread",
            lambda: conn.execute_query("SELECT 1"),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="report the best of these")
    opts = parser.parse_args()
    import uvloop

    uvloop.run(steps(opts.repeat, opts.rounds))


if __name__ == "__main__":
    main()
