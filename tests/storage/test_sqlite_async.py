"""SQLite through `storage.sqlite_async`: what SQLAlchemy reads from a cursor, in one trip per statement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import sqlite_async
from storage.db import Database


async def _count_trips(db: Database) -> tuple[list[int], Any]:
    """Counts the jobs handed to the connection's database thread (aiosqlite's queue)."""
    conn = await db.engine.connect()
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, sqlite_async.Connection)
    trips = [0]
    handed: Callable[..., Awaitable[Any]] = raw._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips[0] += 1
        return await handed(fn, *args, **kwargs)

    raw._execute = counted  # type: ignore[method-assign]
    return trips, conn


async def test_a_statement_is_one_trip_and_its_results_read_as_usual(sqlite_database: Database) -> None:
    trips, conn = await _count_trips(sqlite_database)
    try:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
        trips[0] = 0
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert (inserted.lastrowid, inserted.rowcount) == (1, 1)
        many = await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        assert many.rowcount == 2
        returned = await conn.execute(text("INSERT INTO t (name) VALUES ('d') RETURNING id, name"))
        assert returned.all() == [(4, "d")]
        rows = await conn.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert list(rows.keys()) == ["id", "name"]
        assert rows.fetchmany(3) == [(1, "a"), (2, "b"), (3, "c")]
        assert rows.fetchone() == (4, "d")
        assert rows.fetchone() is None
        changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 2"))
        assert changed.rowcount == 2
        assert trips[0] == 5  # one per statement (the standard adapter makes three or four)
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4
    finally:
        await conn.close()


async def test_the_connection_keeps_sqlalchemys_pragmas_and_arguments(sqlite_database: Database) -> None:
    async with sqlite_database.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 10000
