"""Async engine, sessions and schema upgrades for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import Connection, RootTransaction, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.inline_sqlite import inline_creator
from storage.outbox import forget_queued, write_queued
from storage.read_only import GuardedSession, mark_read_only

try:
    import fcntl
except ImportError:  # Windows has no advisory file locks: one process there by convention
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite database; None for PostgreSQL or an in-memory one (which a second
    connection would not see: it would open another, empty database)."""
    database = make_url(url).database if is_sqlite(url) else None
    return database if database and database != ":memory:" else None


# the event loop's own connections (write_short, inline sessions): one, never reset in the pool
_ONE_CONNECTION: dict[str, Any] = {
    "pool_size": 1,
    "max_overflow": 0,
    "pool_reset_on_return": None,
    "hide_parameters": True,
}


def _run_pragmas(dbapi_connection: Any, pragmas: tuple[str, ...]) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in pragmas:
        cursor.execute(pragma)
    cursor.close()


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # No isinstance check on the connection: under aiosqlite it is an adapter and the
    # check would silently skip the pragmas (DESIGN.md rule 7).
    _run_pragmas(dbapi_connection, SQLITE_PRAGMAS)


# The event loop's own connection (Database.write_short): never waits for another process, and
# leaves checkpoints (which copy and sync the file) to the other connections, off the loop's thread.
INLINE_PRAGMAS = (
    "PRAGMA busy_timeout=0",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA wal_autocheckpoint=0",
)


def _set_inline_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # the driver's own implicit BEGIN is off: _begin_immediate begins (SQLAlchemy's pysqlite recipe)
    dbapi_connection.isolation_level = None
    _run_pragmas(dbapi_connection, INLINE_PRAGMAS)


def _begin_immediate(connection: Connection) -> None:
    # the write lock at BEGIN, so "another process writes" is known before any statement ran
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _inline_engine(url: str) -> sqlalchemy.Engine | None:
    """The SQLite file through the standard library's driver, used on the event loop's thread."""
    if sqlite_file(url) is None:
        return None
    engine = sqlalchemy.create_engine(make_url(url).set(drivername="sqlite"), **_ONE_CONNECTION)
    event.listen(engine, "connect", _set_inline_pragmas)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _busy(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


# another process holding SQLite's write lock: asked again every millisecond, for as long as the
# other connections' busy timeout (SQLITE_PRAGMAS)
BUSY_POLL_S, BUSY_WAIT_S = 0.001, 10.0


async def _when_free(begin: Callable[[], Awaitable[T]]) -> T:
    """`begin()` (BEGIN IMMEDIATE on the loop's own connection), tried again while another process
    holds SQLite's write lock. The loop goes on meanwhile, and the lock, once let go, is taken
    within a millisecond: SQLite's own busy handler sleeps up to 100 ms between tries, and with two
    busy processes (the web chat in a process of its own) one of them took it over and over while
    the other slept."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + BUSY_WAIT_S
    while True:
        try:
            return await begin()
        except OperationalError as exc:
            if not _busy(exc) or loop.time() >= give_up:
                raise
        await asyncio.sleep(BUSY_POLL_S)


class AlreadyServed(Exception):
    """Another process serves this SQLite database's chats on the same platform."""


@contextmanager
def one_server(url: str, platform: str) -> Iterator[None]:
    """On SQLite, one process serves a database's chats on a platform ("telegram", "line"): a
    second would fetch or handle the same updates beside the first. An exclusive lock on a file
    beside the database says so at start-up; the system lets it go when the process ends, however
    it ends, so a restart after a crash is never refused. PostgreSQL takes several processes."""
    database = sqlite_file(url)
    if database is None or fcntl is None:
        yield
        return
    path = Path(f"{database}.{platform}.lock")
    with path.open("a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyServed(
                f"Another process already serves {platform} from the SQLite database {database}. "
                "SQLite takes one such process: stop the other one first, or move to PostgreSQL "
                "(DATABASE_URL) to run several."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def create_engine(url: str) -> AsyncEngine:
    # hide_parameters: an error's message (which is logged) never carries the statement's values,
    # which are names, chat ids and notes
    # No rollback when a connection goes back to the pool: a session or connection that ends with
    # its transaction open rolls it back itself (Database.session, Connection.close), so the
    # pool's extra one would only cost a round trip per unit of work.
    if is_sqlite(url):
        database = sqlite_file(url)
        if database is not None:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, pool_reset_on_return=None, hide_parameters=True
        )
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_reset_on_return=None,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "do_connect", _refused_is_operational)
    return engine


