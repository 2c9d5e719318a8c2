"""The Tortoise engine we open SQLite with: Tortoise's own client, plus a read-only
connection to the same file for ``db.read``.

A Tortoise configuration names its backend by module (``"engine": "volunteer_hub.sqlite_engine"``,
see ``db.tortoise_config``), and Tortoise takes the module's ``client_class``: the documented
way to choose a backend, and how Tortoise's own SQLite client with REGEXP support is made.
Tortoise also picks the migrations' schema editor by the client's module name, which must
therefore say "sqlite" (docs/library-notes.md).

Why a second connection: Tortoise's client has one, driven from aiosqlite's worker thread.
Each statement is a hand-off to that thread and back (about 20 µs of CPU here, more than an
indexed lookup costs SQLite itself), and it waits while any transaction of the process is
open. In WAL mode (Tortoise's default) a second connection sees the last committed state
without waiting for a writer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tortoise.backends.sqlite.client import SqliteClient


class SqliteClientWithReader(SqliteClient):
    """Tortoise's SQLite client with a read-only ``reader`` beside its own connection.

    The reader is opened when the client connects and closed when it closes, so it lives
    exactly as long as the database context that owns the client (``db.database``, the
    app's lifespan). It is opened from the configured file path, never created: None for an
    in-memory database (which only its own connection sees) and while not connected.
    """

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self.reader: sqlite3.Connection | None = None
        # mode=rw: never create the file (the client's connection does that first).
        self.reader_uri = (
            None if file_path == ":memory:" else Path(file_path).resolve().as_uri() + "?mode=rw"
        )

    async def create_connection(self, with_db: bool) -> None:
        await super().create_connection(with_db)
        if self.reader is None and self.reader_uri is not None:
            self.reader = open_reader(self.reader_uri)

    async def close(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None:
            reader.close()
        await super().close()


def open_reader(uri: str) -> sqlite3.Connection:
    """A read-only connection that never waits: it answers or raises busy at once."""
    reader = sqlite3.connect(
        uri,
        uri=True,
        timeout=0,  # no busy wait: the caller falls back to the shared connection
        isolation_level=None,  # autocommit: no read transaction outlives its statement
        check_same_thread=False,  # used on the event loop's thread; closed wherever the client is
    )
    reader.execute("PRAGMA query_only = ON")
    return reader


# What Tortoise takes from an engine module.
client_class = SqliteClientWithReader
