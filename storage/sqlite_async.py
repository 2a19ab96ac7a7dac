"""aiosqlite with one trip to the database thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips to aiosqlite's thread for a statement that returns
rows (make the cursor, execute, fetch, close), each a thread wake-up and a loop wake-up: about
0.1 ms apiece on a busy 2-core machine, so a submitted report's ~18 statements spent more time
handing over than in SQLite (bench/intake_cost.py). This connection's cursors run the statement,
fetch its rows and close in one trip; SQLAlchemy then reads the rows from memory. Every other part
of aiosqlite (its thread, commit, rollback, close) is used as it is.

Rows are fetched whole, so a server-side cursor (`stream()`) would not stream; nothing here uses one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiosqlite

# what a statement leaves behind that SQLAlchemy reads: description, rowcount, lastrowid, rows
_Outcome = tuple[Any, int, int | None, list[Any]]


def _statement(conn: sqlite3.Connection, many: bool, sql: str, parameters: Any) -> _Outcome:
    """Run on the database thread: the statement, its rows, and what SQLAlchemy reads after it."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class Cursor:
    """The part of aiosqlite's cursor that SQLAlchemy uses, with the rows kept in memory."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _keep(self, outcome: _Outcome) -> Cursor:
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        return self._keep(await self._connection.run(_statement, False, sql, parameters or ()))

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        return self._keep(await self._connection.run(_statement, True, sql, parameters))

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = size or self.arraysize
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


class Connection(aiosqlite.Connection):
    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    async def run(self, fn: Callable[..., _Outcome], *args: Any) -> _Outcome:
        """`fn(sqlite3 connection, *args)` on the database thread: one trip."""
        execute: Callable[..., Awaitable[_Outcome]] = self._execute
        return await execute(fn, self._conn, *args)


def connect(database: str | bytes, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """As `aiosqlite.connect`, with arguments as SQLAlchemy's dialect passes them."""
    location = database.decode() if isinstance(database, bytes) else str(database)
    connection = Connection(lambda: sqlite3.connect(location, **kwargs), iter_chunk_size)
    # as SQLAlchemy does for aiosqlite's own connections: a forgotten one must not keep Python alive
    connection._thread.daemon = True
    return connection
