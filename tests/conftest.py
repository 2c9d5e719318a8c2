"""Test fixtures: a real SQLite file per test, and the same tests on a real PostgreSQL.

PostgreSQL runs when VHUB_TEST_POSTGRES_URL names a server (CI sets it). Outside CI,
without it, PostgreSQL tests skip with a reason; inside CI (CI=true) they fail.
Each session creates its own PostgreSQL database, so runs never see each other.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from volunteer_hub import db
from volunteer_hub.config import Settings, sqlite_url
from volunteer_hub.hub import Hub

POSTGRES_ENV = "VHUB_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TABLES_KEPT = {"tortoise_migrations"}


class Clock:
    """A real clock that tests can set and move; the Hub reads time only from it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def postgres_server_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if IN_CI:
            pytest.fail(f"CI=true but {POSTGRES_ENV} is not set: PostgreSQL tests must run in CI")
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)"
        )
    return url


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file with every migration applied, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(db.upgrade(sqlite_url(path)))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """A fresh PostgreSQL database with every migration applied, dropped at the end."""
    server = postgres_server_url()
    name = f"vhub_test_{uuid.uuid4().hex[:12]}"
    base, _, _ = server.rpartition("/")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(server))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {server} is not usable: {exc}")
        pytest.skip(f"PostgreSQL at {server} is not usable: {exc}")
    url = f"{base}/{name}"
    asyncio.run(db.upgrade(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "vhub.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return sqlite_url(path)
    url = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            if r["tablename"] not in TABLES_KEPT
        ]
        if tables:
            quoted = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 09:00 in Asia/Shanghai


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key",
        data_dir=tmp_path,
        disable_plugin_autoload=True,
        password_profile="CHEAPEST",  # hundreds of accounts; production uses RFC 9106
        allow_private_network=True,  # the test sinks listen on 127.0.0.1
    )


@pytest.fixture
async def hub(settings: Settings, clock: Clock):
    async with db.database(settings.database_url):
        yield Hub.create(settings, clock=clock)


@pytest.fixture
async def api(hub, settings):
    """An HTTP client talking to the real app over ASGI, on the test's database."""
    import httpx

    from volunteer_hub.web import create_app

    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
