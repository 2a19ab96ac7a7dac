"""Async engine, sessions and schema upgrades for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
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
# leaves checkpoints (which copy and sync the file) to Database._checkpoint, off the loop's thread.
INLINE_PRAGMAS = (
    "PRAGMA busy_timeout=0",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA wal_autocheckpoint=0",
)


# The event loop's own connections for small reads (Database.session(inline=True), not writing):
# never written through, never waiting
INLINE_READ_PRAGMAS = ("PRAGMA busy_timeout=0", "PRAGMA foreign_keys=ON", "PRAGMA query_only=1")


def _set_inline_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # the driver's own implicit BEGIN is off: _begin_immediate begins (SQLAlchemy's pysqlite recipe)
    dbapi_connection.isolation_level = None
    _run_pragmas(dbapi_connection, INLINE_PRAGMAS)


def _begin_immediate(connection: Connection) -> None:
    # the write lock at BEGIN, so "another process writes" is known before any statement ran
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Connection) -> None:
    # a read's snapshot from its first statement to its end, no lock taken
    connection.exec_driver_sql("BEGIN")


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
# other connections' busy timeout (SQLITE_PRAGMAS); a process that has just written lets a waiting
# one go first for at most GIVE_WAY_S
BUSY_POLL_S, BUSY_WAIT_S, GIVE_WAY_S = 0.001, 10.0, 0.05
# the write-ahead log copied into the database file at most this often while writes go on
CHECKPOINT_EVERY_S = 1.0


class WriterTurns:
    """Turns at SQLite's write lock between processes (the web chat in a `serve` of its own beside
    `run`). SQLite has no queue: the lock goes to whoever asks at the moment it is free, and a
    process with writers queued takes it again within microseconds of letting it go, while the
    other asks once a millisecond; it waited out the first one's whole queue (up to 70 ms for a
    Telegram update behind a burst of web submits). So a process that waits says so, holding a
    shared lock on a file beside the database, and a process about to write first lets such a
    waiter have its turn. Advisory locks end with their process however it ends."""

    def __init__(self, database: str) -> None:
        self._path = Path(f"{database}.writers")
        self._file: Any = None

    def _fd(self) -> int:
        if self._file is None:
            self._file = self._path.open("a")
        return int(self._file.fileno())

    def others_waiting(self) -> bool:
        try:
            fcntl.flock(self._fd(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._fd(), fcntl.LOCK_UN)
        return False

    async def give_way(self) -> None:
        """Until no other process waits for the write lock (at most GIVE_WAY_S: a waiter whose own
        loop is slow to ask does not stop this one for long)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + GIVE_WAY_S
        while self.others_waiting() and loop.time() < until:  # noqa: ASYNC110 (another process: no Event)
            await asyncio.sleep(BUSY_POLL_S)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        fcntl.flock(self._fd(), fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._fd(), fcntl.LOCK_UN)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def _when_free(begin: Callable[[], Awaitable[T]], turns: WriterTurns | None) -> T:
    """`begin()` (BEGIN IMMEDIATE on the loop's own connection), after any other process waiting
    for SQLite's write lock had its turn, and tried again while another process holds it. The loop
    goes on meanwhile, and the lock, once let go, is taken within a millisecond: SQLite's own busy
    handler sleeps up to 100 ms between tries, and with two busy processes one of them took it over
    and over while the other slept."""
    if turns is not None:
        await turns.give_way()
    try:
        return await begin()
    except OperationalError as exc:
        if not _busy(exc):
            raise
    loop = asyncio.get_running_loop()
    give_up = loop.time() + BUSY_WAIT_S
    with turns.waiting() if turns is not None else contextlib.nullcontext():
        while True:
            await asyncio.sleep(BUSY_POLL_S)
            try:
                return await begin()
            except OperationalError as exc:
                if not _busy(exc) or loop.time() >= give_up:
                    raise


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


