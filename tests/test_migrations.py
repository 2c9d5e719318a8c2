"""The committed migrations are the schema: they apply, and they match the models."""

from __future__ import annotations

from pathlib import Path

from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from volunteer_hub import db
from volunteer_hub.config import sqlite_url


async def test_models_have_no_changes_without_a_migration(tmp_path: Path):
    url = sqlite_url(tmp_path / "check.sqlite3")
    config = db.tortoise_config(url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        try:
            writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        finally:
            await ctx.close_connections()
    assert writers == [], (
        "models changed without a migration: run `tortoise makemigrations` and commit it"
    )


async def test_upgrade_is_idempotent(database_url: str):
    await db.upgrade(database_url)  # the fixture's database is migrated already
    async with db.database(database_url) as ctx:
        rows = await ctx.db().execute_query_dict("SELECT name FROM tortoise_migrations")
    assert [r["name"] for r in rows] == sorted(
        p.stem for p in Path(db.__file__).parent.joinpath("migrations").glob("0*.py")
    )


async def test_each_migration_applies_over_existing_rows(tmp_path: Path):
    """Upgrading a database that has data must work, not only an empty one."""
    from tortoise.migrations.api import migrate as migrate_api

    url = sqlite_url(tmp_path / "old.sqlite3")
    names = sorted(p.stem for p in Path(db.__file__).parent.joinpath("migrations").glob("0*.py"))
    async with TortoiseContext() as ctx:
        try:
            await migrate_api(config=db.tortoise_config(url), target=f"models.{names[0]}")
        finally:
            await ctx.close_connections()
    async with db.database(url) as ctx:
        conn = ctx.db()
        await conn.execute_query(
            "INSERT INTO community (name, timezone, quiet_start, quiet_end, created_at) "
            "VALUES ('老社区', 'Asia/Shanghai', '22:00', '07:00', '2026-01-01 00:00:00+00:00')"
        )
        await conn.execute_query(
            "INSERT INTO person (name, phone, skills, calendar_version, locale, created_at, "
            "community_id) VALUES ('老居民', '13800000000', '[]', 0, 'zh-CN', "
            "'2026-01-01 00:00:00+00:00', 1)"
        )
    await db.upgrade(url)
    async with db.database(url) as ctx:
        rows = await ctx.db().execute_query_dict("SELECT name FROM tortoise_migrations")
        people = await ctx.db().execute_query_dict("SELECT name FROM person")
    assert [r["name"] for r in rows] == names
    assert [p["name"] for p in people] == ["老居民"]


def _sqlite_indexes(path: Path) -> set[tuple[str, tuple[str, ...]]]:
    """Every index of a SQLite file as (table, its columns), whatever its name."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        names = conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
        ).fetchall()
        return {
            (table, tuple(row[2] for row in conn.execute(f"PRAGMA index_info('{name}')")))
            for name, table in names
        }


async def test_the_migrated_schema_has_every_index_the_models_declare(tmp_path: Path):
    """Altering a column on SQLite rebuilds its table (Tortoise), which drops the table's
    indexes unless the migration puts them back: the migrated file has every index the
    models declare (``Meta.indexes``), also after such a migration."""
    from tortoise.models import Model

    import volunteer_hub.models as models

    migrated = tmp_path / "migrated.sqlite3"
    await db.upgrade(sqlite_url(migrated))
    declared = set()
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, Model) and value is not Model:
            description = value.describe(serializable=True)
            for columns in description["indexes"] or ():
                declared.add((description["table"], tuple(columns)))
    assert ("notification", ("person_id", "id")) in declared
    missing = declared - _sqlite_indexes(migrated)
    assert not missing, f"indexes the migrations lose: {sorted(missing)}"
