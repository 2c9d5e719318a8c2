"""Hot reads in hand-written SQL, answered as plain values: who a token stands for, a task
with its community's time zone, the stored occurrences of a task, the name, time zone and
emergency mode every page shows.

Every API request authenticates, most read a task, every page shows who is logged in.
Building a query with the ORM costs about 200 µs of CPU here, running one on SQLite's read
connection a few µs
(benchmarks/README.md), so these few statements are written once, run with ``db.read``
and their rows become NamedTuples of the columns their callers use: no model instances,
no query machinery. The columns each statement selects are listed once, below, in the
order of the values they become (tests/test_reads.py holds them to the models). A caller
that needs a model instance loads it with the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from volunteer_hub.db import read, table_name
from volunteer_hub.models import ApiToken, Community, Occurrence, Person, RoleAssignment, Task


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
    cancelled_at: datetime | None
    community: CommunityZone


class StoredOccurrence(NamedTuple):
    """An occurrence's row as its readers need it (times in UTC)."""

    start: datetime
    end: datetime
    capacity: int
    taken: int
    cancelled: bool


class TokenHolder(NamedTuple):
    """Who a live token stands for, as an ``Actor`` needs them."""

    person_id: int
    community_id: int | None
    grid_id: int | None
    grants: tuple[tuple[int | None, str, int | None], ...]  # community, role, grid


# --- the columns each statement selects, in the order of the values they become ------------

HOLDER_COLUMNS = ("id", "community_id", "grid_id")  # of a person: TokenHolder's first three
TOKEN_COLUMNS = ("expires_at", "revoked_at")  # of an api_token: whether it still holds
GRANT_COLUMNS = ("community_id", "role", "grid_id")  # of a role_assignment: one grant
TASK_COLUMNS = (  # of a task: TaskRow's values before its community
    "id",
    "community_id",
    "team_id",
    "title",
    "description",
    "location",
    "starts_at",
    "ends_at",
    "capacity",
    "rrule",
    "cancelled_at",
)
ZONE_COLUMNS = ("timezone",)  # of the task's community: CommunityZone's after its id
OCCURRENCE_COLUMNS = ("start", "end", "capacity", "taken", "cancelled")  # StoredOccurrence's

SELECTED = {  # by model: what tests/test_reads.py checks against each model's columns
    Person: HOLDER_COLUMNS,
    ApiToken: TOKEN_COLUMNS,
    RoleAssignment: GRANT_COLUMNS,
    Task: TASK_COLUMNS,
    Community: ZONE_COLUMNS,
    Occurrence: OCCURRENCE_COLUMNS,
}


def _select(alias: str, columns: Sequence[str]) -> str:
    return ", ".join(f'{alias}."{name}"' for name in columns)


# --- who a token stands for ------------------------------------------------------------------

# One row per role grant (or one, with NULLs, when the person has none).
_TOKEN_SQL = (
    f"SELECT {_select('p', HOLDER_COLUMNS)}, {_select('t', TOKEN_COLUMNS)},"
    f" {_select('r', GRANT_COLUMNS)}"
    f" FROM {table_name(ApiToken)} t JOIN {table_name(Person)} p ON p.id = t.person_id"
    f" LEFT JOIN {table_name(RoleAssignment)} r ON r.person_id = p.id"
    # A deactivated person's tokens are revoked; this also holds against a login racing
    # the deactivation.
    " WHERE t.token_hash = ? AND p.active"
)


async def token_holder(token_hash: str, now: datetime) -> TokenHolder | None:
    """Who a live token stands for and their role grants; None if no such token or a dead
    one."""
    rows = await read(_TOKEN_SQL, token_hash)
    if not rows:
        return None
    person_id, community_id, grid_id, expires_at, revoked_at = rows[0][:5]
    if revoked_at is not None or _aware(expires_at) <= now:
        return None
    grants = tuple((row[5], row[6], row[7]) for row in rows if row[6] is not None)
    return TokenHolder(person_id, community_id, grid_id, grants)


# --- a task ------------------------------------------------------------------------------------

_TASK_SQL = (
    f"SELECT {_select('t', TASK_COLUMNS)}, {_select('c', ZONE_COLUMNS)}"
    f" FROM {table_name(Task)} t JOIN {table_name(Community)} c ON c.id = t.community_id"
)
_TASK_WIDTH = len(TASK_COLUMNS) + len(ZONE_COLUMNS)


