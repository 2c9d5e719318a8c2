"""Hot reads in hand-written SQL: who a token stands for, a task with its community.

Every API request authenticates and most read a task. Building a query with the ORM
costs about 200 µs of CPU here, running one about 40 µs (benchmarks/README.md), so
these few statements are written once and reused. Rows still become ordinary model
instances through Tortoise's own row loader, so callers see no difference.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TypeVar

from tortoise import fields

from volunteer_hub.db import fetch
from volunteer_hub.models import Community, Occurrence, Person, Role, Task

PREFIX = "x__"  # marks the joined columns of a second table in one row
M = TypeVar("M")


def _columns(model: type, alias: str, prefix: str = "") -> str:
    """The model's columns (as Tortoise knows them once initialised), qualified and aliased."""
    return ", ".join(
        f'{alias}."{column}" AS "{prefix}{column}"'
        for column in model._meta.fields_db_projection.values()
    )


@cache
def _datetime_columns(model: type) -> frozenset[str]:
    return frozenset(
        model._meta.fields_db_projection[name]
        for name, field in model._meta.fields_map.items()
        if isinstance(field, fields.DatetimeField) and name in model._meta.fields_db_projection
    )


def _load(model: type[M], row: dict) -> M:
    """A model instance from a row. SQLite returns datetimes as text: parse them with the
    standard library, which is ten times faster than the parser Tortoise falls back on."""
    for column in _datetime_columns(model):
        value = row.get(column)
        if isinstance(value, str):
            row[column] = datetime.fromisoformat(value)
    return model._init_from_db(**row)


def _split(row: dict) -> tuple[dict, dict]:
    own, joined = {}, {}
    for key, value in row.items():
        if key.startswith(PREFIX):
            joined[key[len(PREFIX) :]] = value
        else:
            own[key] = value
    return own, joined


@cache
def _actor_sql() -> str:
    # One row per role (or one row with NULLs when the person has none).
    return (
        f'SELECT {_columns(Person, "p")}, t."expires_at" AS "{PREFIX}expires_at", '
        f't."revoked_at" AS "{PREFIX}revoked_at", r."community_id" AS "{PREFIX}community_id", '
        f'r."role" AS "{PREFIX}role", r."grid_id" AS "{PREFIX}grid_id" '
        'FROM "api_token" t JOIN "person" p ON p."id" = t."person_id" '
        'LEFT JOIN "role_assignment" r ON r."person_id" = p."id" '
        'WHERE t."token_hash" = ?'
    )


async def person_and_grants_by_token(
    token_hash: str, now: datetime
) -> tuple[Person, list[tuple[int | None, Role, int | None]]] | None:
    """The person a live token stands for and their role grants; None if none or dead."""
    rows = await fetch(_actor_sql(), token_hash)
    if not rows:
        return None
    own, first = _split(rows[0])
    if first["revoked_at"] is not None or _aware(first["expires_at"]) <= now:
        return None
    grants = []
    for row in rows:
        _, joined = _split(row)
        if joined["role"] is not None:
            grants.append((joined["community_id"], Role(joined["role"]), joined["grid_id"]))
    return _load(Person, own), grants


@cache
def _task_sql() -> str:
    return (
        f"SELECT {_columns(Task, 't')}, {_columns(Community, 'c', PREFIX)} "
        'FROM "task" t JOIN "community" c ON c."id" = t."community_id" WHERE t."id" = ?'
    )


async def task_with_community(task_id: int) -> Task | None:
    rows = await fetch(_task_sql(), task_id)
    if not rows:
        return None
    own, joined = _split(rows[0])
    task = _load(Task, own)
    task.community = _load(Community, joined)
    return task


@cache
def _occurrences_sql(bounded: bool) -> str:
    where = 'o."task_id" = ? AND o."start" >= ?' + (' AND o."start" < ?' if bounded else "")
    return (
        f'SELECT {_columns(Occurrence, "o")} FROM "occurrence" o WHERE {where} ORDER BY o."start"'
    )


async def occurrences_from(task_id: int, start: datetime, end: datetime | None) -> list[Occurrence]:
    """The stored occurrences of a task starting in [start, end) (no end: from start on)."""
    params = (task_id, start) if end is None else (task_id, start, end)
    rows = await fetch(_occurrences_sql(end is not None), *params)
    return [_load(Occurrence, row) for row in rows]


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back text; PostgreSQL a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
