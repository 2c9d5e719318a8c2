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
