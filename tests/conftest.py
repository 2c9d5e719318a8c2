"""Test fixtures: a real SQLite file per test, and the same tests on a real PostgreSQL.

PostgreSQL runs when VHUB_TEST_POSTGRES_URL names a server (CI sets it). Outside CI,
without it, PostgreSQL tests skip with a reason; inside CI (CI=true) they fail.
Each session creates its own PostgreSQL database, so runs never see each other.

The fixtures are volunteer_hub.testing's (the ones plugin authors get, loaded by pytest
through its ``pytest11`` entry point), under the short names these tests use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from volunteer_hub.config import Settings
from volunteer_hub.hub import Hub
from volunteer_hub.testing import Clock, web_client

__all__ = ["Clock"]


@pytest.fixture(scope="session")
def sqlite_template(vhub_database_template: Path) -> Path:
    """A database file with every migration applied, copied for each test."""
    return vhub_database_template


@pytest.fixture(scope="session")
def postgres_database(vhub_postgres_database: str) -> str:
    """A fresh PostgreSQL database with every migration applied, dropped at the end."""
    return vhub_postgres_database


@pytest.fixture
def database_url(vhub_database_url: str) -> str:
    """This test's database: a SQLite file, and (the same test again) PostgreSQL."""
    return vhub_database_url


@pytest.fixture
def clock(vhub_clock: Clock) -> Clock:
    return vhub_clock


@pytest.fixture
def settings(vhub_settings: Settings) -> Settings:
    return vhub_settings


@pytest.fixture
def hub(vhub_hub: Hub) -> Hub:
    return vhub_hub


@pytest.fixture
def api(vhub_api):
    """An HTTP client talking to the real app over ASGI, on the test's database."""
    return vhub_api


@pytest.fixture
async def browser(hub):
    """A cookie-keeping HTTP client on the real app: the pages as a browser without script."""
    async with web_client(hub, client=("203.0.113.9", 50001)) as client:
        yield client
