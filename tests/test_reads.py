"""The hot reads (services/reads.py) and the read-only SQLite connection they run on
(db.read, sqlite_engine): the columns they name are the models' columns, their values
are what the ORM reads, and the reader lives and dies with the database context."""

from __future__ import annotations

import inspect
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from tests.factories import PASSWORD, World
from volunteer_hub import db, models
from volunteer_hub.config import sqlite_url
from volunteer_hub.models import ApiToken, Occurrence, Task
from volunteer_hub.security import secret_digest
from volunteer_hub.services import auth, reads, tasks
from volunteer_hub.sqlite_engine import SqliteClientWithReader

MODELS = [
    m
    for m in vars(models).values()
    if inspect.isclass(m) and issubclass(m, models.Model) and m.__module__ == models.__name__
]


def columns_of(model: type[models.Model]) -> set[str]:
    """A model's columns, as Tortoise describes them (its public ``describe()``; the
    foreign keys' columns are there once Tortoise is initialised)."""
    described = model.describe(serializable=True)
    fields = [described["pk_field"], *described["data_fields"]]
    return {f["db_column"] for f in fields}


def test_every_model_names_its_table():
    """``db.table_name`` reads our own ``Meta.table``; it is the table Tortoise uses."""
    assert len(MODELS) > 20
    for model in MODELS:
        assert db.table_name(model) == model.describe(serializable=True)["table"], model


async def test_the_columns_the_reads_select_are_the_models(hub):
    for model, selected in reads.SELECTED.items():
        assert set(selected) <= columns_of(model), model
        assert len(set(selected)) == len(selected), model


def test_the_rows_take_the_columns_in_their_order():
    """The rows are built by position from the selected columns."""
    assert list(inspect.signature(reads.TaskRow).parameters) == [*reads.TASK_COLUMNS, "community"]
    assert list(inspect.signature(reads.StoredOccurrence).parameters) == list(
        reads.OCCURRENCE_COLUMNS
    )
    assert list(inspect.signature(reads.CommunityZone).parameters) == ["id", *reads.ZONE_COLUMNS]
    holder = list(inspect.signature(reads.TokenHolder).parameters)
    assert holder[:3] == ["person_id", *reads.HOLDER_COLUMNS[1:]]


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def test_the_reads_say_what_the_orm_reads(hub, w, clock):
    start = clock.now + timedelta(days=2)
    fields = {"title": "巡逻", "description": "晚间", "location": "3号楼", "capacity": 4}
    daily = await tasks.create_task(
        hub,
        w.staff,
        w.community.id,
        {
            **fields,
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "rrule": "FREQ=DAILY",
        },
    )
    volunteer = await w.person("甲")
    await tasks.sign_up(hub, volunteer, daily.id)
    model = await Task.get(id=daily.id).prefetch_related("community")
    row = await reads.task_with_community(daily.id)
    assert row is not None
    for name in reads.TASK_COLUMNS:
        assert getattr(row, name) == getattr(model, name), name
    assert row.community == (model.community.id, model.community.timezone)
    assert row.starts_at.utcoffset() == timedelta(0)
    assert await reads.task_with_community(daily.id + 1000) is None

    stored = await Occurrence.filter(task_id=daily.id).order_by("start")
    expected = [(o.start, o.end, o.capacity, o.taken, o.cancelled) for o in stored]
    assert [tuple(o) for o in await reads.occurrences_from(daily.id, start, None)] == expected
    both = await reads.task_with_occurrences(daily.id, start, start + timedelta(days=3))
    assert both[0] == row and [tuple(o) for o in both[1]] == expected

    def said(actor) -> tuple:  # what the holder of an actor's token must say
        grants = {(g.community_id, g.role.value, g.grid_id) for g in actor.grants}
        return actor.id, actor.community_id, actor.grid_id, grants

    login = await auth.login(hub, volunteer.person.phone, PASSWORD, "203.0.113.7")
    for actor in (volunteer, w.staff, w.admin):
        token = await auth.login(hub, actor.person.phone, PASSWORD, "203.0.113.7")
        holder = await reads.token_holder(secret_digest(token.token), clock.now)
        assert holder is not None and len(set(holder.grants)) == len(holder.grants)
        assert (*holder[:3], set(holder.grants)) == said(actor)
    assert await reads.token_holder(secret_digest(login.token), login.expires_at) is None
    await ApiToken.filter(person_id=volunteer.id).update(revoked_at=clock.now)
    assert await reads.token_holder(secret_digest(login.token), clock.now) is None

    for actor in (volunteer, w.staff, w.admin):  # what every page shows of who is logged in
        person = await actor.load_person()
        community = await models.Community.get_or_none(id=person.community_id or 0)
        timezone = community.timezone if community else None
        row = await reads.account_row(actor.id)
        assert row == (person.name, person.community_id, timezone, None, None)
    assert await reads.account_row(volunteer.id + 10_000) is None


async def test_reads_run_on_the_reader_outside_a_transaction(hub, w, database_url):
    """On SQLite, outside a transaction, ``db.read`` runs on the client's read-only
    connection: it sees what is committed, not what an open transaction wrote. Inside
    the transaction (and on PostgreSQL) it runs on the current connection."""
    client = get_connection(db.connection_name(database_url))
    sql = f"SELECT name FROM {db.table_name(models.Community)} WHERE id = ?"
    if not database_url.startswith("sqlite"):
        assert not isinstance(client, SqliteClientWithReader)
        assert (await db.read(sql, w.community.id))[0][0] == w.community.name
        return
    assert isinstance(client, SqliteClientWithReader) and client.reader is not None
    async with in_transaction():
        await db.execute("UPDATE community SET name = ? WHERE id = ?", "改名", w.community.id)
        assert (await db.read(sql, w.community.id))[0][0] == "改名"  # its own write
        # The reader itself, as a read beside the transaction (another request) uses it.
        committed = client.reader.execute(sql, [w.community.id]).fetchall()
        assert committed[0][0] == w.community.name
    assert (await db.read(sql, w.community.id))[0][0] == "改名"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        client.reader.execute("DELETE FROM community")


async def test_the_reader_lives_as_long_as_the_database_context(sqlite_template, tmp_path: Path):
    path = tmp_path / "own.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    async with db.database(sqlite_url(path)):
        client = get_connection("sqlite")
        assert isinstance(client, SqliteClientWithReader)
        assert client.reader is None  # not connected yet
        assert [tuple(r) for r in await db.read("SELECT 1")] == [
            (1,)
        ]  # connects it, and the reader
        reader = client.reader
        assert reader is not None
        assert reader.execute("SELECT 1").fetchall() == [(1,)]
    assert client.reader is None
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the context
        reader.execute("SELECT 1")


async def test_an_in_memory_database_has_no_reader():
    async with db.database("sqlite://:memory:"):
        client = get_connection("sqlite")
        assert isinstance(client, SqliteClientWithReader)
        assert [tuple(r) for r in await db.read("SELECT 1")] == [(1,)]  # on its own connection
        assert client.reader is None
