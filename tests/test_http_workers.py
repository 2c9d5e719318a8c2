"""`vhub serve --workers 2` over real HTTP: capacities and claims hold across processes.

The server is the real console script in a subprocess (uvicorn, uvloop, httptools, two
worker processes) on the session's PostgreSQL database; the test seeds the data
through the services, logs everyone in over HTTP and fires simultaneous requests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from tortoise.connection import get_connection

from tests.factories import PASSWORD, World, next_phone
from volunteer_hub import db
from volunteer_hub.cli import main
from volunteer_hub.config import Settings
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    MembershipStatus,
    Occurrence,
    Signup,
    SignupStatus,
    Wish,
    WishStatus,
)
from volunteer_hub.services import auth, people, tasks, teams, wishes
from volunteer_hub.services.access import load_actor

VHUB = Path(sys.executable).parent / "vhub"
KEPT_TABLES = {"tortoise_migrations"}
STARTUP_TIMEOUT = 60.0
PEOPLE = 200
CAPACITY = 10
CLAIMERS = 50


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VHUB_DATABASE_URL=database_url,
        VHUB_DATA_DIR=str(data_dir),
        VHUB_DISABLE_PLUGIN_AUTOLOAD="1",
        VHUB_SECRET_KEY="test",
        VHUB_PASSWORD_PROFILE="CHEAPEST",
    )
    return env


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (uvicorn stops its workers), then SIGKILL to the whole process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind, if any
    except ProcessLookupError:
        pass
    proc.wait(timeout=15)


def wait_until_healthy(proc: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vhub serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            answer = httpx.get(f"{base_url}/healthz", timeout=2)
            if answer.status_code == 200 and answer.json() == {"status": "ok"}:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"vhub serve did not answer /healthz in {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}"
    )


def worker_count(pid: int) -> int:
    """uvicorn's worker processes under the supervisor (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    count = 0
    for child in children.read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        count += b"multiprocessing.spawn" in cmdline
    return count


async def truncate(database_url: str) -> None:
    async with db.database(database_url):
        conn = get_connection(db.connection_name(database_url))
        _, rows = await conn.execute_query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        names = [r["tablename"] for r in rows if r["tablename"] not in KEPT_TABLES]
        if names:
            quoted = ", ".join(f'"{n}"' for n in names)
            await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


