"""Test fixtures: a real SQLite file per test, and the same tests on a real PostgreSQL.

PostgreSQL runs when VHUB_TEST_POSTGRES_URL names a server (CI sets it). Outside CI,
without it, PostgreSQL tests skip with a reason; inside CI (CI=true) they fail.
Each session creates its own PostgreSQL database, so runs never see each other.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from volunteer_hub import db
from volunteer_hub.bootstrap import build_hub
from volunteer_hub.config import Settings, sqlite_url

# The PostgreSQL set-up is the one plugin authors get (volunteer_hub.testing), shared here.
from volunteer_hub.testing import Clock, empty_postgres_database, fresh_postgres_database

__all__ = ["Clock"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file with every migration applied, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(db.upgrade(sqlite_url(path)))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database with every migration applied, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "vhub.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return sqlite_url(path)
    url = request.getfixturevalue("postgres_database")
    asyncio.run(empty_postgres_database(url))
    return url


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
        yield build_hub(settings, clock=clock)


@pytest.fixture
async def api(hub, settings):
    """An HTTP client talking to the real app over ASGI, on the test's database."""
    import httpx

    from volunteer_hub.web import create_app

    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def browser(hub, settings):
    """A cookie-keeping HTTP client on the real app: the pages as a browser without script."""
    import httpx

    from volunteer_hub.web import create_app

    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