def _task_row(values: Sequence[Any]) -> TaskRow:
    """A ``TaskRow`` from the values of TASK_COLUMNS and then ZONE_COLUMNS."""
    (id_, community_id, team_id, title, description, location, starts_at, ends_at, capacity,
     rrule, cancelled_at, timezone) = values  # fmt: skip
    return TaskRow(
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
        _aware(cancelled_at) if cancelled_at is not None else None,
        CommunityZone(community_id, timezone),
    )


async def task_with_community(task_id: int) -> TaskRow | None:
    """The task with its community's time zone, as plain values; None if there is none."""
    rows = await read(_TASK_SQL + " WHERE t.id = ?", task_id)
    return _task_row(rows[0]) if rows else None


_TASK_WITH_OCCURRENCES_SQL = (
    f"SELECT {_select('t', TASK_COLUMNS)}, {_select('c', ZONE_COLUMNS)},"
    f" {_select('o', OCCURRENCE_COLUMNS)}"
    f" FROM {table_name(Task)} t JOIN {table_name(Community)} c ON c.id = t.community_id"
    f" LEFT JOIN {table_name(Occurrence)} o ON o.task_id = t.id AND o.start >= ?"
    " AND (t.rrule IS NULL OR o.start < ?)"
    " WHERE t.id = ? ORDER BY o.start"
)


async def task_with_occurrences(
    task_id: int, start: datetime, end: datetime
) -> tuple[TaskRow | None, list[StoredOccurrence]]:
    """In one statement, as plain values: the task (None if there is none) and its stored
    occurrences starting from ``start`` (and before ``end`` for a recurring task), in
    order; what ``task_with_community`` and ``occurrences_from`` give together."""
    rows = await read(_TASK_WITH_OCCURRENCES_SQL, start, end, task_id)
    if not rows:
        return None, []
    task = _task_row(rows[0][:_TASK_WIDTH])
    return task, [_stored(row[_TASK_WIDTH:]) for row in rows if row[_TASK_WIDTH] is not None]


class AccountRow(NamedTuple):
    """What every page shows of the person logged in: their name, and of their community
    its time zone and its emergency mode (on while ``emergency_started_at`` is set)."""

    name: str
    community_id: int | None
    timezone: str | None
    emergency_reason: str | None
    emergency_started_at: datetime | None


_ACCOUNT_SQL = (
    "SELECT p.name, c.id, c.timezone, c.emergency_reason, c.emergency_started_at"
    " FROM person p LEFT JOIN community c ON c.id = p.community_id WHERE p.id = ?"
)


async def account_row(person_id: int) -> AccountRow | None:
    """A person's name, and their community's time zone and emergency mode (None without
    a community), in one statement by primary key: what every page shows of the person
    logged in. None if there is no such person."""
    rows = await read(_ACCOUNT_SQL, person_id)
    if not rows:
        return None
    name, community_id, timezone, reason, started_at = rows[0]
    started = _aware(started_at) if started_at is not None else None
    return AccountRow(name, community_id, timezone, reason, started)


_OCCURRENCES_SQL = (
    f"SELECT {_select('o', OCCURRENCE_COLUMNS)} FROM {table_name(Occurrence)} o"
    " WHERE o.task_id = ? AND o.start >= ?"
)


async def occurrences_from(
    task_id: int, start: datetime, end: datetime | None
) -> list[StoredOccurrence]:
    """The stored occurrences of a task starting in [start, end) (no end: from start on),
    in order of their start."""
    if end is None:
        rows = await read(_OCCURRENCES_SQL + " ORDER BY o.start", task_id, start)
    else:
        rows = await read(
            _OCCURRENCES_SQL + " AND o.start < ? ORDER BY o.start", task_id, start, end
        )
    return [_stored(row) for row in rows]


def _stored(row: Sequence[Any]) -> StoredOccurrence:
    start, end, capacity, taken, cancelled = row
    return StoredOccurrence(_aware(start), _aware(end), capacity, taken, bool(cancelled))


def _aware(value: Any) -> Any:
    """SQLite hands back text (parsed here with the standard library, ten times faster
    than the parser Tortoise falls back on); PostgreSQL a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
