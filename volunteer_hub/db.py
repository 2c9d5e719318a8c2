"""Database configuration, connection context and migrations (Tortoise ORM 1.x)."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext, require_context
from tortoise.exceptions import OperationalError
from tortoise.migrations.api import migrate as migrate_api
from tortoise.models import Model

from volunteer_hub.clock import as_utc
from volunteer_hub.sqlite_engine import SqliteClientWithReader

APP_LABEL = "models"
MODELS_MODULE = "volunteer_hub.models"
MIGRATIONS_MODULE = "volunteer_hub.migrations"
SQLITE_ENGINE = "volunteer_hub.sqlite_engine"


def connection_name(database_url: str) -> str:
    """Name the connection after its SQL dialect.

    Tortoise caches generated SQL per (connection name, table) for the whole process;
    distinct names keep SQLite's and PostgreSQL's statements apart when one process
    uses both (the test suite does).
    """
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The configuration to open ``database_url``; a SQLite file's folder is made first."""
    if database_url.startswith("sqlite://"):
        Path(expand_db_url(database_url)["credentials"]["file_path"]).parent.mkdir(
            parents=True, exist_ok=True
        )
    return _config(database_url)


def _config(database_url: str) -> dict[str, Any]:
    name = connection_name(database_url)
    connection: str | dict[str, Any] = database_url
    if database_url.startswith("sqlite://"):
        # Tortoise's SQLite client plus a read-only connection for ``read``.
        connection = {
            "engine": SQLITE_ENGINE,
            "credentials": expand_db_url(database_url)["credentials"],
        }
    return {
        "connections": {name: connection},
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
# Built without touching the disk: importing this module must not create ./var.
DEV_TORTOISE_ORM = _config("sqlite://:memory:")


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


async def read(sql: str, *params: Any) -> Sequence[Sequence[Any]]:
    """Run a short hand-written SELECT (``?`` placeholders): a lookup by key, not a scan.

    The rows are sequences of the selected columns, in order. On SQLite, outside a
    transaction, the statement runs at once in the calling thread on the client's
    read-only connection (``sqlite_engine``), blocking the event loop for as long as
    SQLite takes: microseconds for an indexed lookup. Inside ``in_transaction()`` (which
    must see its own writes) and on PostgreSQL it runs on the current connection, as
    ``fetch`` does.
    """
    connection, sql, values = _prepare(sql, params)
    # Inside in_transaction() the current connection is the transaction's (a
    # TransactionalDBClient), never the client itself.
    if isinstance(connection, SqliteClientWithReader) and not isinstance(
        connection, TransactionalDBClient
    ):
        reader = connection.reader
        if reader is not None:
            connection.log.debug("%s: %s", sql, values)
            try:
                return reader.execute(sql, values).fetchall()
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise OperationalError(exc) from exc
                # Busy (WAL recovery, or a journal mode where readers wait): the shared
                # connection below waits for its turn.
    return (await connection.execute_query(sql, values))[1]


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run a hand-written SELECT (``?`` placeholders) on the current connection.

    Inside ``in_transaction()`` it runs in that transaction. Datetimes are passed to
    SQLite in the text form Tortoise stores, so comparisons hold. Also for an
    ``INSERT``/``UPDATE`` … ``RETURNING`` (SQLite 3.35 or later).
    """
    connection, sql, values = _prepare(sql, params)
    return await connection.execute_query_dict(sql, values)


async def execute(sql: str, *params: Any) -> int:
    """Run a hand-written INSERT, UPDATE or DELETE (``?`` placeholders): the rows changed."""
    connection, sql, values = _prepare(sql, params)
    changed, _ = await connection.execute_query(sql, values)
    return changed


async def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Insert many rows with a few multi-row INSERT statements (one per chunk).

    Tortoise's ``bulk_create`` gives no primary keys back; ``returning`` names the
    columns to read back from the inserted rows (in no promised order: return a
    column that identifies each row). Every value must be given, defaults included:
    the database knows none of the model's Python-side defaults.
    """
    if not rows:
        return []
    if is_postgres():
        return await _insert_unnest(table, columns, rows, returning)
    # SQLite allows 32 766 parameters per statement.
    per_statement = max(1, _MAX_PARAMETERS // len(columns))
    head = f"INSERT INTO {table} ({_names(columns)}) VALUES "
    tail = f" RETURNING {', '.join(returning)}" if returning else ""
    one = "(" + ", ".join("?" * len(columns)) + ")"
    found: list[dict[str, Any]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = head + ", ".join([one] * len(chunk)) + tail
        params = [value for row in chunk for value in row]
        if returning:
            found += await fetch(sql, *params)
        else:
            await execute(sql, *params)
    return found


async def _insert_unnest(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], returning: Sequence[str]
) -> list[dict[str, Any]]:
    """PostgreSQL: one INSERT … SELECT FROM unnest(arrays), a parameter per column.

    A multi-row VALUES list with thousands of parameters costs PostgreSQL (and asyncpg)
    more to parse and plan than to run; arrays keep the statement small and the same.
    """
    types = await _column_types(table)
    arrays = ", ".join(f"?::{types[c]}[]" for c in columns)
    tail = f" RETURNING {', '.join(returning)}" if returning else ""
    sql = f"INSERT INTO {table} ({_names(columns)}) SELECT * FROM unnest({arrays}){tail}"
    found: list[dict[str, Any]] = []
    for start in range(0, len(rows), _UNNEST_ROWS):
        chunk = rows[start : start + _UNNEST_ROWS]
        params = [list(column) for column in zip(*chunk, strict=True)]
        if returning:
            found += await fetch(sql, *params)
        else:
            await execute(sql, *params)
    return found


def json_value(value: Any) -> str | None:
    """A JSON field's value as ``insert_rows`` takes it: the text Tortoise would store."""
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _names(columns: Sequence[str]) -> str:
    """Column names quoted: some are keywords (``end``)."""
    return ", ".join(f'"{c}"' for c in columns)


async def _column_types(table: str) -> dict[str, str]:
    """A table's column types on PostgreSQL, from the catalogue of the database at hand.

    Asked once per ``insert_rows`` call (one small query beside thousands of rows), not
    cached for the process: one process may open databases at different migrations.
    """
    rows = await fetch(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?",
        table,
    )
    return {r["column_name"]: r["udt_name"] for r in rows}


_UNNEST_ROWS = 50_000


IN_LIST = 900  # values per ``IN (…)`` list: far below SQLite's and asyncpg's parameter limits


def chunks(values: Iterable[Any], size: int = IN_LIST) -> Iterator[list[Any]]:
    """``values`` in lists of at most ``size``: one ``IN (…)`` query each."""
    values = list(values)
    for first in range(0, len(values), size):
        yield values[first : first + size]


def table_name(model: type[Model]) -> str:
    """The table a model of ours is stored in, as its ``Meta.table`` declares (every model
    in ``volunteer_hub.models`` declares one): also the ``entity_type`` of audit entries."""
    return model.Meta.table  # type: ignore[attr-defined]


def in_transaction_now() -> bool:
    """Whether the current connection is a transaction's (inside ``in_transaction()``): what
    it reads may still roll back, so a cache must not keep it."""
    context = require_context()
    return isinstance(context.connections.get(context.default_connection), TransactionalDBClient)


def is_postgres() -> bool:
    """Whether the current connection speaks PostgreSQL (else SQLite)."""
    context = require_context()
    return context.connections.get(context.default_connection).capabilities.dialect == "postgres"


def _prepare(sql: str, params: Sequence[Any]) -> tuple[Any, str, list[Any]]:
    context = require_context()
    connection = context.connections.get(context.default_connection)
    if connection.capabilities.dialect == "postgres":
        numbers = itertools.count(1)
        sql = _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)
        values = list(params)
    else:
        values = [str(as_utc(p)) if isinstance(p, datetime) else p for p in params]
    return connection, sql, values


_PLACEHOLDER = re.compile(r"\?")
_MAX_PARAMETERS = 32_000


async def ping(database_url: str) -> None:
    """Raise unless the database answers a trivial query."""
    await get_connection(connection_name(database_url)).execute_query("SELECT 1")
