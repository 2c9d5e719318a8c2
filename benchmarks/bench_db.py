"""A throwaway PostgreSQL database for one benchmark run (the benchmarks import this from
their own folder: run them as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import uuid


async def create_postgres_database(server_url: str) -> tuple[str, str]:
    """A new, empty database on the server of ``server_url``: its URL and its name."""
    import asyncpg

    name = f"vhub_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url.rpartition('/')[0]}/{name}", name


async def drop_postgres_database(server_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