@pytest.fixture
def served(postgres_database: str, tmp_path: Path) -> Iterator[str]:
    """`vhub serve --workers 2` on a free port, on an emptied PostgreSQL database."""
    asyncio.run(truncate(postgres_database))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VHUB), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=server_env(postgres_database, tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until_healthy(proc, base_url, log)
        assert worker_count(proc.pid) == 2, log.read_text()
        yield base_url
    finally:
        stop(proc)


def test_serve_refuses_a_bad_worker_count(tmp_path: Path) -> None:
    env = {"VHUB_SECRET_KEY": "test", "VHUB_DATA_DIR": str(tmp_path)}
    for value in ("0", "-3", "two"):
        result = CliRunner().invoke(main, ["serve", "--workers", value], env=env)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--workers'" in result.output
    assert not (tmp_path / "vhub.sqlite3").exists()  # refused before touching a database


async def test_two_workers_hold_capacity_and_claims(
    served: str, postgres_database: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=postgres_database,
        secret_key="test",
        data_dir=tmp_path,
        disable_plugin_autoload=True,
        password_profile="CHEAPEST",
    )
    async with db.database(postgres_database):
        hub = Hub.create(settings)
        w = await World(hub).build()
        phones = [next_phone() for _ in range(PEOPLE)]
        person_ids = []
        for i, phone in enumerate(phones):
            person = await people.register(
                hub,
                {
                    "name": f"志愿者{i}",
                    "phone": phone,
                    "password": PASSWORD,
                    "community_id": w.community.id,
                },
            )
            person_ids.append(person.id)
        task = await tasks.create_task(
            hub,
            w.staff,
            w.community.id,
            {
                "title": "社区巡逻",
                "starts_at": hub.now() + timedelta(days=2),
                "ends_at": hub.now() + timedelta(days=2, hours=2),
                "capacity": CAPACITY,
            },
        )
        resident = await w.person("王奶奶")
        wish = await wishes.post(
            hub,
            resident,
            w.community.id,
            {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"},
        )
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})

        # uvicorn closes idle connections after 5 s: never reuse one idle that long
        # (seeding the claimers between the two bursts takes longer than that).
        limits = httpx.Limits(
            max_connections=PEOPLE, max_keepalive_connections=PEOPLE, keepalive_expiry=2.0
        )
        async with httpx.AsyncClient(base_url=served, limits=limits, timeout=60) as client:
            # A login in progress holds one of its address's attempts until its password
            # is checked (services/auth.py): from this one address, 50 at a time.
            logins = []
            for start in range(0, PEOPLE, auth.MAX_FAILURES_PER_ADDRESS):
                logins += await asyncio.gather(
                    *(
                        client.post("/api/v1/auth/login", json={"phone": p, "password": PASSWORD})
                        for p in phones[start : start + auth.MAX_FAILURES_PER_ADDRESS]
                    )
                )
            assert [r.status_code for r in logins] == [200] * PEOPLE
            assert [r.json()["person"]["id"] for r in logins] == person_ids
            tokens = [r.json()["token"] for r in logins]

            # 200 people ask for 10 places at once, across two worker processes.
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/api/v1/tasks/{task.id}/signups",
                        json={},
                        headers={"Authorization": f"Bearer {t}"},
                    )
                    for t in tokens
                )
            )
            assert [r.status_code for r in answers] == [201] * PEOPLE, {
                r.status_code: r.text for r in answers if r.status_code != 201
            }
            statuses = [r.json()["status"] for r in answers]
            assert statuses.count("confirmed") == CAPACITY
            assert statuses.count("waitlisted") == PEOPLE - CAPACITY
            by_person = {r.json()["person_id"]: r.json()["status"] for r in answers}
            assert sorted(by_person) == sorted(person_ids)

            rows = await Signup.filter(occurrence__task_id=task.id).order_by("id")
            assert len(rows) == PEOPLE
            assert {r.person_id: r.status.value for r in rows} == by_person
            # Arrival order: whoever holds a place signed up before everyone waiting.
            assert [r.status for r in rows] == (
                [SignupStatus.CONFIRMED] * CAPACITY
                + [SignupStatus.WAITLISTED] * (PEOPLE - CAPACITY)
            )
            assert (await Occurrence.get(task_id=task.id)).taken == CAPACITY

            # 50 volunteers of the community claim the same wish at once.
            team = await teams.create_team(
                hub, w.staff, w.community.id, {"name": "跑腿服务队", "kind": "elderly_care"}
            )
            claimers = list(zip(person_ids[:CLAIMERS], tokens[:CLAIMERS], strict=True))
            for person_id, _ in claimers:
                actor = await load_actor(person_id)
                membership = await w.join(actor, team)  # staff approve them (once)
                assert membership.status is MembershipStatus.ACTIVE
            claims = await asyncio.gather(
                *(
                    client.post(
                        f"/api/v1/wishes/{wish.id}/claim",
                        headers={"Authorization": f"Bearer {t}"},
                    )
                    for _, t in claimers
                )
            )
        codes = [r.status_code for r in claims]
        assert codes.count(200) == 1, {r.status_code: r.text for r in claims}
        assert codes.count(409) == CLAIMERS - 1, {r.status_code: r.text for r in claims}
        assert {r.json()["error"]["code"] for r in claims if r.status_code == 409} == {
            "already_claimed"
        }
        winner = next(r.json() for r in claims if r.status_code == 200)
        assert winner["status"] == "claimed"
        stored = await Wish.get(id=wish.id)
        assert stored.status is WishStatus.CLAIMED
        assert stored.claimer_id == winner["claimer_id"]
        assert stored.claimer_id in person_ids[:CLAIMERS]