def _inline_read_engine(url: str) -> AsyncEngine | None:
    """For read sessions whose statements run on the event loop's thread: several at once (a read
    session may await other work before it ends), each a snapshot of its own."""
    database = sqlite_file(url)
    if database is None:
        return None
    engine = create_async_engine(
        url,
        async_creator=inline_creator(database, INLINE_READ_PRAGMAS),
        pool_size=8,
        max_overflow=24,
        pool_reset_on_return=None,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "begin", _begin_deferred)
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
        self._inline_reads = _inline_read_engine(url) if self.dialect == "sqlite" else None
        self._inline_read_sessions = _sessions(self._inline_reads) if self._inline_reads is not None else None
        database = sqlite_file(url)
        self._turns = WriterTurns(database) if database is not None and fcntl is not None else None
        self._checkpointed_at = 0.0
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpointer: AsyncEngine | None = None  # a connection of its own, made when needed

    @asynccontextmanager
    async def session(
        self, *, write: bool = False, read_only: bool = False, inline: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work: leaving without `commit()` rolls back. `write`: it will write (on SQLite
        it waits for the other writers of this process first). `read_only`: any write in it raises
        storage.read_only.WritesNeeded. `inline`: on SQLite its statements run on the event loop's
        own thread (storage.inline_sqlite), with `write` the writer taken at its start; for a unit
        of work whose reads are small (each blocks the loop while it runs), which awaits little but
        its statements. Through aiosqlite each statement is a few trips to its thread and back,
        each waiting for a round of the loop: under load a turn's small read took 5-8 ms."""
        if not write or self._writer is None or _writing.get():
            inline_reads = self._inline_read_sessions if inline and not write else None
            async with self._session(inline_reads) as session:
                if read_only:
                    mark_read_only(session)
                yield session
            return
        async with self._writer:
            token = _writing.set(True)
            try:
                began = await self._began_inline() if inline else None
                if began is None:
                    if self._turns is not None:
                        await self._turns.give_way()  # its BEGIN waits in SQLite's busy handler
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
                        self._written()
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

        return await _when_free(begin, self._turns)

    @property
    def sync_engines(self) -> list[sqlalchemy.Engine]:
        """Every engine this database's statements go through, for SQLAlchemy's event listeners."""
        inline = [self._inline_reads.sync_engine] if self._inline_reads is not None else []
        if self._inline is not None:
            inline.append(self._inline)
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

            connection, transaction = await _when_free(begin, self._turns)
            try:
                with connection, transaction:
                    return work(connection)
            finally:
                self._written()

    def _written(self) -> None:
        """After a write on the loop's own connection (whose automatic checkpoints are off): the
        log copied into the database file now and then, on aiosqlite's thread. With every write on
        the loop's connection nothing else did it, and the log grew by ~10 MB a second under load
        (300 MB in a benchmark's half minute), every read searching more of it."""
        now = asyncio.get_running_loop().time()
        if self._checkpointing is None and now - self._checkpointed_at >= CHECKPOINT_EVERY_S:
            self._checkpointed_at = now
            self._checkpointing = asyncio.create_task(self._checkpoint(), name="sqlite checkpoint")

    async def _checkpoint(self) -> None:
        try:
            # on a connection of its own (none of the pool's, nor their statements' listeners);
            # PASSIVE: copies what no reader still needs, waiting for no one; the log is written
            # from its start again once all of it was copied
            if self._checkpointer is None:
                self._checkpointer = create_async_engine(self.url, **_ONE_CONNECTION)
            async with self._checkpointer.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # the next write asks again; nothing is lost meanwhile
            log.warning("SQLite checkpoint failed", exc_info=True)
        finally:
            self._checkpointing = None

    @asynccontextmanager
    async def _session(
        self, sessions: async_sessionmaker[UnitOfWork] | None = None
    ) -> AsyncIterator[AsyncSession]:
        async with (sessions or self._sessions)() as session:
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
        if self._checkpointing is not None:
            await self._checkpointing
        if self._checkpointer is not None:
            await self._checkpointer.dispose()
        if self._turns is not None:
            self._turns.close()
        if self._inline is not None:
            self._inline.dispose()
        if self._inline_async is not None:
            await self._inline_async.dispose()
        if self._inline_reads is not None:
            await self._inline_reads.dispose()
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
