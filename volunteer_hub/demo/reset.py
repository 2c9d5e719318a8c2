"""Making room for a fresh demo (``vhub demo --fresh``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import OperationalError

from volunteer_hub import db
from volunteer_hub.config import Settings
from volunteer_hub.errors import Conflict
from volunteer_hub.models import Community


def reset_database(settings: Settings) -> None:
    """Make room for a fresh demo.

    SQLite: delete the database file and its -wal/-shm/-journal companions.
    PostgreSQL: never drop anything; refuse (Conflict ``database_not_empty``) when the
    database already holds communities. An empty or unmigrated database is fine.
    """
    if settings.is_sqlite:
        _delete_sqlite_files(settings.database_url)
        return
    count = asyncio.run(_count_communities(settings.database_url))
    if count:
        raise Conflict(
            "The database already has communities ({count}). Use --keep to add the demo "
            "community to it, or point VHUB_DATABASE_URL at an empty database.",
            code="database_not_empty",
            count=count,
        )


def _delete_sqlite_files(database_url: str) -> None:
    file_path = expand_db_url(database_url)["credentials"]["file_path"]
    if file_path == ":memory:":
        return
    path = Path(file_path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


async def _count_communities(database_url: str) -> int:
    async with db.database(database_url):
        try:
            return await Community.all().count()
        except OperationalError:  # no schema yet: nothing to lose
            return 0