def _refused_is_operational(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """A server that is down or restarting refuses the connection with a plain OSError, which the
    driver passes through as it is; raised as the DB-API's OperationalError instead, it reaches
    callers as SQLAlchemy's OperationalError like every other database outage, so "database
    unavailable" handling (the "please try again in a moment" reply) covers it too."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:  # ConnectionRefusedError, ConnectionResetError, TimeoutError, ...
        raise dialect.loaded_dbapi.OperationalError(f"{type(exc).__name__}: {exc}") from exc


class UnitOfWork(AsyncSession):
    """A session as one unit of work: the outbox rows queued in it (storage.outbox.queue_message)
    are written by its commit, in the same transaction, and dropped by its rollback."""

    async def commit(self) -> None:
        await write_queued(self)
        await super().commit()

    async def rollback(self) -> None:
        forget_queued(self)
        await super().rollback()

    async def close(self) -> None:
        forget_queued(self)
        await super().close()


def _inline_async_engine(url: str) -> AsyncEngine | None:
    """For write sessions whose statements run on the event loop's thread (storage.inline_sqlite)."""
    database = sqlite_file(url)
    if database is None:
        return None
    engine = create_async_engine(
        url, async_creator=inline_creator(database, INLINE_PRAGMAS), **_ONE_CONNECTION
    )
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _sessions(engine: AsyncEngine) -> async_sessionmaker[UnitOfWork]:
    return async_sessionmaker(
        engine, class_=UnitOfWork, sync_session_class=GuardedSession, expire_on_commit=False
    )


# set while this task holds the SQLite writer's turn: a write session opened inside it does not wait
_writing: ContextVar[bool] = ContextVar("writing", default=False)


class Database:
    """The engine and a session factory; `session()` is the unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.dialect = self.engine.dialect.name
        self._sessions = _sessions(self.engine)
        # SQLite lets one transaction write at a time, and the others wait in its busy handler,
        # sleeping 1, 2, 5 ... 100 ms between tries: with chats handled side by side they slept
        # through most of the moments the lock was free. This process's writers queue here instead,
        # in turn; PostgreSQL locks rows, not the database, and needs no queue.
        self._writer = asyncio.Lock() if self.dialect == "sqlite" else None
        self._inline = _inline_engine(url) if self.dialect == "sqlite" else None
        self._inline_async = _inline_async_engine(url) if self.dialect == "sqlite" else None
        self._inline_sessions = _sessions(self._inline_async) if self._inline_async is not None else None

    @asynccontextmanager
    async def session(
        self, *, write: bool = False, read_only: bool = False, inline: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work: leaving without `commit()` rolls back. `write`: it will write (on SQLite
        it waits for the other writers of this process first). `read_only`: any write in it raises
        storage.read_only.WritesNeeded. `inline` (with `write`): on SQLite its statements run on the
        event loop's own thread (storage.inline_sqlite), the writer taken at its start; for a unit
        of work whose reads are small, which awaits little but its statements."""
        if not write or self._writer is None or _writing.get():
            async with self._session() as session:
                if read_only:
                    mark_read_only(session)
                yield session
            return
        async with self._writer:
            token = _writing.set(True)
            try:
                began = await self._began_inline() if inline else None
                if began is None:
                    async with self._session() as session:
                        yield session
                    return
                try:
                    yield began
                finally:
                    # closed here rather than by `async with`, which closes in a task of its own
                    # (shielded from cancellation): rounds of the loop with the writer held; nothing
                    # here waits for anything. Closed whatever happens: the engine has one connection
                    try:
                        await self._end(began)
                    finally:
                        await began.close()
            finally:
                _writing.reset(token)

    async def _began_inline(self) -> AsyncSession | None:
        """An inline session with SQLite's write lock taken (None without a file to open twice)."""
        sessions = self._inline_sessions
        if sessions is None:
            return None

        async def begin() -> AsyncSession:
            session = sessions()
            try:
                await session.connection()  # BEGIN IMMEDIATE
            except BaseException:
                await session.close()
                raise
            return session

        return await _when_free(begin)

    @property
    def sync_engines(self) -> list[sqlalchemy.Engine]:
        """Every engine this database's statements go through, for SQLAlchemy's event listeners."""
        inline = [self._inline] if self._inline is not None else []
        if self._inline_async is not None:
            inline.append(self._inline_async.sync_engine)
        return [self.engine.sync_engine, *inline]

    async def write_short(self, work: Callable[[Connection], T]) -> T:
        """`work` (Core statements that read little and write a few rows, nothing awaited) as one
        transaction, committed unless it raises.

        On SQLite it runs on the event loop's own thread, through the standard library's driver, in
        this process's writers' turn: there a few statements take well under a millisecond, where
        each statement sent to aiosqlite's thread waits for a round of a busy event loop to come
        back, the single writer held all along. When another process holds SQLite's write lock it
        waits for it a millisecond at a time, the loop going on meanwhile (`_when_free`). On
        PostgreSQL it runs on the async engine."""
        if self._writer is None:
            async with self.engine.begin() as postgres:
                return await postgres.run_sync(work)
        if _writing.get():
            raise RuntimeError("write_short inside a write session would wait for itself")
        async with self._writer:
            inline = self._inline
            if inline is None:  # an in-memory database: no second connection to it
                async with self.engine.begin() as in_memory:
                    return await in_memory.run_sync(work)

            async def begin() -> tuple[Connection, RootTransaction]:
                connection = inline.connect()  # a new one each try: a failed BEGIN spoils it
                try:
                    return connection, connection.begin()
                except BaseException:
                    connection.close()
                    raise

            connection, transaction = await _when_free(begin)
            with connection, transaction:
                return work(connection)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            try:
                yield session
            finally:
                await self._end(session)

    @staticmethod
    async def _end(session: AsyncSession) -> None:
        if session.in_transaction():
            # Objects read here stay readable after the block (rollback would expire them).
            session.expunge_all()
            await session.rollback()

    async def dispose(self) -> None:
        if self._inline is not None:
            self._inline.dispose()
        if self._inline_async is not None:
            await self._inline_async.dispose()
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("storage") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (blocking: call from a thread inside an event loop)."""
    command.upgrade(alembic_config(url), revision)


def downgrade_database(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def schema_revision(url: str) -> str | None:
    """The schema's revision in this database; None for one with no schema yet."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()


async def upgrade_database_async(url: str) -> None:
    await asyncio.to_thread(upgrade_database, url)
