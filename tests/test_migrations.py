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
