"""Hot reads in hand-written SQL: who a token stands for, a person, a task with its
community, the stored occurrences of a task.

Every API request authenticates and most read a task. Building a query with the ORM
costs about 200 µs of CPU here, running one on SQLite's read connection a few µs
(benchmarks/README.md), so these few statements are written once, run with
``db.read`` and turned into objects without Tortoise's query machinery. A person
and a task still become ordinary model instances (callers use them as such); the
occurrences are plain rows, which is all their callers read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from tortoise import fields

from volunteer_hub.db import read
from volunteer_hub.models import Community, Person, Task


class CommunityZone(NamedTuple):
    id: int
    timezone: str


class TaskRow(NamedTuple):
    """A task as plain values, shaped like the model as far as readers of a task go
    (``community.timezone`` included), so functions that read a task take either."""

    id: int
    community_id: int
    team_id: int | None
    title: str
    description: str
    location: str | None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    rrule: str | None
    community: CommunityZone


class StoredOccurrence(NamedTuple):
    """An occurrence's row as its readers need it (times in UTC)."""

    start: datetime
    end: datetime
    capacity: int
    taken: int
    cancelled: bool


class _Columns:
    """A model's columns, in the order a statement selects them, and how a slice of a
    row becomes an instance (through Tortoise's own row loader, ``_init_from_db``)."""

    def __init__(self, model: type, alias: str) -> None:
        self.model = model
        self.names = tuple(model._meta.fields_db_projection.values())
        self.sql = ", ".join(f'{alias}."{name}"' for name in self.names)
        self.datetimes = frozenset(
            model._meta.fields_db_projection[name]
            for name, field in model._meta.fields_map.items()
            if isinstance(field, fields.DatetimeField) and name in model._meta.fields_db_projection
        )

    def load(self, values: Sequence[Any]) -> Any:
        row = dict(zip(self.names, values, strict=True))
        for name in self.datetimes:
            row[name] = _aware(row[name])
        return self.model._init_from_db(**row)


@cache
def _columns(model: type, alias: str) -> _Columns:
    # Built on first use: the column list is Tortoise's, known once it is initialised.
    return _Columns(model, alias)


# --- who a token stands for ------------------------------------------------------------------


class TokenHolder(NamedTuple):
    """Who a live token stands for, as an ``Actor`` needs them; ``person`` only if asked."""

    person_id: int
    community_id: int | None
    grid_id: int | None
    grants: tuple[tuple[int | None, str, int | None], ...]  # community, role, grid
    person: Person | None


@cache
def _token_sql(with_person: bool) -> str:
    # One row per role grant (or one, with NULLs, when the person has none).
    person = f", {_columns(Person, 'p').sql}" if with_person else ""
    return (
        "SELECT p.id, p.community_id, p.grid_id, t.expires_at, t.revoked_at,"
        f" r.community_id, r.role, r.grid_id{person}"
        " FROM api_token t JOIN person p ON p.id = t.person_id"
        " LEFT JOIN role_assignment r ON r.person_id = p.id"
        " WHERE t.token_hash = ?"
    )


async def token_holder(
    token_hash: str, now: datetime, *, with_person: bool = False
) -> TokenHolder | None:
    """Who a live token stands for and their role grants; None if no such token or a dead
    one. Their ``Person`` model too with ``with_person`` (the pages show the name)."""
    rows = await read(_token_sql(with_person), token_hash)
    if not rows:
        return None
    person_id, community_id, grid_id, expires_at, revoked_at = rows[0][:5]
    if revoked_at is not None or _aware(expires_at) <= now:
        return None
    grants = tuple((row[5], row[6], row[7]) for row in rows if row[6] is not None)
    person = _columns(Person, "p").load(rows[0][8:]) if with_person else None
    return TokenHolder(person_id, community_id, grid_id, grants, person)


@cache
def _person_sql() -> str:
    return f"SELECT {_columns(Person, 'p').sql} FROM person p WHERE p.id = ?"


async def person_by_id(person_id: int) -> Person | None:
    rows = await read(_person_sql(), person_id)
    return _columns(Person, "p").load(rows[0]) if rows else None


# --- a task ------------------------------------------------------------------------------------


@cache
def _task_sql() -> str:
    return (
        f"SELECT {_columns(Task, 't').sql}, {_columns(Community, 'c').sql}"
        " FROM task t JOIN community c ON c.id = t.community_id WHERE t.id = ?"
    )


async def task_with_community(task_id: int) -> Task | None:
    rows = await read(_task_sql(), task_id)
    if not rows:
        return None
    columns = _columns(Task, "t")
    n = len(columns.names)
    task = columns.load(rows[0][:n])
    task.community = _columns(Community, "c").load(rows[0][n:])
    return task


_TASK_WITH_OCCURRENCES_SQL = (
    "SELECT t.id, t.community_id, t.team_id, t.title, t.description, t.location, t.starts_at,"
    ' t.ends_at, t.capacity, t.rrule, c.timezone, o.start, o."end", o.capacity, o.taken,'
    " o.cancelled"
    " FROM task t JOIN community c ON c.id = t.community_id"
    " LEFT JOIN occurrence o ON o.task_id = t.id AND o.start >= ?"
    " AND (t.rrule IS NULL OR o.start < ?)"
    " WHERE t.id = ? ORDER BY o.start"
)


async def task_with_occurrences(
    task_id: int, start: datetime, end: datetime
) -> tuple[TaskRow | None, list[StoredOccurrence]]:
    """In one statement, as plain values: the task (None if there is none) and its stored
    occurrences starting from ``start`` (and before ``end`` for a recurring task), in
    order; what ``occurrences_from`` gives, without the task's model objects."""
    rows = await read(_TASK_WITH_OCCURRENCES_SQL, start, end, task_id)
    if not rows:
        return None, []
    (id_, community_id, team_id, title, description, location, starts_at, ends_at, capacity,
     rrule, timezone) = rows[0][:11]  # fmt: skip
    task = TaskRow(
        id_,
        community_id,
        team_id,
        title,
        description,
        location,
        _aware(starts_at),
        _aware(ends_at),
        capacity,
        rrule,
        CommunityZone(community_id, timezone),
    )
    return task, [_stored(row[11:]) for row in rows if row[11] is not None]


_OCCURRENCES_SQL = (
    'SELECT start, "end", capacity, taken, cancelled FROM occurrence'
    " WHERE task_id = ? AND start >= ?"
)


async def occurrences_from(
    task_id: int, start: datetime, end: datetime | None
) -> list[StoredOccurrence]:
    """The stored occurrences of a task starting in [start, end) (no end: from start on),
    in order of their start."""
    if end is None:
        rows = await read(_OCCURRENCES_SQL + " ORDER BY start", task_id, start)
    else:
        rows = await read(_OCCURRENCES_SQL + " AND start < ? ORDER BY start", task_id, start, end)
    return [_stored(row) for row in rows]


def _stored(row: Sequence[Any]) -> StoredOccurrence:
    start, end, capacity, taken, cancelled = row
    return StoredOccurrence(_aware(start), _aware(end), capacity, taken, bool(cancelled))


def _aware(value: datetime | str | None) -> datetime | None:
    """SQLite hands back text (parsed here with the standard library, ten times faster
    than the parser Tortoise falls back on); PostgreSQL a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
