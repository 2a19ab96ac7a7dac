"""SQLite through the standard library's driver on the event loop's own thread, for AsyncSession.

A write session holds this process's SQLite writer (storage.db) from its first statement to its
commit. Through aiosqlite each of its statements goes to the driver's thread and waits for a round
of the event loop to come back: with the loop busy, a submit's twenty-odd statements held the
writer for hundreds of milliseconds, and every other writer waited behind it. Here a statement runs
at once, in the coroutine that asks for it (a few tenths of a millisecond), so the writer is held
only for the work itself.

This is an asyncio connection as SQLAlchemy's `create_async_engine(async_creator=...)` takes one
(the shape of `sqlalchemy.connectors.asyncio.AsyncIODBAPIConnection`): its coroutines never
suspend. It never waits for a lock either: the busy timeout is 0 and the write lock is taken at
BEGIN (storage.db), so "another process writes" is known before anything ran, and BEGIN is asked
again a millisecond later, the loop going on meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.cursor.close()

    @property
    def description(self) -> Any:
        return self.cursor.description

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self.cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self.cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self.cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = ()) -> InlineCursor:
        self.cursor.execute(operation, parameters)
        return self

    async def executemany(self, operation: str, rows: Iterable[Any]) -> InlineCursor:
        self.cursor.executemany(operation, rows)
        return self

    async def fetchone(self) -> Any:
        return self.cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self.cursor.fetchmany(size if size is not None else self.cursor.arraysize)

    async def fetchall(self) -> Sequence[Any]:
        return self.cursor.fetchall()

    async def close(self) -> None:
        self.cursor.close()


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.sqlite: sqlite3.Connection | None = connection

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # asked by SQLAlchemy's aiosqlite adapter before a commit or a rollback, to tell an open
        # connection from a closed one (it is aiosqlite's name for the sqlite3 connection it holds)
        return self.sqlite

    @property
    def _open(self) -> sqlite3.Connection:
        if self.sqlite is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return self.sqlite

    @property
    def isolation_level(self) -> str | None:
        return self._open.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open.cursor())

    async def execute(self, operation: str, parameters: Any = ()) -> InlineCursor:
        return await self.cursor().execute(operation, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open.create_function(*args, **kwargs)

    async def commit(self) -> None:
        self._open.commit()

    async def rollback(self) -> None:
        self._open.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Closes at once (also SQLAlchemy's terminate, when a connection is discarded)."""
        if self.sqlite is not None:
            self.sqlite.close()
            self.sqlite = None


def inline_creator(database: str, pragmas: tuple[str, ...]) -> Any:
    """`create_async_engine(async_creator=...)`: a new connection to the file `database`, in
    autocommit mode (BEGIN is spelled out by the engine's "begin" listener), with `pragmas` run."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in pragmas:
            connection.execute(pragma)
        return InlineConnection(connection)

    return connect
