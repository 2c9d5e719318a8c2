"""Database configuration, connection context and migrations (Tortoise ORM 1.x)."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext, require_context
from tortoise.migrations.api import migrate as migrate_api

from volunteer_hub.clock import as_utc

APP_LABEL = "models"
MODELS_MODULE = "volunteer_hub.models"
MIGRATIONS_MODULE = "volunteer_hub.migrations"


def connection_name(database_url: str) -> str:
    """Name the connection after its SQL dialect.

    Tortoise caches generated SQL per (connection name, table) for the whole process;
    distinct names keep SQLite's and PostgreSQL's statements apart when one process
    uses both (the test suite does).
    """
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


def tortoise_config(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite://"):
        Path(expand_db_url(database_url)["credentials"]["file_path"]).parent.mkdir(
            parents=True, exist_ok=True
        )
    name = connection_name(database_url)
    return {
        "connections": {name: database_url},
        "apps": {
            APP_LABEL: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": name,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Used only by the `tortoise makemigrations` developer command ([tool.tortoise]).
DEV_TORTOISE_ORM = tortoise_config("sqlite://var/dev-migrations.sqlite3")


@asynccontextmanager
async def database(database_url: str) -> AsyncIterator[TortoiseContext]:
    """An active Tortoise context for the CLI, workers and tests; closed on exit."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        try:
            yield ctx
        finally:
            await ctx.close_connections()


async def upgrade(
    database_url: str, progress: Callable[[str, str, str], object] | None = None
) -> None:
    """Apply every committed migration that the database lacks."""
    async with TortoiseContext() as ctx:
        try:
            await migrate_api(config=tortoise_config(database_url), progress=progress)
        finally:
            await ctx.close_connections()


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run a hand-written SELECT (``?`` placeholders) on the current connection.

    Inside ``in_transaction()`` it runs in that transaction. Datetimes are passed to
    SQLite in the text form Tortoise stores, so comparisons hold.
    """
    context = require_context()
    connection = context.connections.get(context.default_connection)
    if connection.capabilities.dialect == "postgres":
        numbers = itertools.count(1)
        sql = _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)
        values = list(params)
    else:
        values = [str(as_utc(p)) if isinstance(p, datetime) else p for p in params]
    return await connection.execute_query_dict(sql, values)


_PLACEHOLDER = re.compile(r"\?")


async def ping(database_url: str) -> None:
    """Raise unless the database answers a trivial query."""
    await get_connection(connection_name(database_url)).execute_query("SELECT 1")
